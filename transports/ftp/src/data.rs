//! Data connections: the stream (plain or TLS), its TLS settings, connecting to a passive
//! address, and copying exactly the announced number of bytes.

use crate::errors::{map_io, Op};
use peex_core::{Error, ErrorKind, Result};
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, NamedGroup, StreamOwned};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A control or data stream, plain or TLS.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (rustls).
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// Nothing (only while the control stream is being moved into TLS).
    Closed,
}

fn not_connected() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "no stream")
}

impl Stream {
    /// Ends the write side: TLS `close_notify`, then a TCP half-close.
    pub fn finish_write(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.shutdown(Shutdown::Write),
            Stream::Tls(s) => {
                s.conn.send_close_notify();
                s.flush()?;
                s.get_ref().shutdown(Shutdown::Write)
            }
            Stream::Closed => Err(not_connected()),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Closed => Err(not_connected()),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Closed => Err(not_connected()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Closed => Ok(()),
        }
    }
}

/// TLS settings for data connections (`PROT P`): the control connection's config, so that
/// data connections resume its session (proftpd requires it by default).
#[derive(Clone)]
pub struct DataTls {
    /// The shared client config (its session store is `store`).
    pub config: Arc<ClientConfig>,
    /// The server name the control connection verified.
    pub name: ServerName<'static>,
    /// The config's session store: how many TLS 1.3 tickets are left.
    pub store: Arc<TicketStore>,
}

/// Most TLS 1.3 tickets kept (the oldest go first); servers send one or two at a time.
const MAX_TICKETS: usize = 32;

/// The TLS session store of one FTPS connection (its control and data connections), which
/// counts its TLS 1.3 tickets.
///
/// A TLS 1.3 ticket resumes a session once (rustls hands each out once, and its value
/// cannot be copied): each data connection uses one up, so the connection can resume the
/// control connection's session only as long as the server sends new ones — two after the
/// control connection's handshake (OpenSSL's default), then, depending on the server, one
/// on each data connection (read by [`drain_tickets`] on uploads) or none (proftpd). The
/// count tells a connection, before it opens a data connection, whether it can resume.
#[derive(Debug, Default)]
pub struct TicketStore {
    inner: Mutex<StoreInner>,
}

#[derive(Debug, Default)]
struct StoreInner {
    kx_hint: Option<(ServerName<'static>, NamedGroup)>,
    tls12: Option<(ServerName<'static>, Tls12ClientSessionValue)>,
    tls13: VecDeque<(ServerName<'static>, Tls13ClientSessionValue)>,
    received: u64,
}

impl TicketStore {
    fn lock(&self) -> MutexGuard<'_, StoreInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// TLS 1.3 tickets held (each good for one data connection).
    pub fn tickets(&self) -> usize {
        self.lock().tls13.len()
    }

    /// TLS 1.3 tickets received so far, on the control and data connections.
    pub fn received(&self) -> u64 {
        self.lock().received
    }
}

impl ClientSessionStore for TicketStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.lock().kx_hint = Some((server_name, group));
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        match &self.lock().kx_hint {
            Some((n, g)) if n == server_name => Some(*g),
            _ => None,
        }
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.lock().tls12 = Some((server_name, value));
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        match &self.lock().tls12 {
            Some((n, v)) if n == server_name => Some(v.clone()),
            _ => None,
        }
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        let mut inner = self.lock();
        if inner.tls12.as_ref().is_some_and(|(n, _)| n == server_name) {
            inner.tls12 = None;
        }
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        let mut inner = self.lock();
        if inner.tls13.len() >= MAX_TICKETS {
            inner.tls13.pop_front();
        }
        inner.tls13.push_back((server_name, value));
        inner.received += 1;
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        let mut inner = self.lock();
        // The newest first: the oldest are the likeliest to have expired.
        let i = inner.tls13.iter().rposition(|(n, _)| n == server_name)?;
        inner.tls13.remove(i).map(|(_, v)| v)
    }
}

/// After an upload's data and `close_notify` went out, reads what the server sent on the
/// data connection — under TLS 1.3, the session tickets it sends after each handshake,
/// which land in the session store — until its `close_notify` or EOF, for at most `wait`.
/// Nothing else is done with it: the server's reply on the control connection is the
/// transfer's verdict. (Without this an upload never reads from its data connection, and
/// the tickets sent on it are lost.)
pub fn drain_tickets(stream: Stream, wait: Duration) {
    let Stream::Tls(mut s) = stream else {
        return;
    };
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.sock.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match s.conn.read_tls(&mut s.sock) {
            Ok(0) => return,
            Ok(_) => match s.conn.process_new_packets() {
                Ok(state) if state.peer_has_closed() => return,
                Ok(state) => {
                    // An upload's data connection carries nothing to us; throw away
                    // whatever a server sends anyway.
                    let mut sink = vec![0u8; state.plaintext_bytes_to_read()];
                    let _ = s.conn.reader().read(&mut sink);
                }
                Err(_) => return,
            },
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}

/// Opens a TCP connection with a connect timeout, then read/write timeouts.
pub fn tcp_connect(addr: &SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// A data connection over `tcp`: plain, or TLS resuming the control connection's session
/// (`tls`; the handshake happens on first use).
pub fn data_stream(tcp: TcpStream, tls: Option<&DataTls>) -> Result<Stream> {
    match tls {
        None => Ok(Stream::Plain(tcp)),
        Some(tls) => {
            let conn = ClientConnection::new(tls.config.clone(), tls.name.clone())
                .map_err(|e| Error::new(ErrorKind::Protocol, format!("TLS: {e}")))?;
            Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
        }
    }
}

/// Copies exactly `size` bytes; more or fewer is an error.
pub fn copy_exact(src: &mut dyn Read, dst: &mut Stream, size: u64) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    loop {
        let want = (size - sent).min(buf.len() as u64) as usize;
        if want == 0 {
            let mut probe = [0u8; 1];
            return match read_retrying(src, &mut probe) {
                Ok(0) => Ok(()),
                Ok(_) => Err(Error::new(
                    ErrorKind::Unexpected,
                    format!("the source has more than the expected {size} bytes"),
                )),
                Err(e) => Err(Error::from(e)),
            };
        }
        let n = read_retrying(src, &mut buf[..want]).map_err(Error::from)?;
        if n == 0 {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("the source ended after {sent} of {size} bytes"),
            ));
        }
        dst.write_all(&buf[..n])
            .map_err(|e| map_io(e, Op::Upload))?;
        sent += n as u64;
    }
}

fn read_retrying(src: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match src.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}
