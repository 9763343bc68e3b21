//! Uploads, pipelined: [`RemoteFs::upload_stream`] for SFTP (and `upload`, `upload_replace`
//! as streams of one).
//!
//! Many files are in flight on the one channel, each going through three steps whose
//! requests travel together with the other files' requests:
//!
//! ```text
//! OPEN tmp (write, create, truncate)            → handle
//! WRITE handle … (32–256 KiB each) · FSETSTAT handle times · CLOSE handle
//! posix-rename tmp path   (or REMOVE path · RENAME tmp path without the extension)
//! ```
//!
//! A file whose writes, time or close all answered OK is renamed; one that failed is
//! closed, removed, and reported with the first error; its rename is never sent, so a
//! short or failed write never puts a truncated file in place. The server handles the
//! requests on one handle in the order they came (draft-ietf-secsh-filexfer-02 §6), so the
//! time set before CLOSE is the file's final time. A direct job (no temporary name: a new
//! file in a directory tree built under a temporary name) is complete after its CLOSE.
//!
//! What is in flight is bounded: [`FILES_WINDOW`] files (and the server's open-handle
//! limit), [`BYTES_WINDOW`] bytes of write data, [`REQUEST_WINDOW`] requests. A lost
//! channel fails every file in flight with a temporary error, each reported once; nothing
//! is sent again (the engine retries on a new connection).
//!
//! [`RemoteFs::upload_stream`]: peex_core::RemoteFs::upload_stream

use crate::core::{reply_error, status_ok, SftpFs};
use crate::ops::sftp_time;
use crate::packet::{
    Attrs, Reply, Request, FXP_CLOSE, FXP_FSETSTAT, FXP_OPEN, FXP_REMOVE, FXP_WRITE,
    OPEN_WRITE_CREATE_TRUNCATE,
};
use peex_core::{Error, ErrorKind, RelPath, ReplaceJob, Result};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;

/// Files in flight at once on one connection.
const FILES_WINDOW: usize = 32;
/// Bytes of WRITE data in flight at once (below OpenSSH's 2 MiB channel window, so a write
/// never waits for the server to drain one that is waiting for us).
const BYTES_WINDOW: u64 = 2 * 1024 * 1024;
/// Requests in flight at once.
const REQUEST_WINDOW: usize = 256;

/// What a request in flight was for.
#[derive(Debug, Clone, Copy)]
enum What {
    Open,
    Write(u64),
    SetTime,
    Close,
    Rename,
}

/// One file in flight.
struct Slot<'a> {
    job: ReplaceJob<'a>,
    handle: Option<Vec<u8>>,
    /// Bytes read from the source and sent.
    sent: u64,
    /// CLOSE queued (after the data, or after a failure).
    closed: bool,
    /// Replies still due for WRITE, FSETSTAT and CLOSE.
    pending: usize,
    /// The first failure; the file is removed and reported with it.
    err: Option<Error>,
}

/// The error a job gets when the channel failed before its outcome was known.
fn lost(e: &Error) -> Error {
    Error::new(
        e.kind(),
        format!("{} (before the upload was confirmed)", e.message()),
    )
    .temporary()
}

/// Reads into `buf` until it is full or the source ends; the number of bytes read.
fn read_full(src: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Unexpected,
                    format!("reading the local file failed: {e}"),
                )
                .with_source(e))
            }
        }
    }
    Ok(n)
}

/// The state of one [`SftpFs::stream`].
struct Stream<'a> {
    slots: BTreeMap<usize, Slot<'a>>,
    waiting: HashMap<u32, (usize, What)>,
    bytes: u64,
    next_key: usize,
    buf: Vec<u8>,
}

impl SftpFs {
    /// See the module documentation.
    pub(crate) fn stream<'a>(
        &mut self,
        next: &mut dyn FnMut() -> Option<ReplaceJob<'a>>,
        done: &mut dyn FnMut(usize, Result<()>),
    ) -> Result<()> {
        let max_files = usize::try_from(self.pipe.limits.handles.saturating_sub(4).max(1))
            .unwrap_or(FILES_WINDOW)
            .min(FILES_WINDOW);
        let mut s = Stream {
            slots: BTreeMap::new(),
            waiting: HashMap::new(),
            bytes: 0,
            next_key: 0,
            buf: vec![0u8; self.pipe.limits.write as usize],
        };
        let mut taking = true;
        // A temporary error one file got while the channel still works: no more are taken,
        // those in flight are finished, and the stream returns it.
        let mut stop: Option<Error> = None;
        loop {
            while taking && s.slots.len() < max_files {
                let Some(job) = next() else {
                    taking = false;
                    break;
                };
                if let Err(e) = self.start(&mut s, job, done) {
                    return Err(self.abandon(&mut s, &e, done));
                }
            }
            if let Err(e) = self.feed(&mut s) {
                return Err(self.abandon(&mut s, &e, done));
            }
            if s.waiting.is_empty() {
                if !s.slots.is_empty() {
                    let e = Error::new(ErrorKind::Unexpected, "SFTP upload stream stalled");
                    return Err(self.abandon(&mut s, &e, done));
                }
                if taking {
                    continue;
                }
                break;
            }
            let (id, reply) = match self.pipe.recv() {
                Ok(r) => r,
                Err(e) => return Err(self.abandon(&mut s, &e, done)),
            };
            match self.settle(&mut s, id, reply, done) {
                Ok(Some(e)) => {
                    taking = false;
                    stop.get_or_insert(e);
                }
                Ok(None) => {}
                Err(e) => return Err(self.abandon(&mut s, &e, done)),
            }
        }
        match stop {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Opens the file of `job` (after checking its time can be sent).
    fn start<'a>(
        &mut self,
        s: &mut Stream<'a>,
        job: ReplaceJob<'a>,
        done: &mut dyn FnMut(usize, Result<()>),
    ) -> Result<()> {
        if let Some(t) = job.mtime {
            if let Err(e) = sftp_time(t) {
                done(job.id, Err(e.with_op("set mtime", &job.path)));
                return Ok(());
            }
        }
        if job.tmp.is_some() {
            if let Err(e) = self.send_rename_probe() {
                done(job.id, Err(lost(&e)));
                return Err(e);
            }
        }
        let req = Request::new(FXP_OPEN)
            .string(&self.path(job.write_path()))
            .u32(OPEN_WRITE_CREATE_TRUNCATE)
            .attrs(&Attrs::perm(0o644));
        let id = match self.pipe.send(req) {
            Ok(id) => id,
            Err(e) => {
                done(job.id, Err(lost(&e)));
                return Err(e);
            }
        };
        let key = s.next_key;
        s.next_key += 1;
        s.waiting.insert(id, (key, What::Open));
        s.slots.insert(
            key,
            Slot {
                job,
                handle: None,
                sent: 0,
                closed: false,
                pending: 0,
                err: None,
            },
        );
        Ok(())
    }

    /// Sends data for the open files, oldest first, as far as the windows allow; queues
    /// the time and CLOSE of a file whose data is all sent. `Err` only for a broken channel.
    fn feed(&mut self, s: &mut Stream<'_>) -> Result<()> {
        let chunk = s.buf.len() as u64;
        for (&key, slot) in s.slots.iter_mut() {
            let Some(handle) = slot.handle.clone() else {
                continue;
            };
            while !slot.closed {
                if slot.err.is_none() && slot.sent < slot.job.size {
                    if s.bytes >= BYTES_WINDOW || self.pipe.in_flight() >= REQUEST_WINDOW {
                        return Ok(());
                    }
                    let want = (slot.job.size - slot.sent).min(chunk) as usize;
                    match read_full(&mut slot.job.src, &mut s.buf[..want]) {
                        Ok(n) if n == want => {
                            let req = Request::new(FXP_WRITE)
                                .string(&handle)
                                .u64(slot.sent)
                                .string(&s.buf[..n]);
                            let id = self.pipe.send(req)?;
                            s.waiting.insert(id, (key, What::Write(n as u64)));
                            s.bytes += n as u64;
                            slot.sent += n as u64;
                            slot.pending += 1;
                        }
                        Ok(n) => {
                            slot.err = Some(Error::new(
                                ErrorKind::Unexpected,
                                format!(
                                    "the local file yielded {} bytes, expected {}",
                                    slot.sent + n as u64,
                                    slot.job.size
                                ),
                            ));
                        }
                        Err(e) => slot.err = Some(e),
                    }
                    continue;
                }
                if slot.err.is_none() {
                    // All sent: the source must end here.
                    match read_full(&mut slot.job.src, &mut s.buf[..1]) {
                        Ok(0) => {}
                        Ok(_) => {
                            slot.err = Some(Error::new(
                                ErrorKind::Unexpected,
                                format!(
                                    "the local file grew while uploading: more than {} bytes",
                                    slot.job.size
                                ),
                            ))
                        }
                        Err(e) => slot.err = Some(e),
                    }
                }
                if slot.err.is_none() {
                    if let Some(t) = slot.job.mtime {
                        let t = sftp_time(t)?;
                        let req = Request::new(FXP_FSETSTAT)
                            .string(&handle)
                            .attrs(&Attrs::times(t));
                        let id = self.pipe.send(req)?;
                        s.waiting.insert(id, (key, What::SetTime));
                        slot.pending += 1;
                    }
                }
                let id = self.pipe.send(Request::path(FXP_CLOSE, &handle))?;
                s.waiting.insert(id, (key, What::Close));
                slot.pending += 1;
                slot.closed = true;
            }
        }
        Ok(())
    }

    /// Handles one reply. `Ok(Some(e))`: a file failed with a temporary error `e` while the
    /// channel still works (the stream takes no more). `Err`: the channel is broken.
    fn settle(
        &mut self,
        s: &mut Stream<'_>,
        id: u32,
        reply: Reply,
        done: &mut dyn FnMut(usize, Result<()>),
    ) -> Result<Option<Error>> {
        let Some((key, what)) = s.waiting.remove(&id) else {
            return Ok(None);
        };
        let Some(slot) = s.slots.get_mut(&key) else {
            return Ok(None);
        };
        match what {
            What::Open => match reply {
                Reply::Handle(h) => {
                    slot.handle = Some(h);
                    return Ok(None);
                }
                r => {
                    let e = reply_error(r, "a file handle");
                    return Ok(self.finish(s, key, Err(e), done));
                }
            },
            What::Rename => {
                let r =
                    status_ok(reply).map_err(|e| e.with_op("rename into place", &slot.job.path));
                return Ok(self.finish(s, key, r, done));
            }
            What::Write(n) => {
                s.bytes = s.bytes.saturating_sub(n);
                slot.pending -= 1;
                if let Err(e) = status_ok(reply) {
                    slot.err.get_or_insert(e);
                }
            }
            What::SetTime => {
                slot.pending -= 1;
                if let Err(e) = status_ok(reply) {
                    slot.err
                        .get_or_insert(e.with_op("set mtime", &slot.job.path));
                }
            }
            What::Close => {
                slot.pending -= 1;
                if let Err(e) = status_ok(reply) {
                    slot.err.get_or_insert(e);
                }
            }
        }
        if slot.err.is_some() && !slot.closed {
            // Stop writing; CLOSE releases the handle (the remaining writes answer first).
            if let Some(h) = &slot.handle {
                let cid = self.pipe.send(Request::path(FXP_CLOSE, h))?;
                s.waiting.insert(cid, (key, What::Close));
                slot.pending += 1;
            }
            slot.closed = true;
        }
        if !slot.closed || slot.pending > 0 {
            return Ok(None);
        }
        // Written, timed and closed (or failed).
        if let Some(e) = slot.err.take() {
            let path = self.path(slot.job.write_path());
            let rid = self.pipe.send(Request::path(FXP_REMOVE, &path))?;
            self.pipe.forget(rid);
            return Ok(self.finish(s, key, Err(e), done));
        }
        let Some(tmp) = slot.job.tmp.clone() else {
            return Ok(self.finish(s, key, Ok(()), done));
        };
        let from = self.path(&tmp);
        let to = self.path(&slot.job.path);
        let req = self.rename_request(&from, &to)?;
        if !self.atomic_rename() {
            // Plain RENAME refuses an existing target: remove it first (a missing one
            // answers "no such file", which is fine).
            let rid = self.pipe.send(Request::path(FXP_REMOVE, &to))?;
            self.pipe.forget(rid);
        }
        let rid = self.pipe.send(req)?;
        s.waiting.insert(rid, (key, What::Rename));
        Ok(None)
    }

    /// Reports the file of `key` and drops it; a temporary error is handed back.
    fn finish(
        &mut self,
        s: &mut Stream<'_>,
        key: usize,
        r: Result<()>,
        done: &mut dyn FnMut(usize, Result<()>),
    ) -> Option<Error> {
        let slot = s.slots.remove(&key)?;
        let stop = match &r {
            Err(e) if e.is_temporary() => Some(crate::pipe::copy(e)),
            _ => None,
        };
        done(slot.job.id, r);
        stop
    }

    /// The channel failed: every file in flight is reported lost. Returns the error.
    fn abandon(
        &mut self,
        s: &mut Stream<'_>,
        e: &Error,
        done: &mut dyn FnMut(usize, Result<()>),
    ) -> Error {
        s.waiting.clear();
        for (_, slot) in std::mem::take(&mut s.slots) {
            done(slot.job.id, Err(lost(e)));
        }
        crate::pipe::copy(e).temporary()
    }

    /// Uploads one job as a stream of one; its result.
    pub(crate) fn stream_one(&mut self, job: ReplaceJob<'_>) -> Result<()> {
        peex_core::stream_of_one(job, |next, done| self.stream(next, done))
    }

    pub(crate) fn upload(&mut self, p: &RelPath, src: &mut dyn Read, size: u64) -> Result<()> {
        self.stream_one(ReplaceJob {
            id: 0,
            tmp: None,
            path: p.clone(),
            src: Box::new(src),
            size,
            mtime: None,
        })
    }
}
