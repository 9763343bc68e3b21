#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

//! End-to-end: the real `peex` binary on hostile local trees — symbolic links (outside,
//! dangling, loops), FIFOs, sockets and devices, unreadable entries (peex run as an
//! unprivileged user), a file appended to while it is uploaded, names that are not UTF-8,
//! that differ only by case, or by Unicode normalisation.
//!
//! Each case runs twice: over the `local` transport (`::local`) and over FTP to a real
//! proftpd (`::ftp`); the case-folding server is the fake server's IIS scenario.

mod common;

use common::*;
use peex_tests::fakeftp::{FakeFtp, PASSWORD, USER};
use peex_tests::ftpd::{chown_tree, Proftpd};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const T: i64 = 1_600_000_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Local,
    Ftp,
}

/// A site: a local source in a temp dir (with a sibling `outside/` directory for links to
/// point at), and a destination directory on disk, served by proftpd or used directly.
struct Site {
    srv: Option<Proftpd>,
    tmp: tempfile::TempDir,
    src: PathBuf,
    dest: PathBuf,
    cfg: PathBuf,
}

impl Site {
    fn new(kind: Kind, site_extra: &str) -> Site {
        let tmp = tempfile::tempdir().unwrap();
        // readable by the unprivileged user of the permission tests
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::create_dir_all(tmp.path().join("outside")).unwrap();
        let (srv, dest, text) = match kind {
            Kind::Local => {
                let dest = tmp.path().join("dest");
                fs::create_dir_all(&dest).unwrap();
                let text = format!(
                    "[site]\ntransport=local\nsource={}/\ndest={}/\n{site_extra}\n",
                    src.display(),
                    dest.display()
                );
                (None, dest, text)
            }
            Kind::Ftp => {
                let srv = Proftpd::start();
                let dest = srv.root().join("www");
                fs::create_dir_all(&dest).unwrap();
                chown_tree(&dest);
                let text = format!(
                    "[site]\nhost=127.0.0.1\nport={}\nuser={}\npass={}\nsource={}/\n\
                     dest=/www/\ntimeout=20\n{site_extra}\n",
                    srv.port(),
                    srv.user(),
                    srv.password(),
                    src.display(),
                );
                (Some(srv), dest, text)
            }
        };
        let cfg = write_config(tmp.path(), "site.peex", &text);
        Site {
            srv,
            tmp,
            src,
            dest,
            cfg,
        }
    }

    fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }

    /// Puts a file on the remote side (owned by the FTP user for proftpd).
    fn remote_put(&self, rel: &str, content: &[u8], mtime: i64) {
        put(&self.dest, rel, content, mtime);
        chown_tree(&self.dest);
    }

    /// Runs peex (stopped after two minutes: a hang is a failure, not a stuck suite).
    fn run(&self, extra: &[&str]) -> Run {
        self.run_with(&[], extra)
    }

    /// Runs peex as the unprivileged user `nobody` (root reads everything).
    fn run_as_nobody(&self, extra: &[&str]) -> Run {
        let setpriv = peex_tests::util::require_program("setpriv", "util-linux");
        let setpriv = setpriv.to_str().unwrap().to_owned();
        // the config, and a local destination (proftpd's belongs to its own user)
        let mut mine = vec![&self.cfg];
        if self.srv.is_none() {
            mine.push(&self.dest);
        }
        for p in mine {
            Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(p)
                .status()
                .unwrap();
        }
        self.run_with(
            &[
                &setpriv,
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "--",
            ],
            extra,
        )
    }

    fn run_with(&self, prefix: &[&str], extra: &[&str]) -> Run {
        let bin = peex_bin();
        let mut c = Command::new(prefix.first().copied().unwrap_or("timeout"));
        if !prefix.is_empty() {
            c.args(&prefix[1..]).arg("timeout");
        }
        c.args(["-s", "KILL", "120"])
            .arg(&bin)
            .args(extra)
            .arg(&self.cfg)
            .env_remove("PEEX_PASSWORD")
            .env_remove("NETRC")
            .env_remove("PEEX_PLUGIN_PATH")
            .env("HOME", "/nonexistent-peex-test-home");
        let out = c.output().unwrap();
        let r = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert_ne!(r.code, 137, "peex hung (killed after 120 s)\n{}", r.all());
        assert_ne!(r.code, 101, "peex panicked\n{}", r.all());
        assert!(!r.stderr.contains("panicked"), "peex panicked\n{}", r.all());
        r
    }

    /// The `STOR` arguments the server logged (FTP only; empty for `local`).
    fn stores(&self) -> Vec<String> {
        match &self.srv {
            Some(s) => s
                .commands_settled()
                .into_iter()
                .filter(|c| c.command.eq_ignore_ascii_case("STOR"))
                .map(|c| c.arg)
                .collect(),
            None => Vec::new(),
        }
    }
}

/// One test per transport: `name::local` and `name::ftp`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn local() {
                super::$name(super::Kind::Local)
            }
            #[test]
            fn ftp() {
                super::$name(super::Kind::Ftp)
            }
        }
    )*};
}

both!(
    a_symlink_to_outside_the_source_is_skipped_and_its_remote_kept,
    symlinks_skip_skips_every_link,
    symlinks_follow_follows_outside_links_but_never_a_loop,
    fifos_sockets_and_devices_are_skipped_unopened_and_their_remote_kept,
    an_unreadable_file_or_directory_fails_by_name_and_nothing_is_deleted,
    a_file_appended_to_while_uploaded_is_never_put_in_place,
    a_name_that_is_not_utf8_is_an_error_naming_it,
    names_differing_only_by_case_both_go_to_a_server_that_keeps_case,
    an_nfd_local_name_and_its_nfc_remote_are_one_entry,
);

fn read(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn a_symlink_to_outside_the_source_is_skipped_and_its_remote_kept(kind: Kind) {
    let s = Site::new(kind, "");
    let out = s.outside();
    put(&out, "id_ed25519", b"PRIVATE KEY", T);
    put(&out, "app/db.sqlite", b"secret rows", T);
    put(&s.src, "index.html", b"<h1>home</h1>", T);
    put(&s.src, "v2/page.html", b"v2 page", T);
    put(&s.src, "a/b/c.txt", b"c", T);
    symlink(out.join("id_ed25519"), s.src.join("key.txt")).unwrap();
    symlink(out.join("app"), s.src.join("data")).unwrap();
    symlink("v2", s.src.join("latest")).unwrap();
    symlink("index.html", s.src.join("home.html")).unwrap();
    symlink("../../..", s.src.join("a/b/loop")).unwrap();
    symlink("nowhere.txt", s.src.join("dangling.txt")).unwrap();
    // remote counterparts of skipped links, and an alien file a clean run deletes
    s.remote_put("data/old.txt", b"remote data", T);
    s.remote_put("key.txt", b"public key", T);
    s.remote_put("alien.txt", b"gone locally", T);

    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    // outside, dangling and loop links: skipped with a warning naming link and target
    for (link, target) in [
        ("src/key.txt", "outside/id_ed25519"),
        ("src/data", "outside/app"),
        ("src/a/b/loop", "../../.."),
        ("src/dangling.txt", "nowhere.txt"),
    ] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains(link) && l.contains(target) && l.contains("skipped")),
            "no warning for {link} -> {target}\n{}",
            r.all()
        );
    }
    assert!(r.stdout.contains("4 symbolic links skipped"), "{}", r.all());
    // nothing from outside reached the server; the skipped links' remotes are untouched
    assert_eq!(read(&s.dest.join("key.txt")), b"public key");
    assert_eq!(read(&s.dest.join("data/old.txt")), b"remote data");
    assert!(!s.dest.join("data/db.sqlite").exists());
    assert!(!s.dest.join("a/b/loop").exists());
    assert!(!s.dest.join("dangling.txt").exists());
    // links inside the source are followed: a directory as a directory, a file as a file
    assert_eq!(read(&s.dest.join("latest/page.html")), b"v2 page");
    assert_eq!(read(&s.dest.join("home.html")), b"<h1>home</h1>");
    assert!(fs::symlink_metadata(s.dest.join("latest"))
        .unwrap()
        .is_dir());
    assert!(!s.dest.join("alien.txt").exists(), "a clean run deletes");
    for r in s.stores() {
        assert!(!r.contains("loop") && !r.contains("db.sqlite"), "{r}");
    }
    // a second run changes nothing and still keeps the remote counterparts
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("0 files created"), "{}", r.all());
    assert_eq!(read(&s.dest.join("data/old.txt")), b"remote data");
}

fn symlinks_skip_skips_every_link(kind: Kind) {
    // (a link a rule ignores is not warned about)
    let s = Site::new(kind, "\n[exceptions]\n^tmp-link$=ignore");
    put(&s.src, "index.html", b"home", T);
    symlink("/etc/passwd", s.src.join("tmp-link")).unwrap();
    put(&s.src, "v2/page.html", b"v2", T);
    symlink("v2", s.src.join("latest")).unwrap();
    symlink("index.html", s.src.join("home.html")).unwrap();
    s.remote_put("latest/kept.html", b"remote", T);
    let r = s.run(&["--symlinks", "skip"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("2 symbolic links skipped"), "{}", r.all());
    assert!(r.stderr.contains("symlinks = skip"), "{}", r.all());
    assert!(!r.stderr.contains("tmp-link"), "{}", r.all());
    assert!(!s.dest.join("home.html").exists());
    assert!(!s.dest.join("latest/page.html").exists());
    assert_eq!(read(&s.dest.join("latest/kept.html")), b"remote");
    assert_eq!(read(&s.dest.join("v2/page.html")), b"v2");
}

fn symlinks_follow_follows_outside_links_but_never_a_loop(kind: Kind) {
    let s = Site::new(kind, "symlinks = follow");
    let out = s.outside();
    put(&out, "shared/logo.png", b"logo", T);
    put(&s.src, "index.html", b"home", T);
    symlink(out.join("shared"), s.src.join("shared")).unwrap();
    // a loop through the outside directory back to the source
    symlink(&s.src, out.join("shared/back")).unwrap();
    symlink(".", s.src.join("here")).unwrap();
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(read(&s.dest.join("shared/logo.png")), b"logo");
    assert!(!s.dest.join("shared/back").exists(), "{}", r.all());
    assert!(!s.dest.join("here").exists(), "{}", r.all());
    for link in ["src/shared/back", "src/here"] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains(link) && l.contains("closes a loop")),
            "{link}\n{}",
            r.all()
        );
    }
    assert_eq!(walk_depth(&s.dest), 1, "a loop was followed");
    let r2 = s.run(&[]);
    assert_eq!(r2.code, 0, "{}", r2.all());
}

/// The deepest path below `root`, in components.
fn walk_depth(root: &Path) -> usize {
    fn go(p: &Path, d: usize) -> usize {
        let mut m = d;
        if let Ok(rd) = fs::read_dir(p) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    m = m.max(go(&e.path(), d + 1));
                }
            }
        }
        m
    }
    go(root, 0)
}

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn fifos_sockets_and_devices_are_skipped_unopened_and_their_remote_kept(kind: Kind) {
    let s = Site::new(kind, "");
    put(&s.src, "index.html", b"home", T);
    let st = Command::new("mkfifo")
        .arg(s.src.join("pipe"))
        .status()
        .unwrap();
    assert!(st.success());
    let _sock = std::os::unix::net::UnixListener::bind(s.src.join("app.sock")).unwrap();
    let mut special = 2;
    if is_root() {
        // a character device like /dev/zero: reading it would never end
        let st = Command::new("mknod")
            .arg(s.src.join("zero"))
            .args(["c", "1", "5"])
            .status()
            .unwrap();
        assert!(st.success());
        special += 1;
    }
    symlink("pipe", s.src.join("to-pipe")).unwrap();
    s.remote_put("pipe", b"remote pipe file", T);
    s.remote_put("app.sock/x", b"remote dir", T);
    s.remote_put("alien.txt", b"gone locally", T);
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("pipe: a FIFO skipped"), "{}", r.all());
    assert!(
        r.stderr.contains("app.sock: a socket skipped"),
        "{}",
        r.all()
    );
    if special == 3 {
        assert!(
            r.stderr.contains("zero: a device file skipped"),
            "{}",
            r.all()
        );
    }
    // a link to the FIFO (inside the source) is followed to a special file: skipped
    assert!(r.stderr.contains("to-pipe: a FIFO skipped"), "{}", r.all());
    assert!(
        r.stdout
            .contains(&format!("{} special files skipped", special + 1)),
        "{}",
        r.all()
    );
    assert_eq!(read(&s.dest.join("pipe")), b"remote pipe file");
    assert_eq!(read(&s.dest.join("app.sock/x")), b"remote dir");
    assert!(!s.dest.join("zero").exists() && !s.dest.join("to-pipe").exists());
    assert_eq!(read(&s.dest.join("index.html")), b"home");
    assert!(!s.dest.join("alien.txt").exists());
}

fn an_unreadable_file_or_directory_fails_by_name_and_nothing_is_deleted(kind: Kind) {
    let s = Site::new(kind, "");
    put(&s.src, "ok.txt", b"fine", T);
    put(&s.src, "secret.txt", b"new secret", T + 10);
    put(&s.src, "private/inner.txt", b"inner", T);
    put(&s.src, "listable/hidden.txt", b"h", T);
    // a link (inside the source) to a file in the unreadable directory: only it fails
    symlink("private/inner.txt", s.src.join("peek.txt")).unwrap();
    fs::set_permissions(s.src.join("secret.txt"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(s.src.join("private"), fs::Permissions::from_mode(0o000)).unwrap();
    // names can be listed, entries not looked at
    fs::set_permissions(s.src.join("listable"), fs::Permissions::from_mode(0o444)).unwrap();
    s.remote_put("secret.txt", b"old", T);
    s.remote_put("private/remote.txt", b"remote", T);
    s.remote_put("listable/hidden.txt", b"remote h", T);
    s.remote_put("alien.txt", b"gone locally", T);
    let r = s.run_as_nobody(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    let denied = |l: &str| l.to_lowercase().contains("permission denied");
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("src/peek.txt") && denied(l)),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.lines().any(|l| l.contains("src/secret.txt")
            && l.to_lowercase().contains("permission denied")),
        "{}",
        r.all()
    );
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("src/private") && l.to_lowercase().contains("permission denied")),
        "{}",
        r.all()
    );
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("src/listable/hidden.txt")
                && l.to_lowercase().contains("permission denied")),
        "{}",
        r.all()
    );
    // the rest went on; what failed is untouched remotely; no deletes
    assert_eq!(read(&s.dest.join("ok.txt")), b"fine");
    assert_eq!(read(&s.dest.join("secret.txt")), b"old");
    assert_eq!(read(&s.dest.join("private/remote.txt")), b"remote");
    assert_eq!(read(&s.dest.join("listable/hidden.txt")), b"remote h");
    assert_eq!(read(&s.dest.join("alien.txt")), b"gone locally");
    for p in ["secret.txt", "private", "listable"] {
        fs::set_permissions(s.src.join(p), fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn a_file_appended_to_while_uploaded_is_never_put_in_place(kind: Kind) {
    let s = Site::new(kind, "");
    put(&s.src, "index.html", b"home", T);
    let big: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    put(&s.src, "growing.log", &big, T);
    put(&s.src, "rewritten.bin", &big, T);
    s.remote_put("growing.log", b"the old log", T - 100);
    s.remote_put("rewritten.bin", b"the old bin", T - 100);
    s.remote_put("alien.txt", b"gone locally", T);
    let stop = Arc::new(AtomicBool::new(false));
    let appender = {
        let (stop, src) = (stop.clone(), s.src.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            use std::os::unix::fs::FileExt;
            let mut grow = fs::OpenOptions::new()
                .append(true)
                .open(src.join("growing.log"))
                .unwrap();
            // the same size throughout: only its times show that it changes
            let same = fs::OpenOptions::new()
                .write(true)
                .open(src.join("rewritten.bin"))
                .unwrap();
            let mut i = 0u8;
            while !stop.load(Ordering::Relaxed) {
                grow.write_all(b"x").unwrap();
                same.write_all_at(&[i], 0).unwrap();
                i = i.wrapping_add(1);
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };
    let r = s.run(&["-j", "1"]);
    stop.store(true, Ordering::Relaxed);
    appender.join().unwrap();
    assert_eq!(r.code, 1, "{}", r.all());
    for name in ["growing.log", "rewritten.bin"] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains(name) && l.contains("kept changing")),
            "{name}\n{}",
            r.all()
        );
    }
    // never put in place with mixed content: the remote files are the old ones
    assert_eq!(read(&s.dest.join("growing.log")), b"the old log");
    assert_eq!(read(&s.dest.join("rewritten.bin")), b"the old bin");
    assert_eq!(read(&s.dest.join("index.html")), b"home");
    assert_eq!(
        read(&s.dest.join("alien.txt")),
        b"gone locally",
        "no deletes"
    );
    if kind == Kind::Ftp {
        // each tried twice, each time to a temporary name
        let stores = s.stores();
        for name in ["growing.log", "rewritten.bin"] {
            let tries: Vec<&String> = stores.iter().filter(|a| a.contains(name)).collect();
            assert_eq!(tries.len(), 2, "{tries:?}");
            assert!(tries.iter().all(|a| is_temp(a)), "{tries:?}");
        }
    }
    // once it stops changing, the next run uploads it whole
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    for name in ["growing.log", "rewritten.bin"] {
        assert_eq!(read(&s.dest.join(name)), read(&s.src.join(name)), "{name}");
    }
}

fn a_name_that_is_not_utf8_is_an_error_naming_it(kind: Kind) {
    use std::os::unix::ffi::OsStrExt;
    let s = Site::new(kind, "");
    put(&s.src, "index.html", b"home", T);
    let bad = s.src.join(std::ffi::OsStr::from_bytes(b"caf\xe9 menu.txt"));
    fs::write(&bad, b"latin-1 name").unwrap();
    s.remote_put("alien.txt", b"gone locally", T);
    let r = s.run(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("caf\\xe9 menu.txt") && r.stderr.contains("not valid UTF-8"),
        "{}",
        r.all()
    );
    assert_eq!(read(&s.dest.join("index.html")), b"home");
    assert_eq!(
        read(&s.dest.join("alien.txt")),
        b"gone locally",
        "no deletes"
    );
}

fn names_differing_only_by_case_both_go_to_a_server_that_keeps_case(kind: Kind) {
    let s = Site::new(kind, "");
    put(&s.src, "README", b"upper", T);
    put(&s.src, "readme", b"lower", T);
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(read(&s.dest.join("README")), b"upper");
    assert_eq!(read(&s.dest.join("readme")), b"lower");
    // the probe left nothing behind
    let left: Vec<_> = fs::read_dir(&s.dest)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    // `peex check` says so
    let c = s.run_with(&[], &["check"]);
    assert!(
        c.stdout
            .lines()
            .any(|l| l.contains("probe: letter case") && l.contains("kept")),
        "{}",
        c.all()
    );
    // the remote listing now shows both: no probe needed, nothing stored
    if let Some(srv) = &s.srv {
        srv.commands_settled();
        srv.clear_log();
    }
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(s.stores(), Vec::<String>::new());
}

#[test]
fn names_differing_only_by_case_are_refused_on_a_case_folding_server_iis() {
    let srv = FakeFtp::builder().fold_case().dir("/www").start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    put(&src, "README", b"upper", T);
    put(&src, "sub/Logo.png", b"a", T);
    put(&src, "sub/logo.PNG", b"b", T);
    put(&src, "index.html", b"home", T);
    let text = format!(
        "[site]\nhost=127.0.0.1\nport={}\nuser={USER}\npass={PASSWORD}\nsource={}/\n\
         dest=/www/\ntimeout=10\n",
        srv.port(),
        src.display(),
    );
    let cfg = write_config(tmp.path(), "site.peex", &text);
    // a dry run cannot probe (it changes nothing): it warns
    let r = peex(&["-d", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("sub/Logo.png and sub/logo.PNG"),
        "{}",
        r.all()
    );
    assert!(!srv.commands().iter().any(|c| c.starts_with("STOR")));
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(
        r.stderr.contains("sub/Logo.png and sub/logo.PNG") && r.stderr.contains("folds case"),
        "{}",
        r.all()
    );
    // refused before any upload: only the probe's temporary files were stored
    let files = srv.files();
    assert!(files.is_empty(), "{files:?}");
    for c in srv.commands() {
        if c.starts_with("STOR") {
            assert!(c.contains(".peex-tmp."), "{c}");
        }
    }
    // `peex check` reports it
    let r = peex(&["check", cfg.to_str().unwrap()]);
    assert!(
        r.stdout.contains("probe: letter case") && r.stdout.contains("folded"),
        "{}",
        r.all()
    );
}

fn an_nfd_local_name_and_its_nfc_remote_are_one_entry(kind: Kind) {
    let s = Site::new(kind, "");
    let nfd = "cafe\u{301}";
    let nfc = "caf\u{e9}";
    put(&s.src, &format!("{nfd}/menu.txt"), b"menu", T);
    put(&s.src, &format!("{nfd}.txt"), b"same", T);
    put(&s.src, &format!("{nfc} 2.txt"), b"new version", T + 5);
    s.remote_put(&format!("{nfc}/menu.txt"), b"menu", T);
    s.remote_put(&format!("{nfc}.txt"), b"same", T);
    s.remote_put(&format!("{nfd} 2.txt"), b"old version", T);
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    // nothing deleted, the server's spelling kept, the changed file updated in place
    let mut names: Vec<String> = fs::read_dir(&s.dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want = vec![nfc.to_owned(), format!("{nfc}.txt"), format!("{nfd} 2.txt")];
    want.sort();
    assert_eq!(names, want, "{}", r.all());
    assert_eq!(read(&s.dest.join(format!("{nfd} 2.txt"))), b"new version");
    assert!(r.stdout.contains("0 files removed"), "{}", r.all());
    assert!(r.stdout.contains("1 file created"), "{}", r.all());
    // and the next run changes nothing
    let r = s.run(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("0 files created") && r.stdout.contains("0 files removed"),
        "{}",
        r.all()
    );
}
