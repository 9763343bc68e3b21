//! The mkdir wave: creates the run's new directories, parents first, pipelined on one
//! connection ([`RemoteFs::mkdir_batch`](peex_core::RemoteFs::mkdir_batch)), each under its
//! remote name (its temporary one inside a staged tree, see [`crate::staging`]).
//!
//! Retries are the pool's ([`crate::retry::RetryPolicy`]): the wave is one task, and a
//! temporary error ends it so that the pool reconnects and runs it again. The loop inside
//! the task is not a retry: it sends what is left after each batch (a backend may answer
//! for fewer directories than asked), and after a temporary error the next attempt sends
//! the first [`CAREFUL`] directories one command at a time.

use crate::locks::{into_inner, lock};
use crate::pool::Pool;
use crate::report::Reporter;
use crate::staging::Staging;
use peex_core::{Error, ErrorKind, RelPath};
use std::collections::BTreeSet;
use std::sync::Mutex;

/// After a temporary error, how many directories are sent one command at a time: a server
/// that garbled a pipelined batch (proftpd can run two lines of one as a single command)
/// would garble it the same way again, byte for byte, on a fresh connection.
pub const CAREFUL: usize = 32;

/// What the mkdir wave did.
#[derive(Debug, Default)]
pub struct Made {
    /// The topmost directories that could not be created, with their errors (below them,
    /// all fail alike).
    pub topmost: Vec<(RelPath, Error)>,
    /// Staged directories created, by their temporary paths.
    pub created: Vec<RelPath>,
    /// The errors of the wave itself (the connection kept failing).
    pub errors: Vec<Error>,
}

/// Creates `pairs` (final path, remote path), in that order (parents first), reporting
/// each directory created.
pub fn make_dirs(
    pool: &mut Pool<'_>,
    out: &Reporter,
    staging: &Staging,
    pairs: Vec<(RelPath, RelPath)>,
) -> Made {
    let mut errors = Vec::new();
    // Directories that could not be created: the topmost ones with their errors (below
    // them, all fail alike), and all of them.
    let mkdir_failed = Mutex::new((Vec::<(RelPath, Error)>::new(), BTreeSet::<RelPath>::new()));
    // Staged directories created, by their temporary paths.
    let created = Mutex::new(Vec::<RelPath>::new());
    // One task: what is left of it after a temporary error is tried again, the first
    // `CAREFUL` directories then one command at a time.
    let task = Mutex::new((pairs, 0usize));
    if !lock(&task).0.is_empty() {
        errors.extend(pool.run(vec![&task], |fs, task, queue| {
            let mut guard = lock(task);
            let (left, careful) = &mut *guard;
            let mut stop = None;
            while !left.is_empty() && stop.is_none() {
                let n = if *careful > 0 { 1 } else { left.len() };
                let remote: Vec<RelPath> = left[..n].iter().map(|(_, r)| r.clone()).collect();
                let results = fs.mkdir_batch(&remote);
                let mut failed = lock(&mkdir_failed);
                let mut done = 0;
                for ((d, r), res) in left.iter().zip(results) {
                    match res {
                        Ok(()) => {
                            out.dir_created(d);
                            if staging.is_staged(d) {
                                lock(&created).push(r.clone());
                            }
                        }
                        Err(e) if e.is_temporary() => {
                            stop = Some(e.with_op("mkdir", d));
                            break;
                        }
                        Err(e) => {
                            let below = d.parent().is_some_and(|p| failed.1.contains(&p));
                            if !below {
                                failed.0.push((d.clone(), e.with_op("mkdir", d)));
                            }
                            failed.1.insert(d.clone());
                        }
                    }
                    done += 1;
                }
                left.drain(..done);
                *careful = careful.saturating_sub(done);
                if done > 0 {
                    // Directories made: a later temporary error starts a fresh retry budget.
                    queue.progress();
                }
                if stop.is_none() && done < n {
                    // The backend answered for fewer directories than asked: redo the rest.
                    stop = Some(
                        Error::new(
                            ErrorKind::Protocol,
                            "mkdir: the connection answered for fewer directories than asked",
                        )
                        .temporary(),
                    );
                }
            }
            if stop.is_some() {
                *careful = CAREFUL;
            }
            stop.map_or(Ok(()), Err)
        }));
    }
    // What the wave could not do (the connection kept failing) was not created either.
    {
        let (left, _) = into_inner(task);
        let mut failed = lock(&mkdir_failed);
        for (d, _) in left {
            let below = d.parent().is_some_and(|p| failed.1.contains(&p));
            if !below {
                let e = Error::new(
                    ErrorKind::ConnectionFailed,
                    "not created: the connection kept failing (see above)",
                );
                failed.0.push((d.clone(), e.with_op("mkdir", &d)));
            }
            failed.1.insert(d);
        }
    }
    let (topmost, _) = into_inner(mkdir_failed);
    Made {
        topmost,
        created: into_inner(created),
        errors,
    }
}
