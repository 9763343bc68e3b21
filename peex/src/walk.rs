//! The walk: lists both trees over the pool, directory pair by directory pair, and plans
//! each pair as it is read ([`crate::plan`]).
//!
//! One task per directory: it reads the local directory ([`LocalTree`]), lists the remote
//! one, told the local files' sizes ([`RemoteFs::list_for`]), or takes the listing a task
//! above it read ahead where the backend lists several directories at once
//! ([`crate::prelist`]), aligns names ([`crate::names`]), plans
//! the pair, reports what it found, and queues its subdirectories. A remote tree with no
//! local counterpart, one in the way of a local file, or a stale temporary tree is walked
//! too, level by level, to learn what in it must stay ([`plan::plan_removal`]).
//!
//! What the walk returns ([`Walked`]) is the plan of the whole run — the uploads, and
//! every other change as an [`Action`] with its reason — and, apart, what it noticed on the
//! way for the guards ([`Findings`]).

use crate::actions::{Action, Why};
use crate::gittime::GitTimes;
use crate::local::{self, LocalTree, Note};
use crate::locks::{into_inner, lock};
use crate::plan::{self, DirPlan, NoRules, UploadReason};
use crate::pool::{Pool, Queue};
use crate::report::Reporter;
use crate::uploads::UploadList;
use peex_core::{Entry, Error, Filter, RelPath, RemoteFs};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;

/// What the walk reads and decides with.
pub struct Walker<'a> {
    /// The local source directory.
    pub source: &'a Path,
    /// The local tree below it.
    pub tree: &'a LocalTree,
    /// The ignore/protect decision.
    pub rules: &'a dyn Filter,
    /// Local times from git (`mtime_from = git`), applied to each directory as it is read.
    pub git_times: Option<&'a GitTimes>,
    /// Where the walk reports what it lists and finds.
    pub out: &'a Reporter,
}

/// The walk's result: the plan of the run, and what was noticed on the way.
#[derive(Default)]
pub struct Walked {
    /// Files to upload.
    pub uploads: UploadList,
    /// Every other change, in the order found (see [`crate::actions::order`]).
    pub actions: Vec<Action>,
    /// Paths inside trees to remove that must stay (protected, or left alone by a rule):
    /// they keep every ancestor directory.
    pub kept: Vec<RelPath>,
    /// Listings (and local directories) that could not be read: the plan is incomplete.
    pub errors: Vec<Error>,
    /// What the guards need to know.
    pub findings: Findings,
}

/// What the walk noticed besides the plan. Different facts, gathered from every directory,
/// each read by its own step of the run (not operations, so not [`Action`]s).
#[derive(Debug, Default)]
pub struct Findings {
    /// Local entries that could not be read or named: the run is incomplete.
    pub local_failed: Vec<Error>,
    /// Local entries skipped (links not followed, special files): only warned about.
    pub skipped: Vec<String>,
    /// Local names of one directory that differ only by case (see [`crate::names`]).
    pub case_pairs: Vec<(RelPath, RelPath)>,
    /// A remote directory holds two names that differ only by case.
    pub remote_keeps_case: bool,
}

/// One task of the walk.
#[derive(Debug, Clone)]
enum Scan {
    /// A directory pair (`remote_exists` false: the remote directory is yet to be made).
    Dir { path: RelPath, remote_exists: bool },
    /// A directory whose remote side was listed already, by a task above it
    /// ([`RemoteFs::list_batch`]), with the listings made of directories below it.
    Listed {
        path: RelPath,
        remote: Vec<Entry>,
        below: HashMap<RelPath, Vec<Entry>>,
    },
    /// One level of a remote tree to remove.
    Removal { path: RelPath, why: Why },
}

impl Walker<'_> {
    /// Walks both trees from the root, over the pool.
    pub fn walk(&self, pool: &mut Pool<'_>) -> Walked {
        let found = Mutex::new(Walked::default());
        let root = Scan::Dir {
            path: RelPath::root(),
            remote_exists: true,
        };
        let errors = pool.run(vec![root], |fs, task, queue| {
            self.scan(fs, task, queue, &found)
        });
        let mut walked = into_inner(found);
        walked.errors = errors;
        walked
    }

    fn scan(
        &self,
        fs: &mut dyn RemoteFs,
        task: &Scan,
        queue: &Queue<Scan>,
        found: &Mutex<Walked>,
    ) -> peex_core::Result<()> {
        let (tree, out) = (self.tree, self.out);
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
            Scan::Removal { path, why } => return self.scan_removal(fs, path, *why, queue, found),
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
                    // The local sizes let a backend with coarse listed times (FTP's LIST)
                    // read the exact time of only the files whose time decides anything.
                    let sizes = crate::names::LocalSizes::new(&local);
                    fs.list_for(path, &|name| sizes.get(name))
                        .map_err(|e| e.with_op("list", path))?
                } else {
                    Vec::new()
                };
                (&listed, HashMap::new())
            }
        };
        if let Some(t) = self.git_times {
            t.apply(path, &mut local);
        }
        let aligned = crate::names::align(&mut local, remote);
        let p: DirPlan = plan::plan_dir(path, &local, remote, self.rules)
            .map_err(|e| e.with_op("plan", path))?;
        // Before anything is reported: a temporary error here retries this task whole.
        crate::prelist::prelist(fs, self.source, &p.descend, &mut below)?;
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
        let remote_keeps_case =
            !case_pairs.is_empty() && !crate::names::case_pairs(remote).is_empty();
        if !case_pairs.is_empty() || !local_failed.is_empty() {
            let mut w = lock(found);
            let f = &mut w.findings;
            f.local_failed.extend(local_failed);
            f.remote_keeps_case |= remote_keeps_case;
            for (x, y) in case_pairs {
                f.case_pairs.push((path.join(&x)?, path.join(&y)?));
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
        lock(found).findings.skipped.extend(skip);
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
                    Why::Replaced
                } else {
                    Why::Gone
                },
            });
        }
        for t in &p.stale_temp_dirs {
            queue.push(Scan::Removal {
                path: t.clone(),
                why: Why::Stale,
            });
        }
        let mut w = lock(found);
        for f in p.delete_files {
            // In the way of a new directory, or of a file (a remote link or other entry
            // where the local side has a file): removed before the upload, never after.
            let why = if p.mkdirs.contains(&f) || conflict_trees.contains(&f) {
                Why::Replaced
            } else {
                Why::Gone
            };
            w.actions.push(Action::DeleteFile { path: f, why });
        }
        w.uploads
            .push_dir(path, p.uploads)
            .map_err(|e| e.with_op("plan", path))?;
        w.actions.extend(p.mkdirs.into_iter().map(Action::Mkdir));
        w.actions
            .extend(p.stale_temps.into_iter().map(|path| Action::DeleteFile {
                path,
                why: Why::Stale,
            }));
        Ok(())
    }

    /// A remote tree to remove: lists one directory of it and plans what goes.
    fn scan_removal(
        &self,
        fs: &mut dyn RemoteFs,
        path: &RelPath,
        why: Why,
        queue: &Queue<Scan>,
        found: &Mutex<Walked>,
    ) -> peex_core::Result<()> {
        let out = self.out;
        // Nothing here has a local counterpart: no file's time decides anything.
        let remote = match fs.list_for(path, &|_| None) {
            Ok(r) => r,
            // A stale temporary tree that cannot be listed is left for a later run; it
            // must not hold up this run's deletes.
            Err(e) if why == Why::Stale && !e.is_temporary() => {
                lock(found).findings.skipped.push(format!(
                    "{} (a stale temporary directory; left for a later run)",
                    e.with_op("list", path)
                ));
                return Ok(());
            }
            Err(e) => return Err(e.with_op("list", path)),
        };
        let rules: &dyn Filter = if why == Why::Stale {
            &NoRules
        } else {
            self.rules
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
        let mut w = lock(found);
        w.kept.extend(p.protected.into_iter().map(|(p, _)| p));
        w.kept.extend(p.left_alone);
        w.actions.extend(
            p.delete_files
                .into_iter()
                .map(|path| Action::DeleteFile { path, why }),
        );
        w.actions.push(Action::Rmdir {
            path: path.clone(),
            why,
        });
        Ok(())
    }
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
