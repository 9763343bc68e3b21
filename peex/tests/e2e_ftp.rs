//! End-to-end: the real `peex` binary against a real proftpd started for each test.
//!
//! Each test starts its own server on a free loopback port (see `peex_tests::ftpd`), syncs
//! a tree built in a temp dir, and checks the server's directory on disk and the server's
//! command log.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use peex_tests::ftpd::{chown_tree, LoggedCommand, Proftpd, ProftpdBuilder};
use std::fs;
use std::path::{Path, PathBuf};

/// A site: a server, a local source dir and a PEEX config pointing at `/www/`.
struct Site {
    srv: Proftpd,
    _tmp: tempfile::TempDir,
    src: PathBuf,
    cfg: PathBuf,
}

impl Site {
    fn dest(&self) -> PathBuf {
        self.srv.root().join("www")
    }
    fn run(&self, extra: &[&str]) -> Run {
        let mut args: Vec<&str> = extra.to_vec();
        let cfg = self.cfg.to_str().unwrap().to_owned();
        args.push(&cfg);
        peex(&args)
    }
    /// Runs again and checks that the run sent no command that changes anything.
    fn assert_rerun_changes_nothing(&self) {
        self.srv.commands_settled();
        self.srv.clear_log();
        let r = self.run(&[]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(
            modifying(&self.srv.commands_settled()),
            Vec::<String>::new()
        );
    }
    /// Puts a file on the server side (owned by the FTP user).
    fn remote_put(&self, rel: &str, content: &[u8], mtime: i64) {
        put(&self.dest(), rel, content, mtime);
        chown_tree(&self.dest());
    }
}

fn site_with(srv: Proftpd, site_extra: &str, exceptions: &str) -> Site {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let dest = srv.root().join("www");
    fs::create_dir_all(&dest).unwrap();
    chown_tree(&dest);
    let text = format!(
        "[site]\nhost=127.0.0.1\nport={}\nuser={}\npass={}\nsource={}/\ndest=/www/\n{}\n\n[exceptions]\n{}\n",
        srv.port(),
        srv.user(),
        srv.password(),
        src.display(),
        site_extra,
        exceptions
    );
    let cfg = write_config(tmp.path(), "site.peex", &text);
    Site {
        srv,
        _tmp: tmp,
        src,
        cfg,
    }
}

fn site(exceptions: &str) -> Site {
    site_with(Proftpd::start(), "", exceptions)
}

const MODIFYING: [&str; 8] = ["STOR", "DELE", "MKD", "RMD", "RNFR", "RNTO", "MFMT", "SITE"];

fn modifying(cmds: &[LoggedCommand]) -> Vec<String> {
    cmds.iter()
        .filter(|c| {
            MODIFYING
                .iter()
                .any(|m| c.command.to_uppercase().starts_with(m))
        })
        .map(|c| format!("{} {}", c.command, c.arg))
        .collect()
}

/// A varied tree: nested dirs, an empty file, spaces and UTF-8 in names.
fn small_tree(src: &Path) {
    put(src, "index.html", b"<h1>hi</h1>\n", 1_600_000_000);
    put(src, "css/site.css", b"body{}\n", 1_600_000_100);
    put(src, "css/deep/er/x.css", b"x\n", 1_600_000_200);
    put(src, "empty.txt", b"", 1_600_000_300);
    put(
        src,
        "with space/ünïcødé file.txt",
        "ça va\n".as_bytes(),
        1_600_000_400,
    );
    fs::create_dir_all(src.join("emptydir")).unwrap();
}

#[test]
fn first_sync_into_empty_dest_makes_trees_equal() {
    let s = site("");
    small_tree(&s.src);
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
    assert!(r.stdout.contains("5 files created"), "{}", r.all());
    assert!(r.stdout.contains("5 directories created"), "{}", r.all());
}

#[test]
fn big_binary_file_is_uploaded_byte_for_byte_not_crlf_mangled() {
    let s = site("");
    let mut data = Vec::with_capacity(20 << 20);
    let mut x: u32 = 12345;
    while data.len() < 20 << 20 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        data.push((x >> 16) as u8);
        if data.len() % 1000 == 0 {
            data.extend_from_slice(b"\n\r\n\r");
        }
    }
    put(&s.src, "big.bin", &data, 1_650_000_000);
    put(&s.src, "lf.txt", b"a\nb\nc\n", 1_650_000_000);
    let r = s.run(&["-j", "2"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let got = fs::read(s.dest().join("big.bin")).unwrap();
    assert_eq!(
        got.len(),
        data.len(),
        "size changed in transfer (ASCII mode?)"
    );
    assert!(got == data, "content changed in transfer");
    assert_eq!(fs::read(s.dest().join("lf.txt")).unwrap(), b"a\nb\nc\n");
}

#[test]
fn noop_resync_sends_no_modifying_command() {
    let s = site("");
    small_tree(&s.src);
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    s.srv.commands_settled();
    s.srv.clear_log();
    let r = s.run(&["-v"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let cmds = s.srv.commands_settled();
    assert!(
        cmds.iter().any(|c| c.command == "MLSD"),
        "no listing logged: {cmds:?}"
    );
    assert_eq!(modifying(&cmds), Vec::<String>::new());
    assert!(r.stdout.contains("0 files created"), "{}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
}

#[test]
fn change_add_delete_resync_converges() {
    let s = site("");
    small_tree(&s.src);
    put(&s.src, "gone/a.txt", b"a", 1_600_000_000);
    put(&s.src, "gone.txt", b"g", 1_600_000_000);
    assert_eq!(s.run(&[]).code, 0);
    // change content (same size, new mtime), change size, add, delete a file and a dir
    put(&s.src, "index.html", b"<h1>ho</h1>\n", 1_700_000_000);
    put(&s.src, "css/site.css", b"body{margin:0}\n", 1_600_000_100);
    put(&s.src, "new/dir/n.txt", b"new", 1_700_000_000);
    fs::remove_dir_all(s.src.join("gone")).unwrap();
    fs::remove_file(s.src.join("gone.txt")).unwrap();
    s.srv.commands_settled();
    s.srv.clear_log();
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
    let stors = s
        .srv
        .commands_settled()
        .iter()
        .filter(|c| c.command == "STOR")
        .count();
    assert_eq!(stors, 3, "exactly the three changed/new files are uploaded");
}

#[test]
fn alien_remote_files_are_deleted_and_kind_conflicts_replaced() {
    let s = site("");
    put(&s.src, "x", b"file where a dir was", 1_600_000_000);
    put(
        &s.src,
        "y/inner.txt",
        b"dir where a file was",
        1_600_000_000,
    );
    put(&s.src, "keep.txt", b"k", 1_600_000_000);
    s.remote_put("x/old/deep.txt", b"d", 1_500_000_000);
    s.remote_put("y", b"remote file", 1_500_000_000);
    s.remote_put("alien.txt", b"alien", 1_500_000_000);
    s.remote_put("aliendir/sub/z.txt", b"z", 1_500_000_000);
    let r = s.run(&["-v"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
}

#[test]
fn peex_example_config_applies_every_rule() {
    // The PEEX README's example, plus patterns PEEX's INI parser used to ruin.
    let exceptions = r#"# Do not delete any remote files or dirs CONTAINING the word "uploads"
uploads=protect
# Ignore local files or dirs whose name matches "offline" EXACTLY
^offline$=ignore
b1\.jpg=protect
a=b=ignore
x:y=ignore
c#d=ignore
[q]z\.txt=ignore
with space=ignore
"#;
    let s = site(exceptions);
    let src = &s.src;
    put(src, "index.html", b"i", 1_600_000_000);
    put(src, "offline/draft.html", b"draft", 1_600_000_000);
    put(
        src,
        "sub/offline",
        b"not top-level: uploaded",
        1_600_000_000,
    );
    put(src, "a=b.txt", b"1", 1_600_000_000);
    put(src, "x:y.txt", b"1", 1_600_000_000);
    put(src, "c#d.txt", b"1", 1_600_000_000);
    put(src, "qz.txt", b"1", 1_600_000_000);
    put(src, "with space.txt", b"1", 1_600_000_000);
    put(src, "b1.jpg", b"local version", 1_600_000_000);
    put(src, "img/uploads.png", b"local", 1_600_000_000);
    // remote state
    s.remote_put("uploads/user-photo.png", b"user content", 1_500_000_000);
    s.remote_put("b1.jpg", b"remote version", 1_500_000_000);
    s.remote_put(
        "old/b1.jpg",
        b"protected inside an alien dir",
        1_500_000_000,
    );
    s.remote_put("old/other.txt", b"alien", 1_500_000_000);
    s.remote_put("old/deeper/gone.txt", b"alien", 1_500_000_000);
    s.remote_put(
        "offline",
        b"remote counterpart of an ignored entry",
        1_500_000_000,
    );
    s.remote_put("img/uploads.png", b"remote", 1_500_000_000);
    s.remote_put("alien.txt", b"alien", 1_500_000_000);

    let r = s.run(&["-v", "-c"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let d = s.dest();
    // ignored local entries are not uploaded
    for ignored in ["a=b.txt", "x:y.txt", "c#d.txt", "qz.txt", "with space.txt"] {
        assert!(!d.join(ignored).exists(), "{ignored} was uploaded");
    }
    assert!(!d.join("offline/draft.html").exists());
    // ...and their remote counterpart is left alone
    assert_eq!(
        fs::read(d.join("offline")).unwrap(),
        b"remote counterpart of an ignored entry"
    );
    // a pattern anchored to the top level does not match deeper
    assert_eq!(
        fs::read(d.join("sub/offline")).unwrap(),
        b"not top-level: uploaded"
    );
    // protected entries are never overwritten or deleted, nor their ancestors
    assert_eq!(
        fs::read(d.join("uploads/user-photo.png")).unwrap(),
        b"user content"
    );
    assert_eq!(fs::read(d.join("b1.jpg")).unwrap(), b"remote version");
    assert_eq!(fs::read(d.join("img/uploads.png")).unwrap(), b"remote");
    assert_eq!(
        fs::read(d.join("old/b1.jpg")).unwrap(),
        b"protected inside an alien dir"
    );
    // alien files nothing protects are deleted
    assert!(!d.join("old/other.txt").exists());
    assert!(!d.join("old/deeper").exists());
    assert!(!d.join("alien.txt").exists());
    assert_eq!(fs::read(d.join("index.html")).unwrap(), b"i");
    // PEEX's colours: green added, red removed, blue ignored, yellow protected
    for code in ["\x1b[32m", "\x1b[31m", "\x1b[34m", "\x1b[33m", "\x1b[35m"] {
        assert!(
            r.stdout.contains(code),
            "colour {code:?} missing:\n{}",
            r.all()
        );
    }
    // a second run changes nothing
    s.assert_rerun_changes_nothing();
}

#[test]
fn dry_run_prints_the_plan_and_sends_no_modifying_command() {
    let s = site("keep=protect");
    small_tree(&s.src);
    s.remote_put("alien.txt", b"alien", 1_500_000_000);
    s.remote_put("keep.txt", b"k", 1_500_000_000);
    s.remote_put("index.html", b"older", 1_500_000_000);
    let before = snapshot(&s.dest(), &none);
    s.srv.clear_log();
    let r = s.run(&["-d", "-v", "-c"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let cmds = s.srv.commands_settled();
    assert!(cmds.iter().any(|c| c.command == "MLSD"));
    assert_eq!(modifying(&cmds), Vec::<String>::new());
    assert_eq!(
        snapshot(&s.dest(), &none),
        before,
        "dry run changed the server"
    );
    assert!(r.stdout.contains("css/site.css"), "{}", r.all());
    assert!(r.stdout.contains("- alien.txt"), "{}", r.all());
    assert!(r.stdout.contains("p keep.txt"), "{}", r.all());
    assert!(r.stdout.contains("dry run"), "{}", r.all());
}

#[test]
fn server_refusing_mfmt_and_site_utime_stops_before_any_change() {
    let srv = ProftpdBuilder::new()
        .deny_commands(&["MFMT", "SITE_UTIME", "MFF"])
        .start();
    let s = site_with(srv, "", "");
    small_tree(&s.src);
    s.remote_put("alien.txt", b"alien", 1_500_000_000);
    let r = s.run(&[]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(
        r.stderr.contains("MFMT") && r.stderr.contains("SITE UTIME"),
        "{}",
        r.all()
    );
    let cmds = s.srv.commands_settled();
    let changed: Vec<String> = modifying(&cmds)
        .into_iter()
        .filter(|c| !c.starts_with("MFMT") && !c.starts_with("SITE"))
        .collect();
    assert_eq!(changed, Vec::<String>::new());
    assert!(s.dest().join("alien.txt").exists());
    assert!(!s.dest().join("index.html").exists());
}

#[test]
fn srcutime_sets_local_mtimes_from_the_server_and_sends_no_mfmt() {
    let s = site_with(Proftpd::start(), "srcutime=true", "");
    put(&s.src, "a.txt", b"a", 1_000_000_000);
    put(&s.src, "d/b.txt", b"b", 1_000_000_000);
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    for f in ["a.txt", "d/b.txt"] {
        let local = mtime_of(&s.src.join(f));
        assert_ne!(local, 1_000_000_000, "{f}: local mtime not updated");
        assert_eq!(local, mtime_of(&s.dest().join(f)), "{f}");
    }
    let cmds = s.srv.commands_settled();
    assert!(!cmds
        .iter()
        .any(|c| c.command == "MFMT" || c.command.starts_with("SITE")));
    assert!(cmds.iter().any(|c| c.command == "MDTM"));
    s.assert_rerun_changes_nothing();
}

#[test]
fn failed_upload_means_no_deletes() {
    let srv = ProftpdBuilder::new()
        .deny_upload_in(&["www/locked"])
        .start();
    let s = site_with(srv, "", "");
    put(&s.src, "ok.txt", b"ok", 1_600_000_000);
    put(&s.src, "locked/no.txt", b"refused", 1_600_000_000);
    s.remote_put("alien.txt", b"alien", 1_500_000_000);
    s.remote_put("aliendir/x.txt", b"alien", 1_500_000_000);
    let r = s.run(&["-j", "2"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("locked/no.txt"), "{}", r.all());
    assert!(
        s.dest().join("alien.txt").exists(),
        "a delete ran after a failed upload"
    );
    assert!(s.dest().join("aliendir/x.txt").exists());
    assert_eq!(fs::read(s.dest().join("ok.txt")).unwrap(), b"ok");
    let cmds = s.srv.commands_settled();
    assert!(!cmds
        .iter()
        .any(|c| c.command == "DELE" && !c.arg.contains(".peex-tmp.")));
    assert!(!cmds.iter().any(|c| c.command == "RMD"));
}

#[test]
fn delete_limit_stops_before_any_change() {
    let s = site_with(Proftpd::start(), "max_delete=2", "");
    put(&s.src, "a.txt", b"a", 1_600_000_000);
    for i in 0..5 {
        s.remote_put(&format!("alien{i}.txt"), b"x", 1_500_000_000);
    }
    s.srv.clear_log();
    let r = s.run(&[]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("limit"), "{}", r.all());
    assert_eq!(
        modifying(&s.srv.commands_settled())
            .into_iter()
            .filter(|c| !c.starts_with("MFMT"))
            .collect::<Vec<_>>(),
        Vec::<String>::new()
    );
    assert!(!s.dest().join("a.txt").exists());
    // the command line overrides the config
    let r = s.run(&["--max-delete", "10"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
}

#[test]
fn empty_or_missing_source_is_refused() {
    let s = site("");
    s.remote_put("precious.txt", b"p", 1_500_000_000);
    let r = s.run(&[]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("empty"), "{}", r.all());
    fs::remove_dir(&s.src).unwrap();
    let r = s.run(&[]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(s.dest().join("precious.txt").exists());
}

#[test]
fn uploads_go_to_a_temp_name_then_rename_and_stale_temps_are_removed() {
    let s = site("");
    put(&s.src, "page.html", b"new", 1_600_000_000);
    s.remote_put(".peex-tmp.dead-1.page.html", b"half written", 1_500_000_000);
    s.srv.clear_log();
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let cmds = s.srv.commands_settled();
    let stor = cmds.iter().find(|c| c.command == "STOR").expect("a STOR");
    assert!(
        stor.arg.contains(".peex-tmp."),
        "STOR went to the final name: {stor:?}"
    );
    let pos = |name: &str| {
        cmds.iter()
            .position(|c| c.command == name && (name == "RNTO" || c.arg.contains(".peex-tmp.")))
    };
    assert!(pos("STOR").is_some(), "{cmds:?}");
    assert!(
        pos("STOR") < pos("MFMT") && pos("MFMT") < pos("RNTO"),
        "{cmds:?}"
    );
    let rnto = &cmds[pos("RNTO").unwrap()];
    assert!(rnto.arg.ends_with("/www/page.html"), "{rnto:?}");
    assert!(!s.dest().join(".peex-tmp.dead-1.page.html").exists());
    assert_same_tree(&s.src, &s.dest(), &none);
}

#[test]
fn wrong_password_gives_one_clear_line_and_never_prints_it() {
    let srv = Proftpd::start();
    let tmp = tempfile::tempdir().unwrap();
    put(tmp.path(), "src/a.txt", b"a", 1_600_000_000);
    let cfg = write_config(
        tmp.path(),
        "bad.peex",
        &format!(
            "[site]\nhost=127.0.0.1\nport={}\nuser={}\npass=Sekr1t-wrong\nsource=src\ndest=/\n",
            srv.port(),
            srv.user()
        ),
    );
    let r = peex(&["-vv", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        !r.all().contains("Sekr1t-wrong"),
        "password printed: {}",
        r.all()
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.all());
    // and from PEEX_PASSWORD
    let cfg = write_config(
        tmp.path(),
        "env.peex",
        &format!(
            "[site]\nhost=127.0.0.1\nport={}\nuser={}\nsource=src\ndest=/\n",
            srv.port(),
            srv.user()
        ),
    );
    let r = peex_env(
        &[cfg.to_str().unwrap()],
        &[("PEEX_PASSWORD", srv.password())],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(srv.root().join("a.txt").exists());
    // and from ~/.netrc ($NETRC names it)
    let netrc = tmp.path().join("netrc");
    fs::write(
        &netrc,
        format!(
            "machine elsewhere login x password y\nmachine 127.0.0.1 login {} password {}\n",
            srv.user(),
            srv.password()
        ),
    )
    .unwrap();
    put(tmp.path(), "src/b.txt", b"b", 1_600_000_000);
    let r = peex_env(
        &[cfg.to_str().unwrap()],
        &[("NETRC", netrc.to_str().unwrap())],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(srv.root().join("b.txt").exists());
}

#[test]
fn unreachable_server_gives_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    put(tmp.path(), "src/a.txt", b"a", 1_600_000_000);
    let port = peex_tests::util::free_port();
    let cfg = write_config(
        tmp.path(),
        "x.peex",
        &format!("[site]\nhost=127.0.0.1\nport={port}\nuser=u\npass=p\nsource=src\ndest=/\n"),
    );
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.all());
}

#[test]
fn missing_dest_gives_exit_3_and_changes_nothing() {
    let s = site("");
    put(&s.src, "a.txt", b"a", 1_600_000_000);
    fs::remove_dir_all(s.dest()).unwrap();
    let r = s.run(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("www"), "{}", r.all());
}

#[test]
fn many_jobs_and_one_job_give_the_same_result() {
    for jobs in ["1", "8"] {
        let s = site("");
        small_tree(&s.src);
        for i in 0..40 {
            put(
                &s.src,
                &format!("d{}/f{i}.txt", i % 7),
                format!("{i}").as_bytes(),
                1_600_000_000 + i,
            );
        }
        let r = s.run(&["-j", jobs]);
        assert_eq!(r.code, 0, "jobs {jobs}: {}", r.all());
        assert_same_tree(&s.src, &s.dest(), &none);
    }
}

#[test]
fn server_limiting_connections_shrinks_the_pool_instead_of_failing() {
    let srv = ProftpdBuilder::new().max_clients_per_user(Some(2)).start();
    let s = site_with(srv, "", "");
    for i in 0..60 {
        put(
            &s.src,
            &format!("d{}/f{i}.txt", i % 6),
            format!("{i}").as_bytes(),
            1_600_000_000 + i,
        );
    }
    s.remote_put("alien.txt", b"alien", 1_500_000_000);
    let r = s.run(&["-j", "8"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
    assert!(
        r.stderr.contains("could not open more connections"),
        "{}",
        r.all()
    );
    // and a re-run converges to nothing to do
    let r = s.run(&["-j", "8"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("0 files created"), "{}", r.all());
}

#[test]
fn check_reports_what_the_server_offers_and_leaves_nothing_behind() {
    let srv = ProftpdBuilder::new().max_clients_per_user(Some(3)).start();
    let s = site_with(srv, "", "");
    put(&s.src, "a.txt", b"a", 1_600_000_000);
    let cfg = s.cfg.to_str().unwrap().to_owned();
    let r = peex(&["check", "-j", "5", &cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    for want in [
        "MLSD",
        "EPSV",
        "set times (tried)        MFMT",
        "probe: dotfiles listed   yes",
        "probe: size and time     exact",
        "probe: rename over       ok",
        "probe: removed           ok",
        "3 of 5 opened",
        "pipelining               full (proftpd)",
    ] {
        assert!(r.stdout.contains(want), "missing {want:?}:\n{}", r.all());
    }
    assert_eq!(
        fs::read_dir(s.dest()).unwrap().count(),
        0,
        "the probe left something"
    );
    // --no-probe sends nothing that changes anything
    s.srv.commands_settled();
    s.srv.clear_log();
    let r = peex(&["check", "--no-probe", "-j", "1", &cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(modifying(&s.srv.commands_settled()), Vec::<String>::new());
}

#[test]
fn check_says_when_times_cannot_be_set() {
    let srv = ProftpdBuilder::new()
        .deny_commands(&["MFMT", "SITE_UTIME", "MFF"])
        .start();
    let s = site_with(srv, "", "");
    let r = peex(&["check", "-j", "1", s.cfg.to_str().unwrap()]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(
        r.stdout.contains("cannot set modification times"),
        "{}",
        r.all()
    );
    assert_eq!(
        fs::read_dir(s.dest()).unwrap().count(),
        0,
        "the probe left something"
    );
}

fn ftps_site(srv: Proftpd, extra: &str) -> Site {
    let ca = srv
        .ca_file()
        .expect("a TLS server has a CA")
        .display()
        .to_string();
    let s = site_with(
        srv,
        &format!("transport=ftps\nca_file={ca}\n{extra}"),
        "keep=protect",
    );
    small_tree(&s.src);
    s.remote_put("alien.txt", b"alien", 1_500_000_000);
    s.remote_put("keep.txt", b"k", 1_500_000_000);
    s
}

#[test]
fn ftps_sync_verifies_the_certificate_and_reuses_the_tls_session() {
    // proftpd's default: data connections must resume the control connection's TLS session
    let s = ftps_site(ProftpdBuilder::new().tls(true).start(), "");
    let r = s.run(&["-j", "3"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, &s.dest(), &|p: &str| p == "keep.txt");
    assert!(!s.dest().join("alien.txt").exists());
    let cmds = s.srv.commands_settled();
    assert!(
        cmds.iter().any(|c| c.command == "AUTH"),
        "no AUTH TLS: {cmds:?}"
    );
    assert!(cmds.iter().any(|c| c.command == "PROT" && c.arg == "P"));
    let r = peex(&["check", "-j", "1", s.cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("TLSv1_2"), "{}", r.all());
    assert!(
        r.stdout.contains("session resumed by data connections"),
        "{}",
        r.all()
    );
}

#[test]
fn ftps_refuses_an_unknown_certificate_unless_verification_is_turned_off() {
    let srv = ProftpdBuilder::new().tls(true).start();
    let s = site_with(srv, "transport=ftps", "");
    small_tree(&s.src);
    let r = s.run(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(!s.dest().join("index.html").exists());
    let text = fs::read_to_string(&s.cfg).unwrap();
    fs::write(
        &s.cfg,
        text.replace("transport=ftps", "transport=ftps\ntls_verify=false"),
    )
    .unwrap();
    for _ in 0..2 {
        let r = s.run(&[]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(
            r.stderr.contains("TLS certificate verification"),
            "warned every run: {}",
            r.all()
        );
    }
    assert_same_tree(&s.src, &s.dest(), &none);
}

#[test]
fn implicit_ftps_works() {
    let srv = ProftpdBuilder::new().implicit_tls(true).start();
    let s = ftps_site(srv, "implicit_tls=true");
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, &s.dest(), &|p: &str| p == "keep.txt");
    let cmds = s.srv.commands_settled();
    assert!(
        !cmds.iter().any(|c| c.command == "AUTH"),
        "implicit TLS sent AUTH: {cmds:?}"
    );
}

/// A new directory is built under a temporary name, its files written there directly (no
/// temporary name and rename per file), and renamed into place once, after all of them
/// are stored and timed; a file in an existing directory still gets its own temporary name.
#[test]
fn new_directories_are_built_out_of_sight_and_renamed_into_place_whole() {
    let s = site("");
    put(&s.src, "top.html", b"top", 1_600_000_000);
    put(&s.src, "docs/a.html", b"a", 1_600_000_001);
    put(&s.src, "docs/img/b.png", b"png", 1_600_000_002);
    put(&s.src, "docs/img/c.png", b"png c", 1_600_000_003);
    s.srv.clear_log();
    let r = s.run(&["-j", "2"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
    let cmds = s.srv.commands_settled();
    let staged = |c: &LoggedCommand| c.arg.contains("/www/.peex-tmp.") && c.arg.contains(".docs");
    let mkd: Vec<&LoggedCommand> = cmds.iter().filter(|c| c.command == "MKD").collect();
    assert_eq!(mkd.len(), 2, "{cmds:#?}");
    assert!(
        mkd.iter().all(|c| staged(c)),
        "MKD outside the staged tree: {mkd:#?}"
    );
    let stor: Vec<&LoggedCommand> = cmds.iter().filter(|c| c.command == "STOR").collect();
    assert_eq!(stor.len(), 4, "{cmds:#?}");
    for name in ["/a.html", "/img/b.png", "/img/c.png"] {
        assert!(
            stor.iter().any(|c| staged(c) && c.arg.ends_with(name)),
            "docs{name} was not written in the staged tree under its own name: {stor:#?}"
        );
    }
    let rnto: Vec<&LoggedCommand> = cmds.iter().filter(|c| c.command == "RNTO").collect();
    let rnto_args: Vec<&str> = rnto.iter().map(|c| c.arg.as_str()).collect();
    assert_eq!(
        rnto_args.len(),
        2,
        "one rename per file outside the tree, one for the tree: {rnto_args:?}"
    );
    assert!(
        rnto_args.contains(&"/www/top.html") && rnto_args.contains(&"/www/docs"),
        "{rnto_args:?}"
    );
    let at = |pred: &dyn Fn(&LoggedCommand) -> bool| cmds.iter().rposition(pred).unwrap();
    let tree_renamed = cmds
        .iter()
        .position(|c| c.command == "RNTO" && c.arg == "/www/docs")
        .unwrap();
    assert!(
        at(&|c| c.command == "STOR" && staged(c)) < tree_renamed,
        "{cmds:#?}"
    );
    assert!(
        at(&|c| c.command == "MFMT" && staged(c)) < tree_renamed,
        "{cmds:#?}"
    );
    assert!(
        at(&|c| c.command == "SIZE" && staged(c)) < tree_renamed,
        "the sizes must be checked before the tree is put in place: {cmds:#?}"
    );
    assert!(!fs::read_dir(s.dest()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".peex-tmp.")));
    // And a second run has nothing to do.
    s.assert_rerun_changes_nothing();
}

/// A tree an interrupted run was building is removed with everything in it, whatever the
/// rules say about the names inside (a protect rule for `a.html` does not keep it).
#[test]
fn a_stale_temporary_directory_is_removed_with_its_content() {
    let s = site("a\\.html=protect");
    put(&s.src, "docs/a.html", b"a", 1_600_000_000);
    s.remote_put(".peex-tmp.dead-2.docs/a.html", b"half", 1_500_000_000);
    s.remote_put(".peex-tmp.dead-2.docs/sub/b.html", b"b", 1_500_000_000);
    let r = s.run(&["-v"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        !s.dest().join(".peex-tmp.dead-2.docs").exists(),
        "{}",
        r.all()
    );
    assert_same_tree(&s.src, &s.dest(), &none);
}

/// Over this size proftpd aborts a `STOR` (`552`) and keeps what it received.
const STORE_LIMIT: &str = "MaxStoreFileSize 4 Kb";

/// A file of a new directory that fails half way does not keep the rest of the directory
/// out of sight: what it left is removed, the tree is renamed into place, and the run
/// reports the file and fails.
#[test]
fn a_failed_file_in_a_new_directory_is_removed_and_the_rest_put_in_place() {
    let srv = ProftpdBuilder::new().config_line(STORE_LIMIT).start();
    let s = site_with(srv, "", "");
    put(&s.src, "docs/ok.html", b"ok", 1_600_000_000);
    put(&s.src, "docs/sub/big.bin", &[7u8; 200_000], 1_600_000_000);
    s.srv.clear_log();
    let r = s.run(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("docs/sub/big.bin"), "{}", r.all());
    assert_eq!(fs::read(s.dest().join("docs/ok.html")).unwrap(), b"ok");
    assert!(s.dest().join("docs/sub").is_dir());
    assert!(
        !s.dest().join("docs/sub/big.bin").exists(),
        "a partial file was put in place"
    );
    let cmds = s.srv.commands_settled();
    assert!(
        cmds.iter().any(|c| c.command == "DELE"
            && c.arg.contains(".peex-tmp.")
            && c.arg.ends_with("/sub/big.bin")),
        "the partial upload was not removed before the rename: {cmds:#?}"
    );
}

/// When what a failed upload left cannot be removed, its new directory stays under its
/// temporary name (never visible half right), and the run says so.
#[test]
fn a_new_directory_with_a_partial_file_it_cannot_remove_stays_out_of_sight() {
    let srv = ProftpdBuilder::new()
        .config_line(STORE_LIMIT)
        .deny_commands(&["DELE"])
        .start();
    let s = site_with(srv, "", "");
    put(&s.src, "docs/ok.html", b"ok", 1_600_000_000);
    put(&s.src, "docs/big.bin", &[7u8; 200_000], 1_600_000_000);
    let r = s.run(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("docs: not put in place"), "{}", r.all());
    assert!(!s.dest().join("docs").exists(), "{}", r.all());
    let waiting: Vec<String> = fs::read_dir(s.dest())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        waiting.len() == 1 && waiting[0].starts_with(".peex-tmp.") && waiting[0].ends_with(".docs"),
        "{waiting:?}"
    );
    assert_eq!(
        fs::read(s.dest().join(&waiting[0]).join("ok.html")).unwrap(),
        b"ok"
    );
}

/// A stale temporary directory the server will not list is left for a later run with a
/// warning; it does not hold up this run's deletes.
#[test]
fn an_unlistable_stale_temporary_directory_does_not_stop_the_deletes() {
    use std::os::unix::fs::PermissionsExt;
    let s = site("");
    put(&s.src, "a.html", b"a", 1_600_000_000);
    s.remote_put("alien.txt", b"alien", 1_500_000_000);
    s.remote_put(".peex-tmp.dead-3.docs/x.html", b"x", 1_500_000_000);
    let stale = s.dest().join(".peex-tmp.dead-3.docs");
    fs::set_permissions(&stale, fs::Permissions::from_mode(0o000)).unwrap();
    let r = s.run(&[]);
    fs::set_permissions(&stale, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("stale temporary directory"),
        "{}",
        r.all()
    );
    assert!(!s.dest().join("alien.txt").exists(), "{}", r.all());
    assert!(s.dest().join("a.html").exists());
}

/// Option `rename_dirs: false` (for a server that will not rename directories): a new
/// directory is created under its own name and each of its files gets a temporary name and a
/// rename.
#[test]
fn rename_dirs_false_gives_every_file_of_a_new_directory_its_own_temporary_name() {
    let s = site("");
    put(&s.src, "docs/a.html", b"a", 1_600_000_000);
    put(&s.src, "docs/img/b.png", b"png", 1_600_000_001);
    let cfg = write_config(
        s.cfg.parent().unwrap(),
        "site.ron",
        &format!(
            "(\n  host: \"127.0.0.1\",\n  port: {},\n  user: {:?},\n  password: {:?},\n  \
             source: {:?},\n  dest: \"/www/\",\n  options: {{ \"rename_dirs\": \"false\" }},\n)\n",
            s.srv.port(),
            s.srv.user(),
            s.srv.password(),
            s.src.display().to_string(),
        ),
    );
    s.srv.clear_log();
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
    let cmds = s.srv.commands_settled();
    let args = |verb: &str| -> Vec<String> {
        cmds.iter()
            .filter(|c| c.command == verb)
            .map(|c| c.arg.clone())
            .collect()
    };
    assert_eq!(args("MKD"), vec!["/www/docs", "/www/docs/img"], "{cmds:#?}");
    let mut rnto = args("RNTO");
    rnto.sort();
    assert_eq!(rnto, vec!["/www/docs/a.html", "/www/docs/img/b.png"]);
    assert!(
        args("STOR").iter().all(|a| a.contains("/.peex-tmp.")),
        "{cmds:#?}"
    );
}
