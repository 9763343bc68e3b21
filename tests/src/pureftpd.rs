//! A real Pure-FTPd (Debian's `pure-ftpd` package, unpacked into the test kit) started for
//! one test: a virtual user from a `pure-pw` puredb, a private root (chrooted), a wide
//! passive port range, optional TLS, optional `LimitRecursion`.
//!
//! ```ignore
//! let srv = peex_tests::pureftpd::PureFtpd::builder().limit_recursion(5).start();
//! ```
//!
//! The server runs in the foreground in its own process group (one process per session),
//! killed on drop; its state lives in a temporary directory removed on drop. Needs root.
//! Pure-FTPd logs commands only to syslog, so [`FtpServer::command_lines`] is `None`.

use crate::ftpd::{chown_tree, greets, kill_group, make_certs, set_mode, FTP_PASSWORD, FTP_USER};
use crate::testkit::{kit_program, FtpServer};
use crate::util::{free_port, wait_for};
use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Options for [`PureFtpd`].
#[derive(Debug, Clone, Default)]
pub struct PureFtpdBuilder {
    tls: bool,
    limit_recursion: Option<u32>,
}

impl PureFtpdBuilder {
    /// Explicit TLS required (`-Y 2`) with a certificate for `127.0.0.1` signed by a CA
    /// made for this server ([`FtpServer::ca_file`]).
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// `-L N:N`: listings stop after `N` entries with `226 Output truncated to N matches`
    /// (the default is 10 000).
    pub fn limit_recursion(mut self, n: u32) -> Self {
        self.limit_recursion = Some(n);
        self
    }

    /// Starts the server and waits until it greets with `220`.
    pub fn start(self) -> PureFtpd {
        PureFtpd::launch(self)
    }
}

/// A running Pure-FTPd; killed with its session processes on drop.
#[derive(Debug)]
pub struct PureFtpd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    root: PathBuf,
    ca_file: Option<PathBuf>,
}

impl PureFtpd {
    /// A builder.
    pub fn builder() -> PureFtpdBuilder {
        PureFtpdBuilder::default()
    }

    /// A plain FTP server with the defaults.
    pub fn start() -> PureFtpd {
        PureFtpdBuilder::default().start()
    }

    fn launch(b: PureFtpdBuilder) -> PureFtpd {
        let server = kit_program("pure-ftpd", "usr/sbin/pure-ftpd");
        let pure_pw = kit_program("pure-ftpd", "usr/bin/pure-pw");
        let dir = tempfile::Builder::new()
            .prefix("peex-pureftpd-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let d = dir.path().to_path_buf();
        set_mode(&d, 0o755);
        let root = d.join("root");
        fs::create_dir(&root).unwrap_or_else(|e| panic!("mkdir {}: {e}", root.display()));
        chown_tree(&root);
        let mut pw = Command::new(&pure_pw)
            .args(["useradd", FTP_USER, "-u", "2121", "-g", "2121", "-d"])
            .arg(&root)
            .arg("-f")
            .arg(d.join("pureftpd.passwd"))
            .arg("-F")
            .arg(d.join("pureftpd.pdb"))
            .arg("-m")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", pure_pw.display()));
        if let Some(mut i) = pw.stdin.take() {
            let _ = write!(i, "{FTP_PASSWORD}\n{FTP_PASSWORD}\n");
        }
        let out = pw
            .wait_with_output()
            .unwrap_or_else(|e| panic!("pure-pw: {e}"));
        assert!(
            out.status.success(),
            "pure-pw useradd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // pure-pw hashes with argon2id at 1023 passes: seconds per login, tens of seconds on
        // a busy machine. A SHA-512 crypt hash (which Pure-FTPd also takes) keeps logins fast.
        let passwd = d.join("pureftpd.passwd");
        let text = fs::read_to_string(&passwd).unwrap_or_default();
        let hash = crate::ftpd::openssl(&d, &["passwd", "-6", "-salt", "peextest", FTP_PASSWORD]);
        let fast: String = text
            .lines()
            .map(|l| match l.split_once(':') {
                Some((user, rest)) => {
                    let rest = rest.split_once(':').map_or("", |(_, r)| r);
                    format!("{user}:{}:{rest}\n", hash.trim())
                }
                None => format!("{l}\n"),
            })
            .collect();
        crate::ftpd::write(&passwd, &fast);
        let out = Command::new(&pure_pw)
            .arg("mkdb")
            .arg(d.join("pureftpd.pdb"))
            .arg("-f")
            .arg(&passwd)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", pure_pw.display()));
        assert!(
            out.status.success(),
            "pure-pw mkdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ca_file = if b.tls {
            let ca = make_certs(&d);
            // Pure-FTPd reads the key and the certificate from one file.
            let key = fs::read_to_string(d.join("server.key")).unwrap_or_default();
            let cert = fs::read_to_string(d.join("server.pem")).unwrap_or_default();
            crate::ftpd::write(&d.join("pure-ftpd.pem"), &format!("{key}{cert}"));
            set_mode(&d.join("pure-ftpd.pem"), 0o600);
            Some(ca)
        } else {
            None
        };
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let lo = 30_000 + (u32::from(port) * 7919 + std::process::id() + 500) % 29_000;
            let mut args: Vec<String> = vec![
                "-S".into(),
                format!("127.0.0.1,{port}"),
                "-l".into(),
                format!("puredb:{}", d.join("pureftpd.pdb").display()),
                "-E".into(), // no anonymous logins
                "-H".into(), // no reverse DNS
                "-A".into(), // chroot everyone
                "-p".into(),
                format!("{lo}:{}", lo + 1000),
                "-c".into(),
                "64".into(),
                "-C".into(),
                "64".into(),
                "-g".into(),
                d.join("pure-ftpd.pid").display().to_string(),
            ];
            if let Some(n) = b.limit_recursion {
                args.push("-L".into());
                args.push(format!("{n}:{n}"));
            }
            if b.tls {
                args.push("-Y".into());
                args.push("2".into());
                args.push("-2".into());
                args.push(d.join("pure-ftpd.pem").display().to_string());
            }
            let log = fs::File::create(d.join("pure-ftpd.out"))
                .unwrap_or_else(|e| panic!("create pure-ftpd.out: {e}"));
            let err = log
                .try_clone()
                .unwrap_or_else(|e| panic!("dup pure-ftpd.out: {e}"));
            let child = Command::new(&server)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(err)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
            let mut child = Some(child);
            if wait_for(Duration::from_secs(10), || greets(port).then_some(())).is_some() {
                return PureFtpd {
                    child,
                    dir,
                    port,
                    root,
                    ca_file,
                };
            }
            kill_group(&mut child);
            last_err = fs::read_to_string(d.join("pure-ftpd.out")).unwrap_or_default();
        }
        panic!("pure-ftpd did not come up:\n{last_err}");
    }

    /// The server's state directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl FtpServer for PureFtpd {
    fn name(&self) -> &str {
        "pure-ftpd"
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn user(&self) -> &str {
        FTP_USER
    }
    fn password(&self) -> &str {
        FTP_PASSWORD
    }
    fn root(&self) -> &Path {
        &self.root
    }
    fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }
    fn command_lines(&self) -> Option<Vec<String>> {
        None
    }
}

impl Drop for PureFtpd {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpStream;

    /// Logs in and returns the replies to `commands` (one line each, last line of a reply).
    pub(crate) fn replies(port: u16, user: &str, commands: &[&str]) -> Vec<String> {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let mut read = || loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            if l.len() > 3 && l.as_bytes()[3] == b' ' {
                return l.trim_end().to_owned();
            }
        };
        read();
        let mut out = Vec::new();
        let all = [format!("USER {user}"), format!("PASS {FTP_PASSWORD}")];
        for c in all
            .iter()
            .map(String::as_str)
            .chain(commands.iter().copied())
        {
            write!(w, "{c}\r\n").unwrap();
            out.push(read());
        }
        out.split_off(2)
    }

    #[test]
    fn pure_ftpd_starts_and_logs_the_virtual_user_in() {
        let srv = PureFtpd::start();
        let r = replies(srv.port(), FTP_USER, &["PWD", "MLST /"]);
        assert!(r[0].starts_with("257 \"/\""), "{r:?}");
        assert_eq!(r[1], "250 End.", "{r:?}");
    }
}
