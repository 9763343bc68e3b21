//! Helpers shared by the sftp integration tests: a real sshd and site parameters for it.
#![allow(dead_code, unused_imports, clippy::unwrap_used)]

use peex_core::{RemoteFs, Secret, SiteParams, Transport};
pub use peex_tests::sshd;
pub use peex_tests::sshd::Sshd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A server with both client keys (plain and with passphrase).
pub fn server() -> Sshd {
    Sshd::builder().passphrase_key(true).start()
}

/// A known_hosts file in the server's temp dir holding exactly the server's key.
pub fn trusted_known_hosts(sshd: &Sshd) -> PathBuf {
    let kh = sshd.dir().join("known_hosts");
    std::fs::write(&kh, sshd.known_hosts_line() + "\n").unwrap();
    kh
}

/// Site parameters for `sshd` with the password, root = served root, the given known_hosts.
pub fn site(sshd: &Sshd, known_hosts: &Path) -> SiteParams {
    let mut s = SiteParams {
        host: sshd.host().to_owned(),
        port: Some(sshd.port()),
        user: sshd.user().to_owned(),
        password: Some(Secret::new(sshd.password())),
        root: sshd.root().to_str().unwrap().to_owned(),
        timeout: Duration::from_secs(10),
        ..SiteParams::default()
    };
    s.options.insert(
        "known_hosts".into(),
        known_hosts.to_str().unwrap().to_owned(),
    );
    s.options.insert("agent".into(), "false".into());
    s
}

/// Site parameters with the server's key trusted and password login.
pub fn trusted_site(sshd: &Sshd) -> SiteParams {
    let kh = trusted_known_hosts(sshd);
    site(sshd, &kh)
}

/// Connects through the registered transport.
pub fn connect(site: &SiteParams) -> peex_core::Result<Box<dyn RemoteFs>> {
    peex_sftp::SftpTransport.connect(site)
}
