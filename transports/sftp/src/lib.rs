//! # peex-sftp: the `sftp` transport of peex
//!
//! SFTP over SSH: libssh2 (the `ssh2` crate) does the SSH part — handshake, host key,
//! authentication, the channel; this crate speaks the SFTP version 3 packets itself on that
//! channel (modules `pipe` and `packet`), so that many requests are in
//! flight at once: many files' opens, writes, times, closes and renames
//! ([`RemoteFs::upload_stream`]), many directories' listings, batches of MKDIR. What it
//! does, in order, on connect:
//!
//! 1. TCP connect with the site's timeout (default 30 s), which also bounds every later
//!    blocking SSH operation;
//! 2. SSH handshake, then **host key verification before authentication** against an OpenSSH
//!    `known_hosts` file (option `known_hosts`, default `~/.ssh/known_hosts`; hosts on a port
//!    other than 22 are stored as `[host]:port`). An unknown key stops with its
//!    `SHA256:` fingerprint, unless `accept_new_host_key` is true (then it is recorded);
//!    a changed key always stops, naming the file and line. `host_key_check=false` skips the
//!    check (the engine warns about it);
//! 3. authentication: the password if the site has one; else `key_file` (with the secret
//!    option `key_passphrase` or `$PEEX_KEY_PASSPHRASE`); else every ssh-agent identity
//!    (option `agent`, default true);
//! 4. the `sftp` subsystem is started on a channel (version 3; the server's
//!    `limits@openssh.com` sets the write size, 32 KiB–256 KiB, and the open handles); the
//!    root (`dest`) is resolved (relative to the login directory unless absolute) and
//!    must be a directory;
//! 5. capabilities: times are set natively (SFTP setstat, access time = modification time);
//!    renaming over an existing file is atomic where the server offers
//!    `posix-rename@openssh.com` (OpenSSH does), otherwise the target is removed first.
//!
//! Built in: the crate registers [`SftpTransport`] with `inventory`; a binary must name it
//! once (`use peex_sftp as _;`).

mod config;
mod core;
mod known_hosts;
mod lister;
mod ops;
mod packet;
mod pipe;
mod rename;
mod writer;

pub use crate::config::{options, SftpConfig, DEFAULT_KNOWN_HOSTS, DEFAULT_PORT, PASSPHRASE_ENV};
pub use crate::core::SftpFs;

use peex_core::{
    Capabilities, Entry, OptionSpec, RelPath, RemoteFs, ReplaceJob, Result, SiteParams, Transport,
};
use std::io::Read;

/// The URL scheme of this transport.
pub const SCHEME: &str = "sftp";

/// The `sftp` transport (a unit struct; all state lives in the connections).
#[derive(Debug, Clone, Copy, Default)]
pub struct SftpTransport;

impl Transport for SftpTransport {
    fn scheme(&self) -> &str {
        SCHEME
    }

    fn description(&self) -> &str {
        "SFTP over SSH (OpenSSH known_hosts checking; password, key file or ssh-agent login)"
    }

    fn default_port(&self) -> Option<u16> {
        Some(DEFAULT_PORT)
    }

    fn options(&self) -> Vec<OptionSpec> {
        options()
    }

    fn connect(&self, site: &SiteParams) -> Result<Box<dyn RemoteFs>> {
        let cfg = SftpConfig::from_site(site)?;
        Ok(Box::new(SftpFs::connect(&cfg)?))
    }
}

peex_core::inventory::submit! {
    peex_core::TransportRegistration { transport: &SftpTransport }
}

impl RemoteFs for SftpFs {
    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn list(&mut self, dir: &RelPath) -> Result<Vec<Entry>> {
        SftpFs::list(self, dir)
    }

    fn list_many(&mut self, dirs: &[RelPath]) -> Vec<Result<Vec<Entry>>> {
        SftpFs::list_many(self, dirs)
    }

    fn list_batch(&self) -> usize {
        lister::DIR_WINDOW
    }

    fn upload(&mut self, path: &RelPath, src: &mut dyn Read, size: u64) -> Result<()> {
        SftpFs::upload(self, path, src, size)
    }

    fn delete(&mut self, path: &RelPath) -> Result<()> {
        SftpFs::delete(self, path)
    }

    fn mkdir(&mut self, path: &RelPath) -> Result<()> {
        SftpFs::mkdir(self, path)
    }

    fn mkdir_batch(&mut self, paths: &[RelPath]) -> Vec<Result<()>> {
        SftpFs::mkdir_batch(self, paths)
    }

    fn upload_replace(
        &mut self,
        tmp: &RelPath,
        path: &RelPath,
        src: &mut dyn Read,
        size: u64,
        mtime: Option<i64>,
    ) -> Result<()> {
        self.stream_one(ReplaceJob {
            id: 0,
            tmp: Some(tmp.clone()),
            path: path.clone(),
            src: Box::new(src),
            size,
            mtime,
        })
    }

    fn upload_stream<'a>(
        &mut self,
        next: &mut dyn FnMut() -> Option<ReplaceJob<'a>>,
        done: &mut dyn FnMut(usize, Result<()>),
    ) -> Result<()> {
        self.stream(next, done)
    }

    fn rmdir(&mut self, path: &RelPath) -> Result<()> {
        SftpFs::rmdir(self, path)
    }

    fn rename(&mut self, from: &RelPath, to: &RelPath) -> Result<()> {
        SftpFs::rename(self, from, to)
    }

    fn set_mtime(&mut self, path: &RelPath, mtime: i64) -> Result<()> {
        SftpFs::set_mtime(self, path, mtime)
    }

    fn get_mtime(&mut self, path: &RelPath) -> Result<i64> {
        SftpFs::get_mtime(self, path)
    }

    fn server_info(&self) -> Vec<(String, String)> {
        vec![
            ("SFTP requests".to_owned(), self.limits_line()),
            ("SFTP extensions".to_owned(), self.extensions_line()),
        ]
    }

    fn quit(&mut self) -> Result<()> {
        SftpFs::quit(self)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn registered() {
        assert!(peex_core::transports().any(|t| t.scheme() == "sftp"));
    }
}
