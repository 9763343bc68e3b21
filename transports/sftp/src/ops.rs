//! The single-request operations: delete, mkdir (one or a pipelined batch), rmdir,
//! set_mtime.

use crate::core::{is_missing, status_ok, SftpFs, FX_FAILURE};
use crate::packet::{
    Attrs, Reply, Request, FXP_CLOSE, FXP_MKDIR, FXP_OPENDIR, FXP_READDIR, FXP_REMOVE, FXP_RMDIR,
    FXP_SETSTAT,
};
use peex_core::{Error, ErrorKind, RelPath, Result};

/// Directories created by one batch before their replies are read: bounds what is queued
/// on either side of the channel.
const MKDIR_WINDOW: usize = 64;

/// SFTP version 3 carries times as unsigned 32-bit seconds.
pub(crate) fn sftp_time(mtime: i64) -> Result<u32> {
    u32::try_from(mtime).map_err(|_| {
        Error::new(
            ErrorKind::Unsupported,
            format!("SFTP cannot set the time {mtime} (outside 1970..2106)"),
        )
    })
}

impl SftpFs {
    pub(crate) fn delete(&mut self, p: &RelPath) -> Result<()> {
        let path = self.path(p);
        match self.pipe.call(Request::path(FXP_REMOVE, &path))? {
            r if is_missing(&r) => Ok(()),
            r => status_ok(r),
        }
    }

    pub(crate) fn mkdir(&mut self, p: &RelPath) -> Result<()> {
        self.mkdir_batch(std::slice::from_ref(p))
            .pop()
            .unwrap_or_else(|| Err(Error::new(ErrorKind::Unexpected, "no mkdir result")))
    }

    /// All the MKDIRs go out before any reply is read (in windows of [`MKDIR_WINDOW`]); a
    /// refused one is looked at (an existing directory is success).
    pub(crate) fn mkdir_batch(&mut self, paths: &[RelPath]) -> Vec<Result<()>> {
        let mut results = Vec::with_capacity(paths.len());
        for window in paths.chunks(MKDIR_WINDOW) {
            let mut ids = Vec::with_capacity(window.len());
            for p in window {
                let req = Request::new(FXP_MKDIR)
                    .string(&self.path(p))
                    .attrs(&Attrs::perm(0o755));
                match self.pipe.send(req) {
                    Ok(id) => ids.push(id),
                    Err(e) => {
                        // Broken: what was sent is lost too; report the first and stop.
                        results.push(Err(e));
                        return results;
                    }
                }
            }
            for (p, id) in window.iter().zip(ids) {
                let r = match self.pipe.wait(id) {
                    Ok(reply) => match status_ok(reply) {
                        Ok(()) => Ok(()),
                        Err(e) => self.mkdir_refused(p, e),
                    },
                    Err(e) => Err(e),
                };
                let stop = matches!(&r, Err(e) if e.is_temporary());
                results.push(r);
                if stop {
                    return results;
                }
            }
        }
        results
    }

    /// A refused MKDIR: fine if a directory is there (OpenSSH says only "failure").
    fn mkdir_refused(&mut self, p: &RelPath, e: Error) -> Result<()> {
        let path = self.path(p);
        match self.stat_opt(&path, false)? {
            Some(a) if a.is_dir() => Ok(()),
            Some(_) => Err(Error::new(
                ErrorKind::AlreadyExists,
                "exists and is not a directory",
            )),
            None => Err(e),
        }
    }

    pub(crate) fn rmdir(&mut self, p: &RelPath) -> Result<()> {
        let path = self.path(p);
        match self.pipe.call(Request::path(FXP_RMDIR, &path))? {
            r if is_missing(&r) => Ok(()),
            Reply::Status {
                code: FX_FAILURE,
                msg,
            } if self.has_entries(&path) => Err(Error::new(
                // OpenSSH reports ENOTEMPTY as the generic SSH_FX_FAILURE: look.
                ErrorKind::DirectoryNotEmpty,
                if msg.is_empty() {
                    "directory not empty".to_owned()
                } else {
                    format!("directory not empty ({msg})")
                },
            )),
            r => status_ok(r),
        }
    }

    /// True if `path` is a directory with at least one entry besides `.` and `..`.
    fn has_entries(&mut self, path: &[u8]) -> bool {
        let Ok(Reply::Handle(h)) = self.pipe.call(Request::path(FXP_OPENDIR, path)) else {
            return false;
        };
        let mut found = false;
        while let Ok(Reply::Name(names)) = self.pipe.call(Request::path(FXP_READDIR, &h)) {
            if names.iter().any(|n| n.name != b"." && n.name != b"..") {
                found = true;
                break;
            }
        }
        if let Ok(id) = self.pipe.send(Request::path(FXP_CLOSE, &h)) {
            self.pipe.forget(id);
        }
        found
    }

    pub(crate) fn set_mtime(&mut self, p: &RelPath, mtime: i64) -> Result<()> {
        let t = sftp_time(mtime)?;
        let req = Request::new(FXP_SETSTAT)
            .string(&self.path(p))
            .attrs(&Attrs::times(t));
        status_ok(self.pipe.call(req)?)
    }
}
