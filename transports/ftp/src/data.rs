//! Data connections: the stream (plain or TLS), its TLS settings, connecting to a passive
//! address, and copying exactly the announced number of bytes.

use crate::errors::{map_io, Op};
use peex_core::{Error, ErrorKind, Result};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

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
    /// The shared client config (holds the session cache).
    pub config: Arc<ClientConfig>,
    /// The server name the control connection verified.
    pub name: ServerName<'static>,
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
