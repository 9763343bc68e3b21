//! The listing contract, checked once for every backend.
//!
//! [`RemoteFs::list`]'s documentation promises the engine four things about a listing: no
//! `.`/`..`, only safe names, no name twice, a time on every file. Backends are written by
//! different people (built-in, plugins in Rust or C); rather than trusting each of them to
//! repeat the same checks, the engine wraps every connection in [`Checked`], which holds the
//! listing to the contract and forwards everything else unchanged (OpenDAL's correctness
//! layer plays the same part). A backend that breaks a rule fails the listing with an error
//! naming the rule and the entry; nothing is ever silently dropped or repaired, because a
//! directory planned from a listing that lost entries could delete what it did not see.

use crate::error::{Error, ErrorKind, Result};
use crate::fs::{Capabilities, Entry, EntryKind, HashAlgo, MtimeMethod, RemoteFs, ReplaceJob};
use crate::path::{validate_name, RelPath};
use std::collections::HashSet;
use std::io::Read;

/// Checks one listing of `dir` against the contract of [`RemoteFs::list`] and returns it
/// unchanged when it holds:
///
/// - no entry is named `.` or `..`, and every name passes [`validate_name`]
///   (kind [`ErrorKind::InvalidName`]);
/// - no name appears twice (kind [`ErrorKind::Protocol`]: which of the two is real?);
/// - every file has a modification time (kind [`ErrorKind::Protocol`]).
pub fn check_listing(dir: &RelPath, entries: Vec<Entry>) -> Result<Vec<Entry>> {
    let mut seen = HashSet::with_capacity(entries.len());
    for e in &entries {
        validate_name(&e.name).map_err(|err| err.with_op("list", dir))?;
        if !seen.insert(e.name.as_str()) {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("the listing names {:?} twice", e.name),
            )
            .with_op("list", dir));
        }
        if e.kind == EntryKind::File && e.mtime.is_none() {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!(
                    "the listing gives no modification time for the file {:?}",
                    e.name
                ),
            )
            .with_op("list", dir));
        }
    }
    Ok(entries)
}

/// A connection whose listings are held to the contract ([`check_listing`]); every other
/// call goes straight through to the wrapped backend, so its own fast paths (pipelined
/// batches, streams) are kept.
pub struct Checked(pub Box<dyn RemoteFs>);

impl RemoteFs for Checked {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    fn list(&mut self, dir: &RelPath) -> Result<Vec<Entry>> {
        let entries = self.0.list(dir)?;
        check_listing(dir, entries)
    }
    fn list_for(
        &mut self,
        dir: &RelPath,
        local_size: &dyn Fn(&str) -> Option<u64>,
    ) -> Result<Vec<Entry>> {
        let entries = self.0.list_for(dir, local_size)?;
        check_listing(dir, entries)
    }
    fn list_many(&mut self, dirs: &[RelPath]) -> Vec<Result<Vec<Entry>>> {
        let results = self.0.list_many(dirs);
        results
            .into_iter()
            .zip(dirs)
            .map(|(r, dir)| r.and_then(|entries| check_listing(dir, entries)))
            .collect()
    }
    fn list_batch(&self) -> usize {
        self.0.list_batch()
    }
    fn upload(&mut self, path: &RelPath, src: &mut dyn Read, size: u64) -> Result<()> {
        self.0.upload(path, src, size)
    }
    fn delete(&mut self, path: &RelPath) -> Result<()> {
        self.0.delete(path)
    }
    fn mkdir(&mut self, path: &RelPath) -> Result<()> {
        self.0.mkdir(path)
    }
    fn mkdir_batch(&mut self, paths: &[RelPath]) -> Vec<Result<()>> {
        self.0.mkdir_batch(paths)
    }
    fn rmdir(&mut self, path: &RelPath) -> Result<()> {
        self.0.rmdir(path)
    }
    fn rename(&mut self, from: &RelPath, to: &RelPath) -> Result<()> {
        self.0.rename(from, to)
    }
    fn upload_replace(
        &mut self,
        tmp: &RelPath,
        path: &RelPath,
        src: &mut dyn Read,
        size: u64,
        mtime: Option<i64>,
    ) -> Result<()> {
        self.0.upload_replace(tmp, path, src, size, mtime)
    }
    fn upload_stream<'a>(
        &mut self,
        next: &mut dyn FnMut() -> Option<ReplaceJob<'a>>,
        done: &mut dyn FnMut(usize, Result<()>),
    ) -> Result<()> {
        self.0.upload_stream(next, done)
    }
    fn set_mtime(&mut self, path: &RelPath, mtime: i64) -> Result<()> {
        self.0.set_mtime(path, mtime)
    }
    fn verify_set_mtime(&mut self) -> Result<MtimeMethod> {
        self.0.verify_set_mtime()
    }
    fn get_mtime(&mut self, path: &RelPath) -> Result<i64> {
        self.0.get_mtime(path)
    }
    fn hashes(&self) -> Vec<(HashAlgo, String)> {
        self.0.hashes()
    }
    fn hash(&mut self, path: &RelPath, algo: HashAlgo) -> Result<String> {
        self.0.hash(path, algo)
    }
    fn server_info(&self) -> Vec<(String, String)> {
        self.0.server_info()
    }
    fn quit(&mut self) -> Result<()> {
        self.0.quit()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A backend that lists whatever it is given (misbehaving on purpose) and counts the
    /// calls that reach it.
    struct Lists {
        entries: Vec<Entry>,
        mkdirs: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl RemoteFs for Lists {
        fn capabilities(&self) -> Capabilities {
            Capabilities::default()
        }
        fn list(&mut self, _dir: &RelPath) -> Result<Vec<Entry>> {
            Ok(self.entries.clone())
        }
        fn list_for(
            &mut self,
            _dir: &RelPath,
            local_size: &dyn Fn(&str) -> Option<u64>,
        ) -> Result<Vec<Entry>> {
            // Its own listing, told the local sizes: keeps the files whose size matches.
            let mut v = self.entries.clone();
            v.retain(|e| local_size(&e.name) == Some(e.size));
            Ok(v)
        }
        fn list_many(&mut self, dirs: &[RelPath]) -> Vec<Result<Vec<Entry>>> {
            dirs.iter().map(|_| Ok(self.entries.clone())).collect()
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
            self.mkdirs
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
        fn mkdir_batch(&mut self, paths: &[RelPath]) -> Vec<Result<()>> {
            // Its own batch, so the test can tell it was not replaced by the default.
            self.mkdirs
                .fetch_add(100 * paths.len(), std::sync::atomic::Ordering::SeqCst);
            paths.iter().map(|_| Ok(())).collect()
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
        fn hashes(&self) -> Vec<(HashAlgo, String)> {
            vec![(HashAlgo::Sha256, "HASH".into())]
        }
        fn hash(&mut self, _: &RelPath, _: HashAlgo) -> Result<String> {
            Ok("c0ffee".into())
        }
        fn server_info(&self) -> Vec<(String, String)> {
            vec![("greeting".into(), "220 hi".into())]
        }
    }

    fn file(name: &str, mtime: Option<i64>) -> Entry {
        Entry {
            name: name.into(),
            kind: EntryKind::File,
            size: 1,
            mtime,
        }
    }

    fn dir(name: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: EntryKind::Dir,
            size: 0,
            mtime: None,
        }
    }

    fn list_through_wrapper(entries: Vec<Entry>) -> Result<Vec<Entry>> {
        let mut fs = Checked(Box::new(Lists {
            entries,
            mkdirs: Default::default(),
        }));
        fs.list(&RelPath::parse("www").unwrap())
    }

    #[test]
    fn a_listing_that_keeps_the_contract_passes_unchanged() {
        let entries = vec![
            file("a.html", Some(1)),
            dir("img"),
            file("b c;d=e", Some(2)),
        ];
        assert_eq!(list_through_wrapper(entries.clone()).unwrap(), entries);
    }

    #[test]
    fn a_listing_with_dot_or_dotdot_is_refused() {
        for name in [".", ".."] {
            let e = list_through_wrapper(vec![file("a", Some(1)), dir(name)]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidName, "{name}: {e}");
            assert_eq!(e.path(), Some("www"), "{e}");
        }
    }

    #[test]
    fn a_listing_with_an_unsafe_name_is_refused() {
        for name in ["../etc", "a/b", "a\\b", "nul\0", ""] {
            let e = list_through_wrapper(vec![file(name, Some(1))]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidName, "{name:?}: {e}");
        }
    }

    #[test]
    fn a_listing_that_names_an_entry_twice_is_refused() {
        let e = list_through_wrapper(vec![file("a", Some(1)), dir("x"), file("a", Some(2))])
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
        assert!(e.to_string().contains("\"a\" twice"), "{e}");
        // A file and a directory of the same name are twice the same name too.
        let e = list_through_wrapper(vec![file("x", Some(1)), dir("x")]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    }

    #[test]
    fn a_listing_with_a_file_without_time_is_refused() {
        let e = list_through_wrapper(vec![dir("d"), file("f", None)]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
        assert!(e.to_string().contains("no modification time"), "{e}");
    }

    #[test]
    fn every_listing_of_a_batch_is_held_to_the_contract() {
        let mut fs = Checked(Box::new(Lists {
            entries: vec![file("a", Some(1)), file("a", Some(2))],
            mkdirs: Default::default(),
        }));
        assert_eq!(fs.list_batch(), 64, "the backend's batching is kept");
        let dirs = [RelPath::parse("x").unwrap(), RelPath::parse("y").unwrap()];
        let r = fs.list_many(&dirs);
        assert_eq!(r.len(), 2);
        for (res, d) in r.iter().zip(&dirs) {
            let e = res.as_ref().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol);
            assert_eq!(e.path(), Some(d.as_str()), "{e}");
        }
    }

    #[test]
    fn a_listing_told_the_local_sizes_reaches_the_backend_and_is_held_to_the_contract() {
        let mut fs = Checked(Box::new(Lists {
            entries: vec![file("a", Some(1)), file("b", None)],
            mkdirs: Default::default(),
        }));
        let dir = RelPath::parse("www").unwrap();
        // The backend's own `list_for` (not the default, which would call `list`).
        let v = fs.list_for(&dir, &|n| (n == "a").then_some(1)).unwrap();
        assert_eq!(v.len(), 1);
        let e = fs.list_for(&dir, &|_| Some(1)).unwrap_err();
        assert!(e.to_string().contains("no modification time"), "{e}");
    }

    #[test]
    fn other_calls_reach_the_backend_unchanged() {
        let mkdirs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut fs = Checked(Box::new(Lists {
            entries: vec![],
            mkdirs: mkdirs.clone(),
        }));
        let paths = [RelPath::parse("a").unwrap(), RelPath::parse("a/b").unwrap()];
        let r = fs.mkdir_batch(&paths);
        assert_eq!(r.len(), 2);
        fs.mkdir(&paths[0]).unwrap();
        // 2 × 100 from the backend's own batch (not the default's two mkdirs), 1 from mkdir.
        assert_eq!(mkdirs.load(std::sync::atomic::Ordering::SeqCst), 201);
        // The optional methods with defaults are forwarded too, not replaced by them.
        assert_eq!(fs.hashes().len(), 1);
        assert_eq!(fs.hash(&paths[0], HashAlgo::Sha256).unwrap(), "c0ffee");
        assert_eq!(fs.server_info().len(), 1);
    }
}
