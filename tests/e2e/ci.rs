//! End-to-end: deploying from CI — times from git in fresh clones, JSON events, plan and
//! apply with a drift guard, checksum comparison, completions and the man page, and the
//! README's CI recipes — with the real `peex` binary against a real proftpd.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use peex_tests::ftpd::{chown_tree, Proftpd};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs git in `dir` with a fixed identity (and committer date, when given).
fn git(dir: &Path, args: &[&str], date: Option<&str>) {
    let mut c = Command::new("git");
    c.arg("-C").arg(dir).args(args);
    c.env("GIT_AUTHOR_NAME", "ci")
        .env("GIT_AUTHOR_EMAIL", "ci@example.invalid")
        .env("GIT_COMMITTER_NAME", "ci")
        .env("GIT_COMMITTER_EMAIL", "ci@example.invalid");
    if let Some(d) = date {
        c.env("GIT_COMMITTER_DATE", d).env("GIT_AUTHOR_DATE", d);
    }
    let o = c
        .output()
        .expect("git must be installed (apt-get install git)");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A fresh clone of `origin` at `to` (full history, as with `fetch-depth: 0`).
fn clone(origin: &Path, to: &Path) {
    let url = format!("file://{}", origin.display());
    git(
        to.parent().unwrap(),
        &["clone", "-q", &url, to.to_str().unwrap()],
        None,
    );
}

/// An INI site for `srv` with `source` and extra `[site]` lines.
fn ini_site(dir: &Path, srv: &Proftpd, source: &Path, extra: &str) -> PathBuf {
    let dest = srv.root().join("www");
    fs::create_dir_all(&dest).unwrap();
    chown_tree(&dest);
    write_config(
        dir,
        "site.peex",
        &format!(
            "[site]\nhost=127.0.0.1\nport={}\nuser={}\npass={}\nsource={}/\ndest=/www/\n{extra}\n",
            srv.port(),
            srv.user(),
            srv.password(),
            source.display()
        ),
    )
}

fn stors(srv: &Proftpd) -> Vec<String> {
    srv.commands_settled()
        .into_iter()
        .filter(|c| c.command == "STOR")
        .map(|c| c.arg)
        .collect()
}

#[test]
fn a_deploy_from_a_second_fresh_clone_uploads_only_the_three_files_the_commit_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = tmp.path().join("origin");
    fs::create_dir_all(&origin).unwrap();
    git(&origin, &["init", "-q"], None);
    for i in 0..1000 {
        let p = origin.join(format!("site/d{}/page{i}.html", i % 20));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, format!("page {i}\n")).unwrap();
    }
    git(&origin, &["add", "."], None);
    git(
        &origin,
        &["commit", "-qm", "site"],
        Some("@1700000000 +0000"),
    );

    let srv = Proftpd::start();
    let first = tmp.path().join("clone1");
    clone(&origin, &first);
    let cfg = ini_site(tmp.path(), &srv, &first.join("site"), "mtime_from=git");
    let r = peex(&["-q", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(stors(&srv).len(), 1000);

    // One commit changes three files (same sizes: only their times tell them apart).
    for i in [3, 500, 999] {
        let p = origin.join(format!("site/d{}/page{i}.html", i % 20));
        let text = fs::read_to_string(&p).unwrap().replace("page", "PAGE");
        fs::write(&p, text).unwrap();
    }
    git(
        &origin,
        &["commit", "-qam", "three"],
        Some("@1700000600 +0000"),
    );
    // The second clone is made later: every file has a newer file system time.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = tmp.path().join("clone2");
    clone(&origin, &second);
    let cfg = ini_site(tmp.path(), &srv, &second.join("site"), "mtime_from=git");
    srv.clear_log();
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let sent = stors(&srv);
    assert_eq!(sent.len(), 3, "exactly the three changed files: {sent:?}");
    for i in [3, 500, 999] {
        let name = format!("page{i}.html");
        assert!(sent.iter().any(|s| s.ends_with(&name)), "{sent:?}");
    }
    assert!(
        r.stdout.contains("3 files created (0 new, 3 updated)"),
        "{}",
        r.all()
    );
    let www = srv.root().join("www");
    assert_eq!(
        fs::read_to_string(www.join("d3/page3.html")).unwrap(),
        "PAGE 3\n"
    );
    assert_eq!(mtime_of(&www.join("d3/page3.html")), 1_700_000_600);
    assert_eq!(mtime_of(&www.join("d4/page4.html")), 1_700_000_000);
}

#[test]
fn without_git_times_the_second_fresh_clone_uploads_everything_again() {
    // The failure mtime_from = git exists for (and the control for the test above).
    let tmp = tempfile::tempdir().unwrap();
    let origin = tmp.path().join("origin");
    fs::create_dir_all(origin.join("site")).unwrap();
    git(&origin, &["init", "-q"], None);
    for i in 0..20 {
        fs::write(origin.join(format!("site/f{i}")), "x").unwrap();
    }
    git(&origin, &["add", "."], None);
    git(&origin, &["commit", "-qm", "s"], None);
    let srv = Proftpd::start();
    let first = tmp.path().join("c1");
    clone(&origin, &first);
    let cfg = ini_site(tmp.path(), &srv, &first.join("site"), "");
    assert_eq!(peex(&["-q", cfg.to_str().unwrap()]).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = tmp.path().join("c2");
    clone(&origin, &second);
    srv.clear_log();
    // The command line's --mtime-from decides over the config.
    let cfg = ini_site(tmp.path(), &srv, &second.join("site"), "mtime_from=git");
    let r = peex(&["-q", "--mtime-from", "filesystem", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(stors(&srv).len(), 20);
}

#[test]
fn a_shallow_clone_stops_the_deploy_with_the_fetch_depth_fix_before_any_change() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = tmp.path().join("origin");
    fs::create_dir_all(&origin).unwrap();
    git(&origin, &["init", "-q"], None);
    for i in 0..3 {
        fs::write(origin.join(format!("f{i}")), "x").unwrap();
        git(&origin, &["add", "."], None);
        git(&origin, &["commit", "-qm", "c"], None);
    }
    let shallow = tmp.path().join("shallow");
    let url = format!("file://{}", origin.display());
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &url,
            shallow.to_str().unwrap(),
        ],
        None,
    );
    let srv = Proftpd::start();
    let cfg = write_config(
        tmp.path(),
        "site.ron",
        &format!(
            "(host: \"127.0.0.1\", port: {}, user: \"{}\", password: \"{}\", source: \"{}\", \
             dest: \"/www/\", mtime_from: \"git\")",
            srv.port(),
            srv.user(),
            srv.password(),
            shallow.display()
        ),
    );
    fs::create_dir_all(srv.root().join("www")).unwrap();
    chown_tree(&srv.root().join("www"));
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("shallow clone"), "{}", r.all());
    assert!(r.stderr.contains("fetch-depth: 0"), "{}", r.all());
    assert!(stors(&srv).is_empty());
}
