//! TLS on the control connection ([`Wire::start_tls`] after `AUTH TLS`, or
//! [`Wire::new_implicit`]), then `PBSZ 0` and `PROT P` so data connections are encrypted
//! too, resuming its session: whether a TLS 1.3 session ticket is left for the next one
//! ([`Wire::can_resume`]), and what a refused transfer under TLS most likely means
//! ([`Wire::data_error`], which names the options that change it).

use super::Wire;
use crate::data::{DataTls, Stream};
use crate::errors::{map_io, Op};
use crate::reply::Reply;
use peex_core::{Error, ErrorKind, Result};
use rustls::{ClientConnection, StreamOwned};
use std::io::BufReader;
use std::net::TcpStream;
use std::time::Duration;

impl Wire {
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
    pub(super) fn can_resume(&mut self) -> Result<()> {
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
    pub(super) fn drain_wait(&self) -> Duration {
        self.rtt_min
            .map_or(Duration::from_millis(100), |r| {
                (r * 4).max(Duration::from_millis(50))
            })
            .min(Duration::from_secs(1))
            .min(self.timeout)
    }

    /// The error for `r`, a refusal of a data transfer. With TLS data connections, `522`,
    /// `425` and `450` usually mean the server wanted the data connection to resume the
    /// control connection's TLS session and it did not: the message says so, and names the
    /// options that change it. Under TLS 1.3 with `tls13=auto`, TLS 1.3 is given up for the
    /// server and the error made temporary (redone on a fresh connection, with TLS 1.2).
    pub(super) fn data_error(&self, r: &Reply, op: Op) -> Error {
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
}
