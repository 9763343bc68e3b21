//! End-to-end, real proftpd: what a large site meets on its first deploy — a directory the
//! server will not create inside a new tree, many operations failing alike — and how the
//! run reports it: once per cause, the first errors in full and the rest counted.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use peex_tests::ftpd::{chown_tree, Proftpd, ProftpdBuilder};
use std::fs;
use std::path::{Path, PathBuf};

/// A PEEX config for `srv` syncing `src` to `/www/`.
fn config(dir: &Path, srv: &Proftpd, src: &Path) -> PathBuf {
    let text = format!(
        "[site]\nhost=127.0.0.1\nport={}\nuser={}\npass={}\nsource={}/\ndest=/www/\nretries=1\n",
        srv.port(),
        srv.user(),
        srv.password(),
        src.display()
    );
    write_config(dir, "site.peex", &text)
}

fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("peex: error:"))
        .collect()
}

#[test]
fn a_directory_the_server_refuses_in_a_new_tree_fails_that_tree_once_and_nothing_of_it_appears() {
    // proftpd refuses to make any directory named like this (550 Forbidden filename).
    let srv = ProftpdBuilder::new()
        .config_line("PathDenyFilter \"refused-dir$\"")
        .start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    put(&src, "top.html", b"top\n", 1_600_000_000);
    put(&src, "new/index.html", b"index\n", 1_600_000_000);
    put(&src, "new/img/a.png", b"a\n", 1_600_000_000);
    for i in 0..40 {
        put(
            &src,
            &format!("new/img/refused-dir/f{i}.txt"),
            b"x\n",
            1_600_000_000,
        );
    }
    put(&src, "other/ok.txt", b"ok\n", 1_600_000_000);
    let dest = srv.root().join("www");
    put(&dest, "obsolete.txt", b"old\n", 1_500_000_000);
    chown_tree(srv.root());
    let cfg = config(tmp.path(), &srv, &src);

    let r = peex(&["-j", "4", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.all());
    let errors = error_lines(&r.stderr);
    assert_eq!(errors.len(), 1, "one error for the tree\n{}", r.all());
    let e = errors[0];
    assert!(
        e.contains("mkdir new/img/refused-dir")
            && e.contains("new directory new was not put in place")
            && e.contains("its 42 files were not uploaded"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains(", 1 error"), "{}", r.all());
    // The tree is not in place, half built or otherwise, and nothing of it is left.
    assert!(!dest.join("new").exists(), "{}", r.all());
    let left: Vec<String> = snapshot(&dest, &none)
        .into_keys()
        .filter(|p| is_temp(p))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // Not one upload was attempted into it; the rest of the site went up; no deletes.
    let cmds = srv.commands_settled();
    let stors: Vec<&str> = cmds
        .iter()
        .filter(|c| c.command == "STOR")
        .map(|c| c.arg.as_str())
        .collect();
    assert!(
        stors.iter().all(|a| !a.contains(".new/")),
        "uploads into the given-up tree: {stors:?}"
    );
    assert_eq!(fs::read(dest.join("top.html")).unwrap(), b"top\n");
    assert_eq!(fs::read(dest.join("other/ok.txt")).unwrap(), b"ok\n");
    assert!(
        dest.join("obsolete.txt").is_file(),
        "a delete ran after an error"
    );
}

#[test]
fn many_failures_alike_show_the_first_ten_and_a_count() {
    let srv = ProftpdBuilder::new()
        .deny_upload_in(&["www/locked"])
        .start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    for i in 0..25 {
        put(&src, &format!("locked/f{i:02}.txt"), b"no\n", 1_600_000_000);
    }
    put(&src, "fine.txt", b"fine\n", 1_600_000_000);
    chown_tree(srv.root());
    let cfg = config(tmp.path(), &srv, &src);

    let r = peex(&["-j", "2", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.all());
    let errors = error_lines(&r.stderr);
    assert_eq!(errors.len(), 11, "{}", r.all());
    assert!(
        errors[..10].iter().all(|l| l.contains("upload locked/f")),
        "{}",
        r.all()
    );
    assert!(
        errors[10].contains("and 15 more errors not shown"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains(", 25 errors"), "{}", r.all());
    assert_eq!(
        fs::read(srv.root().join("www/fine.txt")).unwrap(),
        b"fine\n"
    );

    // -v shows them all.
    let r = peex(&["-v", "-j", "2", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.all());
    let errors = error_lines(&r.stderr);
    assert_eq!(errors.len(), 25, "{}", r.all());
}
