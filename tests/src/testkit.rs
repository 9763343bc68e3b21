//! Servers that are not installed but unpacked into the test kit's directory, and the
//! interface every real FTP server of the kit offers to the end-to-end tests.
//!
//! Debian's `pure-ftpd` and `vsftpd` packages conflict with `proftpd-basic`, so
//! `scripts/testkit` fetches them with `apt-get download` and unpacks them with `dpkg -x`
//! into `target/testkit/<package>/` (or `$PEEX_TESTKIT/<package>/`). [`kit_program`] finds a
//! program there and fails the test with that command when it is missing.

use std::path::{Path, PathBuf};

/// The test kit's directory: `$PEEX_TESTKIT`, else `target/testkit` of the workspace.
pub fn kit_dir() -> PathBuf {
    match std::env::var_os("PEEX_TESTKIT") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."))
            .join("target/testkit"),
    }
}

/// The program `rel` (e.g. `usr/sbin/vsftpd`) of the unpacked Debian package `package`,
/// or a panic naming the command that fetches it. Tests fail this way; they never skip.
pub fn kit_program(package: &str, rel: &str) -> PathBuf {
    let p = kit_dir().join(package).join(rel);
    if p.is_file() {
        return p;
    }
    panic!(
        "{} not found: fetch it with `scripts/testkit` (it runs `apt-get download {package}` \
         and `dpkg -x {package}_*.deb {}`; the README test command does this)",
        p.display(),
        kit_dir().join(package).display()
    )
}

/// What the end-to-end tests need of a real FTP server started for them.
pub trait FtpServer {
    /// A short name for messages (`proftpd`, `pure-ftpd`, `vsftpd`).
    fn name(&self) -> &str;
    /// The control port on 127.0.0.1.
    fn port(&self) -> u16;
    /// The login.
    fn user(&self) -> &str;
    /// Its password.
    fn password(&self) -> &str;
    /// The served directory on disk (the user's `/` after login).
    fn root(&self) -> &Path;
    /// The CA that signed the server's certificate, when TLS is on.
    fn ca_file(&self) -> Option<&Path>;
    /// Every command the server received, as `COMMAND argument` lines, if it logs them.
    fn command_lines(&self) -> Option<Vec<String>>;
}

impl FtpServer for crate::ftpd::Proftpd {
    fn name(&self) -> &str {
        "proftpd"
    }
    fn port(&self) -> u16 {
        crate::ftpd::Proftpd::port(self)
    }
    fn user(&self) -> &str {
        crate::ftpd::Proftpd::user(self)
    }
    fn password(&self) -> &str {
        crate::ftpd::Proftpd::password(self)
    }
    fn root(&self) -> &Path {
        crate::ftpd::Proftpd::root(self)
    }
    fn ca_file(&self) -> Option<&Path> {
        crate::ftpd::Proftpd::ca_file(self)
    }
    fn command_lines(&self) -> Option<Vec<String>> {
        Some(
            self.commands_settled()
                .into_iter()
                .map(|c| format!("{} {}", c.command, c.arg))
                .collect(),
        )
    }
}
