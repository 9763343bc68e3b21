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
//!
//! This file holds [`Wire`] itself: sending commands, one or a batch in one write, and
//! reading their replies, checked against the commands they answer. The rest of the
//! connection is in its children, each adding methods to [`Wire`] (each uses only those
//! above it, and this file):
//!
//! - `tls.rs`: TLS on the control connection (`AUTH TLS` or implicit), session resumption
//!   by data connections, and what a refused transfer under TLS means;
//! - `data_conn.rs`: passive addresses (prefetched or fresh), data connections, and
//!   listings read from them ([`Wire::read_data`]);
//! - `early_passive.rs`: when an upload's next `EPSV` goes out before its `226`;
//! - `upload_round.rs`: uploads, one round of a pipelined upload ([`Wire::store_round`]).

mod data_conn;
mod early_passive;
mod tls;
mod upload_round;

use crate::data::{DataTls, Stream};
use crate::errors::{map_io, Op};
use crate::pipelining::{Level, Policy};
use crate::reply::{self, known_command, reply_fits, Framed, Reply};
use early_passive::EarlyPassive;
use peex_core::{Error, ErrorKind, Result};
use std::io::{BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

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
    /// transfer's reply is in ([`drain_tickets`](crate::data::drain_tickets)).
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

    /// The shortest round trip seen on this connection (a command and its reply), once
    /// one was timed.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt_min
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
}
