//! Reading ahead: the remote directories below a planned one, listed in one batch on a
//! connection that reads many directories at once (SFTP), guessed from the local tree.

use crate::plan::Descend;
use peex_core::{Entry, EntryKind, RelPath, RemoteFs, Result};
use std::collections::HashMap;
use std::path::Path;

/// Directories one scan task lists ahead ([`prelist`]), at most (beyond the first level,
/// which it always lists): bounds what a task holds in memory.
const PRELIST_DIRS: usize = 256;

/// When the connection reads several directories at once ([`RemoteFs::list_batch`]):
/// lists the remote subdirectories of a planned directory together with the directories
/// below them, up to [`PRELIST_DIRS`], in one batch; the tasks below plan from these
/// listings (`below`) wherever they run, and go on from where they end.
///
/// Which deeper directories to read is guessed from the local tree: a remote in step
/// mirrors it, so a whole small tree is read in about two round trips instead of two a
/// level. A guess counts only where its parent's listing shows a directory of that name
/// (reading changes nothing, so a wrong guess costs one dropped listing; a remote link or
/// file of that name is never read as a directory). A temporary error is returned (the
/// task is retried whole, nothing of it reported yet); a directory whose listing failed
/// otherwise is left out, and its own task lists it again and reports it.
pub fn prelist(
    fs: &mut dyn RemoteFs,
    source: &Path,
    descend: &[Descend],
    below: &mut HashMap<RelPath, Vec<Entry>>,
) -> Result<()> {
    if fs.list_batch() <= 1 {
        return Ok(());
    }
    let mut want: Vec<RelPath> = descend
        .iter()
        .filter(|d| d.remote_exists && !below.contains_key(&d.path))
        .map(|d| d.path.clone())
        .collect();
    let first = want.len();
    let cap = PRELIST_DIRS.max(first);
    // Breadth first, so that a parent always comes before its subdirectories.
    let mut i = 0;
    while i < want.len() && want.len() < cap {
        let subs = local_subdirs(&source.join(want[i].as_str()));
        for name in subs {
            let Ok(sub) = want[i].join(&name) else {
                continue;
            };
            if want.len() < cap && !below.contains_key(&sub) {
                want.push(sub);
            }
        }
        i += 1;
    }
    if want.is_empty() {
        return Ok(());
    }
    let results = fs.list_many(&want);
    for (k, (dir, r)) in want.iter().zip(results).enumerate() {
        let shown = k < first
            || dir
                .parent()
                .and_then(|p| below.get(&p))
                .is_some_and(|listed| {
                    listed
                        .iter()
                        .any(|e| e.kind == EntryKind::Dir && e.name == dir.name())
                });
        match r {
            Ok(entries) if shown => {
                below.insert(dir.clone(), entries);
            }
            Ok(_) => {}
            Err(e) if e.is_temporary() => return Err(e.with_op("list", dir)),
            Err(_) => {}
        }
    }
    Ok(())
}

/// The names of the real directories (not links) directly in `dir`, sorted; none when it
/// cannot be read (a guess only: the scan reads it properly).
fn local_subdirs(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use peex_core::{Capabilities, Error, ErrorKind};
    use std::io::Read;

    /// A remote tree in memory that reads many directories at once and records each batch.
    struct Tree {
        dirs: HashMap<String, Vec<Entry>>,
        batches: Vec<Vec<String>>,
        /// Every listing fails as a lost connection does.
        resets: bool,
    }

    fn entry(name: &str, kind: EntryKind) -> Entry {
        Entry {
            name: name.into(),
            kind,
            size: 0,
            mtime: (kind == EntryKind::File).then_some(1),
        }
    }

    impl RemoteFs for Tree {
        fn capabilities(&self) -> Capabilities {
            Capabilities::default()
        }
        fn list(&mut self, dir: &RelPath) -> Result<Vec<Entry>> {
            if self.resets {
                return Err(Error::new(ErrorKind::ConnectionFailed, "reset").temporary());
            }
            self.dirs
                .get(dir.as_str())
                .cloned()
                .ok_or_else(|| Error::new(ErrorKind::NotFound, "no such directory"))
        }
        fn list_many(&mut self, dirs: &[RelPath]) -> Vec<Result<Vec<Entry>>> {
            self.batches
                .push(dirs.iter().map(|d| d.as_str().to_owned()).collect());
            dirs.iter().map(|d| self.list(d)).collect()
        }
        fn list_batch(&self) -> usize {
            64
        }
        fn upload(&mut self, _: &RelPath, _: &mut dyn Read, _: u64) -> Result<()> {
            Ok(())
        }
        fn delete(&mut self, _: &RelPath) -> Result<()> {
            Ok(())
        }
        fn mkdir(&mut self, _: &RelPath) -> Result<()> {
            Ok(())
        }
        fn rmdir(&mut self, _: &RelPath) -> Result<()> {
            Ok(())
        }
        fn rename(&mut self, _: &RelPath, _: &RelPath) -> Result<()> {
            Ok(())
        }
        fn set_mtime(&mut self, _: &RelPath, _: i64) -> Result<()> {
            Ok(())
        }
    }

    fn descend(path: &str) -> Descend {
        Descend {
            path: RelPath::parse(path).unwrap(),
            remote_exists: true,
        }
    }

    /// Local `a/b/c/d` and `a/x`, `e`; the remote the same, except that `a/x` is a link
    /// there (to a directory it would list if asked).
    fn setup() -> (tempfile::TempDir, Tree) {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["a/b/c/d", "a/x", "e"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        let mut dirs = HashMap::new();
        dirs.insert(
            "a".to_owned(),
            vec![
                entry("b", EntryKind::Dir),
                entry("x", EntryKind::Other),
                entry("f", EntryKind::File),
            ],
        );
        dirs.insert("a/b".to_owned(), vec![entry("c", EntryKind::Dir)]);
        dirs.insert("a/b/c".to_owned(), vec![entry("d", EntryKind::Dir)]);
        dirs.insert("a/b/c/d".to_owned(), vec![]);
        dirs.insert("a/x".to_owned(), vec![entry("secret", EntryKind::File)]);
        dirs.insert("e".to_owned(), vec![]);
        (
            tmp,
            Tree {
                dirs,
                batches: Vec::new(),
                resets: false,
            },
        )
    }

    #[test]
    fn a_tree_mirrored_locally_is_read_in_one_batch_not_a_level_at_a_time() {
        let (tmp, mut fs) = setup();
        let mut below = HashMap::new();
        prelist(
            &mut fs,
            tmp.path(),
            &[descend("a"), descend("e")],
            &mut below,
        )
        .unwrap();
        assert_eq!(fs.batches.len(), 1, "{:?}", fs.batches);
        let mut got: Vec<&str> = below.keys().map(|k| k.as_str()).collect();
        got.sort();
        assert_eq!(got, ["a", "a/b", "a/b/c", "a/b/c/d", "e"]);
    }

    #[test]
    fn a_guess_the_parent_listing_shows_as_a_link_is_never_read_as_a_directory() {
        let (tmp, mut fs) = setup();
        let mut below = HashMap::new();
        prelist(&mut fs, tmp.path(), &[descend("a")], &mut below).unwrap();
        assert!(
            fs.batches[0].iter().any(|d| d == "a/x"),
            "guessed from the local tree: {:?}",
            fs.batches
        );
        assert!(
            !below.contains_key(&RelPath::parse("a/x").unwrap()),
            "the remote a/x is a link: its target's listing is dropped"
        );
    }

    #[test]
    fn a_guess_missing_remotely_is_dropped_and_a_temporary_error_is_returned() {
        let (tmp, mut fs) = setup();
        fs.dirs.remove("a/b/c/d"); // listed in a/b/c, gone when read: left to its own task
        let mut below = HashMap::new();
        prelist(&mut fs, tmp.path(), &[descend("a")], &mut below).unwrap();
        assert!(!below.contains_key(&RelPath::parse("a/b/c/d").unwrap()));
        assert!(below.contains_key(&RelPath::parse("a/b/c").unwrap()));

        let (tmp, mut fs) = setup();
        fs.resets = true;
        let e = prelist(&mut fs, tmp.path(), &[descend("a")], &mut HashMap::new()).unwrap_err();
        assert!(e.is_temporary(), "{e}");
    }
}
