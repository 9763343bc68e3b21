//! The planner: compares one local directory with one remote listing and says what to do.
//!
//! Pure: no I/O, no clock. The walk ([`crate::walk`]) calls [`plan_dir`] for every
//! directory pair it reads and [`plan_removal`] for every level of a remote-only directory
//! it must scan before removing it; the rules are one [`Filter`].

use peex_core::{Entry, EntryKind, Filter, RelPath, Result, Side, Verdict};
use std::collections::BTreeMap;

/// Prefix of the temporary names uploads are written to before being renamed into place.
pub const TEMP_PREFIX: &str = ".peex-tmp.";

/// No rules at all: every entry [`Verdict::NoOpinion`] (for stale temporary trees, which
/// peex made and removes whatever the site's rules say about names inside them).
///
/// The planner asks one [`Filter`] (the contract's notion of "rules decide"): a site's is
/// [`crate::exceptions::Exceptions`], its regex rules and then its plugin filters.
pub struct NoRules;

impl Filter for NoRules {
    fn name(&self) -> &str {
        "no rules"
    }

    fn decide(&self, _path: &RelPath, _entry: &Entry, _side: Side) -> Result<Verdict> {
        Ok(Verdict::NoOpinion)
    }
}

/// Why a file is uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadReason {
    /// The remote file is missing.
    New,
    /// Size differs.
    Size {
        /// Remote size.
        remote: u64,
    },
    /// Modification time differs (same size).
    Mtime {
        /// Remote time.
        remote: i64,
    },
    /// The remote entry is a directory (or other) that is replaced by the file.
    ReplacesDir,
}

/// One upload to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Where, relative to the roots.
    pub path: RelPath,
    /// Local size.
    pub size: u64,
    /// Local mtime (whole seconds UTC).
    pub mtime: i64,
    /// Why.
    pub reason: UploadReason,
}

/// A local directory to walk into next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descend {
    /// The directory.
    pub path: RelPath,
    /// True if it exists remotely (then it is listed); false if it will be created (then
    /// everything below it is new).
    pub remote_exists: bool,
}

/// What to do about one directory pair.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DirPlan {
    /// Files to upload.
    pub uploads: Vec<Upload>,
    /// Directories to create (their parent exists or is created first).
    pub mkdirs: Vec<RelPath>,
    /// Local directories to plan next.
    pub descend: Vec<Descend>,
    /// Remote files (or other non-directories) to remove: alien files, and files in the way
    /// of a local directory.
    pub delete_files: Vec<RelPath>,
    /// Remote directories with no local counterpart (or in the way of a local file): they
    /// must be scanned (see [`plan_removal`]) before anything in them is removed.
    pub remove_trees: Vec<RelPath>,
    /// Stale temporary files of an earlier, interrupted run.
    pub stale_temps: Vec<RelPath>,
    /// Stale temporary directories (new trees an interrupted run was building): removed
    /// with everything in them, whatever the rules say about what is inside.
    pub stale_temp_dirs: Vec<RelPath>,
    /// Local entries ignored by a rule (reported in blue).
    pub ignored: Vec<(RelPath, EntryKind)>,
    /// Remote entries a rule protects that the sync would otherwise have changed or removed
    /// (reported in yellow).
    pub protected: Vec<(RelPath, EntryKind)>,
    /// Remote entries left alone because an ignore rule matches them.
    pub left_alone: Vec<RelPath>,
    /// Files already up to date.
    pub up_to_date: u64,
}

/// True if `a` and `b` are the same file as far as peex is concerned: same size, same
/// modification time in whole seconds.
pub fn up_to_date(local: &Entry, remote: &Entry) -> bool {
    local.kind == EntryKind::File
        && remote.kind == EntryKind::File
        && local.size == remote.size
        && local.mtime.is_some()
        && local.mtime == remote.mtime
}

/// Plans one directory: `local` and `remote` are the entries of `dir` on each side (remote
/// empty if the directory does not exist there yet).
pub fn plan_dir(
    dir: &RelPath,
    local: &[Entry],
    remote: &[Entry],
    rules: &dyn Filter,
) -> Result<DirPlan> {
    let mut plan = DirPlan::default();
    let mut remote_by_name: BTreeMap<&str, &Entry> = BTreeMap::new();
    for r in remote {
        remote_by_name.insert(r.name.as_str(), r);
    }
    let mut local_sorted: Vec<&Entry> = local.iter().collect();
    local_sorted.sort_by(|a, b| a.name.cmp(&b.name));

    for l in local_sorted {
        let path = dir.join(&l.name)?;
        let remote_entry = remote_by_name.remove(l.name.as_str());
        if rules.decide(&path, l, Side::Local)? == Verdict::Ignore {
            plan.ignored.push((path, l.kind));
            continue;
        }
        if l.kind == EntryKind::Other {
            // Skipped links, special files, unreadable entries: never uploaded; a remote
            // counterpart stays, as for an ignored entry.
            continue;
        }
        let remote_verdict = match remote_entry {
            Some(r) => rules.decide(&path, r, Side::Remote)?,
            None => Verdict::NoOpinion,
        };
        match (l.kind, remote_entry) {
            (EntryKind::File, None) => plan.uploads.push(upload(path, l, UploadReason::New)),
            (EntryKind::File, Some(r)) if r.kind == EntryKind::File => {
                if up_to_date(l, r) {
                    plan.up_to_date += 1;
                } else if remote_verdict != Verdict::NoOpinion {
                    keep(&mut plan, path, r, remote_verdict);
                } else {
                    let reason = if l.size != r.size {
                        UploadReason::Size { remote: r.size }
                    } else {
                        UploadReason::Mtime {
                            remote: r.mtime.unwrap_or(0),
                        }
                    };
                    plan.uploads.push(upload(path, l, reason));
                }
            }
            (EntryKind::File, Some(r)) => {
                // A remote directory (or other) where the local side has a file.
                if remote_verdict != Verdict::NoOpinion {
                    keep(&mut plan, path, r, remote_verdict);
                } else {
                    if r.kind == EntryKind::Dir {
                        plan.remove_trees.push(path.clone());
                    } else {
                        plan.delete_files.push(path.clone());
                    }
                    plan.uploads
                        .push(upload(path, l, UploadReason::ReplacesDir));
                }
            }
            (EntryKind::Dir, None) => {
                plan.mkdirs.push(path.clone());
                plan.descend.push(Descend {
                    path,
                    remote_exists: false,
                });
            }
            (EntryKind::Dir, Some(r)) if r.kind == EntryKind::Dir => {
                if remote_verdict == Verdict::Ignore {
                    plan.left_alone.push(path);
                } else {
                    // A protected directory is still walked: what is below it may need
                    // uploading; protection only stops it from being removed.
                    plan.descend.push(Descend {
                        path,
                        remote_exists: true,
                    });
                }
            }
            (EntryKind::Dir, Some(r)) => {
                // A remote file where the local side has a directory.
                if remote_verdict != Verdict::NoOpinion {
                    keep(&mut plan, path, r, remote_verdict);
                } else {
                    plan.delete_files.push(path.clone());
                    plan.mkdirs.push(path.clone());
                    plan.descend.push(Descend {
                        path,
                        remote_exists: false,
                    });
                }
            }
            (EntryKind::Other, _) => {}
        }
    }

    // What is left on the remote side has no local counterpart.
    for (name, r) in remote_by_name {
        let path = dir.join(name)?;
        // peex makes temporary files and directories, never anything else.
        if name.starts_with(TEMP_PREFIX) && r.kind != EntryKind::Other {
            if r.kind == EntryKind::File {
                plan.stale_temps.push(path);
            } else {
                plan.stale_temp_dirs.push(path);
            }
            continue;
        }
        match rules.decide(&path, r, Side::Remote)? {
            Verdict::Protect => plan.protected.push((path, r.kind)),
            Verdict::Ignore => plan.left_alone.push(path),
            Verdict::NoOpinion => {
                if r.kind == EntryKind::Dir {
                    plan.remove_trees.push(path);
                } else {
                    plan.delete_files.push(path);
                }
            }
        }
    }
    Ok(plan)
}

fn upload(path: RelPath, l: &Entry, reason: UploadReason) -> Upload {
    Upload {
        path,
        size: l.size,
        mtime: l.mtime.unwrap_or(0),
        reason,
    }
}

fn keep(plan: &mut DirPlan, path: RelPath, r: &Entry, verdict: Verdict) {
    if verdict == Verdict::Protect {
        plan.protected.push((path, r.kind));
    } else {
        plan.left_alone.push(path);
    }
}

/// What to do with the content of a remote directory being removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RemovalPlan {
    /// Files (and other non-directories) to delete.
    pub delete_files: Vec<RelPath>,
    /// Subdirectories to scan in turn.
    pub subdirs: Vec<RelPath>,
    /// Entries kept because a rule protects them (they keep every ancestor).
    pub protected: Vec<(RelPath, EntryKind)>,
    /// Entries kept because an ignore rule matches them (they keep every ancestor too).
    pub left_alone: Vec<RelPath>,
}

/// Plans the removal of one level of a remote-only directory `dir` whose entries are
/// `remote`.
pub fn plan_removal(dir: &RelPath, remote: &[Entry], rules: &dyn Filter) -> Result<RemovalPlan> {
    let mut plan = RemovalPlan::default();
    let mut sorted: Vec<&Entry> = remote.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for r in sorted {
        let path = dir.join(&r.name)?;
        match rules.decide(&path, r, Side::Remote)? {
            Verdict::Protect => plan.protected.push((path, r.kind)),
            Verdict::Ignore => plan.left_alone.push(path),
            Verdict::NoOpinion => {
                if r.kind == EntryKind::Dir {
                    plan.subdirs.push(path);
                } else {
                    plan.delete_files.push(path);
                }
            }
        }
    }
    Ok(plan)
}

/// Orders directory removals deepest first, and drops every directory that is an ancestor
/// of (or equal to) a kept path.
pub fn order_rmdirs(mut dirs: Vec<RelPath>, kept: &[RelPath]) -> Vec<RelPath> {
    dirs.retain(|d| !kept.iter().any(|k| k.is_within(d)));
    dirs.sort_by(|a, b| b.depth().cmp(&a.depth()).then_with(|| a.cmp(b)));
    dirs.dedup();
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;
    use peex_core::Verdict;

    /// Rules for tests: (substring, side-independent verdict), first match wins.
    struct Rules(Vec<(&'static str, Verdict)>);
    impl Filter for Rules {
        fn name(&self) -> &str {
            "test rules"
        }
        fn decide(&self, path: &RelPath, _e: &Entry, _s: Side) -> Result<Verdict> {
            Ok(self
                .0
                .iter()
                .find(|(p, _)| path.as_str().contains(p))
                .map(|(_, v)| *v)
                .unwrap_or_default())
        }
    }
    fn none() -> Rules {
        Rules(vec![])
    }
    fn f(name: &str, size: u64, mtime: i64) -> Entry {
        Entry {
            name: name.into(),
            kind: EntryKind::File,
            size,
            mtime: Some(mtime),
        }
    }
    fn d(name: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: EntryKind::Dir,
            size: 0,
            mtime: Some(0),
        }
    }
    fn p(s: &str) -> RelPath {
        RelPath::parse(s).unwrap()
    }

    #[test]
    fn new_changed_and_same_files() {
        let local = [
            f("new", 1, 10),
            f("size", 2, 10),
            f("time", 3, 11),
            f("same", 4, 10),
        ];
        let remote = [f("size", 1, 10), f("time", 3, 10), f("same", 4, 10)];
        let plan = plan_dir(&p("a"), &local, &remote, &none()).unwrap();
        let got: Vec<_> = plan
            .uploads
            .iter()
            .map(|u| (u.path.as_str(), u.reason))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a/new", UploadReason::New),
                ("a/size", UploadReason::Size { remote: 1 }),
                ("a/time", UploadReason::Mtime { remote: 10 }),
            ]
        );
        assert_eq!(plan.up_to_date, 1);
        assert!(plan.delete_files.is_empty() && plan.remove_trees.is_empty());
    }

    #[test]
    fn alien_remote_entries_are_removed() {
        let plan = plan_dir(&RelPath::root(), &[], &[f("x", 1, 1), d("old")], &none()).unwrap();
        assert_eq!(plan.delete_files, vec![p("x")]);
        assert_eq!(plan.remove_trees, vec![p("old")]);
    }

    #[test]
    fn missing_dir_is_created_and_descended_as_new() {
        let plan = plan_dir(&RelPath::root(), &[d("css")], &[], &none()).unwrap();
        assert_eq!(plan.mkdirs, vec![p("css")]);
        assert_eq!(
            plan.descend,
            vec![Descend {
                path: p("css"),
                remote_exists: false
            }]
        );
        let plan = plan_dir(&RelPath::root(), &[d("css")], &[d("css")], &none()).unwrap();
        assert!(plan.mkdirs.is_empty());
        assert!(plan.descend[0].remote_exists);
    }

    #[test]
    fn kind_conflict_file_replaces_remote_dir() {
        let plan = plan_dir(&RelPath::root(), &[f("x", 1, 1)], &[d("x")], &none()).unwrap();
        assert_eq!(plan.remove_trees, vec![p("x")]);
        assert_eq!(plan.uploads[0].reason, UploadReason::ReplacesDir);
    }

    #[test]
    fn kind_conflict_dir_replaces_remote_file() {
        let plan = plan_dir(&RelPath::root(), &[d("x")], &[f("x", 1, 1)], &none()).unwrap();
        assert_eq!(plan.delete_files, vec![p("x")]);
        assert_eq!(plan.mkdirs, vec![p("x")]);
        assert!(!plan.descend[0].remote_exists);
    }

    #[test]
    fn kind_conflict_with_protected_remote_keeps_it() {
        let rules = Rules(vec![("x", Verdict::Protect)]);
        // the local side's rule evaluation says Protect too, which is not Ignore: upload is
        // wanted, but the remote entry is protected, so nothing happens to it
        let plan = plan_dir(&RelPath::root(), &[f("x", 1, 1)], &[d("x")], &rules).unwrap();
        assert!(plan.uploads.is_empty() && plan.remove_trees.is_empty());
        assert_eq!(plan.protected, vec![(p("x"), EntryKind::Dir)]);
        let plan = plan_dir(&RelPath::root(), &[d("x")], &[f("x", 1, 1)], &rules).unwrap();
        assert!(plan.mkdirs.is_empty() && plan.delete_files.is_empty() && plan.descend.is_empty());
    }

    #[test]
    fn ignored_local_entries_are_not_uploaded_and_remote_left_alone() {
        let rules = Rules(vec![("offline", Verdict::Ignore)]);
        let plan = plan_dir(
            &RelPath::root(),
            &[d("offline"), f("offline.txt", 1, 1)],
            &[f("offline.txt", 9, 9), f("offline2", 1, 1)],
            &rules,
        )
        .unwrap();
        assert!(plan.uploads.is_empty());
        assert!(
            plan.descend.is_empty(),
            "an ignored directory is not descended"
        );
        assert!(plan.delete_files.is_empty());
        assert_eq!(plan.ignored.len(), 2);
        assert_eq!(plan.left_alone, vec![p("offline2")]);
    }

    #[test]
    fn protected_remote_file_is_not_overwritten_or_deleted() {
        let rules = Rules(vec![("uploads", Verdict::Protect)]);
        let plan = plan_dir(
            &p("a"),
            &[f("uploads.png", 2, 2)],
            &[f("uploads.png", 1, 1), f("uploads2.png", 1, 1)],
            &rules,
        )
        .unwrap();
        assert!(plan.uploads.is_empty() && plan.delete_files.is_empty());
        assert_eq!(plan.protected.len(), 2);
    }

    #[test]
    fn protected_dir_is_still_walked() {
        let rules = Rules(vec![("uploads", Verdict::Protect)]);
        let plan = plan_dir(&RelPath::root(), &[d("uploads")], &[d("uploads")], &rules).unwrap();
        assert_eq!(plan.descend.len(), 1);
    }

    #[test]
    fn stale_temp_files_are_collected() {
        let name = format!("{TEMP_PREFIX}abc.index.html");
        let plan = plan_dir(&RelPath::root(), &[], &[f(&name, 1, 1)], &none()).unwrap();
        assert_eq!(plan.stale_temps, vec![p(&name)]);
        assert!(plan.delete_files.is_empty());
    }

    #[test]
    fn stale_temp_dirs_are_collected_whatever_the_rules_say() {
        let name = format!("{TEMP_PREFIX}1f-3.docs");
        let rules = Rules(vec![("docs", Verdict::Protect)]);
        let plan = plan_dir(&RelPath::root(), &[d("docs")], &[d(&name)], &rules).unwrap();
        assert_eq!(plan.stale_temp_dirs, vec![p(&name)]);
        assert!(plan.remove_trees.is_empty() && plan.protected.is_empty());
        assert_eq!(plan.mkdirs, vec![p("docs")]);
    }

    #[test]
    fn removal_keeps_protected_and_ancestors() {
        let rules = Rules(vec![("b1.jpg", Verdict::Protect)]);
        let plan = plan_removal(
            &p("old/img"),
            &[f("b1.jpg", 1, 1), f("c.jpg", 1, 1), d("sub")],
            &rules,
        )
        .unwrap();
        assert_eq!(plan.delete_files, vec![p("old/img/c.jpg")]);
        assert_eq!(plan.subdirs, vec![p("old/img/sub")]);
        let kept: Vec<RelPath> = plan.protected.iter().map(|(p, _)| p.clone()).collect();
        let order = order_rmdirs(
            vec![
                p("old"),
                p("old/img"),
                p("old/img/sub"),
                p("other"),
                p("other/x/y"),
                p("other/x"),
            ],
            &kept,
        );
        assert_eq!(
            order,
            vec![p("old/img/sub"), p("other/x/y"), p("other/x"), p("other")]
        );
    }

    #[test]
    fn order_rmdirs_is_not_fooled_by_name_prefixes() {
        let order = order_rmdirs(vec![p("ab"), p("a")], &[p("ab/file")]);
        assert_eq!(order, vec![p("a")]);
    }

    #[test]
    fn names_from_the_server_are_checked() {
        let bad = Entry {
            name: "..".into(),
            kind: EntryKind::File,
            size: 0,
            mtime: Some(0),
        };
        assert!(plan_dir(&RelPath::root(), &[], &[bad], &none()).is_err());
    }
}
