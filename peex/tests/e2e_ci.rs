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

/// Parses every stdout line as a JSON event; each has a `type` and `"schema": 1`.
fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"));
            assert!(v["type"].is_string(), "{l}");
            assert_eq!(v["schema"], 1, "{l}");
            v
        })
        .collect()
}

fn of_type<'a>(ev: &'a [serde_json::Value], ty: &str) -> Vec<&'a serde_json::Value> {
    ev.iter().filter(|e| e["type"] == ty).collect()
}

fn has_op(ev: &[serde_json::Value], ty: &str, op: &str, path: &str) -> bool {
    ev.iter()
        .any(|e| e["type"] == ty && e["op"] == op && e["path"] == path)
}

/// A site with something of every kind: new, changed and same files, a new directory,
/// remote files and directories to remove, an ignored and a protected entry, and a local
/// symbolic link to outside the source (skipped with a warning).
fn every_kind_site(tmp: &Path, srv: &Proftpd) -> PathBuf {
    let src = tmp.join("src");
    put(&src, "new.html", b"new", 1_600_000_000);
    put(&src, "changed.css", b"longer now", 1_600_000_000);
    put(&src, "same.txt", b"same", 1_600_000_000);
    put(&src, "newdir/x.js", b"x", 1_600_000_000);
    put(&src, "offline/draft.html", b"d", 1_600_000_000);
    std::os::unix::fs::symlink(tmp, src.join("outside")).unwrap();
    let www = srv.root().join("www");
    put(&www, "changed.css", b"short", 1_600_000_000);
    put(&www, "same.txt", b"same", 1_600_000_000);
    put(&www, "alien.txt", b"a", 1_500_000_000);
    put(&www, "aliendir/y.txt", b"y", 1_500_000_000);
    put(&www, "uploads/keep.png", b"k", 1_500_000_000);
    chown_tree(&www);
    ini_site(
        tmp,
        srv,
        &src,
        "\n[exceptions]\n^offline$=ignore\n^uploads$=protect\n",
    )
}

#[test]
fn json_events_cover_plan_outcomes_kept_warnings_and_summary_with_human_lines_on_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = Proftpd::start();
    let cfg = every_kind_site(tmp.path(), &srv);
    let cfg = cfg.to_str().unwrap();

    // A dry run: the plan, and no outcome.
    let r = peex(&["--json", "-d", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    let ev = events(&r.stdout);
    assert!(of_type(&ev, "done").is_empty(), "{}", r.stdout);
    assert!(has_op(&ev, "plan", "upload", "new.html"), "{}", r.stdout);
    assert!(
        r.stderr.contains("+ new.html"),
        "human lines go to stderr: {}",
        r.all()
    );

    let r = peex(&["--json", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    let ev = events(&r.stdout);
    let start = of_type(&ev, "start");
    assert_eq!(start.len(), 1);
    assert_eq!(start[0]["dry_run"], false);
    assert!(start[0]["dest"].as_str().unwrap().starts_with("ftp://"));
    for (op, path) in [
        ("upload", "new.html"),
        ("upload", "changed.css"),
        ("mkdir", "newdir"),
        ("upload", "newdir/x.js"),
        ("delete", "alien.txt"),
        ("delete", "aliendir/y.txt"),
        ("rmdir", "aliendir"),
    ] {
        assert!(
            has_op(&ev, "plan", op, path),
            "plan {op} {path}: {}",
            r.stdout
        );
        assert!(
            has_op(&ev, "done", op, path),
            "done {op} {path}: {}",
            r.stdout
        );
    }
    // Every planned operation comes before the first outcome.
    let first_done = ev.iter().position(|e| e["type"] == "done").unwrap();
    let last_plan = ev.iter().rposition(|e| e["type"] == "plan").unwrap();
    assert!(last_plan < first_done, "{}", r.stdout);
    let changed = ev
        .iter()
        .find(|e| e["type"] == "done" && e["path"] == "changed.css")
        .unwrap();
    assert_eq!(changed["reason"], "size");
    assert_eq!(changed["size"], 10);
    assert_eq!(changed["remote_size"], 5);
    assert_eq!(changed["mtime"], 1_600_000_000);
    assert!(!has_op(&ev, "plan", "upload", "same.txt"));
    let kept = of_type(&ev, "kept");
    assert!(kept
        .iter()
        .any(|k| k["path"] == "offline" && k["why"] == "ignored" && k["kind"] == "dir"));
    assert!(kept
        .iter()
        .any(|k| k["path"] == "uploads" && k["why"] == "protected"));
    let warnings = of_type(&ev, "warning");
    assert!(
        warnings.iter().any(|w| w["message"]
            .as_str()
            .unwrap()
            .contains("points outside the source")),
        "{}",
        r.stdout
    );
    let summary = of_type(&ev, "summary");
    assert_eq!(summary.len(), 1);
    let s = summary[0];
    assert_eq!(
        (s["files_new"].as_u64(), s["files_updated"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(s["dirs_created"], 1);
    assert_eq!(s["files_removed"], 2);
    assert_eq!(s["dirs_removed"], 1);
    assert_eq!(s["unchanged"], 1);
    assert_eq!(s["errors"], 0);
    assert_eq!(ev.last().unwrap()["type"], "summary");
    // People read stderr.
    assert!(r.stderr.contains("+ new.html"), "{}", r.all());
    assert!(
        r.stderr.contains("3 files created (2 new, 1 updated)"),
        "{}",
        r.all()
    );
    assert!(!r.stdout.contains("files created"), "{}", r.all());
}

#[test]
fn json_with_quiet_writes_nothing_for_people_and_reports_errors_and_stops_as_events() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = Proftpd::builder().deny_upload_in(&["www/locked"]).start();
    let src = tmp.path().join("src");
    put(&src, "ok.txt", b"ok", 1_600_000_000);
    put(&src, "locked/no.txt", b"refused", 1_600_000_000);
    put(&srv.root().join("www"), "alien.txt", b"a", 1_500_000_000);
    let cfg = ini_site(tmp.path(), &srv, &src, "");
    let cfg = cfg.to_str().unwrap();

    // A delete limit: the run stops before any change, and says so as an event.
    let r = peex(&["--json", "-q", "--max-delete", "0", cfg]);
    assert_eq!(r.code, 4, "{}", r.all());
    let ev = events(&r.stdout);
    let stopped = of_type(&ev, "stopped");
    assert_eq!(stopped.len(), 1, "{}", r.stdout);
    assert_eq!(stopped[0]["exit"], 4);
    assert!(stopped[0]["message"]
        .as_str()
        .unwrap()
        .contains("max_delete"));

    let r = peex(&["--json", "-q", cfg]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(r.stderr, "", "no human lines with -q");
    let ev = events(&r.stdout);
    let errors = of_type(&ev, "error");
    assert!(
        errors
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains("locked/no.txt")),
        "{}",
        r.stdout
    );
    assert!(has_op(&ev, "done", "upload", "ok.txt"));
    assert_eq!(of_type(&ev, "summary")[0]["errors"], 1);
    let w = of_type(&ev, "warning");
    assert!(
        w.iter()
            .any(|w| w["message"].as_str().unwrap().contains("not deleted")),
        "{}",
        r.stdout
    );
}

const MODIFYING: [&str; 8] = ["STOR", "DELE", "MKD", "RMD", "RNFR", "RNTO", "MFMT", "SITE"];

fn modifying(srv: &Proftpd) -> Vec<String> {
    srv.commands_settled()
        .into_iter()
        .filter(|c| MODIFYING.contains(&c.command.as_str()))
        .map(|c| format!("{} {}", c.command, c.arg))
        .collect()
}

/// A site for plan/apply: `a.html` new, `b.css` changed, `gone.txt` and `old/` removed.
fn plan_site(tmp: &Path, srv: &Proftpd) -> (PathBuf, PathBuf) {
    let src = tmp.join("src");
    put(&src, "a.html", b"a", 1_600_000_000);
    put(&src, "b.css", b"bigger", 1_600_000_000);
    put(&src, "same.txt", b"same", 1_600_000_000);
    let www = srv.root().join("www");
    put(&www, "b.css", b"b", 1_500_000_000);
    put(&www, "same.txt", b"same", 1_600_000_000);
    put(&www, "gone.txt", b"g", 1_500_000_000);
    put(&www, "old/x.txt", b"x", 1_500_000_000);
    chown_tree(&www);
    (ini_site(tmp, srv, &src, ""), src)
}

#[test]
fn apply_carries_out_exactly_the_saved_plan_and_nothing_the_plan_did_not_contain() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = Proftpd::start();
    let (cfg, src) = plan_site(tmp.path(), &srv);
    let plan = tmp.path().join("plan.json");
    srv.clear_log();
    let r = peex(&[
        "plan",
        cfg.to_str().unwrap(),
        "--out",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("+ a.html"), "{}", r.all());
    assert_eq!(
        modifying(&srv),
        Vec::<String>::new(),
        "plan changes nothing"
    );
    let saved: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(saved["format"], "peex-plan");
    let ops: Vec<(String, String)> = saved["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["op"].as_str().unwrap().into(),
                o["path"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = |op: &str, p: &str| (op.to_owned(), p.to_owned());
    assert_eq!(
        ops,
        vec![
            want("upload", "a.html"),
            want("upload", "b.css"),
            want("delete", "gone.txt"),
            want("delete", "old/x.txt"),
            want("rmdir", "old"),
        ]
    );
    // The fingerprint of the root listing: names, kinds, sizes and times of both sides.
    let root = &saved["listings"][""];
    let remote_b = root["remote"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "b.css")
        .unwrap();
    assert_eq!(
        (
            remote_b["kind"].as_str(),
            remote_b["size"].as_u64(),
            remote_b["mtime"].as_i64()
        ),
        (Some("file"), Some(1), Some(1_500_000_000))
    );
    assert!(root["local"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "a.html"));
    assert!(saved["listings"]["old"]["remote"].is_array());

    // Something new, not in the plan: apply leaves it for the next plan.
    put(&src, "later.html", b"later", 1_600_000_000);
    let r = peex(&["apply", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let www = srv.root().join("www");
    assert_eq!(fs::read(www.join("a.html")).unwrap(), b"a");
    assert_eq!(fs::read(www.join("b.css")).unwrap(), b"bigger");
    assert!(!www.join("gone.txt").exists() && !www.join("old").exists());
    assert!(!www.join("later.html").exists(), "not in the plan");
    assert!(r.stderr.contains("not in the plan"), "{}", r.all());
}

#[test]
fn apply_stops_before_any_change_naming_what_drifted_on_either_side() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = Proftpd::start();
    let (cfg, src) = plan_site(tmp.path(), &srv);
    let plan = tmp.path().join("plan.json");
    let www = srv.root().join("www");
    let make_plan = || {
        let r = peex(&[
            "plan",
            "-q",
            cfg.to_str().unwrap(),
            "-o",
            plan.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.all());
    };

    // The local file to upload changed, and someone changed the remote file it replaces.
    make_plan();
    put(&src, "a.html", b"edited", 1_600_000_100);
    put(&www, "b.css", b"bb", 1_500_000_000);
    chown_tree(&www);
    srv.clear_log();
    let r = peex(&["apply", "--json", plan.to_str().unwrap()]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("local a.html"), "{}", r.all());
    assert!(r.stderr.contains("remote b.css"), "{}", r.all());
    assert!(r.stderr.contains("nothing was changed"), "{}", r.all());
    let ev = events(&r.stdout);
    assert_eq!(of_type(&ev, "stopped")[0]["exit"], 4);
    assert_eq!(modifying(&srv), Vec::<String>::new());
    assert!(www.join("gone.txt").exists());

    // A directory the plan removes got new content on the server.
    make_plan();
    put(&www, "old/new-upload.jpg", b"user content", 1_700_000_000);
    chown_tree(&www);
    srv.clear_log();
    let r = peex(&["apply", plan.to_str().unwrap()]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("remote old/"), "{}", r.all());
    assert_eq!(modifying(&srv), Vec::<String>::new());
    assert!(www.join("old/new-upload.jpg").exists());

    // A file the plan deletes is already gone: also drift.
    make_plan();
    fs::remove_file(www.join("gone.txt")).unwrap();
    let r = peex(&["apply", plan.to_str().unwrap()]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(
        r.stderr.contains("remote gone.txt: was file of 1 bytes"),
        "{}",
        r.all()
    );

    // Not a plan.
    let junk = tmp.path().join("junk.json");
    fs::write(&junk, "{\"hello\": 1}").unwrap();
    let r = peex(&["apply", "--json", junk.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("not a peex plan"), "{}", r.all());
    assert_eq!(of_type(&events(&r.stdout), "stopped")[0]["exit"], 2);
}

#[test]
fn checksum_compare_sets_only_the_time_of_equal_content_and_uploads_what_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = Proftpd::builder()
        .config_line("LoadModule mod_digest.c")
        .start();
    let src = tmp.path().join("src");
    let www = srv.root().join("www");
    // Same size, different time: one with the same content, one with different content.
    put(&src, "same.html", b"identical", 1_700_000_000);
    put(&www, "same.html", b"identical", 1_600_000_000);
    put(&src, "differs.html", b"new text!", 1_700_000_000);
    put(&www, "differs.html", b"old text!", 1_600_000_000);
    put(&src, "fresh.html", b"f", 1_700_000_000);
    chown_tree(&www);
    let cfg = ini_site(tmp.path(), &srv, &src, "compare=checksum");
    let cfg = cfg.to_str().unwrap();

    let r = peex(&["check", "--no-probe", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("checksums"), "{}", r.stdout);
    assert!(r.stdout.contains("SHA-1 (HASH)"), "{}", r.stdout);

    srv.clear_log();
    let r = peex(&["--json", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    let ev = events(&r.stdout);
    assert!(has_op(&ev, "plan", "touch", "same.html"), "{}", r.stdout);
    assert!(has_op(&ev, "done", "touch", "same.html"), "{}", r.stdout);
    assert!(
        has_op(&ev, "done", "upload", "differs.html"),
        "{}",
        r.stdout
    );
    assert_eq!(of_type(&ev, "summary")[0]["times_set"], 1);
    let sent = stors(&srv);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(!sent.iter().any(|s| s.contains("same.html")), "{sent:?}");
    let cmds = srv.commands_settled();
    assert!(
        cmds.iter()
            .any(|c| c.command == "HASH" && c.arg.ends_with("same.html")),
        "{cmds:?}"
    );
    assert_eq!(mtime_of(&www.join("same.html")), 1_700_000_000);
    assert_eq!(fs::read(www.join("differs.html")).unwrap(), b"new text!");
    assert!(r.stderr.contains("t same.html"), "{}", r.all());

    // Nothing is left to do.
    srv.clear_log();
    let r = peex(&["-q", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(stors(&srv).is_empty());
}

#[test]
fn checksum_compare_on_a_server_without_hashes_stops_and_size_compare_skips_time_only_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = Proftpd::start(); // no mod_digest
    let src = tmp.path().join("src");
    let www = srv.root().join("www");
    put(&src, "a.html", b"same size", 1_700_000_000);
    put(&www, "a.html", b"SAME SIZE", 1_600_000_000);
    chown_tree(&www);
    let cfg = ini_site(tmp.path(), &srv, &src, "compare=checksum");
    let r = peex(&["check", "--no-probe", cfg.to_str().unwrap()]);
    assert!(
        r.stdout.contains("checksums") && r.stdout.contains("none"),
        "{}",
        r.all()
    );
    srv.clear_log();
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("compare = size"), "{}", r.all());
    assert!(stors(&srv).is_empty());

    let cfg = ini_site(tmp.path(), &srv, &src, "compare=size");
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        stors(&srv).is_empty(),
        "same size is up to date with compare = size"
    );
    assert!(r.stdout.contains("1 unchanged"), "{}", r.all());

    let cfg = ini_site(tmp.path(), &srv, &src, "compare=sha1");
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains(":8:9: compare: expected"), "{}", r.all());
}

/// The subcommands `peex --help` lists (the one clap definition).
fn subcommands() -> Vec<String> {
    let r = peex(&["--help"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let mut names = Vec::new();
    let mut inside = false;
    for l in r.stdout.lines() {
        if l.starts_with("Commands:") {
            inside = true;
            continue;
        }
        if inside {
            if !l.starts_with("  ") {
                break;
            }
            if let Some(n) = l.split_whitespace().next() {
                if l.starts_with("  ") && !l.starts_with("   ") {
                    names.push(n.to_owned());
                }
            }
        }
    }
    assert!(names.len() >= 7, "{names:?}\n{}", r.stdout);
    names
}

#[test]
fn completions_for_every_shell_and_the_man_page_mention_every_subcommand() {
    let subs = subcommands();
    for must in ["plan", "apply", "completions", "man", "check"] {
        assert!(subs.iter().any(|s| s == must), "{subs:?}");
    }
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let r = peex(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.all());
        for s in &subs {
            assert!(
                r.stdout.contains(s.as_str()),
                "{shell} completion lacks {s}"
            );
        }
        assert!(r.stdout.contains("mtime-from"), "{shell}");
    }
    let r = peex(&["man"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.starts_with(".ie") || r.stdout.contains(".TH peex"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
    for s in &subs {
        assert!(r.stdout.contains(s.as_str()), "the man page lacks {s}");
    }
    let r = peex(&["completions", "tcsh"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("possible values"), "{}", r.all());
}

/// The `peex` command line of the README's CI recipe `name` (the line after `run:` or `- `
/// that starts with `peex`).
fn recipe_command(name: &str) -> String {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let marker = format!("<!-- ci-recipe: {name} -->");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README lacks {marker}"));
    let block = &readme[start..];
    let end = block[marker.len()..]
        .find("```\n\n")
        .map_or(block.len(), |e| e + marker.len());
    let lines: Vec<&str> = block[..end]
        .lines()
        .filter_map(|l| {
            let t = l.trim_start();
            let t = t
                .strip_prefix("run:")
                .or_else(|| t.strip_prefix("- "))
                .unwrap_or(t);
            let t = t.trim_start();
            t.starts_with("peex ").then_some(t)
        })
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one peex command in the {name} recipe: {lines:?}"
    );
    lines[0].to_owned()
}

/// Runs a recipe's command line in `dir` as a CI shell would: the words before `>` are
/// peex's arguments, the file after it takes stdout; the password only in PEEX_PASSWORD.
fn run_recipe(command: &str, dir: &Path, password: &str) -> (i32, String, String) {
    let (cmd, redirect) = match command.split_once('>') {
        Some((c, f)) => (c, Some(f.trim())),
        None => (command, None),
    };
    let words: Vec<&str> = cmd.split_whitespace().collect();
    assert_eq!(words[0], "peex");
    let out = Command::new(peex_bin())
        .args(&words[1..])
        .current_dir(dir)
        .env("PEEX_PASSWORD", password)
        .env_remove("NETRC")
        .env("HOME", "/nonexistent-peex-test-home")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let events = match redirect {
        Some(f) => {
            fs::write(dir.join(f), &stdout).unwrap();
            fs::read_to_string(dir.join(f)).unwrap()
        }
        None => stdout,
    };
    (out.status.code().unwrap_or(-1), events, stderr)
}

fn recipe_deploys_only_what_changed_from_fresh_clones(name: &str) {
    let command = recipe_command(name);
    assert!(
        command.contains("--json") && command.contains("deploy.peex"),
        "{command}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let srv = Proftpd::start();
    let www = srv.root().join("www");
    fs::create_dir_all(&www).unwrap();
    chown_tree(&www);
    let origin = tmp.path().join("origin");
    fs::create_dir_all(origin.join("public/css")).unwrap();
    git(&origin, &["init", "-q"], None);
    for i in 0..50 {
        fs::write(origin.join(format!("public/p{i}.html")), format!("p{i}")).unwrap();
    }
    fs::write(origin.join("public/css/site.css"), "body{}").unwrap();
    // The recipe's deploy.peex, with this test's server and no password.
    fs::write(
        origin.join("deploy.peex"),
        format!(
            "[site]\nhost=127.0.0.1\nport={}\nuser={}\nsource=public/\ndest=/www/\nmtime_from=git\n",
            srv.port(),
            srv.user()
        ),
    )
    .unwrap();
    git(&origin, &["add", "."], None);
    git(
        &origin,
        &["commit", "-qm", "site"],
        Some("@1700000000 +0000"),
    );

    let first = tmp.path().join("ci-run-1");
    clone(&origin, &first);
    let (code, events_text, stderr) = run_recipe(&command, &first, srv.password());
    assert_eq!(code, 0, "{events_text}\n{stderr}");
    let ev = events(&events_text);
    assert_eq!(of_type(&ev, "summary")[0]["files_new"], 51);

    fs::write(origin.join("public/p7.html"), "p7 edited").unwrap();
    git(
        &origin,
        &["commit", "-qam", "edit"],
        Some("@1700000900 +0000"),
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = tmp.path().join("ci-run-2");
    clone(&origin, &second);
    srv.clear_log();
    let (code, events_text, stderr) = run_recipe(&command, &second, srv.password());
    assert_eq!(code, 0, "{events_text}\n{stderr}");
    let ev = events(&events_text);
    let done: Vec<&str> = of_type(&ev, "done")
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(done, ["p7.html"]);
    assert_eq!(stors(&srv).len(), 1);
    assert_eq!(fs::read(www.join("p7.html")).unwrap(), b"p7 edited");
}

#[test]
fn the_readme_github_actions_recipe_deploys_only_what_changed() {
    recipe_deploys_only_what_changed_from_fresh_clones("github");
}

#[test]
fn the_readme_gitlab_ci_recipe_deploys_only_what_changed() {
    recipe_deploys_only_what_changed_from_fresh_clones("gitlab");
}

#[test]
fn a_plan_made_in_one_ci_job_is_applied_from_a_fresh_clone_in_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = Proftpd::start();
    let www = srv.root().join("www");
    put(&www, "old.html", b"old", 1_500_000_000);
    chown_tree(&www);
    let origin = tmp.path().join("origin");
    fs::create_dir_all(origin.join("public")).unwrap();
    git(&origin, &["init", "-q"], None);
    fs::write(origin.join("public/index.html"), "hi").unwrap();
    fs::write(
        origin.join("deploy.peex"),
        format!(
            "[site]\nhost=127.0.0.1\nport={}\nuser={}\nsource=public/\ndest=/www/\nmtime_from=git\n",
            srv.port(),
            srv.user()
        ),
    )
    .unwrap();
    git(&origin, &["add", "."], None);
    git(
        &origin,
        &["commit", "-qm", "site"],
        Some("@1700000000 +0000"),
    );
    let job1 = tmp.path().join("job1");
    clone(&origin, &job1);
    let (code, _, stderr) = run_recipe(
        "peex plan -q deploy.peex --out plan.json",
        &job1,
        srv.password(),
    );
    assert_eq!(code, 0, "{stderr}");
    // The next job: another fresh clone (newer file times), the plan as an artifact.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let job2 = tmp.path().join("job2");
    clone(&origin, &job2);
    fs::copy(job1.join("plan.json"), job2.join("plan.json")).unwrap();
    fs::remove_dir_all(&job1).unwrap();
    let (code, events_text, stderr) =
        run_recipe("peex apply --json plan.json", &job2, srv.password());
    assert_eq!(code, 0, "{events_text}\n{stderr}");
    let ev = events(&events_text);
    assert!(has_op(&ev, "done", "upload", "index.html"), "{events_text}");
    assert!(has_op(&ev, "done", "delete", "old.html"), "{events_text}");
    assert_eq!(mtime_of(&www.join("index.html")), 1_700_000_000);
}

#[test]
fn a_bad_time_source_or_comparison_is_a_usage_error_naming_the_choices() {
    let r = peex(&["--mtime-from", "svn", "site.peex"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("expected `git` or `filesystem`"),
        "{}",
        r.all()
    );
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(
        tmp.path(),
        "site.ron",
        "(host: \"127.0.0.1\", source: \"s\", dest: \"/www/\",\n  mtime_from: \"git\", srcutime: true)",
    );
    fs::create_dir_all(tmp.path().join("s")).unwrap();
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("site.ron:2:"), "{}", r.all());
    assert!(r.stderr.contains("srcutime"), "{}", r.all());
}
