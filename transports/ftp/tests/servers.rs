//! The `ftp` transport against real Pure-FTPd and vsftpd (Debian's packages, unpacked into
//! the test kit by `scripts/testkit`).

use peex_core::{EntryKind, RelPath, RemoteFs, SiteParams, Transport};
use peex_ftp::FtpTransport;
use peex_tests::pureftpd::PureFtpd;
use peex_tests::testkit::FtpServer;
use peex_tests::vsftpd::Vsftpd;
use std::time::Duration;

fn params(srv: &dyn FtpServer, root: &str) -> SiteParams {
    SiteParams {
        host: "127.0.0.1".into(),
        port: Some(srv.port()),
        user: srv.user().into(),
        password: Some(peex_core::Secret::new(srv.password())),
        root: root.into(),
        timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

fn connect(srv: &dyn FtpServer, root: &str) -> Box<dyn RemoteFs> {
    match FtpTransport.connect(&params(srv, root)) {
        Ok(fs) => fs,
        Err(e) => panic!("connect to {} at {root}: {e}", srv.name()),
    }
}

#[test]
fn pure_ftpd_root_slash_is_a_directory_though_mlst_says_pdir() {
    let srv = PureFtpd::start();
    std::fs::write(srv.root().join("a.txt"), b"a").expect("write");
    peex_tests::ftpd::chown_tree(srv.root());
    let mut fs = connect(&srv, "/");
    let e = fs.list(&RelPath::root()).expect("list /");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].kind, EntryKind::File);
}

#[test]
fn vsftpd_root_slash_is_found_without_mlst() {
    let srv = Vsftpd::start();
    let mut fs = connect(&srv, "/");
    assert!(fs.list(&RelPath::root()).expect("list /").is_empty());
    let e = FtpTransport
        .connect(&params(&srv, "/missing"))
        .err()
        .expect("a missing root is refused");
    assert_eq!(e.kind(), peex_core::ErrorKind::NotFound, "{e}");
}
