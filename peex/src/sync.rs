//! One sync run: connect, scan (list both trees and plan), check the guards, then execute
//! in order — conflicting entries removed, directories created before their content,
//! uploads (to a temporary name, timestamped, renamed into place; new trees built under a
//! temporary name and renamed into place whole, see [`crate::staging`]), and deletes last,
//! only when nothing failed.

use crate::exit::{Status, Stop};
use crate::local::{self, local_path};
use crate::output::Reporter;
use crate::plan::{self, Decide, DirPlan, NoRules, Upload, UploadReason};
use crate::pool::{OwnedConnector, Pool, Queue, RetryPolicy};
use crate::readonly::ReadOnly;
use crate::staging::{temp_path, Staging};
use peex_core::{
    Entry, Error, ErrorKind, MtimeMethod, RelPath, RemoteFs, ReplaceJob, SiteParams, Transport,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Everything one run needs.
pub struct SyncJob<'a> {
    /// The local source directory.
    pub source: PathBuf,
    /// The transport to open connections with.
    pub transport: Arc<dyn Transport>,
    /// Connection parameters (root = dest).
    pub params: SiteParams,
    /// The ignore/protect decision.
    pub decide: &'a (dyn Decide + Sync),
    /// Number of connections.
    pub jobs: usize,
    /// Plan and print only.
    pub dry_run: bool,
    /// Read the remote mtime back and set the local file's instead of setting the remote's.
    pub srcutime: bool,
    /// Stop before changing anything if the plan deletes more entries than this.
    pub max_delete: Option<u64>,
    /// Retry policy for temporary errors.
    pub retry: RetryPolicy,
    /// How the destination is shown in messages (`ftp://user@host:port/www/`).
    pub display_dest: String,
}

/// The result of a run that was not stopped by a guard.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything planned was done.
    Complete,
    /// Some operations failed (they were reported); deletes were not run.
    Incomplete,
}

#[derive(Debug, Clone)]
enum Scan {
    Dir {
        path: RelPath,
        remote_exists: bool,
    },
    /// A directory whose remote side was listed already, by a task above it
    /// ([`RemoteFs::list_batch`]), with the listings made of directories below it.
    Listed {
        path: RelPath,
        remote: Vec<Entry>,
        below: HashMap<RelPath, Vec<Entry>>,
    },
    Removal {
        path: RelPath,
        why: Removal,
    },
}

/// Why a remote tree is scanned for removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removal {
    /// No local counterpart: removed in the final delete phase.
    Alien,
    /// In the way of a local file: removed before the uploads.
    Conflict,
    /// A temporary tree of an interrupted run: removed at the end, rules not consulted.
    Stale,
}

#[derive(Default)]
struct Acc {
    uploads: Vec<Upload>,
    mkdirs: Vec<RelPath>,
    /// Files to delete in the final phase.
    delete_files: Vec<RelPath>,
    /// Files in the way of a new directory, or inside a directory in the way of a file.
    conflict_files: Vec<RelPath>,
    stale_temps: Vec<RelPath>,
    /// Directories of stale temporary trees.
    stale_rmdirs: Vec<RelPath>,
    rmdirs: Vec<RelPath>,
    conflict_rmdirs: Vec<RelPath>,
    /// Paths inside removal trees that must stay (protected or left alone).
    kept: Vec<RelPath>,
    /// Roots of remote trees in the way of a local file.
    conflict_roots: Vec<RelPath>,
}

/// Opens a connection (read-only in a dry run); it owns what it needs, so that connections
/// can also be opened in the background.
fn owned_connector(job: &SyncJob<'_>) -> Arc<OwnedConnector> {
    let (transport, params, dry) = (job.transport.clone(), job.params.clone(), job.dry_run);
    Arc::new(move || -> peex_core::Result<Box<dyn RemoteFs>> {
        let c = transport.connect(&params)?;
        Ok(if dry { Box::new(ReadOnly(c)) } else { c })
    })
}

/// Runs the sync. `Err` means a guard stopped the run before any change.
pub fn run(job: &SyncJob<'_>, out: &Reporter) -> Result<Outcome, Stop> {
    let started = Instant::now();
    local::check_source(&job.source).map_err(|m| Stop::new(Status::Refused, m))?;

    let connector = owned_connector(job);
    let connect = || connector();
    let first = crate::pool::connect_retrying(&connect, job.retry)
        .map_err(|e| connect_stop(&e, &job.display_dest))?;
    let caps = first.capabilities();
    out.detail(
        2,
        &format!(
            "connected to {}: mtime method {}, rename over existing: {:?}",
            job.display_dest,
            caps.set_mtime.describe(),
            caps.rename_over
        ),
    );
    if job.srcutime {
        if !caps.get_mtime {
            return Err(Stop::new(
                Status::Refused,
                format!(
                    "srcutime needs to read remote modification times (FTP MDTM), which {} does \
                     not offer; nothing was changed",
                    job.display_dest
                ),
            ));
        }
    } else if caps.set_mtime == MtimeMethod::Unsupported {
        return Err(no_mtime_stop(&job.display_dest));
    }

    let mut pool = Pool::new(first, job.jobs, &connect, job.retry);
    pool.warm_up(connector.clone());

    // ---- scan: list both trees, plan every directory ----
    let acc = Mutex::new(Acc::default());
    let skipped_local = Mutex::new(Vec::<String>::new());
    let scan_errors = pool.run(
        vec![Scan::Dir {
            path: RelPath::root(),
            remote_exists: true,
        }],
        |fs, task, queue| scan(job, out, fs, task, queue, &acc, &skipped_local),
    );
    // Local entries that could not be read: their remote counterparts are unaffected (they
    // cannot be named there either), so they are only reported.
    for s in lock(&skipped_local).iter() {
        out.warn(s);
    }
    for e in &scan_errors {
        out.error(&e.to_string());
    }
    let mut acc = into_inner(acc);
    let kept = std::mem::take(&mut acc.kept);
    let rmdirs = plan::order_rmdirs(std::mem::take(&mut acc.rmdirs), &kept);
    let conflict_rmdirs = plan::order_rmdirs(std::mem::take(&mut acc.conflict_rmdirs), &kept);

    // ---- guards that stop before any change ----
    let deletes =
        (acc.delete_files.len() + acc.conflict_files.len() + rmdirs.len() + conflict_rmdirs.len())
            as u64;
    if let Some(limit) = job.max_delete {
        if deletes > limit {
            pool.quit();
            return Err(Stop::new(
                Status::Refused,
                format!(
                    "the plan would delete {deletes} remote entries, more than the limit of \
                     {limit} (max_delete / --max-delete); nothing was changed"
                ),
            ));
        }
    }

    if !job.dry_run && !job.srcutime && !acc.uploads.is_empty() {
        // Advertised is not allowed: make sure times can really be set before the first
        // change (proftpd lists MFMT in FEAT even when a <Limit> denies it).
        let method = pool
            .with_first(|fs| fs.verify_set_mtime())
            .map_err(|e| connect_stop(&e, &job.display_dest))?;
        if method == MtimeMethod::Unsupported {
            pool.quit();
            return Err(no_mtime_stop(&job.display_dest));
        }
    }

    let mut failed = !scan_errors.is_empty();
    // ---- conflicts: remove what is in the way (only if the scan was complete) ----
    let mut blocked_roots: BTreeSet<RelPath> = BTreeSet::new();
    for root in &acc.conflict_roots {
        if kept.iter().any(|k| k.is_within(root)) {
            blocked_roots.insert(root.clone());
        }
    }
    if failed {
        // Without a complete picture no deletes run, so nothing can be replaced either.
        blocked_roots.extend(acc.conflict_roots.iter().cloned());
    } else if !job.dry_run {
        let errs = delete_phase(
            &mut pool,
            &acc.conflict_files,
            &conflict_rmdirs,
            &|p| out.file_removed(p, "replaced"),
            &|p| out.dir_removed(p),
        );
        failed |= !errs.is_empty();
        for e in errs {
            out.error(&e.to_string());
        }
    } else {
        report_deletes(out, &acc.conflict_files, &conflict_rmdirs, "replaced");
    }

    // ---- mkdirs and uploads, each directory before its content ----
    let mut uploads = std::mem::take(&mut acc.uploads);
    uploads.retain(|u| {
        if u.reason == UploadReason::ReplacesDir && blocked_roots.contains(&u.path) {
            out.detail(
                0,
                &format!(
                    "peex: {} not uploaded: the remote directory in its place holds protected \
                     entries (or the scan failed)",
                    u.path
                ),
            );
            false
        } else {
            true
        }
    });
    let mkdirs = std::mem::take(&mut acc.mkdirs);
    if job.dry_run {
        let mut m = mkdirs.clone();
        m.sort();
        for d in &m {
            out.dir_created(d);
        }
        uploads.sort_by(|a, b| a.path.cmp(&b.path));
        for u in &uploads {
            out.uploaded(&u.path, is_new(u), u.size, &reason_text(u));
        }
    } else {
        let total: u64 = uploads.iter().map(|u| u.size).sum();
        out.start_progress(uploads.len() as u64, total);
        let errs = transfer_phase(job, &mut pool, out, mkdirs, uploads, caps.rename_dirs);
        out.finish_progress();
        failed |= !errs.is_empty();
        for e in errs {
            out.error(&e.to_string());
        }
    }

    // ---- deletes, last, and only if nothing failed ----
    let mut files = std::mem::take(&mut acc.delete_files);
    let stale = std::mem::take(&mut acc.stale_temps);
    if failed {
        if !files.is_empty() || !rmdirs.is_empty() {
            out.warn(&format!(
                "{} remote entries not deleted because of the errors above (deletes run only \
                 after a clean listing and upload)",
                files.len() + rmdirs.len()
            ));
        }
    } else if job.dry_run {
        report_deletes(out, &files, &rmdirs, "");
    } else {
        files.sort();
        let errs = delete_phase(
            &mut pool,
            &files,
            &rmdirs,
            &|p| out.file_removed(p, ""),
            &|p| out.dir_removed(p),
        );
        failed |= !errs.is_empty();
        for e in errs {
            out.error(&e.to_string());
        }
        // Best effort: what is left is removed by the next run.
        let stale_dirs = plan::order_rmdirs(std::mem::take(&mut acc.stale_rmdirs), &[]);
        let errs = delete_phase(
            &mut pool,
            &stale,
            &stale_dirs,
            &|p| out.detail(1, &format!("removed stale temporary file {p}")),
            &|p| out.detail(1, &format!("removed stale temporary directory {p}")),
        );
        for e in errs {
            out.warn(&format!(
                "{e} (a stale temporary entry; the next run tries again)"
            ));
        }
    }
    if let Some(n) = pool.shrunk_to {
        out.warn(&format!(
            "could not open more connections (the server limited or refused them): \
             continued with {n} instead of {}",
            job.jobs
        ));
    }
    if pool.retries_used() > 0 {
        out.warn(&format!(
            "{} operations retried after temporary errors (connection lost, timeout, 4xx)",
            pool.retries_used()
        ));
    }
    pool.quit();
    out.summary(started.elapsed());
    Ok(if failed {
        Outcome::Incomplete
    } else {
        Outcome::Complete
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The value of a mutex no thread uses any more (a panicked holder does not hide it).
fn into_inner<T>(m: Mutex<T>) -> T {
    m.into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn no_mtime_stop(dest: &str) -> Stop {
    Stop::new(
        Status::Refused,
        format!(
            "{dest} cannot set modification times (it offers neither MFMT nor SITE UTIME); \
             without that every run would upload everything again. Use srcutime=true, or a \
             server with MFMT or SITE UTIME. Nothing was changed"
        ),
    )
}

/// The stop for a failed first connection.
pub fn connect_stop(e: &Error, dest: &str) -> Stop {
    let status = match e.kind() {
        ErrorKind::Unsupported => Status::Refused,
        ErrorKind::ConfigInvalid => Status::Usage,
        _ => Status::Connect,
    };
    Stop::new(status, format!("cannot use {dest}: {e}"))
}

fn is_new(u: &Upload) -> bool {
    matches!(u.reason, UploadReason::New | UploadReason::ReplacesDir)
}

fn reason_text(u: &Upload) -> String {
    match u.reason {
        UploadReason::New => format!("new, {} bytes", u.size),
        UploadReason::Size { remote } => format!("size {remote} -> {}", u.size),
        UploadReason::Mtime { remote } => format!("mtime {remote} -> {}", u.mtime),
        UploadReason::ReplacesDir => "replaces a remote directory".to_owned(),
    }
}

#[allow(clippy::too_many_arguments)]
fn scan(
    job: &SyncJob<'_>,
    out: &Reporter,
    fs: &mut dyn RemoteFs,
    task: &Scan,
    queue: &Queue<Scan>,
    acc: &Mutex<Acc>,
    skipped: &Mutex<Vec<String>>,
) -> peex_core::Result<()> {
    let listed;
    let (path, remote, mut below) = match task {
        Scan::Dir {
            path,
            remote_exists,
        } => {
            listed = if *remote_exists {
                fs.list(path).map_err(|e| e.with_op("list", path))?
            } else {
                Vec::new()
            };
            (path, &listed, HashMap::new())
        }
        Scan::Listed {
            path,
            remote,
            below,
        } => (path, remote, below.clone()),
        Scan::Removal { path, why } => {
            return scan_removal(job, out, fs, path, *why, queue, acc, skipped)
        }
    };
    let mut skip = Vec::new();
    let local = local::read_dir(&job.source, path, &mut skip)?;
    let p: DirPlan =
        plan::plan_dir(path, &local, remote, job.decide).map_err(|e| e.with_op("plan", path))?;
    // Before anything is reported: a temporary error here retries this task whole.
    prelist(fs, job, &p.descend, &mut below)?;
    out.traverse(path);
    for (p, k) in &p.ignored {
        out.ignored(p, *k);
    }
    for (p, k) in &p.protected {
        out.protected(p, *k);
    }
    for p in &p.left_alone {
        out.left_alone(p);
    }
    out.unchanged(p.up_to_date);
    lock(skipped).extend(skip);
    for d in &p.descend {
        queue.push(match below.remove(&d.path) {
            Some(remote) => Scan::Listed {
                path: d.path.clone(),
                remote,
                below: take_below(&mut below, &d.path),
            },
            None => Scan::Dir {
                path: d.path.clone(),
                remote_exists: d.remote_exists,
            },
        });
    }
    let conflict_trees: BTreeSet<&RelPath> = p
        .uploads
        .iter()
        .filter(|u| u.reason == UploadReason::ReplacesDir)
        .map(|u| &u.path)
        .collect();
    for t in &p.remove_trees {
        queue.push(Scan::Removal {
            path: t.clone(),
            why: if conflict_trees.contains(t) {
                Removal::Conflict
            } else {
                Removal::Alien
            },
        });
    }
    for t in &p.stale_temp_dirs {
        queue.push(Scan::Removal {
            path: t.clone(),
            why: Removal::Stale,
        });
    }
    let mut a = lock(acc);
    for f in p.delete_files {
        if p.mkdirs.contains(&f) {
            a.conflict_files.push(f);
        } else {
            a.delete_files.push(f);
        }
    }
    for t in &p.remove_trees {
        if conflict_trees.contains(t) {
            a.conflict_roots.push(t.clone());
        }
    }
    a.uploads.extend(p.uploads);
    a.mkdirs.extend(p.mkdirs);
    a.stale_temps.extend(p.stale_temps);
    Ok(())
}

/// Directories one scan task lists ahead ([`prelist`]), at most.
const PRELIST_DIRS: usize = 64;

/// When the connection reads several directories at once ([`RemoteFs::list_batch`]):
/// lists the remote subdirectories of a planned directory together, then theirs, level by
/// level, up to [`PRELIST_DIRS`] listings in `below` (a subdirectory whose local
/// counterpart is not a directory is not gone into). The tasks below plan from these
/// listings wherever they run, and go on from where they end. A temporary error is
/// returned (the task is retried whole, nothing of it reported yet); a directory whose
/// listing failed otherwise is left out, and its own task lists it again and reports it.
fn prelist(
    fs: &mut dyn RemoteFs,
    job: &SyncJob<'_>,
    descend: &[plan::Descend],
    below: &mut HashMap<RelPath, Vec<Entry>>,
) -> peex_core::Result<()> {
    let batch = fs.list_batch();
    if batch <= 1 {
        return Ok(());
    }
    let mut frontier: Vec<RelPath> = descend
        .iter()
        .filter(|d| d.remote_exists && !below.contains_key(&d.path))
        .map(|d| d.path.clone())
        .collect();
    // The first level always (its tasks would list it anyway), deeper ones within budget.
    let mut budget = PRELIST_DIRS.max(frontier.len());
    while !frontier.is_empty() && budget > 0 {
        let n = frontier.len().min(budget);
        budget -= n;
        let mut next = Vec::new();
        for (dir, r) in frontier[..n].iter().zip(fs.list_many(&frontier[..n])) {
            match r {
                Ok(entries) => {
                    for e in &entries {
                        if e.kind != peex_core::EntryKind::Dir {
                            continue;
                        }
                        let Ok(sub) = dir.join(&e.name) else { continue };
                        if job.source.join(sub.as_str()).is_dir() && !below.contains_key(&sub) {
                            next.push(sub);
                        }
                    }
                    below.insert(dir.clone(), entries);
                }
                Err(e) if e.is_temporary() => return Err(e.with_op("list", dir)),
                Err(_) => {}
            }
        }
        frontier = next;
    }
    Ok(())
}

/// The listings of `below` that lie below `dir`, taken out of it.
fn take_below(
    below: &mut HashMap<RelPath, Vec<Entry>>,
    dir: &RelPath,
) -> HashMap<RelPath, Vec<Entry>> {
    let keys: Vec<RelPath> = below.keys().filter(|k| k.is_within(dir)).cloned().collect();
    keys.into_iter()
        .filter_map(|k| below.remove(&k).map(|v| (k, v)))
        .collect()
}

/// A remote tree to remove: lists one directory of it and plans what goes.
#[allow(clippy::too_many_arguments)]
fn scan_removal(
    job: &SyncJob<'_>,
    out: &Reporter,
    fs: &mut dyn RemoteFs,
    path: &RelPath,
    why: Removal,
    queue: &Queue<Scan>,
    acc: &Mutex<Acc>,
    skipped: &Mutex<Vec<String>>,
) -> peex_core::Result<()> {
    let remote = match fs.list(path) {
        Ok(r) => r,
        // A stale temporary tree that cannot be listed is left for a later run; it
        // must not hold up this run's deletes.
        Err(e) if why == Removal::Stale && !e.is_temporary() => {
            lock(skipped).push(format!(
                "{} (a stale temporary directory; left for a later run)",
                e.with_op("list", path)
            ));
            return Ok(());
        }
        Err(e) => return Err(e.with_op("list", path)),
    };
    let rules: &dyn Decide = if why == Removal::Stale {
        &NoRules
    } else {
        job.decide
    };
    let p = plan::plan_removal(path, &remote, rules).map_err(|e| e.with_op("plan", path))?;
    for (p, k) in &p.protected {
        out.protected(p, *k);
    }
    for p in &p.left_alone {
        out.left_alone(p);
    }
    for d in &p.subdirs {
        queue.push(Scan::Removal {
            path: d.clone(),
            why,
        });
    }
    let mut a = lock(acc);
    a.kept.extend(p.protected.into_iter().map(|(p, _)| p));
    a.kept.extend(p.left_alone);
    match why {
        Removal::Conflict => {
            a.conflict_files.extend(p.delete_files);
            a.conflict_rmdirs.push(path.clone());
        }
        Removal::Alien => {
            a.delete_files.extend(p.delete_files);
            a.rmdirs.push(path.clone());
        }
        Removal::Stale => {
            a.stale_temps.extend(p.delete_files);
            a.stale_rmdirs.push(path.clone());
        }
    }
    Ok(())
}

fn report_deletes(out: &Reporter, files: &[RelPath], dirs: &[RelPath], detail: &str) {
    let mut f = files.to_vec();
    f.sort();
    for p in &f {
        out.file_removed(p, detail);
    }
    for d in dirs {
        out.dir_removed(d);
    }
}

/// Deletes files (in parallel), then directories deepest first (in parallel per depth),
/// reporting each one removed.
fn delete_phase(
    pool: &mut Pool<'_>,
    files: &[RelPath],
    dirs: &[RelPath],
    file_removed: &(dyn Fn(&RelPath) + Sync),
    dir_removed: &(dyn Fn(&RelPath) + Sync),
) -> Vec<Error> {
    let mut errors = pool.run(files.to_vec(), |fs, p, _| {
        fs.delete(p).map_err(|e| e.with_op("delete", p))?;
        file_removed(p);
        Ok(())
    });
    if !errors.is_empty() {
        return errors;
    }
    let mut by_depth: BTreeMap<std::cmp::Reverse<usize>, Vec<RelPath>> = BTreeMap::new();
    for d in dirs {
        by_depth
            .entry(std::cmp::Reverse(d.depth()))
            .or_default()
            .push(d.clone());
    }
    for (_, level) in by_depth {
        errors.extend(pool.run(level, |fs, p, _| {
            fs.rmdir(p).map_err(|e| e.with_op("rmdir", p))?;
            dir_removed(p);
            Ok(())
        }));
        if !errors.is_empty() {
            break;
        }
    }
    errors
}

/// The uploads of one run, shared by the connections' upload streams
/// ([`RemoteFs::upload_stream`]): each stream takes the next file when it is ready for one,
/// so the connections stay busy to the end and finish together.
struct UploadQueue {
    uploads: Vec<Upload>,
    /// Temporary failures so far, per upload.
    failures: Vec<AtomicU64>,
    /// Uploads not taken yet (or handed back after a temporary failure), largest first.
    todo: Mutex<std::collections::VecDeque<usize>>,
}

impl UploadQueue {
    fn new(uploads: Vec<Upload>) -> Self {
        UploadQueue {
            failures: uploads.iter().map(|_| AtomicU64::new(0)).collect(),
            todo: Mutex::new((0..uploads.len()).collect()),
            uploads,
        }
    }
}

/// Creates the new directories (parents first, pipelined on one connection), then uploads
/// the files over all connections, each pulling the next file when it is ready, the largest
/// first so that a big file does not start last and keep one connection busy at the end.
/// Files inside a directory that could not be created are not attempted (the directory's
/// error says why).
///
/// With `stage` (the backend renames directories), new trees are built under temporary
/// names and renamed into place at the end (see [`crate::staging`]); a tree in which a file
/// failed and its partial copy could not be removed stays out of sight.
fn transfer_phase(
    job: &SyncJob<'_>,
    pool: &mut Pool<'_>,
    out: &Reporter,
    mut mkdirs: Vec<RelPath>,
    mut uploads: Vec<Upload>,
    stage: bool,
) -> Vec<Error> {
    mkdirs.sort_by(|a, b| a.depth().cmp(&b.depth()).then_with(|| a.cmp(b)));
    let nonce = AtomicU64::new(0);
    let staging = if stage {
        Staging::new(&mkdirs, |d| {
            temp_path(d, nonce.fetch_add(1, Ordering::Relaxed))
        })
    } else {
        Staging::none()
    };
    let failed_dirs = Mutex::new(Vec::<RelPath>::new());
    let failed = Mutex::new(Vec::new());
    let mut errors = Vec::new();
    let mut pairs = Vec::with_capacity(mkdirs.len());
    for d in mkdirs {
        match staging.remote(&d) {
            Ok(r) => pairs.push((d, r)),
            Err(e) => errors.push(e.with_op("mkdir", &d)),
        }
    }
    if !pairs.is_empty() {
        // One task: what is left of it after a temporary error is tried again.
        let task = Mutex::new(pairs);
        errors.extend(pool.run(vec![task], |fs, task, _| {
            let mut left = lock(task);
            let remote: Vec<RelPath> = left.iter().map(|(_, r)| r.clone()).collect();
            let results = fs.mkdir_batch(&remote);
            let mut failed_dirs = lock(&failed_dirs);
            let mut done = 0;
            let mut stop = None;
            for ((d, _), r) in left.iter().zip(results) {
                match r {
                    Ok(()) => out.dir_created(d),
                    Err(e) if e.is_temporary() => {
                        stop = Some(e.with_op("mkdir", d));
                        break;
                    }
                    Err(e) => {
                        // Only the topmost failure is reported: below it, all fail alike.
                        if !failed_dirs.iter().any(|f| d.is_within(f)) {
                            lock(&failed).push(e.with_op("mkdir", d));
                        }
                        failed_dirs.push(d.clone());
                    }
                }
                done += 1;
            }
            left.drain(..done);
            stop.map_or(Ok(()), Err)
        }));
    }
    let failed_dirs = into_inner(failed_dirs);
    uploads.retain(|u| !failed_dirs.iter().any(|d| u.path.is_within(d)));
    uploads.sort_by_key(|u| std::cmp::Reverse(u.size));
    let streams = job.jobs.min(uploads.len());
    let q = UploadQueue::new(uploads);
    let partial = Mutex::new(Vec::new());
    let ctx = StreamCtx {
        job,
        q: &q,
        out,
        nonce: &nonce,
        staging: &staging,
        failed: &failed,
        partial: &partial,
    };
    errors.extend(pool.run((0..streams).collect(), |fs, _, queue| {
        upload_stream(&ctx, fs, queue)
    }));
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
            .map(|&id| &q.uploads[id].path)
            .filter(|p| staging.is_staged(p))
            .cloned(),
    );
    errors.extend(unstage(pool, out, &staging, &failed_dirs, partial));
    errors.extend(into_inner(failed));
    errors
}

/// Puts the staged trees in place: first removes what failed uploads may have left inside
/// them (a tree where that fails stays out of sight, with an error), then renames each
/// root to its final name.
fn unstage(
    pool: &mut Pool<'_>,
    out: &Reporter,
    staging: &Staging,
    failed_dirs: &[RelPath],
    partial: Vec<RelPath>,
) -> Vec<Error> {
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
        if failed_dirs.contains(root) {
            continue; // never created
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

/// What every upload stream of a run shares.
struct StreamCtx<'r, 'j> {
    job: &'r SyncJob<'j>,
    q: &'r UploadQueue,
    out: &'r Reporter,
    /// Numbers the temporary names.
    nonce: &'r AtomicU64,
    staging: &'r Staging,
    /// Uploads that failed for good.
    failed: &'r Mutex<Vec<Error>>,
    /// Staged files whose upload failed after it was started: their partial copies must be
    /// removed before their tree is put in place.
    partial: &'r Mutex<Vec<RelPath>>,
}

impl StreamCtx<'_, '_> {
    /// The upload failed for good.
    fn give_up(&self, u: &Upload, e: Error, started: bool) {
        if started && self.staging.is_staged(&u.path) {
            lock(self.partial).push(u.path.clone());
        }
        lock(self.failed).push(e.with_op("upload", &u.path));
    }

    /// The job for upload `id`: a temporary name beside it, or, in a staged tree, its place
    /// there.
    fn job_for(&self, id: usize) -> peex_core::Result<ReplaceJob<'_>> {
        let u = &self.q.uploads[id];
        let local = local_path(&self.job.source, &u.path);
        let file = File::open(&local)
            .map_err(|e| Error::from(e).with_op("open local file", local.display()))?;
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
                inner: file.take(u.size.saturating_add(1)),
                out: self.out,
            }),
            size: u.size,
            mtime: (!self.job.srcutime).then_some(u.mtime),
        })
    }
}

/// One connection's upload stream: takes files from the queue until none is left. A file
/// that fails for good is reported; one that fails with a temporary error is handed back to
/// the queue (up to the retry limit) for whichever stream is next, and the stream ends with
/// the error so the pool reconnects (with a fresh retry budget if files went up since).
fn upload_stream(
    ctx: &StreamCtx<'_, '_>,
    fs: &mut dyn RemoteFs,
    queue: &Queue<usize>,
) -> peex_core::Result<()> {
    let (job, q, out) = (ctx.job, ctx.q, ctx.out);
    let tmps = std::cell::RefCell::new(BTreeMap::<usize, RelPath>::new());
    let mut cleanup = Vec::new();
    let mut uploaded = Vec::new();
    let mut progressed = false;
    let mut next = || -> Option<ReplaceJob<'_>> {
        loop {
            let id = lock(&q.todo).pop_front()?;
            match ctx.job_for(id) {
                Ok(j) => {
                    if let Some(t) = &j.tmp {
                        tmps.borrow_mut().insert(id, t.clone());
                    }
                    return Some(j);
                }
                Err(e) => ctx.give_up(&q.uploads[id], e, false),
            }
        }
    };
    let mut done = |id: usize, r: peex_core::Result<()>| {
        let u = &q.uploads[id];
        let tmp = tmps.borrow_mut().remove(&id);
        match r {
            // Reported as it happens (the progress bar counts it); with srcutime the local
            // time is set first, after the stream, on this connection.
            Ok(()) if job.srcutime => uploaded.push(id),
            Ok(()) => {
                progressed = true;
                report_uploaded(out, u);
            }
            Err(e) if e.is_temporary() => {
                let n = q.failures[id].fetch_add(1, Ordering::Relaxed) + 1;
                if n <= u64::from(job.retry.retries) {
                    lock(&q.todo).push_front(id);
                } else {
                    ctx.give_up(u, e, true);
                }
            }
            Err(e) => {
                cleanup.extend(tmp);
                ctx.give_up(u, e, true);
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
        let u = &q.uploads[id];
        match adopt_server_time(ctx, fs, u) {
            Ok(()) => report_uploaded(out, u),
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
    ctx: &StreamCtx<'_, '_>,
    fs: &mut dyn RemoteFs,
    u: &Upload,
) -> peex_core::Result<()> {
    let t = fs
        .get_mtime(&ctx.staging.remote(&u.path)?)
        .map_err(|e| e.with_op("read mtime", &u.path))?;
    local::set_mtime(&local_path(&ctx.job.source, &u.path), t)
}

/// An upload is complete: one more file on the progress bar, and its line.
fn report_uploaded(out: &Reporter, u: &Upload) {
    out.progress_file();
    out.uploaded(&u.path, is_new(u), u.size, &reason_text(u));
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
