#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

//! End-to-end: the real `peex` binary against hostile or broken FTP servers.
//!
//! proftpd cannot be made to send a bad listing or hang up mid-transfer, so these tests use
//! the scripted fake server of `peex_tests::fakeftp`. Every test checks, from the server's
//! command log, that no command named a path outside `dest` (`/www`) and that nothing was
//! deleted or stored that should not be; and that peex never panicked.

mod common;

use common::*;
use peex_tests::fakeftp::{FakeFtp, FakeFtpBuilder, Profile, PASSWORD, USER};
use std::fs;
use std::path::PathBuf;

/// The `modify` fact matching the local files' mtime (1_600_000_000).
const MODIFY: &str = "20200913122640";
const MTIME: i64 = 1_600_000_000;

/// A fake server, a local source and a config pointing at `/www/`.
struct Case {
    srv: FakeFtp,
    _tmp: tempfile::TempDir,
    src: PathBuf,
    cfg: PathBuf,
}

impl Case {
    fn new(srv: FakeFtp) -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(&src).unwrap();
        let text = format!(
            "[site]\nhost=127.0.0.1\nport={}\nuser={USER}\npass={PASSWORD}\nsource={}/\n\
             dest=/www/\ntimeout=10\n",
            srv.port(),
            src.display(),
        );
        let cfg = write_config(tmp.path(), "site.peex", &text);
        Case {
            srv,
            _tmp: tmp,
            src,
            cfg,
        }
    }

    fn run(&self, extra: &[&str]) -> Run {
        let mut args: Vec<&str> = extra.to_vec();
        let cfg = self.cfg.to_str().unwrap().to_owned();
        args.push(&cfg);
        let r = peex(&args);
        assert_no_panic(&r);
        r
    }
}

fn assert_no_panic(r: &Run) {
    assert_ne!(r.code, 101, "peex panicked\n{}", r.all());
    assert!(!r.stderr.contains("panicked"), "peex panicked\n{}", r.all());
}

/// The paths a command names (absolute, as sent), or a failure for a command this test
/// suite does not know (so a new command must be looked at before it is allowed).
fn paths_of(cmd: &str) -> Vec<String> {
    let (verb, arg) = cmd.split_once(' ').unwrap_or((cmd, ""));
    match verb.to_ascii_uppercase().as_str() {
        "USER" | "PASS" | "TYPE" | "FEAT" | "OPTS" | "EPSV" | "PASV" | "QUIT" | "PWD" | "NOOP"
        | "SYST" => Vec::new(),
        "MLSD" | "MLST" | "STOR" | "DELE" | "MKD" | "RMD" | "RNFR" | "RNTO" | "CWD" | "MDTM"
        | "SIZE" => vec![arg.to_owned()],
        "MFMT" => vec![arg.split_once(' ').map(|(_, p)| p).unwrap_or("").to_owned()],
        "SITE" => arg
            .split(' ')
            .filter(|w| w.starts_with('/'))
            .map(str::to_owned)
            .collect(),
        _ => panic!("unexpected command sent to the server: {cmd:?}"),
    }
}

/// docs/DESIGN.md §2.1: every path named is `/www` or below it, with no `.`/`..`/empty component.
fn assert_inside_dest(cmds: &[String]) {
    for c in cmds {
        for p in paths_of(c) {
            let inside = p == "/www"
                || p.strip_prefix("/www/").is_some_and(|rest| {
                    rest.split('/')
                        .all(|comp| !comp.is_empty() && comp != "." && comp != "..")
                });
            assert!(
                inside && !p.contains('\\') && !p.contains('\0'),
                "{c:?} names a path outside /www\nall commands: {cmds:#?}"
            );
        }
    }
}

fn verb(cmd: &str) -> String {
    cmd.split(' ').next().unwrap_or("").to_ascii_uppercase()
}

fn arg(cmd: &str) -> &str {
    cmd.split_once(' ').map(|(_, a)| a).unwrap_or("")
}

/// No DELE/RMD at all (a temporary upload file may be removed when `temp_dele`); STOR only
/// to temporary names; RNTO and MKD only to the paths in `legit` (local entries).
fn assert_only_legit_changes(cmds: &[String], legit: &[&str], temp_dele: bool) {
    for c in cmds {
        let ok = match verb(c).as_str() {
            "DELE" => temp_dele && is_temp(arg(c)),
            "RMD" => false,
            "STOR" => is_temp(arg(c)),
            "RNTO" => legit.contains(&arg(c)),
            "MKD" => legit.contains(&arg(c)) || is_temp(arg(c)),
            _ => true,
        };
        assert!(ok, "unexpected change {c:?}\nall commands: {cmds:#?}");
    }
}

/// A server whose `/www` holds an obsolete `old.txt` (a clean run deletes it) and a
/// directory `sub` listed with `raw`; locally `index.html` (new) and `sub/a.txt`.
fn hostile_sub_listing(raw: &[u8]) -> Case {
    let srv = FakeFtp::builder()
        .file("/www/old.txt", b"old", MODIFY)
        .listing("/www/sub", raw.to_vec())
        .start();
    let c = Case::new(srv);
    put(&c.src, "index.html", b"<h1>hi</h1>\n", MTIME);
    put(&c.src, "sub/a.txt", b"a", MTIME);
    c
}

/// Runs against a `sub` listing of `raw`: the run must fail (exit 1) with `expect` on
/// stderr, never delete (`old.txt` stays: docs/DESIGN.md §2.2), never leave `/www`.
fn refused_listing(raw: &[u8], expect: &[&str]) {
    let c = hostile_sub_listing(raw);
    let r = c.run(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("list sub"), "{}", r.all());
    for e in expect {
        assert!(r.stderr.contains(e), "stderr lacks {e:?}\n{}", r.all());
    }
    assert!(
        r.stderr.contains("not deleted because of the errors above"),
        "{}",
        r.all()
    );
    let cmds = c.srv.commands();
    assert_inside_dest(&cmds);
    assert_only_legit_changes(&cmds, &["/www/index.html"], false);
    assert!(
        c.srv.files().contains_key("/www/old.txt"),
        "old.txt deleted"
    );
    assert!(
        !cmds.iter().any(|c| c.starts_with("MLSD /www/sub/")),
        "a refused entry was followed: {cmds:#?}"
    );
}

fn line(facts: &str, name: &[u8]) -> Vec<u8> {
    let mut v = facts.as_bytes().to_vec();
    v.push(b' ');
    v.extend_from_slice(name);
    v.extend_from_slice(b"\r\n");
    v
}

fn file_line(name: &[u8]) -> Vec<u8> {
    line(&format!("type=file;size=1;modify={MODIFY};"), name)
}

fn dir_line(name: &[u8]) -> Vec<u8> {
    line(&format!("type=dir;modify={MODIFY};"), name)
}

/// A good line first, so the bad one is not simply the whole listing.
fn with_good(bad: Vec<u8>) -> Vec<u8> {
    let mut v = file_line(b"a.txt");
    v.extend(bad);
    v
}

// ---- names that would leave dest ----

#[test]
fn name_with_slash_is_refused() {
    refused_listing(&with_good(file_line(b"x/y")), &["unsafe name", "'/'"]);
    refused_listing(&with_good(dir_line(b"x/y")), &["unsafe name", "'/'"]);
}

#[test]
fn name_with_dotdot_path_is_refused() {
    refused_listing(&with_good(file_line(b"../escape")), &["unsafe name"]);
    refused_listing(&with_good(dir_line(b"../../etc")), &["unsafe name"]);
    refused_listing(&with_good(file_line(b"..\\escape")), &["unsafe name"]);
}

#[test]
fn absolute_name_is_refused() {
    refused_listing(&with_good(file_line(b"/etc/passwd")), &["unsafe name"]);
    refused_listing(&with_good(dir_line(b"/etc")), &["unsafe name"]);
}

#[test]
fn nul_in_name_is_refused() {
    refused_listing(&with_good(file_line(b"a\0b")), &["unsafe name", "NUL"]);
}

#[test]
fn dot_and_dotdot_entries_are_skipped_not_followed() {
    // `.` and `..` are self/parent pseudo-entries whatever type the server gives them: never
    // returned, so never followed, deleted or overwritten.
    let mut raw = file_line(b"a.txt");
    raw.extend(dir_line(b"."));
    raw.extend(dir_line(b".."));
    raw.extend(file_line(b".."));
    raw.extend(file_line(b"."));
    raw.extend(line(
        &format!("type=OS.unix=slink:/;modify={MODIFY};"),
        b"..",
    ));
    let c = hostile_sub_listing(&raw);
    let r = c.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let cmds = c.srv.commands();
    assert_inside_dest(&cmds);
    assert!(
        !cmds.iter().any(|c| c.starts_with("RMD")),
        "a pseudo-entry was removed: {cmds:#?}"
    );
    // the only delete is the obsolete file
    let deletes: Vec<&String> = cmds.iter().filter(|c| c.starts_with("DELE")).collect();
    assert_eq!(deletes, ["DELE /www/old.txt"], "{cmds:#?}");
}

#[test]
fn name_with_cr_is_refused_before_any_change() {
    // FTP cannot name such a file in a command (CR ends the line): refuse the listing, rather
    // than plan a delete that can only fail half-way through the delete phase.
    refused_listing(&with_good(file_line(b"x\ry")), &["unsafe name", "CR"]);
    refused_listing(&with_good(file_line(b"x\r")), &["unsafe name", "CR"]);
}

#[test]
fn name_listed_twice_is_an_error() {
    // Which one is real? Neither is deleted nor overwritten.
    let mut raw = file_line(b"a.txt");
    raw.extend(file_line(b"dup"));
    raw.extend(dir_line(b"dup"));
    refused_listing(&raw, &["dup", "twice"]);
    refused_listing(&with_good(file_line(b"a.txt")), &["a.txt", "twice"]);
}

// ---- broken listing lines ----

#[test]
fn line_without_type_is_an_error() {
    refused_listing(
        &with_good(line(&format!("size=1;modify={MODIFY};"), b"b.txt")),
        &["bad MLSD line", "no type fact"],
    );
}

#[test]
fn file_without_size_is_an_error() {
    refused_listing(
        &with_good(line(&format!("type=file;modify={MODIFY};"), b"b.txt")),
        &["bad MLSD line", "without size"],
    );
}

#[test]
fn file_without_modify_is_an_error_not_the_epoch() {
    refused_listing(
        &with_good(line("type=file;size=1;", b"b.txt")),
        &["bad MLSD line", "without modify"],
    );
}

#[test]
fn garbage_modify_is_an_error() {
    for m in ["yesterday", "20201301000000", "2020", "-1", ""] {
        refused_listing(
            &with_good(line(&format!("type=file;size=1;modify={m};"), b"b.txt")),
            &["bad MLSD line", "modify"],
        );
    }
}

#[test]
fn line_without_space_is_an_error() {
    refused_listing(
        &with_good(format!("type=file;size=1;modify={MODIFY};b.txt\r\n").into_bytes()),
        &["bad MLSD line", "no space"],
    );
}

#[test]
fn garbage_lines_are_errors() {
    for g in [
        &b"hello world\r\n"[..],
        b";;;; x\r\n",
        b"=;=; x\r\n",
        b"\x01\x02\x03\r\n",
        b"<html><body>500 Internal Server Error</body></html>\r\n",
    ] {
        refused_listing(&with_good(g.to_vec()), &["bad MLSD line"]);
    }
}

#[test]
fn non_utf8_name_is_reported_not_a_crash() {
    refused_listing(&with_good(file_line(b"caf\xe9.txt")), &["not UTF-8"]);
}

// ---- the connection itself misbehaves ----

/// A small tree to upload; returns the (path, bytes) the server must end up with.
fn small_tree(c: &Case) -> Vec<(String, Vec<u8>)> {
    let files: &[(&str, &[u8])] = &[
        ("index.html", b"<h1>hi</h1>\n"),
        ("css/site.css", b"body{}\n"),
        ("css/deep/x.css", b"x\n"),
        ("empty.txt", b""),
        ("bin.dat", b"\r\n\0\xff\n\r"),
    ];
    for (p, data) in files {
        put(&c.src, p, data, MTIME);
    }
    files
        .iter()
        .map(|(p, d)| (format!("/www/{p}"), d.to_vec()))
        .collect()
}

fn assert_arrived(c: &Case, want: &[(String, Vec<u8>)]) {
    let got = c.srv.files();
    for (p, data) in want {
        assert_eq!(got.get(p), Some(data), "{p} did not arrive: {got:?}");
        assert_eq!(c.srv.modify_of(p).as_deref(), Some(MODIFY), "{p}: mtime");
    }
    assert!(
        !got.keys().any(|p| p.contains(".peex-tmp.")),
        "temporary files left: {got:?}"
    );
}

#[test]
fn pasv_naming_another_host_uses_the_control_address() {
    // The server claims its data port is on 10.1.2.3 but listens on 127.0.0.1 only; EPSV
    // is not offered, so PASV is used. peex must connect to the control connection's
    // address (passive_nat_workaround, on by default).
    let c = Case::new(
        FakeFtp::builder()
            .dir("/www")
            .pasv_host([10, 1, 2, 3])
            .start(),
    );
    let want = small_tree(&c);
    let r = c.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_arrived(&c, &want);
    let cmds = c.srv.commands();
    assert!(cmds.iter().any(|c| c == "PASV"), "{cmds:#?}");
    assert!(!cmds.iter().any(|c| c == "EPSV"), "{cmds:#?}");
    assert_inside_dest(&cmds);
}

#[test]
fn replies_split_across_packets_still_sync() {
    for builder in [
        FakeFtp::builder().split_replies(1),
        FakeFtp::builder()
            .split_replies(7)
            .pasv_host([127, 0, 0, 1]),
    ] {
        let c = Case::new(
            builder
                .dir("/www")
                .file("/www/old.txt", b"o", MODIFY)
                .start(),
        );
        let want = small_tree(&c);
        let r = c.run(&[]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_arrived(&c, &want);
        assert!(!c.srv.files().contains_key("/www/old.txt"));
        let cmds = c.srv.commands();
        assert_inside_dest(&cmds);
        // a second run finds everything up to date: nothing changes
        let before = cmds.len();
        let r = c.run(&[]);
        assert_eq!(r.code, 0, "{}", r.all());
        let again = &c.srv.commands()[before..];
        assert_only_legit_changes(again, &[], false);
        assert!(!again.iter().any(|c| c.starts_with("STOR")), "{again:#?}");
    }
}

#[test]
fn a_stray_line_in_a_pipelined_mkd_batch_drops_the_connection_and_the_batch_is_redone() {
    // Issue 17: a line that was no reply, in the middle of the replies to a pipelined MKD
    // batch, was read as the next MKD's reply ("malformed reply line"), and every
    // directory after it failed. The connection must be dropped and the batch redone: the
    // MKD already done is sent again and its "550 File exists" counts as done.
    let c = Case::new(
        FakeFtp::builder()
            .dir("/www")
            .stray_line_after_first_mkd()
            .start(),
    );
    let mut want = small_tree(&c);
    for p in ["a/b/c/f1", "a/b/g/f2", "a/d/f3", "e/f4"] {
        put(&c.src, p, p.as_bytes(), MTIME);
        want.push((format!("/www/{p}"), p.as_bytes().to_vec()));
    }
    let r = c.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_arrived(&c, &want);
    for d in [
        "/www/a/b/c",
        "/www/a/b/g",
        "/www/a/d",
        "/www/e",
        "/www/css/deep",
    ] {
        assert!(c.srv.dirs().contains(d), "{d} missing: {:?}", c.srv.dirs());
    }
    let cmds = c.srv.commands();
    assert_inside_dest(&cmds);
    let mkds: Vec<&String> = cmds.iter().filter(|c| c.starts_with("MKD ")).collect();
    let first = mkds.first().expect("MKD sent");
    assert!(
        mkds.iter().filter(|m| m == &first).count() == 2,
        "the first MKD is sent again on the fresh connection: {mkds:#?}"
    );
    // The second run finds everything in place.
    let before = cmds.len();
    let r = c.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let again = &c.srv.commands()[before..];
    assert_only_legit_changes(again, &[], false);
}

/// A sync to a server whose greeting does not say what it is, and which breaks one rule
/// of full pipelining: the first anomaly drops the connection and lowers the level, the
/// work is redone, the run succeeds.
fn sync_lowering_pipelining(builder: FakeFtpBuilder) {
    let c = Case::new(
        builder
            .greeting("220 Welcome to example.org")
            .dir("/www/sub")
            .file("/www/old.txt", b"o", MODIFY)
            .start(),
    );
    let want = small_tree(&c);
    put(&c.src, "sub/a.txt", b"a", MTIME);
    let r = c.run(&["-j", "3"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_arrived(&c, &want);
    assert!(!c.srv.files().contains_key("/www/old.txt"));
    assert_inside_dest(&c.srv.commands());
    // Every run learns it anew (the level is kept per process), and says so in check.
    let r = c.run(&["check", "-j", "1"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("safe (lowered after"), "{}", r.all());
}

#[test]
fn filezilla_0_9_closing_its_pending_passive_listener_syncs_at_safe_pipelining() {
    sync_lowering_pipelining(FakeFtp::builder().profile(Profile::FileZilla09));
}

#[test]
fn pure_ftpd_refusing_commands_during_a_transfer_syncs_at_safe_pipelining() {
    sync_lowering_pipelining(FakeFtp::builder().refuses_commands_during_transfers());
}

fn faulty(builder: FakeFtpBuilder) -> (Case, Vec<(String, Vec<u8>)>) {
    let c = Case::new(
        builder
            .file("/www/old.txt", b"old", MODIFY)
            .file("/www/olddir/x", b"x", MODIFY)
            .start(),
    );
    let want = small_tree(&c);
    put(&c.src, "sub/a.txt", b"a", MTIME);
    (c, want)
}

#[test]
fn control_closed_mid_listing_fails_without_deletes() {
    let (c, _) = faulty(FakeFtp::builder().dir("/www/sub").close_in_mlsd("/www/sub"));
    let r = c.run(&[]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("list sub"), "{}", r.all());
    let cmds = c.srv.commands();
    assert_inside_dest(&cmds);
    let legit = [
        "/www/index.html",
        "/www/css",
        "/www/css/site.css",
        "/www/css/deep",
        "/www/css/deep/x.css",
        "/www/empty.txt",
        "/www/bin.dat",
    ];
    assert_only_legit_changes(&cmds, &legit, false);
    let files = c.srv.files();
    assert!(files.contains_key("/www/old.txt") && files.contains_key("/www/olddir/x"));
    assert!(c.srv.dirs().contains("/www/olddir"));
}

#[test]
fn control_closed_mid_listing_of_root_fails_without_changes() {
    let (c, _) = faulty(FakeFtp::builder().close_in_mlsd("/www"));
    let r = c.run(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("list"), "{}", r.all());
    let cmds = c.srv.commands();
    assert_inside_dest(&cmds);
    assert_only_legit_changes(&cmds, &[], false);
    assert!(!cmds.iter().any(|c| c.starts_with("STOR")), "{cmds:#?}");
}

#[test]
fn control_closed_mid_upload_fails_without_deletes_then_converges() {
    let (c, want) = faulty(FakeFtp::builder().close_in_stor());
    let r = c.run(&["--retries", "1"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("upload"), "{}", r.all());
    let cmds = c.srv.commands();
    assert_inside_dest(&cmds);
    let legit = ["/www/css", "/www/css/deep", "/www/sub"];
    assert_only_legit_changes(&cmds, &legit, true);
    let files = c.srv.files();
    assert!(files.contains_key("/www/old.txt") && files.contains_key("/www/olddir/x"));
    // nothing half-written under a final name
    for (p, _) in &want {
        assert!(!files.contains_key(p), "{p} exists after a failed upload");
    }

    // the server behaves again: the next run converges and removes the partial temp files
    c.srv.heal();
    let before = c.srv.commands().len();
    let r = c.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let mut want = want;
    want.push(("/www/sub/a.txt".to_owned(), b"a".to_vec()));
    assert_arrived(&c, &want);
    let files = c.srv.files();
    assert!(!files.contains_key("/www/old.txt") && !files.contains_key("/www/olddir/x"));
    assert_inside_dest(&c.srv.commands()[before..]);
}

#[test]
fn refused_stor_fails_without_deletes() {
    let (c, want) = faulty(FakeFtp::builder().stor_fails("552 Quota exceeded"));
    let r = c.run(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("Quota exceeded"), "{}", r.all());
    let cmds = c.srv.commands();
    assert_inside_dest(&cmds);
    assert_only_legit_changes(&cmds, &["/www/css", "/www/css/deep", "/www/sub"], true);
    let files = c.srv.files();
    assert!(files.contains_key("/www/old.txt"));
    for (p, _) in &want {
        assert!(!files.contains_key(p), "{p} exists after a refused upload");
    }
}

#[test]
fn escape_sequences_in_server_names_never_reach_the_terminal() {
    // A valid (if hostile) name: an alien file whose name would clear the screen.
    let srv = FakeFtp::builder()
        .file("/www/a\u{1b}[2Jb.txt", b"x", MODIFY)
        .start();
    let c = Case::new(srv);
    put(&c.src, "index.html", b"<h1>hi</h1>\n", MTIME);
    let r = c.run(&["-d", "-v"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        !r.all().contains('\u{1b}'),
        "raw ESC printed: {:?}",
        r.all()
    );
    assert!(r.stdout.contains("a\\u{1b}[2Jb.txt"), "{}", r.all());
}
