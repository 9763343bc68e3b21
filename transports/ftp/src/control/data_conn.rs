//! Data connections: the passive address (prefetched with an earlier command, else asked
//! for afresh), connecting to it ([`Wire::open_data`]), and commands whose data comes to us
//! ([`Wire::read_data`], for listings), with the next transfer's `EPSV` in the same write.

use super::Wire;
use crate::data::{data_stream, tcp_connect, Stream};
use crate::errors::{map_io, Op};
use crate::pipelining::Level;
use crate::reply::Reply;
use peex_core::{Error, Result};
use std::io::Read;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// Largest listing accepted from one data connection.
const MAX_DATA: u64 = 512 * 1024 * 1024;

impl Wire {
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
}
