//! One sync run, the orchestrator: connect, walk (list both trees and plan,
//! [`crate::walk`]), check the guards, then carry out the plan ([`crate::actions`]) in order
//! — what is in the way removed ([`crate::delete`]), directories created before their
//! content and the files uploaded ([`crate::transfer`]: to a temporary name, timestamped,
//! renamed into place; new trees built under a temporary name and renamed into place
//! whole, see [`crate::staging`]), and deletes last, only when nothing failed.

use crate::actions::{self, PlanGate, PlanParts, Why};
use crate::delete::delete_phase;
use crate::exit::{Status, Stop};
use crate::local::{self, LocalTree, Symlinks};
use crate::pool::{OwnedConnector, Pool};
use crate::report::Reporter;
use crate::retry::RetryPolicy;
use crate::transfer::Transfer;
use crate::walk::Walker;
use peex_core::{Error, ErrorKind, MtimeMethod, RelPath, RemoteFs, SiteParams, Transport};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
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
    pub decide: &'a dyn peex_core::Filter,
    /// Number of connections.
    pub jobs: usize,
    /// Plan and print only.
    pub dry_run: bool,
    /// Read the remote mtime back and set the local file's instead of setting the remote's.
    pub srcutime: bool,
    /// Stop before changing anything if the plan deletes more entries than this.
    pub max_delete: Option<u64>,
    /// Retry policy for temporary errors (the one policy, see [`crate::retry`]).
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
    let first = job
        .retry
        .connect(connect)
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

    // ---- walk: list both trees, plan every directory ----
    let walked = Walker {
        source: &job.source,
        tree: &tree,
        rules: job.decide,
        git_times: job.git_times,
        out,
    }
    .walk(&mut pool);
    let findings = walked.findings;
    // Skipped local entries (links not followed, special files): their remote counterparts
    // are left alone, so they are only reported.
    for s in &findings.skipped {
        out.warn(s);
    }
    for e in &walked.errors {
        out.error(&e.to_string());
    }
    // Local entries that could not be read or named: their remote counterparts are left
    // alone, and the run is incomplete (no deletes).
    for e in &findings.local_failed {
        out.error(&e.to_string());
    }
    let kept = walked.kept;
    let mut parts = PlanParts {
        actions: actions::order(walked.actions, &kept),
        uploads: walked.uploads,
        touches: Vec::new(),
        deletes_run: false,
    };

    // ---- guards that stop before any change ----
    let deletes = parts.deletes();
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

    let mut failed = !walked.errors.is_empty() || !findings.local_failed.is_empty();
    // A file that replaces a remote directory waits for the whole tree to go: it is not
    // uploaded when the tree holds entries that stay, nor when the walk failed (then no
    // deletes run). (A file replacing a remote non-directory has a delete of its own.)
    let replaced_files: BTreeSet<RelPath> = parts.files(Why::Replaced).into_iter().collect();
    let blocked = |p: &RelPath| {
        !replaced_files.contains(p) && (failed || kept.iter().any(|k| k.is_within(p)))
    };
    parts.uploads.retain(|l, i| {
        let blocked = l.replaces_dir(i) && l.path(i).is_ok_and(|p| blocked(&p));
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
    parts.touches = match crate::compare::settle(
        job.compare,
        &hashes,
        &job.source,
        &job.display_dest,
        &mut pool,
        out,
        &mut parts.uploads,
    ) {
        Ok(t) => t,
        Err(stop) => {
            pool.quit();
            return Err(stop);
        }
    };
    parts.deletes_run = !failed;
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

    if !findings.case_pairs.is_empty() && !findings.remote_keeps_case {
        case_guard(job, &mut pool, out, &findings.case_pairs)?;
    }

    report_plan(out, &parts);

    // ---- conflicts: remove what is in the way (only if the walk was complete) ----
    if parts.deletes_run && !job.dry_run {
        let errs = delete_phase(
            &mut pool,
            &parts.files(Why::Replaced),
            &parts.dirs(Why::Replaced),
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
        let transfer = Transfer {
            tree: &tree,
            out,
            jobs: job.jobs,
            retry: job.retry,
            srcutime: job.srcutime,
            git_times: job.git_times,
        };
        let errs = transfer.run(&mut pool, parts.mkdirs(), uploads, caps.rename_dirs);
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
    let (files, rmdirs) = (parts.files(Why::Gone), parts.dirs(Why::Gone));
    if failed {
        if !files.is_empty() || !rmdirs.is_empty() {
            out.warn(&format!(
                "{} remote entries not deleted because of the errors above (deletes run only \
                 after a clean listing and upload)",
                files.len() + rmdirs.len()
            ));
        }
    } else if !job.dry_run {
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
        let errs = delete_phase(
            &mut pool,
            &parts.files(Why::Stale),
            &parts.dirs(Why::Stale),
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

/// Reports the whole plan, one [`crate::events::Event::Planned`] per operation, in the
/// order the phases run (within a phase, by path; directories deepest first).
fn report_plan(out: &Reporter, p: &PlanParts) {
    use crate::events::{OpKind, Operation, Reason};
    let removals = |why: Why, reason: Reason| {
        for f in &p.files(why) {
            out.planned(&Operation::at(OpKind::Delete, f, reason));
        }
        for d in &p.dirs(why) {
            out.planned(&Operation::at(OpKind::Rmdir, d, reason));
        }
    };
    if p.deletes_run {
        removals(Why::Replaced, Reason::Replaced);
    }
    for d in &p.mkdirs() {
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
        removals(Why::Gone, Reason::Gone);
    }
}
