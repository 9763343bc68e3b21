//! End-to-end: the real `peex` binary against the FTP servers web hosts run — Pure-FTPd,
//! vsftpd (with `mdtm_write` on and off, and FTPS with `require_ssl_reuse`) and proftpd with
//! Debian's stock `AllowOverwrite off` — each a real server from Debian's packages started
//! for the test (`peex_tests::pureftpd`, `peex_tests::vsftpd`, `peex_tests::ftpd`).
//!
//! Each server gets the same cycle: initial sync, a re-run that changes nothing on the
//! server (no inode, size, time or ctime changes), then changes and deletes that converge,
//! with every file's time right to the second.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use peex_tests::ftpd::{chown_tree, ProftpdBuilder};
use peex_tests::pureftpd::PureFtpd;
use peex_tests::testkit::FtpServer;
use peex_tests::vsftpd::Vsftpd;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A site: a server, a local source dir and a PEEX config pointing at `/www/`.
struct Site {
    srv: Box<dyn FtpServer>,
    _tmp: tempfile::TempDir,
    src: PathBuf,
    cfg: PathBuf,
}

impl Site {
    fn new(srv: impl FtpServer + 'static, site_extra: &str, exceptions: &str) -> Site {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(&src).unwrap();
        let dest = srv.root().join("www");
        fs::create_dir_all(&dest).unwrap();
        chown_tree(&dest);
        let tls = match srv.ca_file() {
            Some(ca) => format!("transport=ftps\nca_file={}\n", ca.display()),
            None => String::new(),
        };
        let text = format!(
            "[site]\nhost=127.0.0.1\nport={}\nuser={}\npass={}\nsource={}/\ndest=/www/\n{tls}{site_extra}\n\n[exceptions]\n{exceptions}\n",
            srv.port(),
            srv.user(),
            srv.password(),
            src.display(),
        );
        let cfg = write_config(tmp.path(), "site.peex", &text);
        Site {
            srv: Box::new(srv),
            _tmp: tmp,
            src,
            cfg,
        }
    }

    /// Like [`Site::new`], in the native format, which takes transport options: `fields`
    /// are more of its fields (`options: { "tls13": "on" }, retries: 0`).
    fn with_options(srv: impl FtpServer + 'static, fields: &str) -> Site {
        let mut s = Site::new(srv, "", "");
        let tls = match s.srv.ca_file() {
            Some(ca) => format!(
                "  transport: \"ftps\",\n  tls: (ca_file: {:?}),\n",
                ca.display().to_string()
            ),
            None => String::new(),
        };
        let text = format!(
            "(\n  host: \"127.0.0.1\",\n  port: {},\n  user: {:?},\n  password: {:?},\n  \
             source: {:?},\n  dest: \"/www/\",\n{tls}  {fields},\n)\n",
            s.srv.port(),
            s.srv.user(),
            s.srv.password(),
            format!("{}/", s.src.display()),
        );
        s.cfg = write_config(s._tmp.path(), "site.ron", &text);
        s
    }

    fn dest(&self) -> PathBuf {
        self.srv.root().join("www")
    }

    fn run(&self, extra: &[&str]) -> Run {
        let mut args: Vec<&str> = extra.to_vec();
        let cfg = self.cfg.to_str().unwrap().to_owned();
        args.push(&cfg);
        peex(&args)
    }

    fn check(&self) -> Run {
        peex(&["check", "-j", "1", self.cfg.to_str().unwrap()])
    }

    /// Puts a file on the server side (owned by the FTP user).
    fn remote_put(&self, rel: &str, content: &[u8], mtime: i64) {
        put(&self.dest(), rel, content, mtime);
        chown_tree(&self.dest());
    }

    /// Runs again and checks that nothing on the server changed.
    fn assert_rerun_changes_nothing(&self) {
        let before = server_state(&self.dest());
        let r = self.run(&[]);
        assert_eq!(r.code, 0, "{}: {}", self.srv.name(), r.all());
        assert!(r.stdout.contains("0 files created"), "{}", r.all());
        assert_eq!(
            server_state(&self.dest()),
            before,
            "{}: the re-run changed something on the server",
            self.srv.name()
        );
    }
}

/// Every entry below `root`: inode, size, mtime and ctime (any write, rename or time set
/// changes one of them).
fn server_state(root: &Path) -> BTreeMap<String, (u64, u64, i64, i64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let v = if m.is_dir() {
                (m.ino(), 0, 0, 0, 0) // listing may touch a directory's atime only
            } else {
                (m.ino(), m.size(), m.mtime(), m.ctime(), m.ctime_nsec())
            };
            out.insert(rel, v);
        }
    }
    out
}

/// A varied tree: nested dirs, an empty file, a dotfile, spaces and UTF-8 in names.
fn small_tree(src: &Path) {
    put(src, "index.html", b"<h1>hi</h1>\n", 1_600_000_000);
    put(src, ".htaccess", b"Options -Indexes\n", 1_600_000_050);
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

/// The cycle every server must pass.
fn converges(s: &Site) {
    let name = s.srv.name().to_owned();
    small_tree(&s.src);
    s.remote_put("alien.txt", b"alien", 1_500_000_000);
    s.remote_put("old/dir/a.txt", b"a", 1_500_000_000);
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{name}: {}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
    s.assert_rerun_changes_nothing();
    // same size with a new time, a new size, a change only an exact time shows (same
    // size, one second later), a new file, a deleted tree
    put(&s.src, "index.html", b"<h1>ho</h1>\n", 1_700_000_000);
    put(&s.src, "css/site.css", b"body{margin:0}\n", 1_600_000_100);
    put(&s.src, ".htaccess", b"Options +Indexes\n", 1_600_000_051);
    put(&s.src, "new/n.txt", b"new", 1_700_000_000);
    fs::remove_dir_all(s.src.join("css/deep")).unwrap();
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{name}: {}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
    assert!(r.stdout.contains("4 files"), "{name}: {}", r.all());
    s.assert_rerun_changes_nothing();
}

#[test]
fn pure_ftpd_initial_sync_rerun_change_and_delete_converge() {
    converges(&Site::new(PureFtpd::start(), "", ""));
}

#[test]
fn pure_ftpd_over_ftps_resumes_the_tls_session_and_converges() {
    // TLS 1.2 (under TLS 1.3, Pure-FTPd sends no tickets: the next tests)
    let s = Site::with_options(
        PureFtpd::builder().tls(true).start(),
        "options: { \"tls13\": \"off\" }",
    );
    converges(&s);
    let r = s.check();
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("session resumed by data connections"),
        "{}",
        r.all()
    );
}

#[test]
fn vsftpd_with_mdtm_write_lists_with_list_and_converges() {
    let s = Site::new(Vsftpd::start(), "", "");
    converges(&s);
    let cmds = s.srv.command_lines().unwrap();
    assert!(cmds.iter().any(|c| c.starts_with("LIST -a")), "{cmds:?}");
    assert!(
        cmds.iter().any(|c| c.starts_with("MDTM 2017")),
        "times set with the two-argument MDTM: {cmds:?}"
    );
    let r = s.check();
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("MDTM (2 arguments)"), "{}", r.all());
    assert!(r.stdout.contains("LIST -a"), "{}", r.all());
}

/// The `MDTM` reads (one argument: `MDTM path`) among `cmds`, by the path they read.
fn mdtm_reads(cmds: &[String]) -> Vec<String> {
    cmds.iter()
        .filter_map(|c| c.strip_prefix("MDTM "))
        .filter(|arg| arg.starts_with('/'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn vsftpd_list_reads_exact_times_only_for_files_whose_size_matches() {
    let s = Site::new(Vsftpd::start(), "", "");
    small_tree(&s.src);
    s.remote_put("alien.txt", b"alien", 1_500_000_000);
    s.remote_put("index.html", b"<h1>ha</h1>\n", 1_500_000_000); // the local size
    s.remote_put("empty.txt", b"not empty", 1_500_000_000);
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    // No local file is named alien.txt, and empty.txt's size differs: their times decide
    // nothing; index.html has the local size: only its exact time tells.
    let first = mdtm_reads(&s.srv.command_lines().unwrap());
    assert_eq!(first, ["/www/index.html"], "{first:?}");
    let seen = first.len();
    // A new size (site.css), the same size one second later (.htaccess: only an exact time
    // shows it), the rest unchanged.
    put(&s.src, "css/site.css", b"body{margin:0}\n", 1_600_000_100);
    put(&s.src, ".htaccess", b"Options +Indexes\n", 1_600_000_051);
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("(0 new, 2 updated)"), "{}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
    let reads = mdtm_reads(&s.srv.command_lines().unwrap())[seen..].to_vec();
    let read = |name: &str| reads.iter().any(|p| p.ends_with(name));
    assert!(!read("/css/site.css"), "its size differs: {reads:?}");
    for same_size in [
        "/index.html",
        "/.htaccess",
        "/css/deep/er/x.css",
        "/empty.txt",
        " file.txt", // vsftpd logs the UTF-8 name as ??n??c??d??
    ] {
        assert!(read(same_size), "{same_size} has the local size: {reads:?}");
    }
    assert_eq!(reads.len(), 5, "{reads:?}");
}

#[test]
fn vsftpd_without_mdtm_write_stops_before_anything_is_deleted_naming_what_it_tried() {
    let s = Site::new(Vsftpd::builder().mdtm_write(false).start(), "", "");
    small_tree(&s.src);
    s.remote_put("alien.txt", b"alien", 1_500_000_000);
    s.remote_put("index.html", b"old", 1_500_000_000);
    let before = server_state(&s.dest());
    let r = s.run(&[]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.all().contains("MDTM (2 arguments)"), "{}", r.all());
    assert!(r.all().contains("550"), "names the answer: {}", r.all());
    assert_eq!(server_state(&s.dest()), before, "nothing may change");
    // on a file, never on a directory
    let cmds = s.srv.command_lines().unwrap();
    let tried: Vec<&String> = cmds.iter().filter(|c| c.starts_with("MDTM 2")).collect();
    assert_eq!(tried.len(), 1, "{cmds:?}");
    assert!(
        tried[0].ends_with("/www/alien.txt") || tried[0].ends_with("/www/index.html"),
        "{tried:?}"
    );
}

#[test]
fn vsftpd_over_ftps_with_require_ssl_reuse_converges() {
    let s = Site::new(
        Vsftpd::builder().tls(true).require_ssl_reuse(true).start(),
        "",
        "",
    );
    converges(&s);
    let r = s.check();
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("session resumed by data connections"),
        "{}",
        r.all()
    );
}

#[test]
fn proftpd_with_allow_overwrite_off_replaces_by_removing_first_and_check_says_so() {
    let s = Site::new(ProftpdBuilder::new().stock_overwrite(true).start(), "", "");
    converges(&s);
    let r = s.check();
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("peex removes the old file, then renames"),
        "{}",
        r.all()
    );
}

#[test]
fn pure_ftpd_truncated_listing_deletes_nothing_in_that_directory_and_exits_1() {
    let s = Site::new(PureFtpd::builder().limit_recursion(5).start(), "", "");
    for i in 0..8 {
        s.remote_put(&format!("big/alien{i}.txt"), b"a", 1_500_000_000);
    }
    s.remote_put("gone.txt", b"g", 1_500_000_000);
    put(&s.src, "big/keep.txt", b"k", 1_600_000_000);
    put(&s.src, "a.txt", b"a", 1_600_000_000);
    let r = s.run(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.all().contains("Output truncated"), "{}", r.all());
    for i in 0..8 {
        assert!(
            s.dest().join(format!("big/alien{i}.txt")).exists(),
            "alien{i} deleted"
        );
    }
}

#[test]
fn pure_ftpd_remote_symlinks_are_links_never_followed_or_written_through() {
    let s = Site::new(PureFtpd::start(), "", "");
    let outside = s.srv.root().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("precious.txt"), b"precious").unwrap();
    chown_tree(&outside);
    std::os::unix::fs::symlink(&outside, s.dest().join("linkdir")).unwrap();
    std::os::unix::fs::symlink(outside.join("precious.txt"), s.dest().join("page.html")).unwrap();
    put(&s.src, "page.html", b"new page", 1_600_000_000);
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(fs::read(outside.join("precious.txt")).unwrap(), b"precious");
    assert!(
        !s.dest().join("linkdir").exists(),
        "the alien link is removed (not its target)"
    );
    assert!(outside.join("precious.txt").exists());
    assert!(!fs::symlink_metadata(s.dest().join("page.html"))
        .unwrap()
        .is_symlink());
    assert_same_tree(&s.src, &s.dest(), &none);
}

#[test]
fn pure_ftpd_a_link_below_the_first_level_is_never_read_ahead_as_a_directory() {
    let s = Site::new(PureFtpd::start(), "", "");
    // The remote `a/b` is a link to `outside`, which holds `c/`; the local side has a real
    // `a/b/c/`: a directory read ahead from the local tree (`a/b/c`, through the link) must
    // not be what plans `a/b/c` — else `outside/c/precious.txt` looks remote-only and goes.
    let outside = s.srv.root().join("outside");
    fs::create_dir_all(outside.join("c")).unwrap();
    fs::write(outside.join("c/precious.txt"), b"precious").unwrap();
    chown_tree(&outside);
    put(&s.src, "a/b/c/x.txt", b"x", 1_600_000_000);
    put(&s.src, "a/y.txt", b"y", 1_600_000_000);
    for jobs in ["1", "4"] {
        let _ = fs::remove_dir_all(s.dest().join("a"));
        s.remote_put("a/y.txt", b"y", 1_600_000_000);
        std::os::unix::fs::symlink(&outside, s.dest().join("a/b")).unwrap();
        let r = s.run(&["-j", jobs]);
        assert_eq!(r.code, 0, "-j {jobs}: {}", r.all());
        assert_eq!(
            fs::read(outside.join("c/precious.txt")).unwrap(),
            b"precious"
        );
        assert!(
            !outside.join("c/x.txt").exists(),
            "nothing written through the link"
        );
        assert!(!fs::symlink_metadata(s.dest().join("a/b"))
            .unwrap()
            .is_symlink());
        assert_same_tree(&s.src, &s.dest(), &none);
    }
}

// ---- Windows servers: their behaviours, scenarios of the fake server ----

mod windows {
    use super::*;
    use peex_tests::fakeftp::{FakeFtp, Profile, PASSWORD, USER};

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
            peex(&args)
        }

        fn count(&self, prefix: &str) -> usize {
            self.srv
                .commands()
                .iter()
                .filter(|c| c.starts_with(prefix))
                .count()
        }
    }

    /// Every local file is on the server with its bytes and its time.
    fn assert_arrived(c: &Case, files: &[(&str, &[u8], &str)]) {
        let got = c.srv.files();
        for (rel, data, modify) in files {
            let path = format!("/www/{rel}");
            assert_eq!(
                got.get(&path).map(Vec::as_slice),
                Some(*data),
                "{path}: {got:?}"
            );
            assert_eq!(c.srv.modify_of(&path).as_deref(), Some(*modify), "{path}");
        }
    }

    const FILES: [(&str, &[u8], &str); 3] = [
        ("index.html", b"<h1>hi</h1>\n", "20200913122640"),
        ("css/site.css", b"body{}\n", "20200913122820"),
        ("empty.txt", b"", "20200913123140"),
    ];

    fn tree(src: &Path) {
        put(src, "index.html", b"<h1>hi</h1>\n", 1_600_000_000);
        put(src, "css/site.css", b"body{}\n", 1_600_000_100);
        put(src, "empty.txt", b"", 1_600_000_300);
    }

    #[test]
    fn filezilla_09_sets_times_on_files_though_it_refuses_them_on_directories() {
        let c = Case::new(
            FakeFtp::builder()
                .profile(Profile::FileZilla09)
                .dir("/www")
                .start(),
        );
        tree(&c.src);
        let r = c.run(&[]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_arrived(&c, &FILES);
        let cmds = c.srv.commands();
        // the directory was tried (it is all there was), refused, and a file confirmed MFMT
        assert!(
            cmds.iter()
                .any(|c| c.starts_with("MFMT") && c.ends_with(" /www")),
            "{cmds:#?}"
        );
        assert!(
            !cmds.iter().any(|c| c.starts_with("SITE")),
            "MFMT works on files: {cmds:#?}"
        );
        // with a file to try on, a directory is never tried
        let before = c.count("MFMT");
        put(&c.src, "index.html", b"<h1>ho</h1>\n", 1_700_000_000);
        let r = c.run(&[]);
        assert_eq!(r.code, 0, "{}", r.all());
        let cmds = c.srv.commands();
        let mfmt: Vec<&String> = cmds
            .iter()
            .filter(|c| c.starts_with("MFMT"))
            .skip(before)
            .collect();
        assert!(mfmt.iter().all(|c| !c.ends_with(" /www")), "{mfmt:#?}");
        assert_eq!(
            c.srv.modify_of("/www/index.html").as_deref(),
            Some("20231114221320")
        );
    }

    #[test]
    fn filezilla_09_refusing_rename_onto_a_file_gets_remove_then_rename() {
        let c = Case::new(
            FakeFtp::builder()
                .profile(Profile::FileZilla09)
                .file("/www/index.html", b"old", "20100101000000")
                .file("/www/empty.txt", b"old", "20100101000000")
                .start(),
        );
        tree(&c.src);
        let r = c.run(&["-j", "1"]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_arrived(&c, &FILES);
        let cmds = c.srv.commands();
        assert_eq!(
            cmds.iter()
                .filter(|c| c.starts_with("RNTO /www/") && !c.contains("css"))
                .count(),
            3,
            "one refused RNTO, then one per file: {cmds:#?}"
        );
        assert!(
            cmds.iter()
                .any(|c| c == "DELE /www/index.html" || c == "DELE /www/empty.txt"),
            "{cmds:#?}"
        );
        assert!(!cmds.iter().any(|c| c.contains(".peex-tmp.")
            && c.starts_with("STOR")
            && c.contains("index")
            && c.contains("empty")));
        let r = peex(&["check", "-j", "1", c.cfg.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(
            r.stdout.contains("peex removes the old file, then renames"),
            "{}",
            r.all()
        );
    }

    #[test]
    fn filezilla_1_refusing_rename_onto_a_file_gets_remove_then_rename() {
        let c = Case::new(
            FakeFtp::builder()
                .profile(Profile::FileZilla1)
                .file("/www/index.html", b"old", "20100101000000")
                .start(),
        );
        tree(&c.src);
        let r = c.run(&[]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_arrived(&c, &FILES);
        assert!(c.srv.commands().iter().any(|c| c == "DELE /www/index.html"));
    }

    #[test]
    fn iis_dos_listing_is_read_with_list_and_mdtm_and_a_rerun_uploads_nothing() {
        let c = Case::new(
            FakeFtp::builder()
                .profile(Profile::Iis)
                .file("/www/alien.txt", b"alien", "20100101000000")
                .dir("/www/olddir")
                .start(),
        );
        tree(&c.src);
        let r = c.run(&[]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_arrived(&c, &FILES);
        assert!(!c.srv.files().contains_key("/www/alien.txt"));
        assert!(!c.srv.dirs().contains("/www/olddir"));
        let cmds = c.srv.commands();
        assert!(cmds.iter().any(|c| c == "LIST -a"), "{cmds:#?}");
        assert!(
            cmds.iter().any(|c| c == "LIST"),
            "LIST -a refused, plain LIST: {cmds:#?}"
        );
        let (stors, mdtms) = (c.count("STOR"), c.count("MDTM /www/index.html"));
        let r = c.run(&[]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(c.count("STOR"), stors, "the re-run uploaded something");
        assert_eq!(
            c.count("MDTM /www/index.html"),
            mdtms + 1,
            "exact times by MDTM"
        );
    }
}

#[test]
fn pure_ftpd_is_pipelined_safely_nothing_sent_during_a_transfer() {
    // The greeting names Pure-FTPd (which answers 500 to, and throws away, commands that
    // arrive during STOR/RETR): safe pipelining, shown by peex check; the sync converges.
    let s = Site::new(PureFtpd::start(), "", "");
    small_tree(&s.src);
    let r = s.check();
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("pipelining               safe (Pure-FTPd)"),
        "{}",
        r.all()
    );
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
}

// ---- FTPS with TLS 1.3: many uploads, each data connection resuming the session ----

/// More files than the tickets any server hands out at once (OpenSSL: two after the
/// control connection's handshake), in a few directories.
const MANY: usize = 60;

/// `MANY` files in four directories, all at `mtime`.
fn many_files(src: &Path, tag: &str, mtime: i64) {
    for i in 0..MANY {
        put(
            src,
            &format!("d{}/f{i:02}.txt", i % 4),
            format!("{tag} {i}\n").as_bytes(),
            mtime,
        );
    }
}

/// Over FTPS: `MANY` uploads at `-j 1`, then `MANY` replacements at `-j 4`, converge with
/// nothing retried; `peex check` says `expected` of the TLS session (`TLS 1.3, session
/// resumed by data connections`, …).
fn many_uploads_over_ftps_converge(s: &Site, expected: &str) {
    let name = s.srv.name().to_owned();
    many_files(&s.src, "one", 1_600_000_000);
    let r = s.run(&["-j", "1"]);
    assert_eq!(r.code, 0, "{name} -j 1: {}", r.all());
    assert!(!r.stderr.contains("retried"), "{name} -j 1: {}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
    many_files(&s.src, "four connections", 1_700_000_000);
    let r = s.run(&["-j", "4"]);
    assert_eq!(r.code, 0, "{name} -j 4: {}", r.all());
    assert!(!r.stderr.contains("retried"), "{name} -j 4: {}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
    s.assert_rerun_changes_nothing();
    let r = s.check();
    assert_eq!(r.code, 0, "{name}: {}", r.all());
    assert!(r.stdout.contains(expected), "{name}: {}", r.all());
}

/// The TLS log of the proftpd whose directory is `dir` (`mod_tls`'s `TLSLog`).
fn tls_log(dir: &Path) -> String {
    fs::read_to_string(dir.join("tls.log")).unwrap_or_default()
}

#[test]
fn vsftpd_over_ftps_with_tls13_resumes_the_session_on_every_upload() {
    // vsftpd (OpenSSL's defaults: two tickets after a full handshake, one more after each
    // resumed one) refuses a data connection that does not resume a session
    // (require_ssl_reuse, "522 SSL connection failed: session reuse required"): each
    // upload's data connection must bring in the ticket sent on it.
    let s = Site::new(
        Vsftpd::builder().tls(true).require_ssl_reuse(true).start(),
        "",
        "",
    );
    many_uploads_over_ftps_converge(&s, "TLS 1.3, session resumed by data connections");
}

#[test]
fn pure_ftpd_over_ftps_with_tls13_makes_full_handshakes_it_sends_no_tickets() {
    // Pure-FTPd 1.0.50 sends no TLS 1.3 ticket (SSL_CTX_set_num_tickets(ctx, 0)) and does
    // not check resumption: data connections make full handshakes, and TLS 1.3 stays.
    let s = Site::new(PureFtpd::builder().tls(true).start(), "", "");
    many_uploads_over_ftps_converge(
        &s,
        "TLS 1.3, no session resumption: the server sends no session tickets",
    );
}

#[test]
fn proftpd_over_ftps_keeps_to_tls12_as_its_greeting_names_it_and_resumes_on_every_upload() {
    // proftpd sends two TLS 1.3 tickets after the control connection's handshake and none
    // on data connections: with TLS 1.3 the third data connection would be refused (the
    // next test), so its greeting keeps peex to TLS 1.2 from the start.
    let srv = ProftpdBuilder::new().tls(true).start();
    let dir = srv.dir().to_path_buf();
    let s = Site::new(srv, "", "");
    many_uploads_over_ftps_converge(&s, "TLS 1.2, session resumed by data connections");
    let r = s.check();
    assert!(
        r.stdout
            .contains("not used: proftpd sends TLS 1.3 session tickets"),
        "{}",
        r.all()
    );
    let log = tls_log(&dir);
    assert!(log.contains("TLSv1.2 connection accepted"), "{log}");
    assert!(!log.contains("TLSv1.3"), "{log}");
    assert!(!log.contains("did not reuse"), "{log}");
}

#[test]
fn proftpd_over_tls13_refuses_the_third_data_connection_naming_session_reuse_and_the_options() {
    // The proof that proftpd cannot serve a rustls client's data connections under TLS 1.3:
    // tls13=on forces it; the two tickets of the control connection's handshake resume
    // two data connections (a listing and an upload), proftpd sends no more, and refuses
    // the third: "client did not reuse TLS session". peex's message names session reuse,
    // the server's options and its own.
    let srv = ProftpdBuilder::new().tls(true).start();
    let dir = srv.dir().to_path_buf();
    let s = Site::with_options(srv, "options: { \"tls13\": \"on\" }, retries: 0");
    many_files(&s.src, "one", 1_600_000_000);
    let r = s.run(&["-j", "1"]);
    assert_ne!(r.code, 0, "{}", r.all());
    let log = tls_log(&dir);
    assert!(
        log.contains("TLSv1.3 connection accepted"),
        "{log}\n{}",
        r.all()
    );
    assert!(
        log.contains("client reused TLS session for data connection"),
        "{log}"
    );
    assert!(
        log.contains("client did not reuse TLS session, rejecting data connection"),
        "{log}"
    );
    for part in [
        "425",
        "TLS session reuse",
        "TLS 1.3, each data connection with a session ticket of its own: the server sent ",
        "it did not resume it",
        "proftpd's TLSOptions NoSessionReuseRequired",
        "vsftpd's require_ssl_reuse=NO",
        "tls13=off",
    ] {
        assert!(r.stderr.contains(part), "{part:?}: {}", r.all());
    }
}

#[test]
fn proftpd_hiding_its_name_over_tls13_falls_back_to_tls12_once_its_tickets_run_out() {
    // A greeting that does not say proftpd: TLS 1.3 until a connection holds no ticket
    // for its next data connection (before any data connection is refused); then TLS 1.2
    // for the rest of the run, and the sync converges.
    let srv = ProftpdBuilder::new()
        .tls(true)
        .config_line("ServerIdent on \"FTP server ready\"")
        .start();
    let dir = srv.dir().to_path_buf();
    let s = Site::new(srv, "", "");
    many_files(&s.src, "one", 1_600_000_000);
    let r = s.run(&["-j", "4"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, &s.dest(), &none);
    let log = tls_log(&dir);
    assert!(log.contains("TLSv1.3 connection accepted"), "{log}");
    assert!(log.contains("TLSv1.2 connection accepted"), "{log}");
    assert!(
        !log.contains("did not reuse"),
        "no data connection refused: {log}"
    );
    s.assert_rerun_changes_nothing();
}

#[test]
fn proftpd_with_allow_overwrite_off_over_ftps_converges() {
    let s = Site::new(
        ProftpdBuilder::new()
            .tls(true)
            .stock_overwrite(true)
            .start(),
        "",
        "",
    );
    converges(&s);
    many_uploads_over_ftps_converge(&s, "TLS 1.2, session resumed by data connections");
    let r = s.check();
    assert!(
        r.stdout.contains("peex removes the old file, then renames"),
        "{}",
        r.all()
    );
}
