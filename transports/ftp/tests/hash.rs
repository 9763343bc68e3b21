//! Server-side hashes (`RemoteFs::hashes` / `hash`) against a real proftpd with mod_digest:
//! every algorithm it offers gives the file's digest, whichever command carries it (`HASH`
//! with the default algorithm, `OPTS HASH` first for another one).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use peex_core::{ErrorKind, HashAlgo, RelPath, RemoteFs, Transport};
use peex_ftp::FtpTransport;
use peex_tests::ftpd::{chown_tree, Proftpd};

/// Digests of `hello\n`.
const HELLO: [(HashAlgo, &str); 3] = [
    (
        HashAlgo::Sha256,
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
    ),
    (HashAlgo::Sha1, "f572d396fae9206628714fb2ce00f72e94f2258f"),
    (HashAlgo::Md5, "b1946ac92492d2347c6235b4d2611184"),
];

#[test]
fn every_hash_proftpd_offers_gives_the_digest_of_the_file() {
    let srv = Proftpd::builder()
        .config_line("LoadModule mod_digest.c")
        .start();
    std::fs::create_dir_all(srv.root().join("www")).unwrap();
    std::fs::write(srv.root().join("www/hello.txt"), "hello\n").unwrap();
    chown_tree(srv.root());
    let mut fs: Box<dyn RemoteFs> = FtpTransport.connect(&srv.site_params("/www")).unwrap();
    let offered = fs.hashes();
    assert_eq!(
        offered.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        vec![HashAlgo::Sha1, HashAlgo::Sha256, HashAlgo::Md5],
        "{offered:?}"
    );
    let path = RelPath::parse("hello.txt").unwrap();
    // Twice in a row and interleaved: the OPTS HASH choice of one must not leak into the next.
    for _ in 0..2 {
        for (algo, want) in HELLO {
            assert_eq!(fs.hash(&path, algo).unwrap(), want, "{algo:?}");
        }
    }
    let missing = fs.hash(&RelPath::parse("nope").unwrap(), HashAlgo::Sha1);
    assert_eq!(missing.unwrap_err().kind(), ErrorKind::NotFound);
    let _ = fs.quit();
}

#[test]
fn a_proftpd_without_mod_digest_offers_no_hash() {
    let srv = Proftpd::start();
    std::fs::create_dir_all(srv.root().join("www")).unwrap();
    chown_tree(srv.root());
    let mut fs = FtpTransport.connect(&srv.site_params("/www")).unwrap();
    assert!(fs.hashes().is_empty());
    let e = fs
        .hash(&RelPath::parse("x").unwrap(), HashAlgo::Sha256)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}
