//! The plan of one run: every remote change other than an upload as one list of
//! [`Action`]s, each with its reason ([`Why`]); the uploads beside it, held compactly
//! ([`UploadList`]), and the files found equal by checksum ([`PlanParts::touches`]).
//!
//! The walk ([`crate::walk`]) finds the actions directory by directory, in no particular
//! order; [`order`] settles them once the walk is over (directories that must stay dropped,
//! directories deepest first). The phases read what is theirs from [`PlanParts`]: the
//! conflicts ([`Why::Replaced`]) before the uploads, the mkdirs, the deletes
//! ([`Why::Gone`]) last, then the stale temporary entries ([`Why::Stale`]).

use crate::events::{OpKind, Reason};
use crate::exit::Stop;
use crate::plan::Upload;
use crate::report::Reporter;
use crate::uploads::UploadList;
use peex_core::RelPath;
use std::collections::BTreeMap;

/// Why a remote entry is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    /// In the way of a local entry of the other kind: removed before the uploads.
    Replaced,
    /// No local counterpart: removed in the final delete phase, only if nothing failed.
    Gone,
    /// A temporary entry of an interrupted run: removed at the end, best effort, whatever
    /// the rules say; not part of the reported (or saved) plan.
    Stale,
}

/// One remote change other than an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create a directory (before anything inside it).
    Mkdir(RelPath),
    /// Delete a file (or other non-directory).
    DeleteFile {
        /// The file.
        path: RelPath,
        /// Why it goes.
        why: Why,
    },
    /// Remove a directory, once what is in it is gone (one level of a tree being removed).
    Rmdir {
        /// The directory.
        path: RelPath,
        /// Why it goes.
        why: Why,
    },
}

impl Action {
    /// The path the action changes.
    pub fn path(&self) -> &RelPath {
        match self {
            Action::Mkdir(p)
            | Action::DeleteFile { path: p, .. }
            | Action::Rmdir { path: p, .. } => p,
        }
    }

    /// Why the entry is removed; `None` for a mkdir.
    pub fn why(&self) -> Option<Why> {
        match self {
            Action::Mkdir(_) => None,
            Action::DeleteFile { why, .. } | Action::Rmdir { why, .. } => Some(*why),
        }
    }

    /// The operation, as events and plan files name it.
    pub fn op(&self) -> OpKind {
        match self {
            Action::Mkdir(_) => OpKind::Mkdir,
            Action::DeleteFile { .. } => OpKind::Delete,
            Action::Rmdir { .. } => OpKind::Rmdir,
        }
    }

    /// The reason, as events and plan files name it.
    pub fn reason(&self) -> Reason {
        match self.why() {
            None => Reason::NewDir,
            Some(Why::Replaced) => Reason::Replaced,
            Some(Why::Gone | Why::Stale) => Reason::Gone,
        }
    }
}

/// Settles the actions the walk found, without duplicates: mkdirs, then file deletes, by
/// reason and path; then the directory removals of each reason deepest first
/// ([`crate::plan::order_rmdirs`]), without those that are an ancestor of (or equal to) a
/// `kept` path (stale temporary trees excepted: no rule keeps anything in them).
pub fn order(actions: Vec<Action>, kept: &[RelPath]) -> Vec<Action> {
    let mut ordered = Vec::with_capacity(actions.len());
    let mut dirs: BTreeMap<Why, Vec<RelPath>> = BTreeMap::new();
    for a in actions {
        match a {
            Action::Rmdir { path, why } => dirs.entry(why).or_default().push(path),
            other => ordered.push(other),
        }
    }
    ordered.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    ordered.dedup();
    for (why, d) in dirs {
        let kept = if why == Why::Stale { &[][..] } else { kept };
        ordered.extend(
            crate::plan::order_rmdirs(d, kept)
                .into_iter()
                .map(|path| Action::Rmdir { path, why }),
        );
    }
    ordered
}

/// Mkdirs first, then file deletes, by reason and path.
fn order_key(a: &Action) -> (bool, Option<Why>, &RelPath) {
    (matches!(a, Action::DeleteFile { .. }), a.why(), a.path())
}

/// The operations of a run's plan.
#[derive(Debug, Default)]
pub struct PlanParts {
    /// Mkdirs and removals, as [`order`] leaves them.
    pub actions: Vec<Action>,
    /// Files to upload (held compactly: a directory's path once).
    pub uploads: UploadList,
    /// Files whose remote copy has the same content (by checksum): only its time is set.
    pub touches: Vec<Upload>,
    /// False when the walk failed: then no delete runs (nor the uploads that replace a
    /// remote entry), and the deletes are not part of the plan.
    pub deletes_run: bool,
}

impl PlanParts {
    /// The directories to create.
    pub fn mkdirs(&self) -> Vec<RelPath> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Mkdir(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// The files removed for `why`, by path.
    pub fn files(&self, why: Why) -> Vec<RelPath> {
        self.removals(why, false)
    }

    /// The directories removed for `why`, deepest first.
    pub fn dirs(&self, why: Why) -> Vec<RelPath> {
        self.removals(why, true)
    }

    fn removals(&self, of: Why, dirs: bool) -> Vec<RelPath> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::DeleteFile { path, why } if !dirs && *why == of => Some(path.clone()),
                Action::Rmdir { path, why } if dirs && *why == of => Some(path.clone()),
                _ => None,
            })
            .collect()
    }

    /// How many remote entries the plan deletes (stale temporary entries not counted).
    pub fn deletes(&self) -> u64 {
        self.actions
            .iter()
            .filter(|a| matches!(a.why(), Some(Why::Replaced | Why::Gone)))
            .count() as u64
    }
}

/// Decides, after the walk and before any change, what of the plan is carried out
/// (`peex apply`: exactly the saved plan, or nothing if what it touches has drifted).
pub trait PlanGate: Sync {
    /// Restricts `parts` to what may be done, or stops the run before any change.
    fn restrict(&self, parts: &mut PlanParts, out: &Reporter) -> Result<(), Stop>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::parse(s).unwrap()
    }
    fn rmdir(s: &str, why: Why) -> Action {
        Action::Rmdir { path: p(s), why }
    }

    #[test]
    fn order_keeps_the_ancestors_of_kept_paths_and_puts_directories_deepest_first() {
        let actions = vec![
            rmdir("old", Why::Gone),
            rmdir("old/img", Why::Gone),
            rmdir("old/img/sub", Why::Gone),
            rmdir("other", Why::Gone),
            rmdir("other/x/y", Why::Replaced),
            rmdir("other/x", Why::Gone),
            rmdir(".peex-tmp.1.t", Why::Stale),
            Action::DeleteFile {
                path: p("b"),
                why: Why::Gone,
            },
            Action::Mkdir(p("new")),
            Action::DeleteFile {
                path: p("a"),
                why: Why::Replaced,
            },
        ];
        let kept = [p("old/img/b1.jpg"), p(".peex-tmp.1.t/x")];
        let parts = PlanParts {
            actions: order(actions, &kept),
            ..PlanParts::default()
        };
        assert_eq!(parts.mkdirs(), vec![p("new")]);
        assert_eq!(parts.files(Why::Replaced), vec![p("a")]);
        assert_eq!(parts.files(Why::Gone), vec![p("b")]);
        assert_eq!(
            parts.dirs(Why::Gone),
            vec![p("old/img/sub"), p("other/x"), p("other")]
        );
        assert_eq!(parts.dirs(Why::Replaced), vec![p("other/x/y")]);
        assert_eq!(parts.dirs(Why::Stale), vec![p(".peex-tmp.1.t")]);
        assert_eq!(parts.deletes(), 6);
    }
}
