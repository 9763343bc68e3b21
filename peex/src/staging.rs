//! Temporary names: one per uploaded file, or one per new directory tree built out of sight.
//!
//! Every upload is written somewhere no visitor looks and then renamed into place. For a file
//! in a directory that already exists, that is a temporary name beside it
//! (`.peex-tmp.<pid>-<n>.<name>`) renamed over the target. For the files of a *new*
//! directory, when the backend can rename directories
//! ([`Capabilities::rename_dirs`](peex_core::Capabilities::rename_dirs)), the whole tree is
//! staged instead: each new directory whose parent already exists (a staging root) is
//! created under a temporary name; its subdirectories and files are written inside it under
//! their final names; and once the uploads are over, the root is renamed to its final name —
//! only if no file below it may be half written. A visitor then never sees a half-written
//! file, nor a new directory half filled (a page without its images), and the rename is paid
//! once per tree instead of once per file: on FTP that saves an `RNFR`, an `RNTO` and a
//! rename on the server for every file of a first upload.
//!
//! A staging root left behind by a crash has a temporary name, so the next run removes it
//! with the other stale temporary entries.

use crate::plan::TEMP_PREFIX;
use peex_core::{RelPath, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The temporary name for `path` (a file or a staging root): same directory, recognisable
/// prefix, this process's id and `n` (unique within the run), then as much of the name as
/// keeps it well under 255 bytes.
pub fn temp_path(path: &RelPath, n: u64) -> Result<RelPath> {
    let name = path.name();
    let mut short = String::new();
    for ch in name.chars() {
        if short.len() + ch.len_utf8() > 180 {
            break;
        }
        short.push(ch);
    }
    let tmp = format!("{TEMP_PREFIX}{:x}-{n:x}.{short}", std::process::id());
    path.parent().unwrap_or_default().join(&tmp)
}

/// The staging roots of one run: final name → temporary name.
#[derive(Debug, Default)]
pub struct Staging {
    roots: BTreeMap<RelPath, RelPath>,
}

impl Staging {
    /// No staging: every upload gets its own temporary name.
    pub fn none() -> Self {
        Staging::default()
    }

    /// Stages every directory of `mkdirs` (the directories the run creates) whose parent is
    /// not itself created by the run; `temp` names each one (see [`temp_path`]). A root whose
    /// temporary name cannot be formed is simply not staged.
    pub fn new(mkdirs: &[RelPath], mut temp: impl FnMut(&RelPath) -> Result<RelPath>) -> Self {
        let created: BTreeSet<&RelPath> = mkdirs.iter().collect();
        let mut roots = BTreeMap::new();
        for d in mkdirs {
            let parent_created = d.parent().is_some_and(|p| created.contains(&p));
            if !parent_created {
                if let Ok(t) = temp(d) {
                    roots.insert(d.clone(), t);
                }
            }
        }
        Staging { roots }
    }

    /// The staging root `p` is in (or is), if any.
    pub fn root_of(&self, p: &RelPath) -> Option<&RelPath> {
        if self.roots.is_empty() {
            return None;
        }
        let mut cur = Some(p.clone());
        while let Some(c) = cur {
            if let Some((root, _)) = self.roots.get_key_value(&c) {
                return Some(root);
            }
            cur = c.parent();
        }
        None
    }

    /// Where `p` is written: inside its staging root's temporary name, or `p` itself.
    pub fn remote(&self, p: &RelPath) -> Result<RelPath> {
        let Some(root) = self.root_of(p) else {
            return Ok(p.clone());
        };
        let tmp = &self.roots[root];
        let rest = &p.as_str()[root.as_str().len()..];
        RelPath::parse(&format!("{}{rest}", tmp.as_str()))
    }

    /// True if `p` is written inside a staging root (directly, without a temporary name).
    pub fn is_staged(&self, p: &RelPath) -> bool {
        self.root_of(p).is_some()
    }

    /// The staging roots, as (final name, temporary name).
    pub fn roots(&self) -> impl Iterator<Item = (&RelPath, &RelPath)> {
        self.roots.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::parse(s).unwrap()
    }

    #[test]
    fn temp_names_stay_in_the_same_directory_and_short() {
        let path = p("a/b/index.html");
        let t = temp_path(&path, 7).unwrap();
        assert_eq!(t.parent(), path.parent());
        assert!(t.name().starts_with(TEMP_PREFIX));
        assert!(t.name().ends_with(".index.html"));
        let long = "é".repeat(127);
        let t = temp_path(&p(&long), 1).unwrap();
        assert!(t.name().len() <= 255);
    }

    #[test]
    fn only_the_topmost_new_directories_are_staged_and_paths_below_them_move_with_them() {
        let mkdirs = [p("new"), p("new/sub"), p("new/sub/deep"), p("old/fresh")];
        let mut n = 0;
        let s = Staging::new(&mkdirs, |d| {
            n += 1;
            d.parent().unwrap_or_default().join(&format!(".t{n}"))
        });
        let roots: Vec<_> = s.roots().map(|(f, t)| (f.as_str(), t.as_str())).collect();
        assert_eq!(roots, vec![("new", ".t1"), ("old/fresh", "old/.t2")]);
        assert_eq!(s.remote(&p("new")).unwrap(), p(".t1"));
        assert_eq!(
            s.remote(&p("new/sub/deep/x.html")).unwrap(),
            p(".t1/sub/deep/x.html")
        );
        assert_eq!(s.remote(&p("old/fresh/a")).unwrap(), p("old/.t2/a"));
        // Not staged: existing directories, and names that merely start like a root.
        assert_eq!(s.remote(&p("old/a.html")).unwrap(), p("old/a.html"));
        assert_eq!(s.remote(&p("newer/a.html")).unwrap(), p("newer/a.html"));
        assert!(s.is_staged(&p("new/sub")));
        assert!(!s.is_staged(&p("old")));
        assert_eq!(s.root_of(&p("new/sub/deep/x")), Some(&p("new")));
    }

    #[test]
    fn without_staging_every_path_is_its_own() {
        let s = Staging::none();
        assert_eq!(s.remote(&p("a/b")).unwrap(), p("a/b"));
        assert!(!s.is_staged(&p("a/b")));
    }
}
