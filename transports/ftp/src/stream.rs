//! Pipelined uploads: [`RemoteFs::upload_stream`] for FTP.
//!
//! A file's upload is spread over three rounds, each round one data connection and one
//! write on the control connection:
//!
//! ```text
//! round i:  connect │ SIZE tmpᵢ₋₁ · MFMT t tmpᵢ₋₁ · RNFR tmpᵢ₋₂ · RNTO pathᵢ₋₂ · STOR tmpᵢ │ data │ EPSV
//! ```
//!
//! The size check and time of the previous file and the rename of the one before it (its
//! size check was read in the previous round) travel in front of this file's `STOR`, so
//! they cost no round trip of their own; a rename is sent only once its file's size is
//! known to be right, so a data connection cut short (which plain FTP reports as a
//! complete `226`) never puts a truncated file in place. When the stream runs dry, the
//! last two files are finished with two more writes.
//!
//! A direct job (no temporary name: a new file inside a directory tree the engine builds
//! under a temporary name) is stored under its final name and complete after its size
//! check and time, one round later; it never takes part in a rename round.
//!
//! The next `EPSV` is the chain: the server refuses it during a transfer (proftpd answers
//! `450` to an `EPSV` that arrives while a `STOR` is running, and runs other commands at
//! once, which is why nothing else is sent after the data). Waiting for the `226` before
//! asking costs a round trip per file; so when the link is slow (a round trip of 2 ms or
//! more) and the file small, `EPSV` is sent shortly after the data, when the transfer has
//! most likely ended on the server: two round trips per file instead of three. If it
//! arrived too early, the `450` is read, the address asked for again (never worse than
//! waiting) and the delay lengthened. Only at full pipelining (the `pipelining` module).
//!
//! [`RemoteFs::upload_stream`]: peex_core::RemoteFs::upload_stream

use crate::errors::Op;
use crate::ftpfs::{mtime_command, FtpFs};
use crate::reply::Reply;
use crate::time::format_ftp_time;
use crate::writer::{remove_after, size_command, size_verdict, stored_size};
use peex_core::{Error, ErrorKind, RelPath, ReplaceJob, Result};

/// What is in flight between rounds.
struct Flight<'a> {
    /// Stored under its temporary name, size not checked yet; whether the time command
    /// went out with the size check.
    stored: Option<(ReplaceJob<'a>, bool)>,
    /// Size checked, waiting for its rename; the time still to set after the rename (the
    /// server refused it on the temporary name).
    checked: Option<(ReplaceJob<'a>, Option<i64>)>,
    /// A `DELE` of the checked job's final name went in front of its rename
    /// ([`RenameOver::RemoveThenRename`](peex_core::RenameOver)).
    dele_sent: bool,
}

impl Flight<'_> {
    fn is_empty(&self) -> bool {
        self.stored.is_none() && self.checked.is_none()
    }
}

/// The error a job gets when the connection failed before its outcome was known.
fn lost(e: &Error) -> Error {
    Error::new(
        e.kind(),
        format!(
            "{} (the connection failed before the rename was confirmed)",
            e.message()
        ),
    )
    .temporary()
}

/// A copy of a temporary error, to return after the original went to `done`.
fn stop_error(e: &Error) -> Error {
    Error::new(e.kind(), e.message().to_owned()).temporary()
}

/// The verdict on a rename from its `RNFR` and `RNTO` replies.
fn rename_verdict(rnfr: Option<&Reply>, rnto: Option<&Reply>, path: &RelPath) -> Result<()> {
    let (Some(rnfr), Some(rnto)) = (rnfr, rnto) else {
        return Err(Error::new(ErrorKind::Protocol, "no reply to RNFR/RNTO"));
    };
    if rnfr.code != 350 {
        return Err(rnfr.error(Op::Change).with_op("rename into place", path));
    }
    if !(200..300).contains(&rnto.code) {
        return Err(rnto.error(Op::Change).with_op("rename into place", path));
    }
    Ok(())
}

impl FtpFs {
    /// See the module documentation.
    pub(crate) fn pipelined_stream<'a>(
        &mut self,
        next: &mut dyn FnMut() -> Option<ReplaceJob<'a>>,
        done: &mut dyn FnMut(usize, Result<()>),
    ) -> Result<()> {
        let mut flight = Flight {
            stored: None,
            checked: None,
            dele_sent: false,
        };
        while let Some(job) = next() {
            self.round(job, &mut flight, done)?;
        }
        // The last two files: their size check and rename, then the last rename (with the
        // next transfer's EPSV).
        self.finish_flight(&mut flight, done, true)
    }

    /// The time command for `job` on its temporary name, if one is to be sent.
    fn time_line(&self, job: &ReplaceJob<'_>) -> Option<String> {
        let ts = format_ftp_time(job.mtime?).ok()?;
        mtime_command(self.mtime, &self.abs(job.write_path()), &ts)
    }

    /// The commands that finish what is in flight: the size check (and time) of the stored
    /// file, the rename of the checked one.
    fn pre_lines(&self, f: &mut Flight<'_>) -> Vec<String> {
        let mut lines = Vec::with_capacity(4);
        if let Some((job, time_sent)) = &mut f.stored {
            lines.push(size_command(&self.s, &self.abs(job.write_path())));
            let time = self.time_line(job);
            *time_sent = time.is_some();
            lines.extend(time);
        }
        f.dele_sent = false;
        if let Some((job, _)) = &f.checked {
            if let Some(tmp) = &job.tmp {
                if self.rename_over == peex_core::RenameOver::RemoveThenRename {
                    lines.push(format!("DELE {}", self.abs(&job.path)));
                    f.dele_sent = true;
                }
                lines.push(format!("RNFR {}", self.abs(tmp)));
                lines.push(format!("RNTO {}", self.abs(&job.path)));
            }
        }
        lines
    }

    /// Reads the replies to [`FtpFs::pre_lines`]: the checked file is done (or failed), the
    /// stored file becomes the checked one (or failed).
    fn settle_flight<'a>(
        &mut self,
        f: &mut Flight<'a>,
        replies: &[Reply],
        done: &mut dyn FnMut(usize, Result<()>),
    ) {
        let mut it = replies.iter();
        let mut next_checked = None;
        if let Some((job, time_sent)) = f.stored.take() {
            let abs_tmp = self.abs(job.write_path());
            let check = it.next();
            let time_ok = time_sent && it.next().is_some_and(Reply::is_ok);
            let verdict = match check {
                Some(r) => size_verdict(stored_size(&self.s, r, &abs_tmp), job.size),
                None => Err(Error::new(
                    ErrorKind::Protocol,
                    "no reply to the size check",
                )),
            };
            match verdict {
                Ok(()) => {
                    let late = job.mtime.filter(|_| !time_ok);
                    if job.tmp.is_some() {
                        next_checked = Some((job, late));
                    } else {
                        // Written in place: complete once its size and time are right.
                        let r = late.map_or(Ok(()), |t| self.late_mtime(&job.path, t));
                        done(job.id, r);
                    }
                }
                Err(e) => {
                    if remove_after(&e) {
                        let _ = self.s.command(&format!("DELE {abs_tmp}"));
                    }
                    done(job.id, Err(e));
                }
            }
        }
        if let Some((job, late_mtime)) = f.checked.take() {
            let path = &job.path;
            if f.dele_sent {
                let _ = it.next(); // a missing file is fine; a refusal shows in RNTO's
            }
            let (rnfr, rnto) = (it.next(), it.next());
            let r = match (&job.tmp, rename_verdict(rnfr, rnto, path)) {
                // The server will not rename onto an existing file (550/553).
                (Some(tmp), Err(_)) if rnto.is_some_and(|r| matches!(r.code, 550 | 553)) => {
                    let refused = rnto.map(Reply::one_line).unwrap_or_default();
                    self.rename_refused_over(tmp, path, &refused)
                }
                (_, r) => r,
            }
            .and_then(|()| late_mtime.map_or(Ok(()), |t| self.late_mtime(path, t)));
            done(job.id, r);
        }
        f.checked = next_checked;
    }

    /// Sets the time on the final name when the server refused it on the name written to.
    fn late_mtime(&mut self, path: &RelPath, t: i64) -> Result<()> {
        self.set_time(path, t)
            .map_err(|e| e.with_op("set mtime", path))
    }

    /// One round: uploads `job` with what is in flight finished in front of it. `Err` (a
    /// temporary error) ends the stream; every job taken has been reported.
    fn round<'a>(
        &mut self,
        mut job: ReplaceJob<'a>,
        flight: &mut Flight<'a>,
        done: &mut dyn FnMut(usize, Result<()>),
    ) -> Result<()> {
        if let Some(t) = job.mtime {
            if let Err(e) = format_ftp_time(t) {
                done(job.id, Err(e));
                return Ok(());
            }
        }
        let abs_tmp = self.abs(job.write_path());
        let data = match self.s.wire.open_data() {
            Ok(d) => d,
            Err(e) => {
                // Nothing was sent for this round: finish the others on their own.
                if !e.is_temporary() {
                    done(job.id, Err(e));
                    return Ok(());
                }
                let stop = stop_error(&e);
                done(job.id, Err(e));
                // The stream stops with this round's error either way.
                let _ = self.finish_flight(flight, done, false);
                return Err(stop);
            }
        };
        let pre = self.pre_lines(flight);
        let round = self
            .s
            .wire
            .store_round(data, &pre, &abs_tmp, &mut job.src, job.size);
        let round = match round {
            Ok(r) => r,
            Err(e) => {
                abandon(flight, &e, done);
                let stop = stop_error(&e);
                done(job.id, Err(e));
                return Err(stop);
            }
        };
        self.settle_flight(flight, &round.pre, done);
        match round.stored {
            Ok(()) => {
                flight.stored = Some((job, false));
                Ok(())
            }
            Err(e) => {
                if remove_after(&e) {
                    let _ = self.s.command(&format!("DELE {abs_tmp}"));
                }
                if e.is_temporary() {
                    // Finish the others while the connection may still work.
                    let stop = stop_error(&e);
                    done(job.id, Err(e));
                    // The stream stops with this round's error either way.
                    let _ = self.finish_flight(flight, done, false);
                    return Err(stop);
                }
                done(job.id, Err(e));
                Ok(())
            }
        }
    }

    /// Finishes what is in flight with writes of their own: at the end of the stream (with
    /// the next transfer's `EPSV` when `prefetch`), or after a transfer failed. `Err` when
    /// the connection failed (what was in flight is reported lost).
    fn finish_flight<'a>(
        &mut self,
        flight: &mut Flight<'a>,
        done: &mut dyn FnMut(usize, Result<()>),
        prefetch: bool,
    ) -> Result<()> {
        while !flight.is_empty() {
            let pre = self.pre_lines(flight);
            let replies = if prefetch {
                self.s.wire.batch_and_prefetch(&pre, Op::Change)
            } else {
                self.s.wire.batch(&pre, Op::Change)
            };
            match replies {
                Ok(replies) => self.settle_flight(flight, &replies, done),
                Err(e) => {
                    abandon(flight, &e, done);
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// The connection failed: what was in flight has an unknown outcome.
fn abandon(flight: &mut Flight<'_>, e: &Error, done: &mut dyn FnMut(usize, Result<()>)) {
    if let Some((job, _)) = flight.stored.take() {
        done(job.id, Err(lost(e)));
    }
    if let Some((job, _)) = flight.checked.take() {
        done(job.id, Err(lost(e)));
    }
}
