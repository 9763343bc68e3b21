//! The RemoteFs operations against a real sshd, and the shared conformance suite.
#![allow(clippy::unwrap_used)]
mod common;

use peex_core::{EntryKind, ErrorKind, MtimeMethod, RelPath, RemoteFs as _, RenameOver};
use std::time::{Duration, UNIX_EPOCH};

fn p(s: &str) -> RelPath {
    RelPath::parse(s).unwrap()
}

#[test]
fn conformance_suite() {
    let sshd = common::server();
    let site = common::trusted_site(&sshd);
    let root = sshd.root().to_path_buf();
    peex_tests::conformance::run_all(
        &|| common::connect(&site).unwrap_or_else(|e| panic!("connect: {e}")),
        &|rel| std::fs::read(root.join(rel)).ok(),
    );
}

#[test]
fn capabilities_are_probed() {
    let sshd = common::server();
    let fs = common::connect(&common::trusted_site(&sshd)).unwrap();
    let caps = fs.capabilities();
    assert_eq!(caps.set_mtime, MtimeMethod::Native);
    assert!(caps.get_mtime);
    // OpenSSH offers posix-rename@openssh.com
    assert_eq!(caps.rename_over, RenameOver::Atomic);
}

#[test]
fn round_trip() {
    let sshd = common::server();
    let root = sshd.root().to_path_buf();
    let mut fs = common::connect(&common::trusted_site(&sshd)).unwrap();

    fs.mkdir(&p("site")).unwrap();
    fs.mkdir(&p("site")).unwrap();
    fs.mkdir(&p("site/css")).unwrap();
    let data = vec![7u8; 300_000];
    fs.upload(&p("site/css/big.bin"), &mut &data[..], data.len() as u64)
        .unwrap();
    assert_eq!(std::fs::read(root.join("site/css/big.bin")).unwrap(), data);
    // written as the login user
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(root.join("site/css/big.bin"))
        .unwrap()
        .uid();
    assert_ne!(owner, 0);

    // set_mtime: list and the file system agree
    let t = 1_234_567_890i64;
    fs.set_mtime(&p("site/css/big.bin"), t).unwrap();
    let e = fs.list(&p("site/css")).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].name, "big.bin");
    assert_eq!(
        (e[0].kind, e[0].size, e[0].mtime),
        (EntryKind::File, 300_000, Some(t))
    );
    let meta = std::fs::metadata(root.join("site/css/big.bin")).unwrap();
    assert_eq!(
        meta.modified().unwrap(),
        UNIX_EPOCH + Duration::from_secs(t as u64)
    );
    assert_eq!(meta.atime(), t, "atime is set together with mtime");
    assert_eq!(fs.get_mtime(&p("site/css/big.bin")).unwrap(), t);

    // rename over an existing file, atomically
    fs.upload(&p("site/index.html"), &mut &b"old"[..], 3)
        .unwrap();
    fs.upload(&p("site/.peex-tmp.index.html"), &mut &b"new!"[..], 4)
        .unwrap();
    let old_ino = std::fs::metadata(root.join("site/.peex-tmp.index.html"))
        .unwrap()
        .ino();
    fs.rename(&p("site/.peex-tmp.index.html"), &p("site/index.html"))
        .unwrap();
    assert_eq!(
        std::fs::read(root.join("site/index.html")).unwrap(),
        b"new!"
    );
    assert_eq!(
        std::fs::metadata(root.join("site/index.html"))
            .unwrap()
            .ino(),
        old_ino,
        "the renamed file itself replaced the target"
    );
    assert!(!root.join("site/.peex-tmp.index.html").exists());

    // rmdir non-empty → DirectoryNotEmpty; delete; rmdir; missing → ok
    let err = fs.rmdir(&p("site/css")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DirectoryNotEmpty, "{err}");
    fs.delete(&p("site/css/big.bin")).unwrap();
    fs.delete(&p("site/css/big.bin")).unwrap();
    fs.rmdir(&p("site/css")).unwrap();
    fs.rmdir(&p("site/css")).unwrap();
    assert!(!root.join("site/css").exists());

    // list of a file → NotADirectory; of a missing dir → NotFound
    assert_eq!(
        fs.list(&p("site/index.html")).unwrap_err().kind(),
        ErrorKind::NotADirectory
    );
    assert_eq!(fs.list(&p("nope")).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        fs.set_mtime(&p("nope"), 5).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        fs.set_mtime(&p("site/index.html"), -1).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    fs.quit().unwrap();

    // the server logged the writes (sftp-server -l INFO)
    let log = sshd.log();
    assert!(
        log.contains("written 300000") && log.contains("posix-rename old"),
        "{log}"
    );
}

#[test]
fn symlinks_and_other_entries_are_other() {
    let sshd = common::server();
    let root = sshd.root().to_path_buf();
    std::os::unix::fs::symlink("/etc", root.join("link-to-etc")).unwrap();
    std::os::unix::fs::symlink("nowhere", root.join("dangling")).unwrap();
    let mut fs = common::connect(&common::trusted_site(&sshd)).unwrap();
    let mut e = fs.list(&RelPath::root()).unwrap();
    e.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(e.len(), 2);
    assert!(e.iter().all(|x| x.kind == EntryKind::Other), "{e:?}");
    // deleting a symlink removes the link, not its target
    fs.delete(&p("link-to-etc")).unwrap();
    assert!(std::path::Path::new("/etc/passwd").exists());
    assert!(root.join("link-to-etc").symlink_metadata().is_err());
}

#[test]
fn non_utf8_name_is_a_protocol_error() {
    use std::os::unix::ffi::OsStrExt;
    let sshd = common::server();
    let root = sshd.root().to_path_buf();
    std::fs::write(root.join(std::ffi::OsStr::from_bytes(b"bad\xff")), b"x").unwrap();
    let mut fs = common::connect(&common::trusted_site(&sshd)).unwrap();
    let err = fs.list(&RelPath::root()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    // the connection stays usable
    std::fs::remove_file(root.join(std::ffi::OsStr::from_bytes(b"bad\xff"))).unwrap();
    assert!(fs.list(&RelPath::root()).unwrap().is_empty());
}

#[test]
fn backslash_name_is_invalid_name() {
    let sshd = common::server();
    std::fs::write(sshd.root().join("a\\b"), b"x").unwrap();
    // The listing contract is held by Checked, which wraps every connection the engine opens.
    let mut fs = peex_core::Checked(common::connect(&common::trusted_site(&sshd)).unwrap());
    let err = fs.list(&RelPath::root()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidName, "{err}");
}

#[test]
fn killed_server_gives_temporary_errors() {
    let sshd = common::server();
    let mut fs = common::connect(&common::trusted_site(&sshd)).unwrap();
    sshd.kill_connections();
    std::thread::sleep(Duration::from_millis(200));
    let err = fs.list(&RelPath::root()).unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
    let data = vec![1u8; 100_000];
    let err = fs
        .upload(&p("x"), &mut &data[..], data.len() as u64)
        .unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
}

#[test]
fn without_posix_rename_the_target_is_removed_first() {
    // The server advertises posix-rename@openssh.com but refuses it.
    let sshd = common::Sshd::builder()
        .sftp_server_args(["-P", "posix-rename"])
        .start();
    let site = common::trusted_site(&sshd);
    let mut fs = common::connect(&site).unwrap();
    // (if advertised, Atomic is assumed until the first rename shows the server refuses it)
    fs.upload(&p("a"), &mut &b"a"[..], 1).unwrap();
    fs.upload(&p("b"), &mut &b"b"[..], 1).unwrap();
    fs.rename(&p("a"), &p("b")).unwrap();
    assert_eq!(fs.capabilities().rename_over, RenameOver::RemoveThenRename);
    fs.delete(&p("b")).unwrap();
    drop(fs);
    let root = sshd.root().to_path_buf();
    peex_tests::conformance::run_all(
        &|| common::connect(&site).unwrap_or_else(|e| panic!("connect: {e}")),
        &|rel| std::fs::read(root.join(rel)).ok(),
    );
    let log = sshd.log();
    assert!(
        log.contains("remove name") && log.contains("rename old"),
        "{log}"
    );
}

#[test]
fn a_lost_channel_fails_every_upload_in_flight_once_and_temporary() {
    let sshd = common::server();
    let root = sshd.root().to_path_buf();
    let mut fs = common::connect(&common::trusted_site(&sshd)).unwrap();
    fs.mkdir(&p("d")).unwrap();
    let n = 60;
    let data: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8 + 1; 40_000]).collect();
    let mut taken = 0;
    let mut next = || {
        if taken == n {
            return None;
        }
        if taken == 25 {
            // Many files are in flight now: the connection dies under them.
            sshd.kill_connections();
        }
        let i = taken;
        taken += 1;
        Some(peex_core::ReplaceJob {
            id: i,
            tmp: Some(p(&format!("d/.tmp{i}"))),
            path: p(&format!("d/f{i}")),
            src: Box::new(&data[i][..]),
            size: data[i].len() as u64,
            mtime: Some(1_600_000_000),
        })
    };
    let mut reported = vec![0u32; n];
    let mut failed = Vec::new();
    let r = fs.upload_stream(&mut next, &mut |id, r| {
        reported[id] += 1;
        if let Err(e) = r {
            assert!(e.is_temporary(), "job {id}: {e:?}");
            failed.push(id);
        }
    });
    let err = r.unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
    assert!(
        taken < n,
        "the stream kept taking jobs after the channel was lost"
    );
    assert!(!failed.is_empty());
    for (id, &count) in reported.iter().enumerate().take(taken) {
        assert_eq!(count, 1, "job {id} reported {count} times");
        // At its final name: nothing, or the whole file, never a part.
        if let Ok(on_disk) = std::fs::read(root.join(format!("d/f{id}"))) {
            assert_eq!(on_disk, data[id], "f{id} is partial");
        } else {
            assert!(failed.contains(&id), "f{id} reported Ok but is missing");
        }
    }
}

#[test]
fn a_directory_of_many_entries_lists_whole() {
    // More entries than one READDIR reply holds (OpenSSH sends 100 at most).
    let sshd = common::server();
    let big = sshd.root().join("big");
    std::fs::create_dir(&big).unwrap();
    for i in 0..1234 {
        std::fs::write(
            big.join(format!("file-with-a-longish-name-{i:05}.txt")),
            b"x",
        )
        .unwrap();
    }
    let mut fs = common::connect(&common::trusted_site(&sshd)).unwrap();
    let mut names: Vec<String> = fs
        .list(&p("big"))
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(names.len(), 1234);
    assert_eq!(names[0], "file-with-a-longish-name-00000.txt");
    // a file is not a directory
    let e = fs
        .list(&p("big/file-with-a-longish-name-00001.txt"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotADirectory, "{e}");
}

#[test]
fn mkdir_batch_creates_in_order_and_a_child_of_a_failed_parent_fails() {
    let sshd = common::server();
    std::fs::write(sshd.root().join("file"), b"x").unwrap();
    let mut fs = common::connect(&common::trusted_site(&sshd)).unwrap();
    let paths: Vec<RelPath> = ["a", "a/b", "a/b/c", "file", "file/x", "z"]
        .iter()
        .map(|s| p(s))
        .collect();
    let r = fs.mkdir_batch(&paths);
    assert_eq!(r.len(), 6);
    assert!(
        r[0].is_ok() && r[1].is_ok() && r[2].is_ok() && r[5].is_ok(),
        "{r:?}"
    );
    assert_eq!(r[3].as_ref().unwrap_err().kind(), ErrorKind::AlreadyExists);
    assert!(r[4].is_err());
    assert!(sshd.root().join("a/b/c").is_dir() && sshd.root().join("z").is_dir());
    // again: existing directories are success
    assert!(fs.mkdir_batch(&paths[..3]).iter().all(Result::is_ok));
}
