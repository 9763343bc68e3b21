//! End-to-end: the real `peex` binary over SFTP against a real OpenSSH `sshd` started for
//! each test (see `peex_tests::sshd`).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use peex_tests::sshd::Sshd;
use std::fs;
use std::path::{Path, PathBuf};

struct Site {
    srv: Sshd,
    tmp: tempfile::TempDir,
    src: PathBuf,
}

impl Site {
    fn new(srv: Sshd) -> Site {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(
            tmp.path().join("known_hosts"),
            srv.known_hosts_line() + "\n",
        )
        .unwrap();
        Site { srv, tmp, src }
    }
    fn dest(&self) -> &Path {
        self.srv.root()
    }
    /// A PEEX INI config: `auth` lines (pass=… or key_file=…), then `extra`, then rules.
    fn config(&self, name: &str, auth: &str, extra: &str, exceptions: &str) -> PathBuf {
        write_config(
            self.tmp.path(),
            name,
            &format!(
                "[site]\ntransport=sftp\nhost=127.0.0.1\nport={}\nuser={}\n{auth}\nsource={}\n\
                 dest={}\nknown_hosts={}\n{extra}\n\n[exceptions]\n{exceptions}\n",
                self.srv.port(),
                self.srv.user(),
                self.src.display(),
                self.dest().display(),
                self.tmp.path().join("known_hosts").display(),
            ),
        )
    }
    fn password_config(&self, exceptions: &str) -> PathBuf {
        self.config(
            "site.peex",
            &format!("pass={}", self.srv.password()),
            "",
            exceptions,
        )
    }
    /// Puts a file on the server side, owned by the SSH user.
    fn remote_put(&self, rel: &str, content: &[u8], mtime: i64) {
        put(self.dest(), rel, content, mtime);
        chown_to_root_owner(self.dest());
    }
    /// sftp-server log lines that change something.
    fn writes_logged(&self) -> Vec<String> {
        self.srv
            .log()
            .lines()
            .filter(|l| {
                let l = l.to_lowercase();
                (l.contains("open ") && l.contains("flags write"))
                    || [
                        "remove name",
                        "rename old",
                        "posix-rename",
                        "mkdir name",
                        "rmdir name",
                        "set \"",
                    ]
                    .iter()
                    .any(|w| l.contains(w))
            })
            .map(str::to_owned)
            .collect()
    }
}

/// Gives everything below `root` to the owner of `root` (the SSH test user).
fn chown_to_root_owner(root: &Path) {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(root).unwrap();
    fn walk(p: &Path, uid: u32, gid: u32) {
        std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
        if p.is_dir() {
            for e in fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path(), uid, gid);
            }
        }
    }
    walk(root, m.uid(), m.gid());
}

fn tree(src: &Path) {
    put(src, "index.html", b"<h1>hi</h1>\n", 1_600_000_000);
    put(src, "css/site.css", b"body{}\n", 1_600_000_100);
    put(src, "deep/er/x.txt", b"x", 1_600_000_200);
    put(src, "empty.txt", b"", 1_600_000_300);
    put(
        src,
        "with space/ünïcødé.txt",
        "ça\n".as_bytes(),
        1_600_000_400,
    );
}

#[test]
fn sftp_first_sync_noop_and_change_converge() {
    let s = Site::new(Sshd::start());
    tree(&s.src);
    let cfg = s.password_config("");
    let r = peex(&["-j", "3", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, s.dest(), &none);

    // no-op: nothing written on the server (checked in the sftp-server log)
    let before = s.writes_logged().len();
    assert!(
        before > 0,
        "the server log shows no writes at all:\n{}",
        s.srv.log()
    );
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("0 files created"), "{}", r.all());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after = s.writes_logged();
    assert_eq!(
        after.len(),
        before,
        "no-op run wrote: {:?}",
        &after[before..]
    );

    // change, add, delete
    put(&s.src, "index.html", b"<h1>changed</h1>\n", 1_700_000_000);
    put(&s.src, "new/n.txt", b"n", 1_700_000_000);
    fs::remove_dir_all(s.src.join("deep")).unwrap();
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, s.dest(), &none);
}

#[test]
fn sftp_exceptions_and_dry_run() {
    let s = Site::new(Sshd::start());
    tree(&s.src);
    put(&s.src, "offline/draft.html", b"d", 1_600_000_000);
    s.remote_put("uploads/user.png", b"user", 1_500_000_000);
    s.remote_put("alien.txt", b"alien", 1_500_000_000);
    let cfg = s.password_config("uploads=protect\n^offline$=ignore\n");
    let before = snapshot(s.dest(), &none);
    let writes = s.writes_logged().len();
    let r = peex(&["-d", "-v", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("- alien.txt"), "{}", r.all());
    assert_eq!(
        snapshot(s.dest(), &none),
        before,
        "dry run changed the server"
    );
    assert_eq!(
        s.writes_logged().len(),
        writes,
        "dry run wrote on the server"
    );

    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!s.dest().join("alien.txt").exists());
    assert!(!s.dest().join("offline").exists());
    assert_eq!(
        fs::read(s.dest().join("uploads/user.png")).unwrap(),
        b"user"
    );
    assert_same_tree(&s.src, s.dest(), &|p: &str| {
        p.starts_with("uploads") || p.starts_with("offline")
    });
}

#[test]
fn sftp_unknown_host_key_stops_before_login() {
    let s = Site::new(Sshd::start());
    tree(&s.src);
    fs::write(s.tmp.path().join("known_hosts"), "").unwrap();
    let cfg = s.password_config("");
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("SHA256:"), "{}", r.all());
    assert!(r.stderr.contains("accept_new_host_key"), "{}", r.all());
    assert!(!s.dest().join("index.html").exists());
    // accepting records the key, and the next run needs nothing more
    let cfg2 = s.config(
        "accept.peex",
        &format!("pass={}", s.srv.password()),
        "accept_new_host_key=true",
        "",
    );
    let r = peex(&[cfg2.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
}

#[test]
fn sftp_changed_host_key_is_refused_naming_file_and_line() {
    let s = Site::new(Sshd::start());
    tree(&s.src);
    let other = peex_tests::sshd::generate_ed25519(&s.tmp.path().join("other_key"), "");
    let mut fields = other.split_whitespace();
    let (kt, key) = (fields.next().unwrap(), fields.next().unwrap());
    let kh = format!(
        "# comment\nexample.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n[127.0.0.1]:{} {kt} {key}\n",
        s.srv.port()
    );
    fs::write(s.tmp.path().join("known_hosts"), &kh).unwrap();
    let cfg = s.config(
        "site.peex",
        &format!("pass={}", s.srv.password()),
        "accept_new_host_key=true",
        "",
    );
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("known_hosts:3"), "{}", r.all());
    assert_eq!(
        fs::read_to_string(s.tmp.path().join("known_hosts")).unwrap(),
        kh
    );
    assert!(!s.dest().join("index.html").exists());
}

#[test]
fn sftp_wrong_password_is_one_clear_line() {
    let s = Site::new(Sshd::start());
    tree(&s.src);
    let cfg = s.config("site.peex", "pass=Wr0ng-Secret", "", "");
    let r = peex(&["-vv", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.all());
    assert!(!r.all().contains("Wr0ng-Secret"));
}

#[test]
fn sftp_key_with_passphrase_from_config_and_environment() {
    let s = Site::new(Sshd::builder().passphrase_key(true).start());
    tree(&s.src);
    let key = s.srv.passphrase_key_file().unwrap().display().to_string();
    let cfg = s.config(
        "site.peex",
        &format!("key_file={key}\nkey_passphrase={}", s.srv.key_passphrase()),
        "agent=false",
        "",
    );
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&s.src, s.dest(), &none);
    assert!(!r.all().contains(s.srv.key_passphrase()));

    let env_cfg = s.config("env.peex", &format!("key_file={key}"), "agent=false", "");
    put(&s.src, "more.txt", b"m", 1_600_000_000);
    let r = peex_env(
        &[env_cfg.to_str().unwrap()],
        &[("PEEX_KEY_PASSPHRASE", s.srv.key_passphrase())],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(s.dest().join("more.txt").exists());

    let r = peex_env(
        &[env_cfg.to_str().unwrap()],
        &[("PEEX_KEY_PASSPHRASE", "wrong")],
    );
    assert_eq!(r.code, 3, "{}", r.all());
}

/// The same first sync, no-op and change against the second SFTP server implementation,
/// ProFTPD's mod_sftp (chrooted virtual user: dest is `/`).
#[test]
fn mod_sftp_first_sync_noop_and_change_converge() {
    let srv = peex_tests::modsftp::ModSftp::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let kh = tmp.path().join("known_hosts");
    fs::write(&kh, srv.known_hosts_line() + "\n").unwrap();
    let cfg = write_config(
        tmp.path(),
        "site.peex",
        &format!(
            "[site]\ntransport=sftp\nhost=127.0.0.1\nport={}\nuser={}\npass={}\nsource={}\n\
             dest=/\nknown_hosts={}\n",
            srv.port(),
            srv.user(),
            srv.password(),
            src.display(),
            kh.display(),
        ),
    );
    tree(&src);
    for i in 0..60 {
        put(
            &src,
            &format!("many/d{}/f{i}.txt", i % 7),
            &vec![b'x'; i * 700],
            1_600_000_000 + i as i64,
        );
    }
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&src, srv.root(), &none);

    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("0 files created"), "{}", r.all());

    put(&src, "index.html", b"<h1>changed</h1>\n", 1_700_000_000);
    put(&src, "new/n.txt", b"n", 1_700_000_000);
    fs::remove_dir_all(src.join("deep")).unwrap();
    fs::remove_file(src.join("many/d3/f3.txt")).unwrap();
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&src, srv.root(), &none);
}

/// Directories are listed ahead by the task above them: one the server refuses to list,
/// deep in the tree, is still reported once, naming it, and holds up the deletes only.
#[test]
fn sftp_an_unlistable_directory_deep_down_is_one_error_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let s = Site::new(Sshd::start());
    for d in ["a/b/c/locked", "a/b/c/open", "x/y"] {
        put(&s.src, &format!("{d}/f.txt"), b"local", 1_600_000_000);
    }
    let cfg = s.password_config("");
    let r = peex(&["-j", "4", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    s.remote_put("x/y/gone.txt", b"remote only", 1_500_000_000);
    put(&s.src, "a/b/c/open/new.txt", b"new", 1_600_000_000);
    let locked = s.dest().join("a/b/c/locked");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let r = peex(&["-j", "4", cfg.to_str().unwrap()]);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    assert_ne!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.stderr.matches("a/b/c/locked").count(),
        1,
        "one error naming the directory:\n{}",
        r.all()
    );
    // the rest was done; the delete waits for a clean run
    assert_eq!(
        fs::read(s.dest().join("a/b/c/open/new.txt")).unwrap(),
        b"new"
    );
    assert!(s.dest().join("x/y/gone.txt").exists(), "{}", r.all());
}

#[test]
fn sftp_a_remote_link_where_the_local_side_has_a_directory_is_replaced_never_read_through() {
    let s = Site::new(Sshd::start());
    put(&s.src, "data/k.txt", b"keep", 1_600_000_000);
    put(&s.src, "a/x.txt", b"x", 1_600_000_100);
    put(&s.src, "a/sub/y.txt", b"y", 1_600_000_200);
    s.remote_put("data/k.txt", b"keep", 1_600_000_000);
    let cfg = s.password_config("");
    for jobs in ["1", "4"] {
        // The remote `a` is a link to `data`: read through it, `a/k.txt` would look like a
        // remote-only file to delete (and delete `data/k.txt`).
        let _ = fs::remove_dir_all(s.dest().join("a"));
        std::os::unix::fs::symlink("data", s.dest().join("a")).unwrap();
        chown_to_root_owner(s.dest());
        let r = peex(&["-j", jobs, cfg.to_str().unwrap()]);
        assert_eq!(r.code, 0, "-j {jobs}: {}", r.all());
        assert!(
            !fs::symlink_metadata(s.dest().join("a"))
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link was replaced by a directory"
        );
        assert_same_tree(&s.src, s.dest(), &none);
        assert_eq!(fs::read(s.dest().join("data/k.txt")).unwrap(), b"keep");
    }
}
