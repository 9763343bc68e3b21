//! # peex-local: a local directory as the remote side
//!
//! Scheme `local`: `dest` is a directory on this machine. It is the transport of the README's
//! first command (sync the example site into a folder, no server needed) and the reference
//! implementation for the `RemoteFs` conformance suite.
#![deny(missing_docs)]

use peex_core::{
    Capabilities, Entry, EntryKind, Error, ErrorKind, MtimeMethod, RelPath, RemoteFs, RenameOver,
    Result, SiteParams, Transport,
};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The scheme this transport registers.
pub const SCHEME: &str = "local";

/// The `local` transport.
pub struct LocalTransport;

peex_core::inventory::submit! { peex_core::TransportRegistration { transport: &LocalTransport } }

impl Transport for LocalTransport {
    fn scheme(&self) -> &str {
        SCHEME
    }

    fn description(&self) -> &str {
        "a directory on this machine (dest is a local path)"
    }

    fn default_port(&self) -> Option<u16> {
        None
    }

    fn connect(&self, site: &SiteParams) -> Result<Box<dyn RemoteFs>> {
        let root = PathBuf::from(&site.root);
        let meta = fs::metadata(&root)
            .map_err(|e| map_io(e).with_op("open destination", root.display()))?;
        if !meta.is_dir() {
            return Err(Error::new(
                ErrorKind::NotADirectory,
                format!("destination {} is not a directory", root.display()),
            ));
        }
        Ok(Box::new(LocalFs { root }))
    }
}

/// A connection to a local directory.
pub struct LocalFs {
    root: PathBuf,
}

impl LocalFs {
    /// Opens `root` directly (used by tests).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalFs { root: root.into() }
    }

    fn abs(&self, p: &RelPath) -> PathBuf {
        let mut out = self.root.clone();
        for c in p.components() {
            out.push(c);
        }
        out
    }
}

/// The one error-mapping function of this backend.
fn map_io(e: io::Error) -> Error {
    Error::from(e)
}

/// Converts a file time to whole seconds since the epoch (negative before 1970).
pub fn system_time_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            // 1969-12-31T23:59:59.5 is second -1 (floor), as a directory listing shows it.
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() > 0 {
                -secs - 1
            } else {
                -secs
            }
        }
    }
}

/// Converts whole seconds since the epoch to a `SystemTime`.
pub fn secs_to_system_time(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

fn entry_of(name: String, meta: &fs::Metadata) -> Entry {
    let ft = meta.file_type();
    let kind = if ft.is_file() {
        EntryKind::File
    } else if ft.is_dir() {
        EntryKind::Dir
    } else {
        EntryKind::Other
    };
    Entry {
        name,
        kind,
        size: if kind == EntryKind::File {
            meta.len()
        } else {
            0
        },
        mtime: meta.modified().ok().map(system_time_secs),
    }
}

fn not_a_dir_is_missing(path: &Path) -> bool {
    fs::symlink_metadata(path).is_err()
}

impl RemoteFs for LocalFs {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            set_mtime: MtimeMethod::Native,
            get_mtime: true,
            rename_over: RenameOver::Atomic,
            rename_dirs: true,
        }
    }

    fn list(&mut self, dir: &RelPath) -> Result<Vec<Entry>> {
        let path = self.abs(dir);
        let mut out = Vec::new();
        for item in fs::read_dir(&path).map_err(map_io)? {
            let item = item.map_err(map_io)?;
            let name = item.file_name().into_string().map_err(|raw| {
                Error::new(
                    ErrorKind::Protocol,
                    format!("name is not valid UTF-8: {}", raw.to_string_lossy()),
                )
            })?;
            // Safe names are the listing contract's ([`peex_core::Checked`]), as for every
            // backend.
            let meta = item.path().symlink_metadata().map_err(map_io)?;
            out.push(entry_of(name, &meta));
        }
        Ok(out)
    }

    fn upload(&mut self, path: &RelPath, src: &mut dyn Read, size: u64) -> Result<()> {
        let target = self.abs(path);
        let mut f = fs::File::create(&target).map_err(map_io)?;
        let n = io::copy(src, &mut f).map_err(map_io)?;
        f.flush().map_err(map_io)?;
        if n != size {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("source changed during upload: expected {size} bytes, read {n}"),
            ));
        }
        Ok(())
    }

    fn delete(&mut self, path: &RelPath) -> Result<()> {
        match fs::remove_file(self.abs(path)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r.map_err(map_io),
        }
    }

    fn mkdir(&mut self, path: &RelPath) -> Result<()> {
        let p = self.abs(path);
        match fs::create_dir(&p) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => Ok(()),
            r => r.map_err(map_io),
        }
    }

    fn rmdir(&mut self, path: &RelPath) -> Result<()> {
        let p = self.abs(path);
        match fs::remove_dir(&p) {
            Err(_) if not_a_dir_is_missing(&p) => Ok(()),
            r => r.map_err(map_io),
        }
    }

    fn rename(&mut self, from: &RelPath, to: &RelPath) -> Result<()> {
        fs::rename(self.abs(from), self.abs(to)).map_err(map_io)
    }

    fn set_mtime(&mut self, path: &RelPath, mtime: i64) -> Result<()> {
        let t = secs_to_system_time(mtime);
        let f = fs::File::options()
            .write(true)
            .open(self.abs(path))
            .map_err(map_io)?;
        f.set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))
            .map_err(map_io)
    }

    fn get_mtime(&mut self, path: &RelPath) -> Result<i64> {
        let meta = fs::metadata(self.abs(path)).map_err(map_io)?;
        Ok(system_time_secs(meta.modified().map_err(map_io)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_times_floor() {
        assert_eq!(
            system_time_secs(UNIX_EPOCH - Duration::from_millis(500)),
            -1
        );
        assert_eq!(system_time_secs(secs_to_system_time(-86400)), -86400);
        assert_eq!(
            system_time_secs(secs_to_system_time(1_600_000_000)),
            1_600_000_000
        );
    }
}
