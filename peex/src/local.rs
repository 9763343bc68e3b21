//! Reading the local source tree, one directory at a time, without trusting it.
//!
//! What the walk does with each kind of entry (the README's "What peex uploads" says the
//! same for users):
//!
//! - regular files are uploaded, directories walked;
//! - symbolic links follow the site's [`Symlinks`] policy; a link that is not followed is
//!   skipped with a warning naming the link and its target;
//! - FIFOs, sockets and device files are never opened: skipped with a warning;
//! - an entry that cannot be read (permission denied), or whose name the server cannot hold
//!   (not UTF-8, or refused by [`peex_core::validate_name`]), fails with an error naming it.
//!
//! Skipped and failed entries come back as [`EntryKind::Other`]: the planner leaves their
//! remote counterparts alone, as it does for ignored entries. A failed entry also makes the
//! run incomplete (exit 1, no deletes).
//!
//! Uploads read files through [`LocalTree::open`]: the file is opened without waiting (a FIFO
//! put in a file's place does not hang the run) and its reader fails if the file changes
//! while it is read (see [`Guarded`]).

use peex_core::{Entry, EntryKind, Error, ErrorKind, RelPath, Result};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{OnceLock, RwLock};

/// What the walk does with symbolic links (`symlinks` in the config, `--symlinks`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Symlinks {
    /// Follow a link whose resolved target lies inside the source; skip one that points
    /// outside it, dangles or closes a loop (like rsync's `--safe-links`).
    #[default]
    Inside,
    /// Skip every link.
    Skip,
    /// Follow every link (like rsync's `--copy-links`), still skipping links that dangle
    /// or close a loop.
    Follow,
}

impl Symlinks {
    /// The names accepted in configurations, as written there.
    pub const NAMES: &'static str = "inside, skip or follow";

    /// Parses a configuration value (case-insensitive).
    pub fn from_name(s: &str) -> Option<Symlinks> {
        match s.trim().to_ascii_lowercase().as_str() {
            "inside" => Some(Symlinks::Inside),
            "skip" => Some(Symlinks::Skip),
            "follow" => Some(Symlinks::Follow),
            _ => None,
        }
    }
}

/// Something the walk reports about one entry besides listing it.
#[derive(Debug)]
pub enum Note {
    /// A symbolic link that was not followed (a warning).
    SkippedLink(String),
    /// A FIFO, socket or device file (a warning).
    SkippedSpecial(String),
    /// An entry that could not be read or named: an error for the run.
    Failed(Error),
}

/// One local directory as the walk saw it.
#[derive(Debug, Default)]
pub struct LocalDir {
    /// Its entries (skipped and failed ones as [`EntryKind::Other`]).
    pub entries: Vec<Entry>,
    /// What was skipped or failed, in the order found, with the entry's name when it has
    /// one (a name that is not UTF-8 has none): the caller drops what its rules ignore.
    pub notes: Vec<(Option<String>, Note)>,
}

/// The local source tree of one run.
pub struct LocalTree {
    root: PathBuf,
    symlinks: Symlinks,
    /// The source with every link resolved (for [`Symlinks::Inside`]), made on first use.
    canonical_root: OnceLock<Option<PathBuf>>,
    /// Local entries whose name differs from the remote name they are matched with (only
    /// by Unicode normalisation; see [`crate::names`]): remote-spelled path → local name.
    aliases: RwLock<BTreeMap<RelPath, String>>,
}

impl LocalTree {
    /// The tree below `root`, links treated as `symlinks` says.
    pub fn new(root: impl Into<PathBuf>, symlinks: Symlinks) -> Self {
        LocalTree {
            root: root.into(),
            symlinks,
            canonical_root: OnceLock::new(),
            aliases: RwLock::new(BTreeMap::new()),
        }
    }

    /// Records that the entry the sync calls `remote` (spelled as on the server) is named
    /// `local_name` in the local directory.
    pub fn alias(&self, remote: RelPath, local_name: String) {
        self.aliases
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(remote, local_name);
    }

    /// The local path of the entry the sync calls `rel`.
    pub fn path(&self, rel: &RelPath) -> PathBuf {
        let aliases = self
            .aliases
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if aliases.is_empty() {
            return local_path(&self.root, rel);
        }
        let mut p = self.root.clone();
        let mut sofar = RelPath::root();
        for c in rel.components() {
            sofar = sofar.join(c).unwrap_or_else(|_| sofar.clone());
            match aliases.get(&sofar) {
                Some(local) => p.push(local),
                None => p.push(c),
            }
        }
        p
    }

    /// Reads the directory `rel`. `Err` means the directory itself could not be read; an
    /// entry that could not be read is a [`Note::Failed`] and the others are still listed.
    pub fn read_dir(&self, rel: &RelPath) -> Result<LocalDir> {
        let dir = self.path(rel);
        let rd = fs::read_dir(&dir)
            .map_err(|e| Error::from(e).with_op("read local directory", escape(&dir)))?;
        let mut out = LocalDir::default();
        let mut ancestors: Option<Vec<(u64, u64)>> = None;
        for item in rd {
            let item = match item {
                Ok(i) => i,
                Err(e) => {
                    out.notes.push((
                        None,
                        Note::Failed(Error::from(e).with_op("read local directory", escape(&dir))),
                    ));
                    continue;
                }
            };
            let path = item.path();
            let name = match item.file_name().into_string() {
                Ok(n) => n,
                Err(_) => {
                    out.notes.push((
                        None,
                        Note::Failed(Error::new(
                            ErrorKind::InvalidName,
                            format!(
                                "{}: the name is not valid UTF-8, so it cannot be named on the \
                             server; rename it (its remote counterpart, if any, is left alone)",
                                escape(&path)
                            ),
                        )),
                    ));
                    continue;
                }
            };
            if let Err(e) = peex_core::validate_name(&name) {
                out.notes.push((
                    None,
                    Note::Failed(Error::new(
                        ErrorKind::InvalidName,
                        format!("{}: {}", escape(&path), e.message()),
                    )),
                ));
                continue;
            }
            let skipped = |name: String| Entry {
                name,
                kind: EntryKind::Other,
                size: 0,
                mtime: None,
            };
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    match self.follow(rel, &path, &mut ancestors) {
                        Ok(m) => m,
                        Err(note) => {
                            out.notes.push((Some(name.clone()), note));
                            out.entries.push(skipped(name));
                            continue;
                        }
                    }
                }
                Ok(m) => m,
                Err(e) => {
                    out.notes.push((
                        Some(name.clone()),
                        Note::Failed(Error::from(e).with_op("read local entry", escape(&path))),
                    ));
                    out.entries.push(skipped(name));
                    continue;
                }
            };
            let kind = if meta.is_file() {
                EntryKind::File
            } else if meta.is_dir() {
                EntryKind::Dir
            } else {
                let text = format!(
                    "{}: {} skipped (special files are never read or uploaded; its remote \
                     counterpart, if any, is left alone)",
                    escape(&path),
                    special_kind(&meta)
                );
                out.notes
                    .push((Some(name.clone()), Note::SkippedSpecial(text)));
                out.entries.push(skipped(name));
                continue;
            };
            let mtime = meta.modified().map_err(|e| {
                Error::new(ErrorKind::Unexpected, e.to_string()).with_op("stat", escape(&path))
            })?;
            out.entries.push(Entry {
                name,
                kind,
                size: if kind == EntryKind::File {
                    meta.len()
                } else {
                    0
                },
                mtime: Some(secs(mtime)),
            });
        }
        Ok(out)
    }

    /// The metadata of what the link `path` (in directory `dir`) points at, if the policy
    /// follows it; otherwise the note saying why it is skipped.
    fn follow(
        &self,
        dir: &RelPath,
        path: &Path,
        ancestors: &mut Option<Vec<(u64, u64)>>,
    ) -> std::result::Result<fs::Metadata, Note> {
        let target = fs::read_link(path)
            .map(|t| escape(&t))
            .unwrap_or_else(|e| format!("(unreadable: {e})"));
        let skip = |why: &str| {
            Note::SkippedLink(format!(
                "{}: symbolic link to {target} skipped: {why} (its remote counterpart, if any, \
                 is left alone)",
                escape(path)
            ))
        };
        if self.symlinks == Symlinks::Skip {
            return Err(skip("symlinks = skip"));
        }
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(skip("it dangles (its target does not exist)"))
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(skip("it closes a loop of links"))
            }
            Err(e) => {
                return Err(Note::Failed(
                    Error::from(e).with_op("follow symbolic link", escape(path)),
                ))
            }
        };
        if self.symlinks == Symlinks::Inside {
            let inside = match (self.canonical_root(), fs::canonicalize(path)) {
                (Some(root), Ok(t)) => t.starts_with(root),
                _ => false,
            };
            if !inside {
                return Err(skip(
                    "it points outside the source (symlinks = inside; `follow` follows it)",
                ));
            }
        }
        if meta.is_dir() {
            let ids = ancestors.get_or_insert_with(|| self.ancestor_ids(dir));
            if ids.contains(&(meta.dev(), meta.ino())) {
                return Err(skip(
                    "it closes a loop (its target is a directory the walk is already in)",
                ));
            }
        }
        Ok(meta)
    }

    /// Device and inode of the source and of every directory from it down to `dir` (the
    /// walk's path, links followed).
    fn ancestor_ids(&self, dir: &RelPath) -> Vec<(u64, u64)> {
        let mut ids = Vec::new();
        let mut sofar = RelPath::root();
        let mut push = |p: &RelPath| {
            if let Ok(m) = fs::metadata(self.path(p)) {
                ids.push((m.dev(), m.ino()));
            }
        };
        push(&sofar);
        for c in dir.components() {
            sofar = sofar.join(c).unwrap_or_else(|_| sofar.clone());
            push(&sofar);
        }
        ids
    }

    fn canonical_root(&self) -> Option<&Path> {
        self.canonical_root
            .get_or_init(|| fs::canonicalize(&self.root).ok())
            .as_deref()
    }

    /// Opens the file `rel` for upload, without waiting on it: anything but a regular file
    /// (a FIFO put in its place since the scan) is refused. The size and time to upload are
    /// those of the opened file.
    pub fn open(&self, rel: &RelPath) -> Result<Opened> {
        let path = self.path(rel);
        let file = fs::File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
            .map_err(|e| Error::from(e).with_op("open local file", escape(&path)))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::from(e).with_op("stat local file", escape(&path)))?;
        if !meta.is_file() {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!(
                    "{}: is no longer a regular file ({}); not uploaded",
                    escape(&path),
                    special_kind(&meta)
                ),
            ));
        }
        let mtime = meta.modified().map(secs).unwrap_or(0);
        Ok(Opened {
            size: meta.len(),
            mtime,
            stamp: Stamp::of(&meta),
            file,
            path,
        })
    }
}

/// A local file opened for upload by [`LocalTree::open`].
pub struct Opened {
    /// Its size when opened.
    pub size: u64,
    /// Its modification time when opened (whole seconds).
    pub mtime: i64,
    stamp: Stamp,
    file: fs::File,
    path: PathBuf,
}

impl Opened {
    /// The reader of the upload: exactly [`Opened::size`] bytes, or an error (and `changed`
    /// set) if the file changes while it is read.
    pub fn reader(self, changed: &AtomicBool) -> Guarded<'_> {
        Guarded {
            opened: self,
            read: 0,
            checked: false,
            changed,
        }
    }
}

/// What identifies one version of a file: size, inode, modification and change times (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            len: m.len(),
            ino: m.ino(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// Reads a file for upload and refuses to hand out a mixed version of it: the read that
/// would deliver the last byte first checks that the file has no more bytes and that its
/// size and times are those it had when opened; a file that ends early, grows or changes
/// fails the read (and sets the flag), so the transport never puts it in place.
pub struct Guarded<'a> {
    opened: Opened,
    read: u64,
    checked: bool,
    changed: &'a AtomicBool,
}

impl Guarded<'_> {
    fn changed(&self, how: &str) -> io::Error {
        self.changed.store(true, Ordering::Relaxed);
        io::Error::other(format!(
            "{} changed while it was uploaded ({how}); not put in place",
            escape(&self.opened.path)
        ))
    }

    /// At the end of the expected bytes: nothing more, and the same version as opened.
    fn check_end(&mut self) -> io::Result<()> {
        if self.checked {
            return Ok(());
        }
        self.checked = true;
        let mut probe = [0u8; 1];
        if read_retrying(&mut self.opened.file, &mut probe)? != 0 {
            return Err(self.changed("it grew"));
        }
        let now = Stamp::of(&self.opened.file.metadata()?);
        if now != self.opened.stamp {
            return Err(self.changed(if now.len == self.opened.stamp.len {
                "its modification time changed"
            } else {
                "its size changed"
            }));
        }
        Ok(())
    }
}

impl Read for Guarded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.opened.size - self.read;
        if left == 0 {
            self.check_end()?;
            return Ok(0);
        }
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let n = read_retrying(&mut self.opened.file, &mut buf[..want])?;
        if n == 0 {
            return Err(self.changed("it shrank"));
        }
        self.read += n as u64;
        if self.read == self.opened.size {
            self.check_end()?;
        }
        Ok(n)
    }
}

fn read_retrying(f: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match f.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

fn special_kind(m: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device file"
    } else if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// A path for messages: valid UTF-8 as it is, other bytes as `\xNN` (so a name that is not
/// UTF-8 is named exactly, not with replacement characters).
pub fn escape(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut s = String::new();
    for chunk in p.as_os_str().as_bytes().utf8_chunks() {
        s.push_str(chunk.valid());
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

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

/// Checks the source before anything is planned: it must exist, be a directory and hold at
/// least one entry (docs/DESIGN.md §2.3: a missing or empty source would delete the whole site).
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn escape_names_bytes_that_are_not_utf8() {
        let p = Path::new(std::ffi::OsStr::from_bytes(b"src/caf\xe9.txt"));
        assert_eq!(escape(p), "src/caf\\xe9.txt");
    }

    #[test]
    fn a_fifo_put_in_a_files_place_is_refused_without_waiting() {
        let tmp = tempfile::tempdir().unwrap();
        let st = std::process::Command::new("mkfifo")
            .arg(tmp.path().join("f"))
            .status()
            .unwrap();
        assert!(st.success());
        let tree = LocalTree::new(tmp.path(), Symlinks::Inside);
        // no writer: a blocking open would wait forever
        let e = tree.open(&RelPath::parse("f").unwrap()).err().unwrap();
        assert!(e.to_string().contains("a FIFO"), "{e}");
    }

    #[test]
    fn a_file_that_grows_while_read_fails_its_reader() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("f"), b"hello").unwrap();
        let tree = LocalTree::new(tmp.path(), Symlinks::Inside);
        let rel = RelPath::parse("f").unwrap();
        let changed = AtomicBool::new(false);
        let mut r = tree.open(&rel).unwrap().reader(&changed);
        let mut buf = [0u8; 2];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(tmp.path().join("f"))
            .unwrap();
        std::io::Write::write_all(&mut f, b"more").unwrap();
        let mut rest = Vec::new();
        assert!(r.read_to_end(&mut rest).is_err());
        assert!(changed.load(Ordering::Relaxed));
        // unchanged: exactly the bytes, then the end
        let changed = AtomicBool::new(false);
        let mut all = Vec::new();
        tree.open(&rel)
            .unwrap()
            .reader(&changed)
            .read_to_end(&mut all)
            .unwrap();
        assert_eq!(all, b"hellomore");
        assert!(!changed.load(Ordering::Relaxed));
    }
}
