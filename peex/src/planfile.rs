//! `peex plan` and `peex apply`: a plan saved as JSON with a fingerprint of every listing it
//! was made from (each entry's name, kind, size and time, on both sides), and the drift
//! guard that carries out exactly that plan later, or nothing.
//!
//! `plan` is a dry run whose events a [`Recorder`] also takes (an implementation of
//! [`Events`]). `apply` scans again with a recorder, and its [`Applier`] (a
//! [`PlanGate`]) compares, before any change, the new listings with the saved ones for
//! every entry the plan touches: the entry itself on each side, and for a directory to
//! remove, everything in it. Any difference stops the run (exit 4) naming what drifted.
//! Otherwise the run is restricted to the saved operations; operations the new scan would
//! add are left for the next plan (with a warning).

use crate::actions::{PlanGate, PlanParts, Why};
use crate::events::{Event, Events, OpKind, Operation};
use crate::exit::{Status, Stop};
use crate::report::Reporter;
use peex_core::{Entry, RelPath};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What kind of file a plan file is (its `"format"` field).
pub const PLAN_FORMAT: &str = "peex-plan";
/// The plan file's schema version.
pub const PLAN_SCHEMA: u32 = 1;

/// One entry of a listing, as fingerprinted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryPrint {
    /// Its name.
    pub name: String,
    /// `file`, `dir` or `other`.
    pub kind: String,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Modification time, whole seconds UTC (local times as the run used them).
    pub mtime: Option<i64>,
}

impl EntryPrint {
    fn of(e: &Entry) -> Self {
        EntryPrint {
            name: e.name.clone(),
            kind: crate::json::kind_name(e.kind).to_owned(),
            size: e.size,
            mtime: e.mtime,
        }
    }

    /// Same as far as an operation on it is concerned: same kind; a file also same size and
    /// time (a directory's own time changes with its content, which is checked apart).
    fn same(&self, other: &EntryPrint) -> bool {
        self.kind == other.kind
            && (self.kind != "file" || (self.size == other.size && self.mtime == other.mtime))
    }
}

/// Both sides of one directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The local entries (empty for a remote directory being removed).
    pub local: Vec<EntryPrint>,
    /// The remote entries; `None` if the directory does not exist remotely.
    pub remote: Option<Vec<EntryPrint>>,
}

/// One operation of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedOp {
    /// `upload`, `mkdir`, `delete`, `rmdir`, `touch`.
    pub op: String,
    /// Where.
    pub path: String,
    /// Why (as in the JSON events).
    pub reason: String,
    /// The local size, for uploads.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub size: Option<u64>,
    /// The local time, for uploads.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mtime: Option<i64>,
}

/// A saved plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanFile {
    /// Always [`PLAN_FORMAT`].
    pub format: String,
    /// [`PLAN_SCHEMA`].
    pub schema: u32,
    /// The site's configuration file as it was given to `peex plan` (relative to the
    /// directory peex ran in, so that a job in a fresh clone finds its own copy).
    pub config: PathBuf,
    /// The destination as shown (never with the password).
    pub dest: String,
    /// Where the local times came from (`git` or `filesystem`); `apply` uses the same.
    pub mtime_from: String,
    /// The operations, in the order they run.
    pub operations: Vec<SavedOp>,
    /// Every listing the plan was made from, by directory (`""` is the root).
    pub listings: BTreeMap<String, Listing>,
}

impl PlanFile {
    /// Reads a plan file; a file that is not one is a usage error naming it.
    pub fn read(path: &Path) -> Result<PlanFile, Stop> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Stop::new(
                Status::Usage,
                format!("cannot read the plan {}: {e}", path.display()),
            )
        })?;
        let plan: PlanFile = serde_json::from_str(&text).map_err(|e| {
            Stop::new(
                Status::Usage,
                format!(
                    "{}:{}:{}: not a peex plan: {e}",
                    path.display(),
                    e.line(),
                    e.column()
                ),
            )
        })?;
        if plan.format != PLAN_FORMAT || plan.schema != PLAN_SCHEMA {
            return Err(Stop::new(
                Status::Usage,
                format!(
                    "{}: not a peex plan of schema {PLAN_SCHEMA} (format {:?}, schema {})",
                    path.display(),
                    plan.format,
                    plan.schema
                ),
            ));
        }
        Ok(plan)
    }
}

/// Takes a run's listings and planned operations (behind `peex plan` and `peex apply`).
#[derive(Debug, Default)]
pub struct Recorder {
    listings: Mutex<BTreeMap<String, Listing>>,
    ops: Mutex<Vec<SavedOp>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Recorder {
    /// Writes the plan made so far to `path`.
    pub fn save(
        &self,
        path: &Path,
        config: &Path,
        dest: &str,
        mtime_from: crate::config::MtimeFrom,
    ) -> Result<(), Stop> {
        let config = config.to_path_buf();
        let plan = PlanFile {
            format: PLAN_FORMAT.into(),
            schema: PLAN_SCHEMA,
            config,
            dest: dest.to_owned(),
            mtime_from: match mtime_from {
                crate::config::MtimeFrom::Git => "git".into(),
                crate::config::MtimeFrom::Filesystem => "filesystem".into(),
            },
            operations: lock(&self.ops).clone(),
            listings: lock(&self.listings).clone(),
        };
        let text = serde_json::to_string_pretty(&plan)
            .map_err(|e| Stop::new(Status::Usage, format!("cannot write the plan: {e}")))?;
        std::fs::write(path, text + "\n").map_err(|e| {
            Stop::new(
                Status::Usage,
                format!("cannot write the plan {}: {e}", path.display()),
            )
        })
    }
}

impl Events for Recorder {
    fn event(&self, e: &Event<'_>) {
        match e {
            Event::Listed { dir, local, remote } => {
                let listing = Listing {
                    local: local.iter().map(EntryPrint::of).collect(),
                    remote: remote.map(|r| r.iter().map(EntryPrint::of).collect()),
                };
                let mut all = lock(&self.listings);
                let slot = all.entry(dir.as_str().to_owned()).or_default();
                // A remote-only directory is listed by its removal scan: keep both halves.
                if !listing.local.is_empty() || slot.remote.is_none() {
                    *slot = Listing {
                        local: if listing.local.is_empty() {
                            std::mem::take(&mut slot.local)
                        } else {
                            listing.local
                        },
                        remote: listing.remote.or(slot.remote.take()),
                    };
                }
            }
            Event::Planned(op) => lock(&self.ops).push(saved(op)),
            _ => {}
        }
    }
}

/// Shares a recorder between the reporter and whoever reads it afterwards.
pub struct Shared(pub Arc<Recorder>);

impl Events for Shared {
    fn event(&self, e: &Event<'_>) {
        self.0.event(e);
    }
}

fn saved(op: &Operation<'_>) -> SavedOp {
    SavedOp {
        op: op.op.name().to_owned(),
        path: op.path.as_str().to_owned(),
        reason: op.reason.name().to_owned(),
        size: op.size,
        mtime: op.mtime,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Local,
    Remote,
}

fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

fn entry_in(all: &BTreeMap<String, Listing>, path: &str, side: Side) -> Option<EntryPrint> {
    let (dir, name) = split(path);
    let l = all.get(dir)?;
    let list = match side {
        Side::Local => &l.local,
        Side::Remote => l.remote.as_ref()?,
    };
    list.iter().find(|e| e.name == name).cloned()
}

fn describe(e: &Option<EntryPrint>) -> String {
    match e {
        None => "absent".into(),
        Some(e) if e.kind == "file" => format!(
            "file of {} bytes, mtime {}",
            e.size,
            e.mtime.map_or("unknown".into(), |t| t.to_string())
        ),
        Some(e) => e.kind.clone(),
    }
}

/// Carries out a saved plan: see the module docs.
pub struct Applier {
    /// The plan.
    pub plan: PlanFile,
    /// The new scan's listings.
    pub now: Arc<Recorder>,
}

impl Applier {
    /// What drifted between the plan and now, for the entries the plan touches.
    pub fn drift(&self) -> Vec<String> {
        let now = lock(&self.now.listings);
        let then = &self.plan.listings;
        let mut drifted = BTreeSet::new();
        for op in &self.plan.operations {
            for (side, name) in [(Side::Local, "local"), (Side::Remote, "remote")] {
                let (a, b) = (
                    entry_in(then, &op.path, side),
                    entry_in(&now, &op.path, side),
                );
                let same = match (&a, &b) {
                    (None, None) => true,
                    (Some(x), Some(y)) => x.same(y),
                    _ => false,
                };
                if !same {
                    drifted.insert(format!(
                        "{name} {}: was {}, now {}",
                        op.path,
                        describe(&a),
                        describe(&b)
                    ));
                }
            }
            if op.op == OpKind::Rmdir.name() {
                let content = |l: &BTreeMap<String, Listing>| {
                    l.get(&op.path).and_then(|x| x.remote.clone()).map(|mut v| {
                        v.sort_by(|a, b| a.name.cmp(&b.name));
                        v
                    })
                };
                if content(then) != content(&now) {
                    drifted.insert(format!(
                        "remote {}/: its content changed (a directory the plan removes)",
                        op.path
                    ));
                }
            }
        }
        drifted.into_iter().collect()
    }
}

fn keys(parts: &PlanParts) -> BTreeSet<(&'static str, String)> {
    let mut k = BTreeSet::new();
    for a in &parts.actions {
        // Stale temporary entries are not part of a plan; deletes only when they run.
        let listed = match a.why() {
            None => true,
            Some(Why::Stale) => false,
            Some(Why::Replaced | Why::Gone) => parts.deletes_run,
        };
        if listed {
            k.insert((a.op().name(), a.path().as_str().to_owned()));
        }
    }
    for i in 0..parts.uploads.len() {
        if let Ok(p) = parts.uploads.path(i) {
            k.insert((OpKind::Upload.name(), p.as_str().to_owned()));
        }
    }
    for u in &parts.touches {
        k.insert((OpKind::Touch.name(), u.path.as_str().to_owned()));
    }
    k
}

impl PlanGate for Applier {
    fn restrict(&self, parts: &mut PlanParts, out: &Reporter) -> Result<(), Stop> {
        let mut drift = self.drift();
        let now = keys(parts);
        for op in &self.plan.operations {
            if !now.iter().any(|(o, p)| *o == op.op && *p == op.path) && drift.is_empty() {
                drift.push(format!(
                    "{} {}: no longer needed or no longer possible",
                    op.op, op.path
                ));
            }
        }
        if !drift.is_empty() {
            const SHOWN: usize = 20;
            let mut msg = format!(
                "the plan is out of date: {} of the entries it would touch changed since it \
                 was made: {}",
                drift.len(),
                drift
                    .iter()
                    .take(SHOWN)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            if drift.len() > SHOWN {
                msg.push_str(&format!("; and {} more", drift.len() - SHOWN));
            }
            msg.push_str("; nothing was changed (make a new plan)");
            return Err(Stop::new(Status::Refused, msg));
        }
        let wanted: BTreeSet<(String, String)> = self
            .plan
            .operations
            .iter()
            .map(|o| (o.op.clone(), o.path.clone()))
            .collect();
        let has = |op: OpKind, p: &RelPath| {
            wanted.contains(&(op.name().to_owned(), p.as_str().to_owned()))
        };
        let before = now.len();
        // Stale temporary entries are removed whatever the plan (it never names them).
        parts
            .actions
            .retain(|a| a.why() == Some(Why::Stale) || has(a.op(), a.path()));
        parts
            .uploads
            .retain(|l, i| l.path(i).is_ok_and(|p| has(OpKind::Upload, &p)));
        parts.touches.retain(|u| has(OpKind::Touch, &u.path));
        let after = keys(parts).len();
        if after < before {
            out.warn(&format!(
                "{} operations the new listings call for are not in the plan and were left \
                 for the next plan",
                before - after
            ));
        }
        Ok(())
    }
}
