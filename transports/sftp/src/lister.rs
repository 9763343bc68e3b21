//! `list`: one directory, read with SFTP READDIR, checked entry by entry.

use crate::core::{map_err, SftpFs, E_FILE};
use peex_core::{validate_name, Entry, EntryKind, Error, ErrorKind, RelPath, Result};
use ssh2::{ErrorCode, FileStat, FileType};
use std::os::unix::ffi::OsStrExt;

impl SftpFs {
    pub(crate) fn list(&mut self, dir: &RelPath) -> Result<Vec<Entry>> {
        let path = self.path(dir);
        let mut handle = self.sftp.opendir(&path).map_err(|e| {
            let m = map_err(&e);
            // Opening a file as a directory: OpenSSH answers "no such file" (ENOTDIR).
            if !m.is_temporary() {
                if let Ok(Some(st)) = self.stat_opt(&path) {
                    if !st.is_dir() {
                        return Error::new(ErrorKind::NotADirectory, "not a directory");
                    }
                }
            }
            m
        })?;
        let mut out = Vec::new();
        loop {
            match handle.readdir() {
                Ok((name, stat)) => {
                    let raw = name.as_os_str().as_bytes();
                    if raw == b"." || raw == b".." {
                        continue;
                    }
                    out.push(entry(raw, &stat)?);
                }
                Err(e) if e.code() == ErrorCode::Session(E_FILE) => break,
                Err(e) => return Err(map_err(&e)),
            }
        }
        Ok(out)
    }
}

/// Turns one READDIR name + attributes into an [`Entry`], refusing what the contract refuses.
pub(crate) fn entry(raw_name: &[u8], stat: &FileStat) -> Result<Entry> {
    let name = std::str::from_utf8(raw_name).map_err(|_| {
        Error::new(
            ErrorKind::Protocol,
            format!(
                "the server listed a name that is not UTF-8: {:?}",
                String::from_utf8_lossy(raw_name)
            ),
        )
    })?;
    validate_name(name)?;
    if stat.perm.is_none() {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!("the server listed {name:?} without its type (no permissions attribute)"),
        ));
    }
    let kind = match stat.file_type() {
        FileType::RegularFile => EntryKind::File,
        FileType::Directory => EntryKind::Dir,
        _ => EntryKind::Other,
    };
    let mtime = stat.mtime.and_then(|m| i64::try_from(m).ok());
    let size = match kind {
        EntryKind::Dir => 0,
        _ => stat.size.unwrap_or(0),
    };
    if kind == EntryKind::File {
        if mtime.is_none() {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("the server listed file {name:?} without a modification time"),
            ));
        }
        if stat.size.is_none() {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("the server listed file {name:?} without a size"),
            ));
        }
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

    fn st(perm: u32, size: Option<u64>, mtime: Option<u64>) -> FileStat {
        FileStat {
            size,
            uid: None,
            gid: None,
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
        assert_eq!(
            entry(b"a/b", &st(0o100644, Some(1), Some(1)))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidName
        );
        assert_eq!(
            entry(b"..", &st(0o040755, Some(1), Some(1)))
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
            entry(b"f", &st(0o100644, Some(1), None))
                .unwrap_err()
                .kind(),
            ErrorKind::Protocol
        );
    }
}
