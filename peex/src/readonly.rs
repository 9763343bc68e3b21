//! The dry-run guard: a `RemoteFs` wrapper that refuses every modifying call.
//!
//! A dry run never schedules a modifying operation in the first place; this wrapper makes
//! sure that a bug cannot send one either (docs/DESIGN.md §1: no STOR, DELE, MKD, RMD, RNFR/RNTO,
//! MFMT or SITE UTIME in a dry run).

use peex_core::{Capabilities, Entry, Error, ErrorKind, HashAlgo, RelPath, RemoteFs, Result};
use std::io::Read;

/// Wraps a connection; only `list`, `list_many`, `get_mtime`, `hash` and `quit` reach it.
pub struct ReadOnly(pub Box<dyn RemoteFs>);

fn refuse(op: &'static str, path: &RelPath) -> Error {
    Error::new(
        ErrorKind::Unexpected,
        "dry run: modifying operation refused",
    )
    .with_op(op, path)
}

impl RemoteFs for ReadOnly {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    fn list(&mut self, dir: &RelPath) -> Result<Vec<Entry>> {
        self.0.list(dir)
    }
    fn list_for(
        &mut self,
        dir: &RelPath,
        local_size: &dyn Fn(&str) -> Option<u64>,
    ) -> Result<Vec<Entry>> {
        self.0.list_for(dir, local_size)
    }
    fn list_many(&mut self, dirs: &[RelPath]) -> Vec<Result<Vec<Entry>>> {
        self.0.list_many(dirs)
    }
    fn list_batch(&self) -> usize {
        self.0.list_batch()
    }
    fn upload(&mut self, path: &RelPath, _src: &mut dyn Read, _size: u64) -> Result<()> {
        Err(refuse("upload", path))
    }
    fn delete(&mut self, path: &RelPath) -> Result<()> {
        Err(refuse("delete", path))
    }
    fn mkdir(&mut self, path: &RelPath) -> Result<()> {
        Err(refuse("mkdir", path))
    }
    fn rmdir(&mut self, path: &RelPath) -> Result<()> {
        Err(refuse("rmdir", path))
    }
    fn rename(&mut self, from: &RelPath, _to: &RelPath) -> Result<()> {
        Err(refuse("rename", from))
    }
    fn set_mtime(&mut self, path: &RelPath, _mtime: i64) -> Result<()> {
        Err(refuse("set mtime", path))
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
    fn quit(&mut self) -> Result<()> {
        self.0.quit()
    }
}
