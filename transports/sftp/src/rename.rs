//! Renames: atomically over an existing file with `posix-rename@openssh.com` (OpenSSH's
//! PROTOCOL §4.3), else plain SFTP v3 RENAME, which OpenSSH refuses onto an existing target:
//! then the target is removed first ([`peex_core::RenameOver::RemoveThenRename`]).

use crate::core::{is_missing, status_ok, SftpFs};
use crate::packet::{Request, EXT_POSIX_RENAME, FXP_EXTENDED, FXP_REMOVE, FXP_RENAME};
use peex_core::{ErrorKind, RelPath, RenameOver, Result};

impl SftpFs {
    /// The rename request of `from` to `to` (raw paths), after the first rename of the
    /// connection checked that the offered extension really works.
    pub(crate) fn rename_request(&mut self, from: &[u8], to: &[u8]) -> Result<Request> {
        self.check_posix_rename()?;
        Ok(if self.posix_rename {
            Request::new(FXP_EXTENDED)
                .string(EXT_POSIX_RENAME.as_bytes())
                .string(from)
                .string(to)
        } else {
            Request::new(FXP_RENAME).string(from).string(to)
        })
    }

    /// Checks, once, that the server really performs `posix-rename@openssh.com` (a server can
    /// advertise it and still refuse it, e.g. OpenSSH's `sftp-server -P posix-rename`),
    /// without changing anything: renaming a name that does not exist must answer "no such
    /// file". Done on the first rename, never at connect: a dry run must send nothing that
    /// looks like a change.
    fn check_posix_rename(&mut self) -> Result<()> {
        if self.rename_checked || !self.posix_rename {
            return Ok(());
        }
        let reply = match self.probe.take() {
            Some(id) => self.pipe.wait(id)?,
            None => self.pipe.call(self.probe_request())?,
        };
        let works = match status_ok(reply) {
            Err(e) => e.kind() == ErrorKind::NotFound,
            // Cannot happen unless someone created that very name; the rename worked.
            Ok(()) => true,
        };
        self.rename_checked = true;
        if !works {
            self.posix_rename = false;
            self.caps.rename_over = RenameOver::RemoveThenRename;
        }
        Ok(())
    }

    /// Sends the check of [`SftpFs::check_posix_rename`] ahead, without waiting: an upload
    /// stream does it with its first file, so the answer is there when the file is renamed.
    pub(crate) fn send_rename_probe(&mut self) -> Result<()> {
        if self.rename_checked || !self.posix_rename || self.probe.is_some() {
            return Ok(());
        }
        let id = self.pipe.send(self.probe_request())?;
        self.pipe.reserve(id);
        self.probe = Some(id);
        Ok(())
    }

    /// A posix-rename of a name that does not exist onto one that never will.
    fn probe_request(&self) -> Request {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let base = format!(
            "{}/.peex-probe-{}-{nonce}",
            self.root.trim_end_matches('/'),
            std::process::id()
        );
        Request::new(FXP_EXTENDED)
            .string(EXT_POSIX_RENAME.as_bytes())
            .string(format!("{base}.missing").as_bytes())
            .string(format!("{base}.never").as_bytes())
    }

    /// True when renames replace their target atomically (known after the first rename).
    pub(crate) fn atomic_rename(&self) -> bool {
        self.posix_rename
    }

    pub(crate) fn rename(&mut self, from: &RelPath, to: &RelPath) -> Result<()> {
        let src = self.path(from);
        let dst = self.path(to);
        let req = self.rename_request(&src, &dst)?;
        let first = status_ok(self.pipe.call(req)?);
        if first.is_ok() || self.atomic_rename() {
            return first;
        }
        // Plain SFTP v3 rename: refused by OpenSSH when the target exists. Only a file is
        // removed to make room, never a directory.
        match self.stat_opt(&dst, false)? {
            Some(a) if !a.is_dir() => {}
            _ => return first,
        }
        match self.pipe.call(Request::path(FXP_REMOVE, &dst))? {
            r if is_missing(&r) => {}
            r => status_ok(r)?,
        }
        status_ok(
            self.pipe
                .call(Request::new(FXP_RENAME).string(&src).string(&dst))?,
        )
    }
}
