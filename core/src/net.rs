//! The one TCP connect of the network transports (FTP's control connection, SFTP's).

use crate::{Error, ErrorKind, Result};
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Resolves `host` and connects to the first of its addresses that answers within
/// `timeout` (each), with `TCP_NODELAY` on (request/reply protocols).
///
/// Errors are [`ErrorKind::ConnectionFailed`], naming the host (and the address tried
/// last), temporary when the connect or the resolution timed out; the I/O error is the
/// source. Read and write timeouts are left to the caller.
pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::new(
                ErrorKind::ConnectionFailed,
                format!("cannot resolve {host}: {e}"),
            )
            .set_temporary(e.kind() == io::ErrorKind::TimedOut)
        })?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    Err(match last {
        Some((addr, e)) => {
            let temporary = e.kind() == io::ErrorKind::TimedOut;
            Error::new(
                ErrorKind::ConnectionFailed,
                format!("cannot connect to {host}:{port} ({addr}): {e}"),
            )
            .set_temporary(temporary)
            .with_source(e)
        }
        None => Error::new(
            ErrorKind::ConnectionFailed,
            format!("{host} resolves to no address"),
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn connects_and_names_the_host_when_it_cannot() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let s = connect("127.0.0.1", port, Duration::from_secs(2)).unwrap();
        assert!(s.nodelay().unwrap());
        drop(l);
        let e = connect("127.0.0.1", port, Duration::from_secs(2)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionFailed);
        assert!(e.message().contains(&format!("127.0.0.1:{port}")), "{e}");
        assert!(!e.is_temporary(), "refused is not temporary: {e}");
        let e = connect("no-such-host.invalid", 21, Duration::from_secs(2)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionFailed);
        assert!(e.message().contains("no-such-host.invalid"), "{e}");
    }
}
