//! The upload streams: one per connection, each pulling the next file from a queue shared
//! by all ([`RemoteFs::upload_stream`]) when it is ready for one, so the connections stay
//! busy to the end and finish together. Each file goes to a temporary name beside its
//! target, or to its place in a staged tree ([`crate::staging`]), and is timed and renamed
//! into place by the backend.
//!
//! A file that fails with a temporary error goes back to the queue for whichever stream is
//! next, as often as the [`RetryPolicy`](crate::retry::RetryPolicy) allows
//! ([`RetryPolicy::allows`](crate::retry::RetryPolicy::allows)); the stream then ends with
//! the error, and the pool reconnects it (the same policy). A local file that changed while
//! it was read is not a retry: it is sent once more, because the first copy was refused.

use super::Transfer;
use crate::local;
use crate::locks::{into_inner, lock};
use crate::pool::{Pool, Queue};
use crate::report::{Failures, Reporter};
use crate::staging::{temp_path, Staging};
use crate::uploads::UploadList;
use peex_core::{Error, ErrorKind, RelPath, RemoteFs, ReplaceJob};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// What the streams left for the transfer to settle.
#[derive(Debug, Default)]
pub struct Streamed {
    /// Errors of the streams themselves (connections that kept failing), and one for the
    /// files no stream could take.
    pub errors: Vec<Error>,
    /// Uploads that failed for good.
    pub failed: Failures,
    /// Staged files that may have left a partial copy in their tree (failed after they were
    /// started, or never taken): removed before the tree is put in place.
    pub partial: Vec<RelPath>,
    /// Staged trees given up, by root.
    pub broken: BTreeMap<RelPath, Broken>,
}

/// Uploads `uploads` over (at most) one stream per connection of the pool, the largest
/// file first so that a big file does not start last and keep one connection busy at the
/// end.
pub fn stream_uploads(
    t: &Transfer<'_>,
    pool: &mut Pool<'_>,
    staging: &Staging,
    nonce: &AtomicU64,
    uploads: UploadList,
) -> Streamed {
    let streams = t.jobs.min(uploads.len());
    let q = UploadQueue::new(uploads);
    let failed = Mutex::new(Failures::default());
    let partial = Mutex::new(Vec::new());
    let broken = Mutex::new(BTreeMap::new());
    let ctx = StreamCtx {
        t,
        q: &q,
        nonce,
        staging,
        failed: &failed,
        partial: &partial,
        broken: &broken,
    };
    let mut errors = pool.run((0..streams).collect(), |fs, _, queue| {
        upload_stream(&ctx, fs, queue)
    });
    let left: Vec<usize> = lock(&q.todo).drain(..).collect();
    if !left.is_empty() {
        errors.push(Error::new(
            ErrorKind::Unexpected,
            format!(
                "{} files were not uploaded: every connection kept failing",
                left.len()
            ),
        ));
    }
    let mut partial = into_inner(partial);
    partial.extend(
        left.iter()
            .filter_map(|&id| q.uploads.path(id).ok())
            .filter(|p| staging.is_staged(p)),
    );
    Streamed {
        errors,
        failed: into_inner(failed),
        partial,
        broken: into_inner(broken),
    }
}

/// The uploads of one run, shared by the connections' upload streams
/// ([`RemoteFs::upload_stream`]): each stream takes the next file when it is ready for one,
/// so the connections stay busy to the end and finish together.
struct UploadQueue {
    uploads: UploadList,
    /// Temporary failures so far, of the uploads that had any.
    failures: Mutex<HashMap<usize, u32>>,
    /// Set by the upload's reader when the local file changed while it was read (one byte
    /// a file).
    changed: Vec<AtomicBool>,
    /// Attempts that found the file changing, of the uploads that had any.
    changes: Mutex<HashMap<usize, u32>>,
    /// Uploads not taken yet (or handed back after a temporary failure), largest first.
    todo: Mutex<std::collections::VecDeque<usize>>,
}

impl UploadQueue {
    fn new(uploads: UploadList) -> Self {
        let mut order: Vec<usize> = (0..uploads.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(uploads.size(i)));
        UploadQueue {
            failures: Mutex::new(HashMap::new()),
            changed: (0..uploads.len()).map(|_| AtomicBool::new(false)).collect(),
            changes: Mutex::new(HashMap::new()),
            todo: Mutex::new(order.into()),
            uploads,
        }
    }
}

/// A staged tree given up during the uploads: a file in it could not be written because
/// the server says a directory of it is not there.
#[derive(Debug)]
pub struct Broken {
    /// The first such error.
    pub first: Error,
    /// Uploads in the tree that failed.
    pub failed: u64,
    /// Uploads in the tree not attempted once it was given up.
    pub skipped: u64,
}

/// What every upload stream of a run shares.
struct StreamCtx<'r> {
    /// The transfer's settings.
    t: &'r Transfer<'r>,
    q: &'r UploadQueue,
    /// Numbers the temporary names.
    nonce: &'r AtomicU64,
    staging: &'r Staging,
    /// Uploads that failed for good.
    failed: &'r Mutex<Failures>,
    /// Staged files whose upload failed after it was started: their partial copies must be
    /// removed before their tree is put in place.
    partial: &'r Mutex<Vec<RelPath>>,
    /// Staged trees given up, by root.
    broken: &'r Mutex<BTreeMap<RelPath, Broken>>,
}

impl StreamCtx<'_> {
    /// The upload failed for good. `started`: the server was asked to write it (a failure
    /// before that, opening the local file say, says nothing about the server's tree).
    fn give_up(&self, id: usize, e: Error, started: bool) {
        let path = match self.q.uploads.path(id) {
            Ok(p) => p,
            Err(pe) => {
                lock(self.failed).push(pe.with_op("upload", "(a planned file)"));
                return;
            }
        };
        let e = e.with_op("upload", &path);
        if started {
            if let Some(root) = self.staging.root_of(&path) {
                if e.kind() == ErrorKind::NotFound {
                    // A directory of the staged tree is not there: so are its other files.
                    lock(self.broken)
                        .entry(root.clone())
                        .or_insert_with(|| Broken {
                            first: e,
                            failed: 0,
                            skipped: 0,
                        })
                        .failed += 1;
                    return;
                }
                lock(self.partial).push(path);
            }
        }
        lock(self.failed).push(e);
    }

    /// True if upload `id` is in a staged tree given up (it is then counted as skipped).
    fn in_broken_tree(&self, id: usize) -> bool {
        let mut broken = lock(self.broken);
        if broken.is_empty() {
            return false;
        }
        let Ok(path) = self.q.uploads.path(id) else {
            return false;
        };
        match self.staging.root_of(&path).and_then(|r| broken.get_mut(r)) {
            Some(b) => {
                b.skipped += 1;
                true
            }
            None => false,
        }
    }

    /// The job for upload `id`: a temporary name beside it, or, in a staged tree, its place
    /// there.
    fn job_for(&self, id: usize) -> peex_core::Result<ReplaceJob<'_>> {
        let u = self.q.uploads.get(id)?;
        // The size and time uploaded are the opened file's (it may have changed since the
        // scan); its reader fails if it changes while it is read.
        let file = self.t.tree.open(&u.path)?;
        // With `mtime_from = git` a tracked, unmodified file's time is its commit's.
        let git_time = self.t.git_times.and_then(|t| t.get(u.path.as_str()));
        let (size, mtime) = (file.size, git_time.unwrap_or(file.mtime));
        let (tmp, path) = if self.staging.is_staged(&u.path) {
            (None, self.staging.remote(&u.path)?)
        } else {
            let n = self.nonce.fetch_add(1, Ordering::Relaxed);
            (Some(temp_path(&u.path, n)?), u.path.clone())
        };
        Ok(ReplaceJob {
            id,
            tmp,
            path,
            src: Box::new(Counting {
                inner: file.reader(&self.q.changed[id]),
                out: self.t.out,
            }),
            size,
            mtime: (!self.t.srcutime).then_some(mtime),
        })
    }
}

/// One connection's upload stream: takes files from the queue until none is left. A file
/// that fails for good is reported; one that fails with a temporary error is handed back to
/// the queue (up to the retry limit) for whichever stream is next, and the stream ends with
/// the error so the pool reconnects (with a fresh retry budget if files went up since).
fn upload_stream(
    ctx: &StreamCtx<'_>,
    fs: &mut dyn RemoteFs,
    queue: &Queue<usize>,
) -> peex_core::Result<()> {
    let (job, q, out) = (ctx.t, ctx.q, ctx.t.out);
    let tmps = std::cell::RefCell::new(BTreeMap::<usize, RelPath>::new());
    let mut cleanup = Vec::new();
    let mut uploaded = Vec::new();
    let mut progressed = false;
    let mut next = || -> Option<ReplaceJob<'_>> {
        loop {
            let id = lock(&q.todo).pop_front()?;
            if ctx.in_broken_tree(id) {
                continue;
            }
            match ctx.job_for(id) {
                Ok(j) => {
                    if let Some(t) = &j.tmp {
                        tmps.borrow_mut().insert(id, t.clone());
                    }
                    return Some(j);
                }
                Err(e) => ctx.give_up(id, e, false),
            }
        }
    };
    let mut done = |id: usize, r: peex_core::Result<()>| {
        let tmp = tmps.borrow_mut().remove(&id);
        match r {
            // Reported as it happens (the progress bar counts it); with srcutime the local
            // time is set first, after the stream, on this connection.
            Ok(()) if job.srcutime => uploaded.push(id),
            Ok(()) => {
                progressed = true;
                report_uploaded(out, q, id);
            }
            // The local file changed while it was read: it was not put in place. Tried once
            // more; a file still changing fails.
            Err(_) if q.changed[id].swap(false, Ordering::Relaxed) => {
                cleanup.extend(tmp);
                let first = {
                    let mut c = lock(&q.changes);
                    let n = c.entry(id).or_insert(0);
                    *n += 1;
                    *n == 1
                };
                if first {
                    lock(&q.todo).push_front(id);
                } else {
                    let path = q
                        .uploads
                        .path(id)
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    let e = Error::new(
                        ErrorKind::Unexpected,
                        format!(
                            "the local file kept changing while it was uploaded (tried twice): \
                             not uploaded, the remote {path} is untouched"
                        ),
                    );
                    ctx.give_up(id, e, true);
                }
            }
            Err(e) if e.is_temporary() => {
                let n = {
                    let mut f = lock(&q.failures);
                    let n = f.entry(id).or_insert(0);
                    *n += 1;
                    *n
                };
                if job.retry.allows(n) {
                    lock(&q.todo).push_front(id);
                } else {
                    ctx.give_up(id, e, true);
                }
            }
            Err(e) => {
                cleanup.extend(tmp);
                ctx.give_up(id, e, true);
            }
        }
    };
    let streamed = fs.upload_stream(&mut next, &mut done);
    if progressed || !uploaded.is_empty() {
        queue.progress();
    }
    // srcutime: the local file takes the server's time.
    let mut lost_time = None;
    for id in uploaded {
        match adopt_server_time(ctx, fs, id) {
            Ok(()) => report_uploaded(out, q, id),
            // The file is in place but its local time was not set: upload it again, on a
            // new connection (the pool makes one when this task fails).
            Err(e) if e.is_temporary() => {
                lock(&q.todo).push_front(id);
                lost_time.get_or_insert(e);
            }
            Err(e) => lock(ctx.failed).push(e),
        }
    }
    if let (Ok(()), Some(e)) = (&streamed, lost_time) {
        return Err(e.with_op("read mtime", "(connection)"));
    }
    if streamed.is_ok() {
        for tmp in cleanup {
            // Best effort; a temporary file left behind is removed by the next run.
            let _ = fs.delete(&tmp);
        }
    }
    streamed.map_err(|e| e.with_op("upload", "(connection)"))
}

/// With `srcutime`, after a successful upload: the local file takes the server's time.
fn adopt_server_time(
    ctx: &StreamCtx<'_>,
    fs: &mut dyn RemoteFs,
    id: usize,
) -> peex_core::Result<()> {
    let path = ctx.q.uploads.path(id)?;
    let t = fs
        .get_mtime(&ctx.staging.remote(&path)?)
        .map_err(|e| e.with_op("read mtime", &path))?;
    local::set_mtime(&ctx.t.tree.path(&path), t)
}

/// An upload is complete: one more file on the progress bar, and its line.
fn report_uploaded(out: &Reporter, q: &UploadQueue, id: usize) {
    out.progress_file();
    match q.uploads.get(id) {
        Ok(u) => out.uploaded(&u),
        Err(e) => out.error(&e.to_string()),
    }
}

/// A reader that reports the bytes it hands out to the progress bar.
struct Counting<'a, R> {
    inner: R,
    out: &'a Reporter,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.progress_bytes(n as u64);
        Ok(n)
    }
}
