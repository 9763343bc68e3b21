//! Uploads: [`Wire::store`] (one file), and [`Wire::store_round`], one round of a
//! pipelined upload (the `stream` module's): the commands that finish earlier files and
//! `STOR` in one write, then the data, then the replies, with, on a slow link, the next
//! `EPSV` sent early (`early_passive.rs`).

use super::Wire;
use crate::data::{copy_exact, drain_tickets, Stream};
use crate::errors::{map_io, Op};
use crate::pipelining::Level;
use crate::reply::Reply;
use peex_core::{Error, Result};
use std::io::Read;
use std::time::Duration;

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

impl Wire {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
