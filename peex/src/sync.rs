//! One sync run: connect, scan (list both trees and plan), check the guards, then execute
//! in order — conflicting entries removed, directories created before their content,
//! uploads (to a temporary name, timestamped, renamed into place; new trees built under a
//! temporary name and renamed into place whole, see [`crate::staging`]), and deletes last,
//! only when nothing failed.

use crate::exit::{Status, Stop};
use crate::local::{self, LocalTree, Note, Symlinks};
use crate::plan::{self, Decide, DirPlan, NoRules, Upload, UploadReason};
use crate::pool::{OwnedConnector, Pool, Queue, RetryPolicy};
use crate::report::Reporter;
use crate::staging::{temp_path, Staging};
use crate::uploads::UploadList;
use peex_core::{
    Entry, Error, ErrorKind, MtimeMethod, RelPath, RemoteFs, ReplaceJob, SiteParams, Transport,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Everything one run needs.
pub struct SyncJob<'a> {
    /// The local source directory.
    pub source: PathBuf,
    /// What the walk does with symbolic links.
    pub symlinks: Symlinks,
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
    /// Local times from git (`mtime_from = git`), applied to each directory as it is read.
    pub git_times: Option<&'a crate::gittime::GitTimes>,
    /// How a file of equal size and different time is judged (`compare`).
    pub compare: crate::config::Compare,
    /// What of the plan is carried out (`peex apply`); `None`: all of it.
    pub gate: Option<&'a dyn PlanGate>,
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
    uploads: UploadList,
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
    /// Local entries that could not be read or named: the run is incomplete.
    local_failed: Vec<Error>,
    /// Local names of one directory that differ only by case (see [`crate::names`]).
    case_pairs: Vec<(RelPath, RelPath)>,
    /// A remote directory holds two names that differ only by case.
    remote_keeps_case: bool,
}

/// Opens a connection (read-only in a dry run); it owns what it needs, so that connections
/// can also be opened in the background.
fn owned_connector(job: &SyncJob<'_>) -> Arc<OwnedConnector> {
    let (transport, params, dry) = (job.transport.clone(), job.params.clone(), job.dry_run);
    Arc::new(move || -> peex_core::Result<Box<dyn RemoteFs>> {
        crate::connect::open(transport.as_ref(), &params, dry)
    })
}

/// Runs the sync. `Err` means a guard stopped the run before any change.
pub fn run(job: &SyncJob<'_>, out: &Reporter) -> Result<Outcome, Stop> {
    let started = Instant::now();
    local::check_source(&job.source).map_err(|m| Stop::new(Status::Refused, m))?;
    let tree = LocalTree::new(job.source.clone(), job.symlinks);

    let connector = owned_connector(job);
    let connect = || connector();
    let first = crate::pool::connect_retrying(&connect, job.retry)
        .map_err(|e| connect_stop(&e, &job.display_dest))?;
    let caps = first.capabilities();
    let hashes = first.hashes();
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
        |fs, task, queue| scan(job, &tree, out, fs, task, queue, &acc, &skipped_local),
    );
    // Skipped local entries (links not followed, special files): their remote counterparts
    // are left alone, so they are only reported.
    for s in lock(&skipped_local).iter() {
        out.warn(s);
    }
    for e in &scan_errors {
        out.error(&e.to_string());
    }
    let mut acc = into_inner(acc);
    // Local entries that could not be read or named: their remote counterparts are left
    // alone, and the run is incomplete (no deletes).
    for e in &acc.local_failed {
        out.error(&e.to_string());
    }
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

    let mut failed = !scan_errors.is_empty() || !acc.local_failed.is_empty();
    let mut blocked_roots: BTreeSet<RelPath> = BTreeSet::new();
    for root in &acc.conflict_roots {
        if kept.iter().any(|k| k.is_within(root)) {
            blocked_roots.insert(root.clone());
        }
    }
    if failed {
        // Without a complete picture no deletes run, so nothing can be replaced either.
        blocked_roots.extend(acc.conflict_roots.iter().cloned());
    }
    let mut uploads = std::mem::take(&mut acc.uploads);
    if !blocked_roots.is_empty() {
        uploads.retain(|l, i| {
            let blocked = l.replaces_dir(i) && l.path(i).is_ok_and(|p| blocked_roots.contains(&p));
            if blocked {
                out.detail(
                    0,
                    &format!(
                        "peex: {} not uploaded: the remote directory in its place holds \
                         protected entries (or the scan failed)",
                        l.path(i).unwrap_or_default()
                    ),
                );
            }
            !blocked
        });
    }
    let touches = match crate::compare::settle(
        job.compare,
        &hashes,
        &job.source,
        &job.display_dest,
        &mut pool,
        out,
        &mut uploads,
    ) {
        Ok(t) => t,
        Err(stop) => {
            pool.quit();
            return Err(stop);
        }
    };
    let mut parts = PlanParts {
        conflict_files: std::mem::take(&mut acc.conflict_files),
        conflict_rmdirs,
        mkdirs: std::mem::take(&mut acc.mkdirs),
        uploads,
        touches,
        delete_files: std::mem::take(&mut acc.delete_files),
        rmdirs,
        deletes_run: !failed,
    };
    if let Some(gate) = job.gate {
        if let Err(stop) = gate.restrict(&mut parts, out) {
            pool.quit();
            return Err(stop);
        }
    }
    let sets_times = !parts.uploads.is_empty() || !parts.touches.is_empty();
    if !job.dry_run && !job.srcutime && sets_times {
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

    if !acc.case_pairs.is_empty() && !acc.remote_keeps_case {
        case_guard(job, &mut pool, out, &acc.case_pairs)?;
    }

    report_plan(out, &parts);

    // ---- conflicts: remove what is in the way (only if the scan was complete) ----
    if parts.deletes_run && !job.dry_run {
        let errs = delete_phase(
            &mut pool,
            &parts.conflict_files,
            &parts.conflict_rmdirs,
            &|p| out.file_removed(p, true),
            &|p| out.dir_removed(p, true),
        );
        failed |= !errs.is_empty();
        for e in errs {
            out.error(&e.to_string());
        }
    }

    // ---- mkdirs and uploads, each directory before its content ----
    if !job.dry_run {
        let uploads = std::mem::take(&mut parts.uploads);
        out.start_progress(uploads.len() as u64, uploads.total_size());
        let mkdirs = std::mem::take(&mut parts.mkdirs);
        let errs = transfer_phase(
            job,
            &tree,
            &mut pool,
            out,
            mkdirs,
            uploads,
            caps.rename_dirs,
        );
        out.finish_progress();
        failed |= !errs.is_empty();
        errs.report(out);
    }

    // ---- times of files found equal by checksum ----
    if !job.dry_run && !parts.touches.is_empty() {
        let touches = std::mem::take(&mut parts.touches);
        let errs = pool.run(touches, |fs, u, _| {
            fs.set_mtime(&u.path, u.mtime)
                .map_err(|e| e.with_op("set mtime", &u.path))?;
            out.done(&crate::events::Operation::touch(u));
            Ok(())
        });
        failed |= !errs.is_empty();
        for e in errs {
            out.error(&e.to_string());
        }
    }

    // ---- deletes, last, and only if nothing failed ----
    let (mut files, rmdirs) = (parts.delete_files, parts.rmdirs);
    let stale = std::mem::take(&mut acc.stale_temps);
    if failed {
        if !files.is_empty() || !rmdirs.is_empty() {
            out.warn(&format!(
                "{} remote entries not deleted because of the errors above (deletes run only \
                 after a clean listing and upload)",
                files.len() + rmdirs.len()
            ));
        }
    } else if !job.dry_run {
        files.sort();
        let errs = delete_phase(
            &mut pool,
            &files,
            &rmdirs,
            &|p| out.file_removed(p, false),
            &|p| out.dir_removed(p, false),
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

/// Local names that differ only by case would be one file on a server that folds case:
/// asks the server (a probe in dest, see [`crate::names`]) and refuses the run, before any
/// change, if it does. A dry run cannot probe: it warns.
fn case_guard(
    job: &SyncJob<'_>,
    pool: &mut Pool<'_>,
    out: &Reporter,
    pairs: &[(RelPath, RelPath)],
) -> Result<(), Stop> {
    let mut pairs = pairs.to_vec();
    pairs.sort();
    let named = pairs
        .iter()
        .map(|(a, b)| format!("{a} and {b}"))
        .collect::<Vec<_>>()
        .join(", ");
    if job.dry_run {
        out.warn(&format!(
            "local names that differ only by case: {named}; a real run first checks that \
             {} tells them apart and stops if it does not",
            job.display_dest
        ));
        return Ok(());
    }
    let folds = pool.with_first(|fs| crate::names::probe_folds_case(fs, &RelPath::root()));
    let why = match folds {
        Ok(false) => return Ok(()),
        Ok(true) => "the server folds case, so each pair would be one file there".to_owned(),
        Err(e) => format!("could not tell whether the server folds case ({e})"),
    };
    pool.quit();
    Err(Stop::new(
        Status::Refused,
        format!(
            "local names that differ only by case: {named}; {why}. Rename one of each pair; \
             nothing was changed"
        ),
    ))
}

fn no_mtime_stop(dest: &str) -> Stop {
    Stop::new(
        Status::Refused,
        format!(
            "{dest} cannot set modification times (it offers none of MFMT, SITE UTIME, MFF \
             or vsftpd's MDTM with a time); without that every run would upload everything \
             again. Use srcutime=true, or a server with one of them. Nothing was changed"
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

#[allow(clippy::too_many_arguments)]
fn scan(
    job: &SyncJob<'_>,
    tree: &LocalTree,
    out: &Reporter,
    fs: &mut dyn RemoteFs,
    task: &Scan,
    queue: &Queue<Scan>,
    acc: &Mutex<Acc>,
    skipped: &Mutex<Vec<String>>,
) -> peex_core::Result<()> {
    let (path, listed_ahead, remote_exists) = match task {
        Scan::Dir {
            path,
            remote_exists,
        } => (path, None, *remote_exists),
        Scan::Listed {
            path,
            remote,
            below,
        } => (path, Some((remote, below)), true),
        Scan::Removal { path, why } => {
            return scan_removal(job, out, fs, path, *why, queue, acc, skipped)
        }
    };
    let local::LocalDir {
        entries: mut local,
        notes,
    } = tree.read_dir(path)?;
    let listed;
    let (remote, mut below) = match listed_ahead {
        Some((remote, below)) => (remote, below.clone()),
        None => {
            listed = if remote_exists {
                // The local sizes let a backend with coarse listed times (FTP's LIST) read
                // the exact time of only the files whose time decides anything.
                let sizes = crate::names::LocalSizes::new(&local);
                fs.list_for(path, &|name| sizes.get(name))
                    .map_err(|e| e.with_op("list", path))?
            } else {
                Vec::new()
            };
            (&listed, HashMap::new())
        }
    };
    if let Some(t) = job.git_times {
        t.apply(path, &mut local);
    }
    let aligned = crate::names::align(&mut local, remote);
    let p: DirPlan =
        plan::plan_dir(path, &local, remote, job.decide).map_err(|e| e.with_op("plan", path))?;
    // Before anything is reported: a temporary error here retries this task whole.
    crate::prelist::prelist(fs, &job.source, &p.descend, &mut below)?;
    for (remote_name, local_name) in &aligned {
        tree.alias(path.join(remote_name)?, local_name.clone());
    }
    let remote_listed = !matches!(
        task,
        Scan::Dir {
            remote_exists: false,
            ..
        }
    );
    out.listed(path, &local, remote_listed.then_some(&remote[..]));
    // What a rule ignores is neither warned about nor an error.
    let is_ignored = |n: &str| {
        let n = aligned
            .iter()
            .find(|(_, l)| l == n)
            .map_or(n, |(r, _)| r.as_str());
        p.ignored.iter().any(|(ip, _)| ip.name() == n)
    };
    let (skip, local_failed) = sort_notes(out, notes, &is_ignored);
    // Local names differing only by case (an ignored entry is not uploaded: it cannot
    // collide); a remote directory holding such a pair shows the server keeps case.
    let mut case_pairs = crate::names::case_pairs(&local);
    case_pairs.retain(|(a, b)| !is_ignored(a) && !is_ignored(b));
    let remote_keeps_case = !case_pairs.is_empty() && !crate::names::case_pairs(remote).is_empty();
    if !case_pairs.is_empty() || !local_failed.is_empty() {
        let mut a = lock(acc);
        a.local_failed.extend(local_failed);
        a.remote_keeps_case |= remote_keeps_case;
        for (x, y) in case_pairs {
            a.case_pairs.push((path.join(&x)?, path.join(&y)?));
        }
    }
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
    let conflict_trees: BTreeSet<RelPath> = p
        .uploads
        .iter()
        .filter(|u| u.reason == UploadReason::ReplacesDir)
        .map(|u| u.path.clone())
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
        // In the way of a new directory, or of a file (a remote link or other entry where
        // the local side has a file): removed before the upload, never after.
        if p.mkdirs.contains(&f) || conflict_trees.contains(&f) {
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
    a.uploads
        .push_dir(path, p.uploads)
        .map_err(|e| e.with_op("plan", path))?;
    a.mkdirs.extend(p.mkdirs);
    a.stale_temps.extend(p.stale_temps);
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
    // Nothing here has a local counterpart: no file's time decides anything.
    let remote = match fs.list_for(path, &|_| None) {
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
    out.listed(path, &[], Some(&remote));
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

/// The walk's notes on one directory, minus those about entries a rule ignores: warnings
/// (counted in the summary) and errors.
fn sort_notes(
    out: &Reporter,
    notes: Vec<(Option<String>, Note)>,
    is_ignored: &dyn Fn(&str) -> bool,
) -> (Vec<String>, Vec<Error>) {
    let (mut warnings, mut errors) = (Vec::new(), Vec::new());
    for (name, note) in notes {
        if name.as_deref().is_some_and(is_ignored) {
            continue;
        }
        match note {
            Note::SkippedLink(s) => {
                crate::report::bump(&out.counters.links_skipped);
                warnings.push(s);
            }
            Note::SkippedSpecial(s) => {
                crate::report::bump(&out.counters.special_skipped);
                warnings.push(s);
            }
            Note::Failed(e) => errors.push(e),
        }
    }
    (warnings, errors)
}

/// The operations of a run's plan, by phase (the order they run in).
#[derive(Debug, Default)]
pub struct PlanParts {
    /// Remote files in the way of a local directory (or inside a directory in the way of
    /// a local file), removed first.
    pub conflict_files: Vec<RelPath>,
    /// Remote directories in the way of a local file, deepest first.
    pub conflict_rmdirs: Vec<RelPath>,
    /// Directories to create.
    pub mkdirs: Vec<RelPath>,
    /// Files to upload (held compactly: a directory's path once).
    pub uploads: UploadList,
    /// Files whose remote copy has the same content (by checksum): only its time is set.
    pub touches: Vec<Upload>,
    /// Remote files with no local counterpart, removed last.
    pub delete_files: Vec<RelPath>,
    /// Remote directories with no local counterpart, deepest first.
    pub rmdirs: Vec<RelPath>,
    /// False when the scan failed: then no delete runs (nor the uploads that replace a
    /// remote entry), and the deletes are not part of the plan.
    pub deletes_run: bool,
}

/// Decides, after the scan and before any change, what of the plan is carried out
/// (`peex apply`: exactly the saved plan, or nothing if what it touches has drifted).
pub trait PlanGate: Sync {
    /// Restricts `parts` to what may be done, or stops the run before any change.
    fn restrict(&self, parts: &mut PlanParts, out: &Reporter) -> Result<(), Stop>;
}

/// Reports the whole plan, one [`crate::events::Event::Planned`] per operation, in the
/// order the phases run (within a phase, by path; directories deepest first).
fn report_plan(out: &Reporter, p: &PlanParts) {
    use crate::events::{OpKind, Operation, Reason};
    let sorted = |v: &[RelPath]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    if p.deletes_run {
        for f in &sorted(&p.conflict_files) {
            out.planned(&Operation::at(OpKind::Delete, f, Reason::Replaced));
        }
        for d in &p.conflict_rmdirs {
            out.planned(&Operation::at(OpKind::Rmdir, d, Reason::Replaced));
        }
    }
    for d in &sorted(&p.mkdirs) {
        out.planned(&Operation::at(OpKind::Mkdir, d, Reason::NewDir));
    }
    let mut order: Vec<usize> = (0..p.uploads.len()).collect();
    order.sort_by(|&a, &b| p.uploads.cmp_paths(a, b));
    for i in order {
        match p.uploads.get(i) {
            Ok(u) => out.planned(&Operation::upload(&u)),
            Err(e) => out.error(&e.to_string()),
        }
    }
    for u in &p.touches {
        out.planned(&Operation::touch(u));
    }
    if p.deletes_run {
        for f in &sorted(&p.delete_files) {
            out.planned(&Operation::at(OpKind::Delete, f, Reason::Gone));
        }
        for d in &p.rmdirs {
            out.planned(&Operation::at(OpKind::Rmdir, d, Reason::Gone));
        }
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

/// The errors of a phase: the first ones in full, the rest only counted, so that a site
/// where every upload fails does not hold (nor print) one message per file.
#[derive(Debug, Default)]
struct Failures {
    kept: Vec<Error>,
    more: u64,
}

impl Failures {
    /// Errors kept in full; the reporter shows fewer still (see [`Reporter::error`]).
    const KEPT: usize = 100;

    fn push(&mut self, e: Error) {
        if self.kept.len() < Self::KEPT {
            self.kept.push(e);
        } else {
            self.more += 1;
        }
    }

    fn extend(&mut self, errors: impl IntoIterator<Item = Error>) {
        for e in errors {
            self.push(e);
        }
    }

    fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.more == 0
    }

    fn report(self, out: &Reporter) {
        for e in self.kept {
            out.error(&e.to_string());
        }
        out.errors_not_shown(self.more);
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
struct Broken {
    /// The first such error.
    first: Error,
    /// Uploads in the tree that failed.
    failed: u64,
    /// Uploads in the tree not attempted once it was given up.
    skipped: u64,
}

/// Creates the new directories (parents first, pipelined on one connection), then uploads
/// the files over all connections, each pulling the next file when it is ready, the largest
/// first so that a big file does not start last and keep one connection busy at the end.
/// Files inside a directory that could not be created are not attempted; the directory's
/// error says why, once, with how many files that left out.
///
/// With `stage` (the backend renames directories), new trees are built under temporary
/// names and renamed into place at the end (see [`crate::staging`]). A staged tree is put
/// in place whole or not at all: when one of its directories cannot be created, or the
/// server says one is missing when a file is written into it, the tree's remaining uploads
/// are not attempted, it stays out of sight, and one error names it. A tree in which a file
/// failed and its partial copy could not be removed stays out of sight too.
fn transfer_phase(
    job: &SyncJob<'_>,
    tree: &LocalTree,
    pool: &mut Pool<'_>,
    out: &Reporter,
    mut mkdirs: Vec<RelPath>,
    mut uploads: UploadList,
    stage: bool,
) -> Failures {
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
    // Directories that could not be created: the topmost ones with their errors (below
    // them, all fail alike), and all of them.
    let mkdir_failed = Mutex::new((Vec::<(RelPath, Error)>::new(), BTreeSet::<RelPath>::new()));
    // Staged directories created, by their temporary paths.
    let created = Mutex::new(Vec::<RelPath>::new());
    // One task: what is left of it after a temporary error is tried again, the first
    // `CAREFUL` directories then one command at a time: a server that garbled a pipelined
    // batch (proftpd can run two lines of one as a single command) would garble it the same
    // way again, byte for byte, on a fresh connection.
    const CAREFUL: usize = 32;
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
                "{e}; so the new directory {unit} was not put in place and its {files} were not \
                 uploaded{others} (the next run tries again)"
            ),
        };
        errors.push(Error::new(e.kind(), text));
    }
    // Best effort: what was built of a tree given up goes (else the next run removes it).
    let mut abandoned: Vec<RelPath> = into_inner(created)
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

    let streams = job.jobs.min(uploads.len());
    let q = UploadQueue::new(uploads);
    let failed = Mutex::new(Failures::default());
    let partial = Mutex::new(Vec::new());
    let broken = Mutex::new(BTreeMap::new());
    let ctx = StreamCtx {
        job,
        tree,
        q: &q,
        out,
        nonce: &nonce,
        staging: &staging,
        failed: &failed,
        partial: &partial,
        broken: &broken,
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
            .filter_map(|&id| q.uploads.path(id).ok())
            .filter(|p| staging.is_staged(p)),
    );
    let broken: BTreeMap<RelPath, Broken> = into_inner(broken);
    let mut given_up = failed_units;
    given_up.extend(broken.keys().cloned());
    errors.extend(unstage(pool, out, &staging, &given_up, partial));
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
    let f = into_inner(failed);
    errors.more += f.more;
    errors.extend(f.kept);
    errors
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

/// What every upload stream of a run shares.
struct StreamCtx<'r, 'j> {
    job: &'r SyncJob<'j>,
    tree: &'r LocalTree,
    q: &'r UploadQueue,
    out: &'r Reporter,
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

impl StreamCtx<'_, '_> {
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
        let file = self.tree.open(&u.path)?;
        // With `mtime_from = git` a tracked, unmodified file's time is its commit's.
        let git_time = self.job.git_times.and_then(|t| t.get(u.path.as_str()));
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
                out: self.out,
            }),
            size,
            mtime: (!self.job.srcutime).then_some(mtime),
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
                if n <= job.retry.retries {
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
    ctx: &StreamCtx<'_, '_>,
    fs: &mut dyn RemoteFs,
    id: usize,
) -> peex_core::Result<()> {
    let path = ctx.q.uploads.path(id)?;
    let t = fs
        .get_mtime(&ctx.staging.remote(&path)?)
        .map_err(|e| e.with_op("read mtime", &path))?;
    local::set_mtime(&ctx.tree.path(&path), t)
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
