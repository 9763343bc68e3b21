//! The uploads of one run, held compactly: the planner finds them directory by directory,
//! and a first deploy of a large site has one for every file, so each costs about 40 bytes
//! and its name (a directory's path is stored once for all its files) instead of a full
//! path and an [`Upload`] of its own. An [`Upload`] is rebuilt when one is needed (to open
//! the file, to report it).

use crate::plan::{Upload, UploadReason};
use peex_core::{Error, ErrorKind, RelPath, Result};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// One upload, packed: its directory by number, its name as a range of the name buffer.
#[derive(Debug, Clone, Copy)]
struct Packed {
    dir: u32,
    name_start: u32,
    name_end: u32,
    reason: Reason,
    size: u64,
    mtime: i64,
    /// The remote size or time the reason mentions.
    remote: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    New,
    Size,
    Mtime,
    ReplacesDir,
}

/// A compact list of uploads (see the module documentation).
#[derive(Debug, Default)]
pub struct UploadList {
    dirs: Vec<RelPath>,
    names: String,
    files: Vec<Packed>,
}

impl UploadList {
    /// An empty list.
    pub fn new() -> Self {
        UploadList::default()
    }

    /// Adds the uploads of one directory `dir` (each one's path is `dir` joined with a
    /// name).
    pub fn push_dir(&mut self, dir: &RelPath, uploads: Vec<Upload>) -> Result<()> {
        if uploads.is_empty() {
            return Ok(());
        }
        let too_many = || Error::new(ErrorKind::Unexpected, "too many files for one run");
        let d = u32::try_from(self.dirs.len()).map_err(|_| too_many())?;
        self.dirs.push(dir.clone());
        for u in uploads {
            if u.path.parent().as_ref() != Some(dir) {
                return Err(Error::new(
                    ErrorKind::Unexpected,
                    format!("{} planned outside its directory {dir}", u.path),
                ));
            }
            let name_start = u32::try_from(self.names.len()).map_err(|_| too_many())?;
            self.names.push_str(u.path.name());
            let name_end = u32::try_from(self.names.len()).map_err(|_| too_many())?;
            let (reason, remote) = match u.reason {
                UploadReason::New => (Reason::New, 0),
                UploadReason::Size { remote } => {
                    (Reason::Size, i64::try_from(remote).unwrap_or(i64::MAX))
                }
                UploadReason::Mtime { remote } => (Reason::Mtime, remote),
                UploadReason::ReplacesDir => (Reason::ReplacesDir, 0),
            };
            self.files.push(Packed {
                dir: d,
                name_start,
                name_end,
                reason,
                size: u.size,
                mtime: u.mtime,
                remote,
            });
        }
        Ok(())
    }

    /// Number of uploads.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Size of upload `i`.
    pub fn size(&self, i: usize) -> u64 {
        self.files[i].size
    }

    /// Sum of the sizes.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    fn dir_and_name(&self, i: usize) -> (&RelPath, &str) {
        let f = &self.files[i];
        (
            &self.dirs[f.dir as usize],
            &self.names[f.name_start as usize..f.name_end as usize],
        )
    }

    /// True if upload `i` replaces a remote directory.
    pub fn replaces_dir(&self, i: usize) -> bool {
        self.files[i].reason == Reason::ReplacesDir
    }

    /// True if upload `i` is at `p` or below it.
    pub fn is_within(&self, i: usize, p: &RelPath) -> bool {
        let (dir, _) = self.dir_and_name(i);
        dir.is_within(p) || self.path(i).as_ref().is_ok_and(|q| q == p)
    }

    /// The path of upload `i`.
    pub fn path(&self, i: usize) -> Result<RelPath> {
        let (dir, name) = self.dir_and_name(i);
        dir.join(name)
    }

    /// Upload `i`, rebuilt.
    pub fn get(&self, i: usize) -> Result<Upload> {
        let f = &self.files[i];
        let reason = match f.reason {
            Reason::New => UploadReason::New,
            Reason::Size => UploadReason::Size {
                remote: u64::try_from(f.remote).unwrap_or(0),
            },
            Reason::Mtime => UploadReason::Mtime { remote: f.remote },
            Reason::ReplacesDir => UploadReason::ReplacesDir,
        };
        Ok(Upload {
            path: self.path(i)?,
            size: f.size,
            mtime: f.mtime,
            reason,
        })
    }

    /// Keeps the uploads for which `keep` (given the list and an index) is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&UploadList, usize) -> bool) {
        let mut kept = Vec::with_capacity(self.files.len());
        for i in 0..self.files.len() {
            if keep(self, i) {
                kept.push(self.files[i]);
            }
        }
        self.files = kept;
    }

    /// Removes the uploads at or below any of `dirs`; returns how many went, per entry of
    /// `dirs` (the innermost one that holds them).
    pub fn drop_below(&mut self, dirs: &BTreeSet<RelPath>) -> BTreeMap<RelPath, u64> {
        let mut counts = BTreeMap::new();
        if dirs.is_empty() {
            return counts;
        }
        // Which of `dirs` holds each directory, found once per directory.
        let holder: Vec<Option<&RelPath>> = self
            .dirs
            .iter()
            .map(|d| {
                let mut cur = Some(d.clone());
                while let Some(c) = cur {
                    if let Some(found) = dirs.get(&c) {
                        return Some(found);
                    }
                    cur = c.parent();
                }
                None
            })
            .collect();
        let mut kept = Vec::with_capacity(self.files.len());
        for f in &self.files {
            match holder[f.dir as usize] {
                Some(h) => *counts.entry(h.clone()).or_insert(0) += 1,
                None => kept.push(*f),
            }
        }
        self.files = kept;
        counts
    }

    /// Compares the paths of uploads `a` and `b` as [`RelPath`]s compare, without building
    /// them.
    pub fn cmp_paths(&self, a: usize, b: usize) -> Ordering {
        let bytes = |i: usize| {
            let (dir, name) = self.dir_and_name(i);
            let sep: &[u8] = if dir.is_root() { b"" } else { b"/" };
            dir.as_str()
                .as_bytes()
                .iter()
                .chain(sep)
                .chain(name.as_bytes())
                .copied()
        };
        bytes(a).cmp(bytes(b))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::parse(s).unwrap()
    }

    fn up(path: &str, size: u64, reason: UploadReason) -> Upload {
        Upload {
            path: p(path),
            size,
            mtime: 1_700_000_000,
            reason,
        }
    }

    #[test]
    fn uploads_come_back_as_they_went_in() {
        let mut l = UploadList::new();
        let a = vec![
            up("a/x", 1, UploadReason::New),
            up("a/y", 2, UploadReason::Size { remote: 9 }),
        ];
        let top = vec![
            up("t", 3, UploadReason::Mtime { remote: -5 }),
            up("u", 4, UploadReason::ReplacesDir),
        ];
        l.push_dir(&p("a"), a.clone()).unwrap();
        l.push_dir(&RelPath::root(), top.clone()).unwrap();
        let back: Vec<Upload> = (0..l.len()).map(|i| l.get(i).unwrap()).collect();
        assert_eq!(back, [a, top].concat());
        assert_eq!(l.total_size(), 10);
        assert!(l.replaces_dir(3) && !l.replaces_dir(0));
        assert!(l.is_within(0, &p("a")) && l.is_within(3, &p("u")) && !l.is_within(2, &p("a")));
    }

    #[test]
    fn paths_compare_as_rel_paths_do() {
        let mut l = UploadList::new();
        l.push_dir(&p("a"), vec![up("a/b", 1, UploadReason::New)])
            .unwrap();
        l.push_dir(
            &RelPath::root(),
            vec![
                up("a-b", 1, UploadReason::New),
                up("a", 1, UploadReason::New),
            ],
        )
        .unwrap();
        for i in 0..3 {
            for j in 0..3 {
                assert_eq!(
                    l.cmp_paths(i, j),
                    l.path(i).unwrap().cmp(&l.path(j).unwrap())
                );
            }
        }
        l.retain(|l, i| l.size(i) == 1 && !l.path(i).unwrap().as_str().contains('-'));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn uploads_below_given_directories_are_dropped_and_counted() {
        let mut l = UploadList::new();
        l.push_dir(&p("a"), vec![up("a/1", 1, UploadReason::New)])
            .unwrap();
        l.push_dir(
            &p("a/b/c"),
            vec![
                up("a/b/c/2", 1, UploadReason::New),
                up("a/b/c/3", 1, UploadReason::New),
            ],
        )
        .unwrap();
        l.push_dir(&p("ab"), vec![up("ab/4", 1, UploadReason::New)])
            .unwrap();
        let gone = l.drop_below(&[p("a/b"), p("x")].into_iter().collect());
        assert_eq!(gone, [(p("a/b"), 2)].into_iter().collect());
        let left: Vec<String> = (0..l.len())
            .map(|i| l.path(i).unwrap().as_str().to_owned())
            .collect();
        assert_eq!(left, ["a/1", "ab/4"]);
    }

    #[test]
    fn an_upload_outside_its_directory_is_refused() {
        let mut l = UploadList::new();
        assert!(l
            .push_dir(&p("a"), vec![up("b/x", 1, UploadReason::New)])
            .is_err());
    }
}
