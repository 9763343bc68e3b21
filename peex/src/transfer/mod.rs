//! The transfer phase: the new directories, then the uploads, each directory before its
//! content — the mkdir wave ([`mkdirs`]), the upload streams ([`streams`]), and the staged
//! trees renamed into place at the end (`unstage`, see [`crate::staging`]).

pub mod mkdirs;
pub mod streams;

use crate::delete::delete_phase;
use crate::gittime::GitTimes;
use crate::local::LocalTree;
use crate::locks::{into_inner, lock};
use crate::pool::Pool;
use crate::report::{Failures, Reporter};
use crate::retry::RetryPolicy;
use crate::staging::{temp_path, Staging};
use crate::uploads::UploadList;
use peex_core::{Error, ErrorKind, RelPath};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// What the transfer works with.
pub struct Transfer<'a> {
    /// The local tree the files are read from.
    pub tree: &'a LocalTree,
    /// Where it reports.
    pub out: &'a Reporter,
    /// Connections, and so upload streams, at most.
    pub jobs: usize,
    /// How often a file that failed with a temporary error is tried again.
    pub retry: RetryPolicy,
    /// Read the remote time back and set the local file's instead of setting the remote's.
    pub srcutime: bool,
    /// Local times from git (`mtime_from = git`).
    pub git_times: Option<&'a GitTimes>,
}

impl Transfer<'_> {
    /// Creates the new directories (parents first, pipelined on one connection), then
    /// uploads the files over all connections, each pulling the next file when it is ready,
    /// the largest first so that a big file does not start last and keep one connection
    /// busy at the end. Files inside a directory that could not be created are not
    /// attempted; the directory's error says why, once, with how many files that left out.
    ///
    /// With `stage` (the backend renames directories), new trees are built under temporary
    /// names and renamed into place at the end (see [`crate::staging`]). A staged tree is
    /// put in place whole or not at all: when one of its directories cannot be created, or
    /// the server says one is missing when a file is written into it, the tree's remaining
    /// uploads are not attempted, it stays out of sight, and one error names it. A tree in
    /// which a file failed and its partial copy could not be removed stays out of sight too.
    pub fn run(
        &self,
        pool: &mut Pool<'_>,
        mut mkdirs: Vec<RelPath>,
        mut uploads: UploadList,
        stage: bool,
    ) -> Failures {
        let out = self.out;
        mkdirs.sort_by(|a, b| a.depth().cmp(&b.depth()).then_with(|| a.cmp(b)));
        let nonce = AtomicU64::new(0);
        let staging = if stage {
            Staging::new(&mkdirs, |d| {
                temp_path(d, nonce.fetch_add(1, Ordering::Relaxed))
            })
        } else {
            Staging::none()
        };
        let mut errors = Failures::default();
        let mut pairs = Vec::with_capacity(mkdirs.len());
        for d in mkdirs {
            match staging.remote(&d) {
                Ok(r) => pairs.push((d, r)),
                Err(e) => errors.push(e.with_op("mkdir", &d)),
            }
        }
        let made = mkdirs::make_dirs(pool, out, &staging, pairs);
        errors.extend(made.errors);
        let topmost = made.topmost;
        // What a failed directory takes with it: the staged tree it belongs to, or (unstaged)
        // itself and what is below it.
        let mut units: BTreeMap<RelPath, Vec<(RelPath, Error)>> = BTreeMap::new();
        for (d, e) in topmost {
            let unit = staging.root_of(&d).cloned().unwrap_or_else(|| d.clone());
            units.entry(unit).or_default().push((d, e));
        }
        let failed_units: BTreeSet<RelPath> = units.keys().cloned().collect();
        let left_out = uploads.drop_below(&failed_units);
        for (unit, fails) in &units {
            let n = left_out.get(unit).copied().unwrap_or(0);
            let (d, e) = &fails[0];
            let files = format!("{n} file{}", if n == 1 { "" } else { "s" });
            let others = match fails.len() - 1 {
                0 => String::new(),
                k => format!(" ({k} more of its directories failed too)"),
            };
            let text = match (d == unit, n) {
                (true, 0) => format!("{e}{others}"),
                (true, _) => format!("{e}; the {files} below it were not uploaded{others}"),
                (false, 0) => format!(
                    "{e}; so the new directory {unit} was not put in place{others} (the next run \
                     tries again)"
                ),
                (false, _) => format!(
                    "{e}; so the new directory {unit} was not put in place and its {files} were \
                     not uploaded{others} (the next run tries again)"
                ),
            };
            errors.push(Error::new(e.kind(), text));
        }
        // Best effort: what was built of a tree given up goes (else the next run removes it).
        let mut abandoned: Vec<RelPath> = made
            .created
            .into_iter()
            .filter(|r| {
                staging
                    .roots()
                    .any(|(root, tmp)| failed_units.contains(root) && r.is_within(tmp))
            })
            .collect();
        abandoned.sort_by(|a, b| b.depth().cmp(&a.depth()).then_with(|| a.cmp(b)));
        for e in delete_phase(pool, &[], &abandoned, &|_| {}, &|p| {
            out.detail(1, &format!("removed {p} (a new directory given up)"));
        }) {
            out.detail(1, &format!("{e} (left for the next run)"));
        }

        let streamed = streams::stream_uploads(self, pool, &staging, &nonce, uploads);
        errors.extend(streamed.errors);
        let broken = streamed.broken;
        let mut given_up = failed_units;
        given_up.extend(broken.keys().cloned());
        errors.extend(unstage(pool, out, &staging, &given_up, streamed.partial));
        for (root, b) in broken {
            let mut text = format!(
                "{}; so the new directory {root} was not put in place",
                b.first
            );
            if b.failed > 1 {
                text.push_str(&format!(
                    ", {} more uploads into it failed alike",
                    b.failed - 1
                ));
            }
            if b.skipped > 0 {
                text.push_str(&format!(", {} were not attempted", b.skipped));
            }
            text.push_str(" (the next run removes what it left and uploads it again)");
            errors.push(Error::new(b.first.kind(), text));
        }
        let f = streamed.failed;
        errors.more += f.more;
        errors.extend(f.kept);
        errors
    }
}

/// Puts the staged trees in place: first removes what failed uploads may have left inside
/// them (a tree where that fails stays out of sight, with an error), then renames each
/// root to its final name. The trees in `given_up` stay where they are, out of sight.
fn unstage(
    pool: &mut Pool<'_>,
    out: &Reporter,
    staging: &Staging,
    given_up: &BTreeSet<RelPath>,
    mut partial: Vec<RelPath>,
) -> Vec<Error> {
    partial.retain(|p| !staging.root_of(p).is_some_and(|r| given_up.contains(r)));
    let removed = Mutex::new(BTreeSet::new());
    let mut errors = pool.run(partial.clone(), |fs, p, _| {
        let r = staging.remote(p)?;
        fs.delete(&r)
            .map_err(|e| e.with_op("remove the partial upload", p))?;
        lock(&removed).insert(p.clone());
        Ok(())
    });
    let removed = into_inner(removed);
    let mut blocked = BTreeSet::new();
    for p in partial.iter().filter(|p| !removed.contains(*p)) {
        blocked.extend(staging.root_of(p).cloned());
    }
    let mut renames = Vec::new();
    for (root, tmp) in staging.roots() {
        if given_up.contains(root) {
            continue; // never created, or given up (its error says so)
        }
        if blocked.contains(root) {
            errors.push(Error::new(
                ErrorKind::Unexpected,
                format!(
                    "{root}: not put in place, because a file below it failed and what it left \
                     could not be removed; the new directory waits under {} (the next run \
                     removes it and uploads it again)",
                    tmp.name()
                ),
            ));
        } else {
            renames.push((root.clone(), tmp.clone()));
        }
    }
    errors.extend(pool.run(renames, |fs, (root, tmp), _| {
        fs.rename(tmp, root)
            .map_err(|e| e.with_op("rename the new directory into place", root))?;
        out.detail(2, &format!("renamed {tmp} to {root}"));
        Ok(())
    }));
    errors
}
