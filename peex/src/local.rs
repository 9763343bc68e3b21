//! Reading the local source tree, one directory at a time.

use peex_core::{Entry, EntryKind, Error, ErrorKind, RelPath, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// The local path of `rel` below `root`.
pub fn local_path(root: &Path, rel: &RelPath) -> PathBuf {
    let mut p = root.to_path_buf();
    for c in rel.components() {
        p.push(c);
    }
    p
}

/// Whole seconds since the epoch of a file time, sub-second part dropped (floor).
pub use peex_local::system_time_secs as secs;

/// One local directory's entries. Symbolic links are followed (a link to a file is uploaded
/// as that file); broken links and special files come back as [`EntryKind::Other`], which
/// the planner skips. Names that are not UTF-8 are reported through `skipped` and left out:
/// they cannot be named on the remote side either, so leaving them out changes nothing there.
pub fn read_dir(root: &Path, rel: &RelPath, skipped: &mut Vec<String>) -> Result<Vec<Entry>> {
    let dir = local_path(root, rel);
    let rd =
        fs::read_dir(&dir).map_err(|e| Error::from(e).with_op("read local dir", dir.display()))?;
    let mut out = Vec::new();
    for item in rd {
        let item = item.map_err(|e| Error::from(e).with_op("read local dir", dir.display()))?;
        let name = match item.file_name().into_string() {
            Ok(n) => n,
            Err(raw) => {
                skipped.push(format!(
                    "{}: name is not valid UTF-8, skipped",
                    dir.join(raw).display()
                ));
                continue;
            }
        };
        if let Err(e) = peex_core::validate_name(&name) {
            skipped.push(format!("{}: {}", dir.display(), e.message()));
            continue;
        }
        let path = item.path();
        let entry = match fs::metadata(&path) {
            Ok(m) => {
                let kind = if m.is_file() {
                    EntryKind::File
                } else if m.is_dir() {
                    EntryKind::Dir
                } else {
                    EntryKind::Other
                };
                let mtime = m
                    .modified()
                    .map_err(|e| Error::from(e).with_op("stat", path.display()))?;
                Entry {
                    name,
                    kind,
                    size: if kind == EntryKind::File { m.len() } else { 0 },
                    mtime: Some(secs(mtime)),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                skipped.push(format!("{}: broken symbolic link, skipped", path.display()));
                continue;
            }
            Err(e) => return Err(Error::from(e).with_op("stat", path.display())),
        };
        out.push(entry);
    }
    Ok(out)
}

/// Checks the source before anything is planned: it must exist, be a directory and hold at
/// least one entry (DESIGN §2.3: a missing or empty source would delete the whole site).
pub fn check_source(root: &Path) -> std::result::Result<(), String> {
    let meta =
        fs::metadata(root).map_err(|e| format!("source {} cannot be read: {e}", root.display()))?;
    if !meta.is_dir() {
        return Err(format!("source {} is not a directory", root.display()));
    }
    let mut rd =
        fs::read_dir(root).map_err(|e| format!("source {} cannot be read: {e}", root.display()))?;
    if rd.next().is_none() {
        return Err(format!(
            "source {} is empty: refusing to sync (this would delete everything in dest)",
            root.display()
        ));
    }
    Ok(())
}

/// Sets a local file's modification time (used by `srcutime`).
pub fn set_mtime(path: &Path, mtime: i64) -> Result<()> {
    let t = peex_local::secs_to_system_time(mtime);
    let f = fs::File::options()
        .write(true)
        .open(path)
        .map_err(|e| Error::from(e).with_op("set local mtime", path.display()))?;
    f.set_modified(t).map_err(|e| {
        Error::new(ErrorKind::Unexpected, e.to_string()).with_op("set local mtime", path.display())
    })
}
