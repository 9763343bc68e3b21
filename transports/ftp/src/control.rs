//! The control connection: commands and their replies, pipelined as far as the server's
//! profile allows (`crate::pipelining`), and the data connections it opens.
//!
//! Deploying a site is dominated by round trips, so this layer sends commands whose replies
//! do not decide what comes next in one write and reads their replies afterwards, in order.
//! The passive address of the *next* transfer (`EPSV`) is asked for ahead of time
//! ("prefetched"); a listing costs two round trips (its `MLSD` carries the next `EPSV`; the
//! data connection is made while the command travels); an upload round sends commands that
//! finish earlier files in front of its `STOR` ([`Wire::store_round`], driven by
//! the `stream` module), and on a slow link asks for the next address right after the data.
//!
//! A reply the server still owes (the prefetched `EPSV`'s) is tracked; any command first
//! reads it, so the conversation never gets out of step. A prefetched passive address that
//! no longer answers is replaced by a fresh `EPSV`.

use crate::data::{copy_exact, data_stream, drain_tickets, tcp_connect, DataTls, Stream};
use crate::errors::{map_io, Op};
use crate::pipelining::{Level, Policy};
use crate::reply::{self, known_command, reply_fits, Framed, Reply};
use peex_core::{Error, ErrorKind, Result};
use rustls::{ClientConnection, StreamOwned};
use std::io::{BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Largest listing accepted from one data connection.
const MAX_DATA: u64 = 512 * 1024 * 1024;
/// Uploads up to this size are written before the server's `150` arrives (they fit in the
/// socket buffers); larger ones wait for it, so a refused `STOR` cannot stall a big write.
const EAGER_WRITE: u64 = 64 * 1024;

/// A `STOR` whose data went out and whose replies are still to be read.
struct StoreSent {
    got_150: bool,
    copied: Result<()>,
    finished: std::io::Result<()>,
    /// The `STOR` was refused before any data went out (`copied` holds the reply).
    refused: bool,
}

/// The replies of one [`Wire::store_round`].
pub struct StoreRound {
    /// The replies to the commands sent before `STOR`, in order.
    pub pre: Vec<Reply>,
    /// The transfer's verdict.
    pub stored: Result<()>,
}

/// What a fresh TCP connection sends in its first round trip: an initial window of ten
/// segments (Linux and most systems), about 14 kB.
const INITIAL_WINDOW: u64 = 14_000;

/// How many round trips after the first a fresh connection needs to send `size` bytes,
/// the window doubling each round trip (slow start).
fn extra_flights(size: u64) -> u32 {
    let (mut window, mut sent, mut extra) = (INITIAL_WINDOW, INITIAL_WINDOW, 0);
    while sent < size {
        window = window.saturating_mul(2);
        sent = sent.saturating_add(window);
        extra += 1;
    }
    extra
}

/// After this many early `EPSV`s in a row refused, a connection stops sending them for
/// [`EARLY_PAUSE`] uploads.
const EARLY_PAUSE_AFTER: u32 = 8;
/// How many uploads a connection waits for the `226` before it tries early `EPSV`s again.
const EARLY_PAUSE: u32 = 32;

/// When an upload's next `EPSV` goes out right after its data ([`Wire::store_round`]): the
/// delay after the data, which adapts to what the server says, and a pause after too many
/// refusals.
struct EarlyPassive {
    /// How long after the data (and its slow-start flights) the `EPSV` goes out.
    delay: Duration,
    /// Sent, and refused because they arrived during the transfer (for `peex check` and
    /// the tests).
    sent: u64,
    refused: u64,
    /// Refused since the last one that was not.
    refused_in_a_row: u32,
    /// Uploads left before early `EPSV`s are tried again.
    pause: u32,
}

impl EarlyPassive {
    fn new() -> Self {
        EarlyPassive {
            delay: Duration::from_millis(1),
            sent: 0,
            refused: 0,
            refused_in_a_row: 0,
            pause: 0,
        }
    }

    /// One upload's turn: false while paused (the pause counts down).
    fn turn(&mut self) -> bool {
        let paused = self.pause > 0;
        self.pause = self.pause.saturating_sub(1);
        !paused
    }

    /// The server refused one (it arrived during the transfer): wait longer next time, up
    /// to `max`; after [`EARLY_PAUSE_AFTER`] in a row, pause for [`EARLY_PAUSE`] uploads
    /// (transfers outlast any reasonable delay just now: a busy link, say).
    fn refused(&mut self, max: Duration) {
        self.refused += 1;
        self.refused_in_a_row += 1;
        if self.refused_in_a_row >= EARLY_PAUSE_AFTER {
            self.pause = EARLY_PAUSE;
            self.refused_in_a_row = EARLY_PAUSE_AFTER / 2;
        }
        self.delay = (self.delay * 2).min(max);
    }

    /// The server answered one after the transfer: shorten the delay, slowly.
    fn accepted(&mut self) {
        self.refused_in_a_row = 0;
        self.delay = (self.delay - self.delay / 64).max(Duration::from_micros(200));
    }
}

/// One control connection.
pub struct Wire {
    reader: BufReader<Stream>,
    peer: IpAddr,
    timeout: Duration,
    /// The reply to a prefetched passive request (`EPSV`/`PASV`) is still to be read (at
    /// most one is ever owed: none is sent while one is).
    passive_owed: bool,
    prefetched: Option<SocketAddr>,
    /// Use `EPSV` (else `PASV`).
    pub epsv: bool,
    /// Use the control connection's address instead of the one in a `PASV` reply.
    pub nat_workaround: bool,
    /// How far commands are pipelined on this connection (the `pipelining` module).
    pub pipelining: Policy,
    data_tls: Option<DataTls>,
    /// The TLS version and cipher suite of the control connection, once secured.
    pub tls_summary: Option<String>,
    /// Whether the last TLS data connection resumed the control connection's session.
    pub last_data_handshake: Option<rustls::HandshakeKind>,
    /// The TLS version of the control connection, once secured.
    tls_version: Option<rustls::ProtocolVersion>,
    /// Under `tls13=auto`, the server (`host:port`): TLS 1.3 is given up for it when a data
    /// connection could not resume the session ([`Wire::can_resume`], [`Wire::data_error`]).
    pub tls13_fallback: Option<String>,
    /// An upload's TLS 1.3 data connection, to read its session tickets from once the
    /// transfer's reply is in ([`drain_tickets`]).
    draining: Option<Stream>,
    /// The final reply (`226 …`) of the last [`Wire::read_data`]: Pure-FTPd says there
    /// when it cut a listing short (`226 Output truncated to 10000 matches`).
    pub last_data_final: Option<Reply>,
    /// When the last write went out while no reply was awaited: the next reply times the
    /// round trip.
    timing: Option<Instant>,
    /// The shortest round trip seen (write to first reply line).
    rtt_min: Option<Duration>,
    /// When an upload's next `EPSV` goes out before its `226` ([`Wire::store_round`]).
    early: EarlyPassive,
    /// Set when a reply did not fit the command it answers: the conversation is out of
    /// step, so nothing more is sent or read on this connection (see [`Wire::out_of_step`]).
    broken: Option<String>,
}

impl Wire {
    /// A control connection over `tcp`, nothing read yet.
    fn bare(tcp: TcpStream, timeout: Duration) -> Result<Wire> {
        let peer = tcp.peer_addr().map_err(|e| map_io(e, Op::Connect))?.ip();
        Ok(Wire {
            reader: BufReader::new(Stream::Plain(tcp)),
            peer,
            timeout,
            passive_owed: false,
            prefetched: None,
            epsv: true,
            nat_workaround: true,
            pipelining: Policy::default(),
            data_tls: None,
            tls_summary: None,
            last_data_handshake: None,
            tls_version: None,
            tls13_fallback: None,
            draining: None,
            last_data_final: None,
            timing: None,
            rtt_min: None,
            early: EarlyPassive::new(),
            broken: None,
        })
    }

    /// Wraps a connected control socket and reads the greeting.
    pub fn new(tcp: TcpStream, timeout: Duration) -> Result<(Wire, Reply)> {
        let mut w = Wire::bare(tcp, timeout)?;
        let greeting = w.read_reply(Op::Connect)?;
        Ok((w, greeting))
    }

    /// Implicit TLS: wraps a fresh control socket in TLS before anything is read, then reads
    /// the greeting (through TLS) and sends `PBSZ 0` and `PROT P`.
    pub fn new_implicit(tcp: TcpStream, timeout: Duration, tls: DataTls) -> Result<(Wire, Reply)> {
        let mut w = Wire::bare(tcp, timeout)?;
        w.handshake(&tls)?;
        let greeting = w.read_reply(Op::Connect)?;
        w.protect_data(tls)?;
        Ok((w, greeting))
    }

    /// `AUTH TLS`, the handshake, then `PBSZ 0` and `PROT P` (data connections encrypted).
    pub fn start_tls(&mut self, tls: DataTls) -> Result<()> {
        let r = self.command("AUTH TLS", Op::Connect)?;
        if r.code != 234 {
            return Err(r.error(Op::Connect));
        }
        self.handshake(&tls)?;
        self.protect_data(tls)
    }

    /// `PBSZ 0` and `PROT P`: data connections are encrypted too, resuming this session.
    fn protect_data(&mut self, tls: DataTls) -> Result<()> {
        let replies = self.batch(&["PBSZ 0".to_owned(), "PROT P".to_owned()], Op::Connect)?;
        for r in replies {
            if !r.is_ok() {
                return Err(r.error(Op::Connect));
            }
        }
        self.data_tls = Some(tls);
        Ok(())
    }

    /// Moves the control socket into TLS and completes the handshake.
    fn handshake(&mut self, tls: &DataTls) -> Result<()> {
        if !self.reader.buffer().is_empty() {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the server sent data after 234 AUTH TLS",
            ));
        }
        let tcp = match std::mem::replace(&mut self.reader, BufReader::new(Stream::Closed))
            .into_inner()
        {
            Stream::Plain(t) => t,
            _ => return Err(Error::new(ErrorKind::Protocol, "TLS is already on")),
        };
        let conn = ClientConnection::new(tls.config.clone(), tls.name.clone())
            .map_err(|e| Error::new(ErrorKind::ConnectionFailed, format!("TLS: {e}")))?;
        let mut s = StreamOwned::new(conn, tcp);
        // Drive the handshake now, so certificate errors surface at connect.
        while s.conn.is_handshaking() {
            s.conn
                .complete_io(&mut s.sock)
                .map_err(|e| map_io(e, Op::Connect))?;
        }
        self.tls_version = s.conn.protocol_version();
        self.tls_summary = Some(format!(
            "{} {}",
            s.conn
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            s.conn
                .negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite()))
                .unwrap_or_default()
        ));
        self.reader = BufReader::new(Stream::Tls(Box::new(s)));
        Ok(())
    }

    /// The TLS version of the control connection, once secured.
    pub fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        self.tls_version
    }

    /// The TLS settings of data connections, once `PROT P` is on.
    pub fn data_tls(&self) -> Option<&DataTls> {
        self.data_tls.as_ref()
    }

    /// True when data connections are TLS and the control connection speaks TLS 1.3.
    fn tls13(&self) -> bool {
        self.data_tls.is_some() && self.tls_version == Some(rustls::ProtocolVersion::TLSv1_3)
    }

    /// Before a data connection under TLS 1.3: whether a session ticket is left for it to
    /// resume the session with, when the server sends tickets at all. Without one its
    /// handshake would be a full one, which a server that hands out tickets for data
    /// connections to resume the session with most likely refuses (proftpd does); under
    /// `tls13=auto` TLS 1.3 is given up for the server, for the rest of the run, and this
    /// connection is dropped (a temporary error: what it was doing is redone on a fresh
    /// connection, with TLS 1.2). A server that sends no ticket (Pure-FTPd) cannot want
    /// data connections to resume a TLS 1.3 session: they make full handshakes. With
    /// `tls13=on` the data connection goes ahead.
    fn can_resume(&mut self) -> Result<()> {
        let (Some(tls), Some(server)) = (&self.data_tls, &self.tls13_fallback) else {
            return Ok(());
        };
        if !self.tls13() || tls.store.tickets() > 0 || tls.store.received() == 0 {
            return Ok(());
        }
        let why = format!(
            "no TLS 1.3 session ticket left for a data connection to resume the control \
             connection's session with (the server sent {} in all, and each resumes once)",
            tls.store.received()
        );
        crate::session::give_up_tls13(server, &why);
        let msg = format!("{why}; TLS 1.2 from now on, on a fresh connection");
        self.broken = Some(msg.clone());
        Err(Error::new(ErrorKind::Protocol, msg).temporary())
    }

    /// How long [`drain_tickets`] waits for the end of an upload's data connection whose
    /// transfer the server has confirmed (it has closed it, or is about to).
    fn drain_wait(&self) -> Duration {
        self.rtt_min
            .map_or(Duration::from_millis(100), |r| {
                (r * 4).max(Duration::from_millis(50))
            })
            .min(Duration::from_secs(1))
            .min(self.timeout)
    }

    fn write_lines(&mut self, lines: &[String]) -> Result<()> {
        self.check_in_step()?;
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 2).sum());
        for l in lines {
            if l.contains('\r') || l.contains('\n') {
                return Err(Error::new(
                    ErrorKind::InvalidName,
                    "a command may not contain CR or LF (a name with a line break?)",
                ));
            }
            buf.extend_from_slice(l.as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        let s = self.reader.get_mut();
        s.write_all(&buf)
            .and_then(|()| s.flush())
            .map_err(|e| map_io(e, Op::Change))
    }

    /// Sends several commands in one write without reading anything; read the replies with
    /// [`Wire::read_reply`], one per command, in order.
    pub fn send_batch(&mut self, lines: &[String]) -> Result<()> {
        self.settle()?;
        self.write_lines(lines)
    }

    /// Reads one reply (all lines of a multi-line one). A line that cannot start one puts
    /// the connection out of step (in the greeting, it is a protocol error).
    pub fn read_reply(&mut self, op: Op) -> Result<Reply> {
        self.check_in_step()?;
        match reply::read_reply(|| self.read_line(op))? {
            Framed::Reply(r) => Ok(r),
            Framed::NotAReply(line) => {
                let what = format!("malformed reply line: {line:?}");
                if op == Op::Connect {
                    return Err(Error::new(ErrorKind::Protocol, what));
                }
                // Not the start of a reply: the rest of an unexpected one, or a line no
                // command asked for. Every later reply would be read as the answer to the
                // wrong command.
                Err(self.out_of_step(what))
            }
        }
    }

    /// Reads one line of a reply; the first after a write times the round trip.
    fn read_line(&mut self, op: Op) -> Result<String> {
        let line = reply::read_line(&mut self.reader, op)?;
        if let Some(t) = self.timing.take() {
            let rtt = t.elapsed();
            self.rtt_min = Some(self.rtt_min.map_or(rtt, |m| m.min(rtt)));
        }
        Ok(line)
    }

    /// The conversation lost step with the server: a reply that does not fit the command
    /// it should answer, or a line that is not a reply. Nothing more is sent or read on
    /// this connection (every later call fails the same way); the error is temporary, so
    /// the connection is dropped and what was in flight is redone on a fresh one.
    fn out_of_step(&mut self, what: String) -> Error {
        self.anomaly(
            format!("the server's replies are out of step with the commands sent ({what})"),
            &what,
        )
    }

    /// A sign that the server does not take the pipelining in force (`what`, for the
    /// message; `why`, for `peex check`): the connection is given up as
    /// [`Wire::out_of_step`] does, and the server's level lowered.
    fn anomaly(&mut self, what: String, why: &str) -> Error {
        let msg = format!("{what}; the connection is dropped");
        self.broken = Some(msg.clone());
        self.pipelining.lower(why);
        Error::new(ErrorKind::Protocol, msg).temporary()
    }

    /// The level of pipelining in force.
    fn level(&self) -> Level {
        self.pipelining.level()
    }

    /// Fails (temporary) once the conversation is out of step ([`Wire::out_of_step`]).
    fn check_in_step(&self) -> Result<()> {
        match &self.broken {
            None => Ok(()),
            Some(msg) => Err(Error::new(ErrorKind::Protocol, msg.clone()).temporary()),
        }
    }

    /// Reads the reply to the pipelined command `line` and checks that it can be one
    /// ([`reply_fits`]); one that cannot puts the connection out of step.
    fn read_reply_to(&mut self, line: &str, op: Op) -> Result<Reply> {
        let r = self.read_reply(op)?;
        if !reply_fits(line, &r) {
            let verb = line.split(' ').next().unwrap_or(line);
            return Err(self.out_of_step(format!("{verb} answered {:?}", r.one_line())));
        }
        Ok(r)
    }

    /// Reads the replies still owed by earlier pipelined commands.
    fn settle(&mut self) -> Result<()> {
        self.check_in_step()?;
        if std::mem::take(&mut self.passive_owed) {
            let cmd = self.passive_command();
            let r = self.read_reply_to(cmd, Op::List)?;
            if r.code == 500 {
                // Offered, and answered before: this one was thrown away (Pure-FTPd
                // answers 500 to what arrives during a transfer).
                return Err(self.out_of_step(format!("a pipelined {cmd} answered {:?}", r.text)));
            }
            self.prefetched = self.parse_passive(&r).ok();
        }
        Ok(())
    }

    /// Sends one command and reads its reply.
    pub fn command(&mut self, line: &str, op: Op) -> Result<Reply> {
        self.settle()?;
        self.write_lines(&[line.to_owned()])?;
        self.timing = Some(Instant::now());
        self.read_reply_to(line, op)
    }

    /// Sends several commands in one write and reads their replies, in order (in
    /// lock-step, one command at a time).
    pub fn batch(&mut self, lines: &[String], op: Op) -> Result<Vec<Reply>> {
        if self.level() == Level::Lockstep {
            return lines.iter().map(|l| self.command(l, op)).collect();
        }
        self.settle()?;
        self.write_lines(lines)?;
        self.timing = Some(Instant::now());
        self.read_replies(lines, op)
    }

    /// Reads the replies to `lines` (sent in one write), in order, each checked against
    /// its command; a `500` to one the server must know when pipelined (it was thrown
    /// away, or the replies are out of step) is an anomaly too.
    fn read_replies(&mut self, lines: &[String], op: Op) -> Result<Vec<Reply>> {
        let mut replies = Vec::with_capacity(lines.len());
        for l in lines {
            let r = self.read_reply_to(l, op)?;
            if r.code == 500 && lines.len() > 1 && known_command(l) {
                let verb = l.split(' ').next().unwrap_or(l);
                return Err(self.out_of_step(format!("a pipelined {verb} answered {:?}", r.text)));
            }
            replies.push(r);
        }
        Ok(replies)
    }

    /// Opens a data connection. Once the round trip is known, a connection that has not
    /// been made after four round trips (at least 100 ms) is given up and tried once more:
    /// a lost SYN then costs that instead of the kernel's one-second retransmission.
    fn connect_data(&self, addr: &SocketAddr) -> std::io::Result<TcpStream> {
        let quick = self
            .rtt_min
            .map(|r| (r * 4).max(Duration::from_millis(100)))
            .filter(|q| *q < self.timeout);
        match quick {
            Some(q) => match tcp_connect(addr, q) {
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    tcp_connect(addr, self.timeout)
                }
                r => r,
            },
            None => tcp_connect(addr, self.timeout),
        }
    }

    /// The longest wait before an early `EPSV` ([`Wire::store_round`]): half a round trip,
    /// at most 10 ms.
    fn max_early_delay(&self) -> Duration {
        self.rtt_min
            .map_or(Duration::from_millis(10), |r| r / 2)
            .min(Duration::from_millis(10))
    }

    /// Early `EPSV`s sent after an upload's data, and how many the server refused because
    /// they arrived during the transfer ([`Wire::store_round`]).
    pub fn early_passive_counts(&self) -> (u64, u64) {
        (self.early.sent, self.early.refused)
    }

    /// The shortest round trip seen on this connection (a command and its reply), once
    /// one was timed.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt_min
    }

    /// Like [`Wire::batch`], and also asks for the next transfer's passive address in the
    /// same write (its reply is read later, when needed).
    pub fn batch_and_prefetch(&mut self, lines: &[String], op: Op) -> Result<Vec<Reply>> {
        if self.level() == Level::Lockstep {
            return self.batch(lines, op);
        }
        self.settle()?;
        let mut all = lines.to_vec();
        let prefetch = self.prefetched.is_none();
        if prefetch {
            all.push(self.passive_command().to_owned());
        }
        self.write_lines(&all)?;
        let replies = self.read_replies(lines, op)?;
        if prefetch {
            self.passive_owed = true;
        }
        Ok(replies)
    }

    /// Asks for the next passive address without waiting for the answer.
    fn prefetch_passive(&mut self) -> Result<()> {
        if self.level() >= Level::Safe && self.prefetched.is_none() && !self.passive_owed {
            let cmd = self.passive_command().to_owned();
            self.write_lines(&[cmd])?;
            self.passive_owed = true;
        }
        Ok(())
    }

    fn passive_command(&self) -> &'static str {
        if self.epsv {
            "EPSV"
        } else {
            "PASV"
        }
    }

    fn parse_passive(&self, r: &Reply) -> Result<SocketAddr> {
        crate::passive::parse_passive(r, self.peer, self.nat_workaround)
    }

    fn fresh_passive(&mut self) -> Result<SocketAddr> {
        let cmd = self.passive_command();
        let r = self.command(cmd, Op::List)?;
        if !r.is_ok() && self.epsv && matches!(r.code, 500 | 501 | 502 | 504) {
            // EPSV advertised but refused: fall back to PASV for good.
            self.epsv = false;
            let r = self.command("PASV", Op::List)?;
            return self.parse_passive(&r);
        }
        self.parse_passive(&r)
    }

    /// The error for `r`, a refusal of a data transfer. With TLS data connections, `522`,
    /// `425` and `450` usually mean the server wanted the data connection to resume the
    /// control connection's TLS session and it did not: the message says so, and names the
    /// options that change it. Under TLS 1.3 with `tls13=auto`, TLS 1.3 is given up for the
    /// server and the error made temporary (redone on a fresh connection, with TLS 1.2).
    fn data_error(&self, r: &Reply, op: Op) -> Error {
        let e = r.error(op);
        let Some(tls) = &self.data_tls else {
            return e;
        };
        if !matches!(r.code, 425 | 450 | 522) {
            return e;
        }
        let hint = match self.last_data_handshake {
            Some(rustls::HandshakeKind::Resumed) => "it did resume it",
            Some(_) => "it did not resume it",
            None => "it may not have resumed it",
        };
        let version = if self.tls13() {
            format!(
                "TLS 1.3, each data connection with a session ticket of its own: the server \
                 sent {} in all, {} left",
                tls.store.received(),
                tls.store.tickets()
            )
        } else {
            "TLS 1.2".to_owned()
        };
        let fallback = match (&self.tls13_fallback, self.tls13()) {
            (Some(server), true) => {
                crate::session::give_up_tls13(
                    server,
                    &format!(
                        "a data connection under TLS 1.3 was refused: {}",
                        r.one_line()
                    ),
                );
                "; peex now uses TLS 1.2 for this server"
            }
            _ => "",
        };
        Error::new(
            e.kind(),
            format!(
                "{} (FTPS: the server may require each data connection to resume the control \
                 connection's TLS session (TLS session reuse; peex resumes it, with {version}), \
                 and {hint}{fallback}; on the server, vsftpd's require_ssl_reuse=NO or \
                 proftpd's TLSOptions NoSessionReuseRequired turns that requirement off; in \
                 peex, tls13=off keeps to TLS 1.2, whose session every data connection resumes)",
                e.message()
            ),
        )
        .set_temporary(e.is_temporary() || !fallback.is_empty())
    }

    /// Opens a data connection: the prefetched passive address if it still answers, else a
    /// fresh one.
    pub fn open_data(&mut self) -> Result<Stream> {
        self.settle()?;
        self.draining = None;
        self.can_resume()?;
        let tcp = match self.prefetched.take() {
            Some(addr) => match self.connect_data(&addr) {
                Ok(t) => t,
                Err(_) => {
                    let addr = self.fresh_passive()?;
                    self.connect_data(&addr).map_err(|e| map_io(e, Op::List))?
                }
            },
            None => {
                let addr = self.fresh_passive()?;
                self.connect_data(&addr).map_err(|e| map_io(e, Op::List))?
            }
        };
        data_stream(tcp, self.data_tls.as_ref())
    }

    /// Runs a command that sends data to us (`MLSD path`) and returns all of it.
    ///
    /// The command goes out before the data connection is made, so the TCP handshake
    /// overlaps the command's round trip; and a plain data connection is half-closed at once
    /// (we never send on it), so the server's lingering close does not wait for us.
    pub fn read_data(&mut self, line: &str, op: Op) -> Result<Vec<u8>> {
        self.settle()?;
        self.draining = None;
        self.can_resume()?;
        let addr = match self.prefetched.take() {
            Some(a) => a,
            None => self.fresh_passive()?,
        };
        // The next transfer's EPSV rides in the same write: the server reads both lines at
        // once and answers the EPSV after this transfer's 226, so the next listing needs no
        // round trip of its own for its passive address.
        let ahead = self.level() == Level::Full;
        let mut lines = vec![line.to_owned()];
        if ahead {
            lines.push(self.passive_command().to_owned());
        }
        self.write_lines(&lines)?;
        let tcp = match self.connect_data(&addr) {
            Ok(t) => t,
            Err(e) => {
                let e = self.after_failed_data_connect(e, op);
                if ahead && e.is_temporary() {
                    // The passive request that followed may have closed the listener
                    // (FileZilla Server 0.9 does).
                    let what = format!(
                        "the data connection of a listing followed by {} failed: {}",
                        self.passive_command(),
                        e.message()
                    );
                    return Err(self.anomaly(what.clone(), &what));
                }
                if ahead {
                    self.passive_owed = true;
                }
                return Err(e);
            }
        };
        if self.data_tls.is_none() {
            let _ = tcp.shutdown(Shutdown::Write);
        }
        let mut data = data_stream(tcp, self.data_tls.as_ref())?;
        let first = self.read_reply_to(line, op)?;
        if !(100..200).contains(&first.code) {
            if ahead {
                self.passive_owed = true;
            }
            // Refused (or an immediate 2xx without data, which we accept as empty).
            return if first.is_ok() {
                Ok(Vec::new())
            } else {
                Err(self.data_error(&first, op))
            };
        }
        let mut buf = Vec::new();
        let read = (&mut data).take(MAX_DATA).read_to_end(&mut buf);
        if let Stream::Tls(t) = &data {
            self.last_data_handshake = t.conn.handshake_kind();
        }
        drop(data);
        if ahead {
            if let Err(e) = &read {
                if e.kind() != std::io::ErrorKind::UnexpectedEof {
                    let what = format!(
                        "the data connection of a listing followed by {} failed: {e}",
                        self.passive_command()
                    );
                    return Err(self.anomaly(what.clone(), &what));
                }
            }
        }
        let last = self.read_reply_to(line, op)?;
        if ahead && last.code == 500 {
            // The passive request sent with the listing was answered during the transfer,
            // and thrown away (Pure-FTPd).
            return Err(self.out_of_step(format!(
                "{} sent with a listing answered {:?} before its end",
                self.passive_command(),
                last.text
            )));
        }
        if ahead {
            self.passive_owed = true;
        }
        match read {
            Ok(_) => {}
            // A TLS peer that closes without close_notify: the server's 226 vouches for the
            // data being complete.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && last.code == 226 => {}
            Err(e) => return Err(map_io(e, op)),
        }
        if !matches!(last.code, 226 | 250) {
            return Err(self.data_error(&last, op));
        }
        self.last_data_final = Some(last);
        if !ahead {
            self.prefetch_passive()?;
        }
        Ok(buf)
    }

    /// The command was sent but its data connection could not be made: the server either
    /// refused the command (its reply is on the way: return it) or is waiting for a
    /// connection that will not come (then this session is out of step: a temporary error,
    /// so the pool drops it and retries on a fresh one).
    fn after_failed_data_connect(&mut self, e: std::io::Error, op: Op) -> Error {
        let tcp = match self.reader.get_ref() {
            Stream::Plain(t) => t.try_clone().ok(),
            Stream::Tls(t) => t.get_ref().try_clone().ok(),
            Stream::Closed => None,
        };
        if let Some(t) = &tcp {
            let _ = t.set_read_timeout(Some(Duration::from_secs(2)));
        }
        let reply = self.read_reply(op);
        if let Some(t) = &tcp {
            let _ = t.set_read_timeout(Some(self.timeout));
        }
        match reply {
            Ok(r) if !r.is_ok() => self.data_error(&r, op),
            _ => map_io(e, op).temporary(),
        }
    }

    /// Stores exactly `size` bytes from `src` with `STOR abs`; returns the final reply.
    /// If `src` has fewer or more bytes, the transfer is ended normally and the error
    /// returned (the partial file is the caller's to remove).
    pub fn store(&mut self, abs: &str, src: &mut dyn Read, size: u64) -> Result<()> {
        let data = self.open_data()?;
        self.store_round(data, &[], abs, src, size)?.stored
    }

    /// Sends `pre` and `STOR abs` in one write on `data` (from [`Wire::open_data`]), then
    /// the data. Returns the transfer state and the replies to `pre` if they had to be read
    /// already (a file too big to be written before the `150`).
    fn store_into(
        &mut self,
        mut data: Stream,
        pre: &[String],
        abs: &str,
        src: &mut dyn Read,
        size: u64,
    ) -> Result<(StoreSent, Option<Vec<Reply>>)> {
        let mut pre_replies = None;
        let mut lines = pre.to_vec();
        if self.level() == Level::Lockstep {
            pre_replies = Some(self.batch(pre, Op::Change)?);
            lines.clear();
        }
        lines.push(format!("STOR {abs}"));
        self.write_lines(&lines)?;
        let mut got_150 = false;
        if size > EAGER_WRITE && pre_replies.is_none() {
            pre_replies = Some(self.read_replies(pre, Op::Change)?);
        }
        if size > EAGER_WRITE {
            let r = self.read_reply_to("STOR", Op::Upload)?;
            if !(100..200).contains(&r.code) {
                return Ok((
                    StoreSent {
                        got_150: true,
                        copied: Err(self.data_error(&r, Op::Upload)),
                        finished: Ok(()),
                        refused: true,
                    },
                    pre_replies,
                ));
            }
            got_150 = true;
        }
        // TLS: finish the handshake first, even when there is nothing to write (a 0-byte
        // file would otherwise send close_notify before any handshake).
        let handshake = match &mut data {
            Stream::Tls(t) => {
                let mut r = Ok(());
                while r.is_ok() && t.conn.is_handshaking() {
                    r = t.conn.complete_io(&mut t.sock).map(|_| ());
                }
                r
            }
            _ => Ok(()),
        };
        if let Stream::Tls(t) = &data {
            self.last_data_handshake = t.conn.handshake_kind();
        }
        let copied = match handshake {
            Ok(()) => copy_exact(src, &mut data, size),
            Err(e) => Err(map_io(e, Op::Upload)),
        };
        let finished = data.finish_write();
        // Under TLS 1.3 the server sent session tickets on this connection, which only a
        // read brings in: read once the transfer's reply is (store_replies).
        if let Stream::Tls(t) = &data {
            if copied.is_ok()
                && finished.is_ok()
                && t.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3)
            {
                self.draining = Some(data);
            }
        }
        Ok((
            StoreSent {
                got_150,
                copied,
                finished,
                refused: false,
            },
            pre_replies,
        ))
    }

    /// Reads a transfer's replies. The outer error means the control connection failed
    /// (the conversation is lost); the inner one is the transfer's verdict (refused, cut,
    /// or `src` had the wrong size). When an `EPSV` followed the data (`passive_sent`), a
    /// server that reads commands during a transfer refuses it then (`450`, before the
    /// transfer's last reply); otherwise its reply follows, and gives the next transfer's
    /// address.
    fn store_replies(&mut self, sent: StoreSent, passive_sent: bool) -> Result<Result<()>> {
        let mut passive_pending = passive_sent;
        let verdict = if sent.refused {
            sent.copied
        } else {
            let mut refused = None;
            if !sent.got_150 {
                let r = self.read_reply_to("STOR", Op::Upload)?;
                if !(100..200).contains(&r.code) {
                    // Refused: no transfer took place, so no completion reply follows.
                    refused = Some(self.data_error(&r, Op::Upload));
                }
            }
            match refused {
                Some(e) => Err(e),
                None => {
                    let mut last = self.read_reply_to("STOR", Op::Upload)?;
                    if passive_pending && last.code == 500 {
                        // Answered during the transfer and thrown away (Pure-FTPd): not
                        // the transfer's verdict.
                        return Err(self.out_of_step(format!(
                            "{} sent after an upload's data answered {:?}",
                            self.passive_command(),
                            last.text
                        )));
                    }
                    if passive_pending && last.code == 450 {
                        // The EPSV arrived during the transfer and was refused: the address
                        // is asked for normally later.
                        passive_pending = false;
                        let max = self.max_early_delay();
                        self.early.refused(max);
                        last = self.read_reply_to("STOR", Op::Upload)?;
                    } else if passive_pending {
                        self.early.accepted();
                    }
                    let local = sent
                        .copied
                        .and_then(|()| sent.finished.map_err(|e| map_io(e, Op::Upload)));
                    match (local, matches!(last.code, 226 | 250)) {
                        (local, true) => local,
                        (Ok(()), false) => Err(self.data_error(&last, Op::Upload)),
                        // The server's verdict says why (a refused TLS handshake shows
                        // here as a broken pipe), and the data connection's error follows.
                        (Err(local), false) => {
                            let e = self.data_error(&last, Op::Upload);
                            Err(Error::new(
                                e.kind(),
                                format!(
                                    "{}; the data connection: {}",
                                    e.message(),
                                    local.message()
                                ),
                            )
                            .set_temporary(e.is_temporary()))
                        }
                    }
                }
            }
        };
        if passive_pending {
            let cmd = self.passive_command();
            let r = self.read_reply_to(cmd, Op::Upload)?;
            self.prefetched = self.parse_passive(&r).ok();
        }
        if let Some(data) = self.draining.take() {
            if verdict.is_ok() {
                drain_tickets(data, self.drain_wait());
            }
        }
        Ok(verdict)
    }

    /// One round of a pipelined upload: sends `pre` and `STOR abs` in one write on `data`
    /// (from [`Wire::open_data`]), then the data, and reads the replies.
    ///
    /// At full pipelining, on a link of 2 ms or more and with a file small enough to be
    /// written at once, the next passive address is asked for shortly after the data went out,
    /// without waiting for the transfer's `226`: one round trip less per file when the
    /// request reaches the server after the transfer ended; a refusal (`450`, read here)
    /// when it arrived during the transfer, and the address is asked for normally later.
    /// The delay adapts: doubled after a refusal, shortened slowly after a success.
    ///
    /// `Err` means the control connection failed: the outcome of `pre` is unknown.
    pub fn store_round(
        &mut self,
        data: Stream,
        pre: &[String],
        abs: &str,
        src: &mut dyn Read,
        size: u64,
    ) -> Result<StoreRound> {
        let (sent, pre_read) = self.store_into(data, pre, abs, src, size)?;
        let slow_link = self.rtt_min.is_some_and(|r| r >= Duration::from_millis(2));
        let early = self.level() == Level::Full
            && self.early.turn()
            && slow_link
            && size <= EAGER_WRITE
            && self.prefetched.is_none()
            && !sent.refused;
        if early {
            self.early.sent += 1;
            // A fresh connection sends a larger file in several flights (TCP slow start):
            // wait until the last one is on its way.
            let flights = self.rtt_min.unwrap_or_default() * extra_flights(size);
            std::thread::sleep(self.early.delay + flights);
            let cmd = self.passive_command().to_owned();
            self.write_lines(&[cmd])?;
        }
        let pre_replies = match pre_read {
            Some(v) => v,
            None => self.read_replies(pre, Op::Change)?,
        };
        let stored = self.store_replies(sent, early)?;
        Ok(StoreRound {
            pre: pre_replies,
            stored,
        })
    }

    /// Sends `QUIT` (after reading what is owed) and reads the goodbye. A connection out
    /// of step is just closed.
    pub fn quit(&mut self) -> Result<()> {
        if self.broken.is_some() {
            return Ok(());
        }
        let _ = self.command("QUIT", Op::Change)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    /// A scripted server: greets, then answers every line it reads with the next reply of
    /// `script` (several lines at once if the entry holds several).
    fn scripted(script: Vec<&'static str>) -> Wire {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut out = s.try_clone().unwrap();
            out.write_all(b"220 ready\r\n").unwrap();
            let mut r = BufReader::new(s);
            for reply in script {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if out.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        });
        let tcp = TcpStream::connect(addr).unwrap();
        Wire::new(tcp, Duration::from_secs(5)).unwrap().0
    }

    #[test]
    fn a_stray_line_in_a_mkd_batch_puts_the_connection_out_of_step_for_good() {
        // The line of issue 17: after a 550 to one MKD, a line that is no reply.
        let mut w = scripted(vec![
            "257 \"/t/a\" - Directory successfully created\r\n",
            "550 /t/a/b: No such file or directory\r\nMKD /t/a/b: No such file or directory\r\n",
            "257 \"/t/a/c\" - Directory successfully created\r\n",
        ]);
        let lines: Vec<String> = ["/t/a", "/t/a/b", "/t/a/c"]
            .iter()
            .map(|p| format!("MKD {p}"))
            .collect();
        let e = w.batch(&lines, Op::Change).unwrap_err();
        assert!(e.is_temporary(), "{e}");
        assert!(e.message().contains("out of step"), "{e}");
        assert!(e.message().contains("MKD /t/a/b: No such file"), "{e}");
        // Nothing more goes over it: the pool drops it and redoes the batch elsewhere.
        let again = w.command("NOOP", Op::Change).unwrap_err();
        assert!(again.is_temporary() && again.message().contains("out of step"));
        w.quit().unwrap();
    }

    #[test]
    fn a_reply_naming_another_directory_puts_a_mkd_batch_out_of_step() {
        // One reply too few before it: the second MKD reads the third one's answer.
        let mut w = scripted(vec![
            "257 \"/t/a\" - Directory successfully created\r\n",
            "",
            "257 \"/t/c\" - Directory successfully created\r\n",
        ]);
        let lines: Vec<String> = ["/t/a", "/t/b", "/t/c"]
            .iter()
            .map(|p| format!("MKD {p}"))
            .collect();
        let e = w.batch(&lines, Op::Change).unwrap_err();
        assert!(
            e.is_temporary() && e.message().contains("MKD answered"),
            "{e}"
        );
    }

    #[test]
    fn a_500_to_a_pipelined_mkd_puts_the_batch_out_of_step_and_lowers_the_level() {
        // A server that threw the command away (answered 500 while busy) cannot be trusted
        // with the rest of the batch either.
        let mut w = scripted(vec![
            "257 \"/t/a\" - Directory successfully created\r\n",
            "500 Unknown command\r\n",
            "257 \"/t/c\" - Directory successfully created\r\n",
        ]);
        w.pipelining = Policy::new("scripted-500:21", "220 ready", None);
        assert_eq!(w.level(), Level::Full);
        let lines: Vec<String> = ["/t/a", "/t/b", "/t/c"]
            .iter()
            .map(|p| format!("MKD {p}"))
            .collect();
        let e = w.batch(&lines, Op::Change).unwrap_err();
        assert!(
            e.is_temporary() && e.message().contains("pipelined MKD"),
            "{e}"
        );
        assert_eq!(w.level(), Level::Safe);
        // Alone, a 500 is just a refusal.
        let mut w = scripted(vec!["500 Unknown command\r\n"]);
        let r = w.command("MKD /t/x", Op::Change).unwrap();
        assert_eq!(r.code, 500);
    }

    #[test]
    fn slow_start_flights_grow_with_the_size() {
        assert_eq!(extra_flights(0), 0);
        assert_eq!(extra_flights(14_000), 0);
        assert_eq!(extra_flights(14_001), 1);
        assert_eq!(extra_flights(42_000), 1);
        assert_eq!(extra_flights(64 * 1024), 2);
        assert!(extra_flights(u64::MAX) < 64, "ends for any size");
    }
}
