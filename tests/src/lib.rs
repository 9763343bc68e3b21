//! # peex-tests: the test kit of peex
//!
//! Used by the end-to-end tests of every crate:
//!
//! - [`ftpd`]: a real proftpd (virtual user, private root, passive ports, SITE UTIME,
//!   optional TLS, command log) started for one test and killed on drop.
//! - [`pureftpd`], [`vsftpd`]: real Pure-FTPd and vsftpd, unpacked from Debian's packages
//!   into the test kit's directory ([`testkit`], `scripts/testkit`), started the same way.
//! - [`sshd`]: a real OpenSSH server, the same way.
//! - [`modsftp`]: a real ProFTPD speaking SFTP (`mod_sftp`), the second SFTP server.
//! - [`conformance`]: the `RemoteFs` contract suite, run against every transport.
//! - [`util`]: free ports, finding the programs a test needs (failing with the install
//!   command, never skipping).
//!
//! Servers need root and their Debian packages (`proftpd-basic`, `openssh-server`,
//! `openssl`); the README's test command installs them.
#![deny(missing_docs)]

pub use peex_conformance as conformance;
pub mod fakeftp;
pub mod faultproxy;
pub mod ftpd;
pub mod modsftp;
pub mod plugins;
pub mod pureftpd;
pub mod sshd;
pub mod testkit;
pub mod util;
pub mod vsftpd;
