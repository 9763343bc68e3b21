//! `list`: directories read with SFTP OPENDIR / READDIR, converted entry by entry.
//!
//! What is SFTP's own is checked here (a UTF-8 name, the attributes a listing needs); the
//! listing contract (safe names, no duplicates, a time on every file) is
//! `peex_core::Checked`'s, which wraps every connection the engine opens.
//!
//! A listing costs two round trips: OPENDIR, then two READDIRs at once (the second one
//! usually answers end-of-directory; more are sent while entries keep coming) with the
//! CLOSE sent behind the last one, its reply not waited for. Several directories are read
//! at once ([`SftpFs::list_many`], up to [`DIR_WINDOW`]), their requests interleaved on the channel.

use crate::core::{reply_error, SftpFs, FX_EOF};
use crate::packet::{Attrs, Reply, Request, FXP_CLOSE, FXP_OPENDIR, FXP_READDIR};
use peex_core::{Entry, EntryKind, Error, ErrorKind, RelPath, Result};
use std::collections::HashMap;

/// Directories open at once in one [`SftpFs::list_many`].
pub(crate) const DIR_WINDOW: usize = 128;
/// READDIRs in flight per directory.
const READ_AHEAD: usize = 2;

/// One directory being read.
struct Reading {
    handle: Option<Vec<u8>>,
    /// READDIRs sent, reply not yet handled.
    reads: usize,
    eof: bool,
    entries: Vec<Entry>,
    err: Option<Error>,
}

impl SftpFs {
    pub(crate) fn list(&mut self, dir: &RelPath) -> Result<Vec<Entry>> {
        self.list_many(std::slice::from_ref(dir))
            .pop()
            .unwrap_or_else(|| Err(Error::new(ErrorKind::Unexpected, "no listing result")))
    }

    /// Lists `dirs`, one result each, in order, reading up to [`DIR_WINDOW`] at once. After
    /// the channel failed, the rest fail with the same temporary error.
    pub(crate) fn list_many(&mut self, dirs: &[RelPath]) -> Vec<Result<Vec<Entry>>> {
        let mut results: Vec<Option<Result<Vec<Entry>>>> = Vec::with_capacity(dirs.len());
        results.resize_with(dirs.len(), || None);
        let mut open: HashMap<usize, Reading> = HashMap::new();
        // request id -> directory index
        let mut waiting: HashMap<u32, usize> = HashMap::new();
        let mut next = 0;
        // Half the server's handles at most: an upload stream may hold the others.
        let window = usize::try_from(self.pipe.limits.handles / 2)
            .unwrap_or(DIR_WINDOW)
            .clamp(1, DIR_WINDOW);
        loop {
            while open.len() < window && next < dirs.len() {
                let i = next;
                next += 1;
                let path = self.path(&dirs[i]);
                match self.pipe.send(Request::path(FXP_OPENDIR, &path)) {
                    Ok(id) => {
                        waiting.insert(id, i);
                        open.insert(
                            i,
                            Reading {
                                handle: None,
                                reads: 0,
                                eof: false,
                                entries: Vec::new(),
                                err: None,
                            },
                        );
                    }
                    Err(e) => results[i] = Some(Err(e)),
                }
            }
            if waiting.is_empty() {
                break;
            }
            let (id, reply) = match self.pipe.recv() {
                Ok(r) => r,
                Err(e) => {
                    // The channel failed: every directory not finished gets the error.
                    for (i, _) in open.drain() {
                        results[i] = Some(Err(crate::pipe::copy(&e)));
                    }
                    waiting.clear();
                    continue;
                }
            };
            let Some(i) = waiting.remove(&id) else {
                continue;
            };
            let Some(d) = open.get_mut(&i) else {
                continue;
            };
            match (&d.handle, reply) {
                (None, Reply::Handle(h)) => d.handle = Some(h),
                (None, r) => d.err = Some(reply_error(r, "a directory handle")),
                (Some(_), Reply::Name(names)) => {
                    d.reads -= 1;
                    if d.err.is_none() {
                        for n in names {
                            if n.name == b"." || n.name == b".." {
                                continue;
                            }
                            match entry(&n.name, &n.attrs) {
                                Ok(e) => d.entries.push(e),
                                Err(e) => {
                                    d.err = Some(e);
                                    break;
                                }
                            }
                        }
                    }
                }
                (Some(_), Reply::Status { code: FX_EOF, .. }) => {
                    d.reads -= 1;
                    d.eof = true;
                }
                (Some(_), r) => {
                    d.reads -= 1;
                    d.err = Some(reply_error(r, "directory entries"));
                }
            }
            // More reads, or the end of this directory.
            let done = d.eof || d.err.is_some() || d.handle.is_none();
            if !done {
                if let Some(h) = d.handle.clone() {
                    while d.reads < READ_AHEAD {
                        match self.pipe.send(Request::path(FXP_READDIR, &h)) {
                            Ok(id) => {
                                waiting.insert(id, i);
                                d.reads += 1;
                            }
                            Err(e) => {
                                d.err = Some(e);
                                break;
                            }
                        }
                    }
                }
            }
            if (d.eof || d.err.is_some() || d.handle.is_none()) && d.reads == 0 {
                if let Some(d) = open.remove(&i) {
                    if let Some(h) = &d.handle {
                        if let Ok(cid) = self.pipe.send(Request::path(FXP_CLOSE, h)) {
                            self.pipe.forget(cid);
                        }
                    }
                    results[i] = Some(match d.err {
                        Some(e) => Err(e),
                        None => Ok(d.entries),
                    });
                }
            }
        }
        // Directories that failed to open: tell a file from a missing directory.
        let mut out = Vec::with_capacity(dirs.len());
        for (i, r) in results.into_iter().enumerate() {
            let r =
                r.unwrap_or_else(|| Err(Error::new(ErrorKind::Unexpected, "listing not finished")));
            out.push(match r {
                Err(e) if !e.is_temporary() && e.kind() == ErrorKind::NotFound => {
                    // Opening a file as a directory: OpenSSH answers "no such file" (ENOTDIR).
                    let path = self.path(&dirs[i]);
                    match self.stat_opt(&path, true) {
                        Ok(Some(a)) if !a.is_dir() => {
                            Err(Error::new(ErrorKind::NotADirectory, "not a directory"))
                        }
                        _ => Err(e),
                    }
                }
                r => r,
            });
        }
        out
    }
}

/// Turns one READDIR name + attributes into an [`Entry`], refusing what SFTP cannot give
/// peex (a name that is not UTF-8, an entry without its type, a file without its size).
/// The listing contract is [`peex_core::Checked`]'s (a file without a time, say, is left
/// for it to refuse).
pub(crate) fn entry(raw_name: &[u8], stat: &Attrs) -> Result<Entry> {
    let name = std::str::from_utf8(raw_name).map_err(|_| {
        Error::new(
            ErrorKind::Protocol,
            format!(
                "the server listed a name that is not UTF-8: {:?}",
                String::from_utf8_lossy(raw_name)
            ),
        )
    })?;
    if stat.perm.is_none() {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!("the server listed {name:?} without its type (no permissions attribute)"),
        ));
    }
    let kind = if stat.is_file() {
        EntryKind::File
    } else if stat.is_dir() {
        EntryKind::Dir
    } else {
        EntryKind::Other
    };
    let mtime = stat.mtime.map(i64::from);
    let size = match kind {
        EntryKind::Dir => 0,
        _ => stat.size.unwrap_or(0),
    };
    if kind == EntryKind::File && stat.size.is_none() {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!("the server listed file {name:?} without a size"),
        ));
    }
    Ok(Entry {
        name: name.to_owned(),
        kind,
        size,
        mtime,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn st(perm: u32, size: Option<u64>, mtime: Option<u32>) -> Attrs {
        Attrs {
            size,
            perm: Some(perm),
            atime: mtime,
            mtime,
        }
    }

    #[test]
    fn entries_are_checked() {
        let e = entry(b"a.txt", &st(0o100644, Some(3), Some(1_700_000_000))).unwrap();
        assert_eq!(
            e,
            Entry {
                name: "a.txt".into(),
                kind: EntryKind::File,
                size: 3,
                mtime: Some(1_700_000_000)
            }
        );
        let d = entry(b"d", &st(0o040755, Some(4096), Some(5))).unwrap();
        assert_eq!((d.kind, d.size), (EntryKind::Dir, 0));
        let l = entry(b"l", &st(0o120777, Some(1), None)).unwrap();
        assert_eq!(l.kind, EntryKind::Other);
        // The listing contract is Checked's: an entry goes through it as in a listing.
        let listed = |raw: &[u8], stat: &Attrs| {
            peex_core::check_listing(&RelPath::root(), vec![entry(raw, stat)?])
        };
        assert_eq!(
            listed(b"a/b", &st(0o100644, Some(1), Some(1)))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidName
        );
        assert_eq!(
            listed(b"..", &st(0o040755, Some(1), Some(1)))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidName
        );
        assert_eq!(
            entry(b"\xff", &st(0o100644, Some(1), Some(1)))
                .unwrap_err()
                .kind(),
            ErrorKind::Protocol
        );
        assert_eq!(
            listed(b"f", &st(0o100644, Some(1), None))
                .unwrap_err()
                .kind(),
            ErrorKind::Protocol
        );
    }
}
