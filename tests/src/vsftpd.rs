//! A real vsftpd (Debian's `vsftpd` package, unpacked into the test kit) started for one
//! test: a system user authenticated through PAM, a private root (chrooted), a wide passive
//! port range, `mdtm_write` on or off, optional TLS with or without `require_ssl_reuse`, and
//! a command log (`log_ftp_protocol`).
//!
//! ```ignore
//! let srv = peex_tests::vsftpd::Vsftpd::builder().mdtm_write(false).start();
//! ```
//!
//! vsftpd authenticates system users only: the first start creates the user
//! [`VSFTPD_USER`] (uid 2121, the uid every test server writes as, home
//! `/var/lib/peex-ftp-test`), sets its password and writes the PAM service file
//! `/etc/pam.d/peex-ftp-test` (`pam_unix`), under `flock` so that parallel tests agree. It
//! runs with `background=NO` and `seccomp_sandbox=NO` (a plain child process in its own
//! process group, killed on drop) and an empty `secure_chroot_dir`. Needs root.

use crate::ftpd::{chown_tree, greets, kill_group, make_certs, set_mode, write, FTP_PASSWORD};
use crate::testkit::{kit_program, FtpServer};
use crate::util::{free_port, require_program, wait_for};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The system user vsftpd serves (created on first use).
pub const VSFTPD_USER: &str = "peexftp";
/// The PAM service vsftpd authenticates it with (`/etc/pam.d/peex-ftp-test`).
pub const PAM_SERVICE: &str = "peex-ftp-test";

/// Options for [`Vsftpd`].
#[derive(Debug, Clone)]
pub struct VsftpdBuilder {
    mdtm_write: bool,
    tls: bool,
    require_ssl_reuse: bool,
    extra: Vec<String>,
}

impl Default for VsftpdBuilder {
    fn default() -> Self {
        VsftpdBuilder {
            mdtm_write: true,
            tls: false,
            require_ssl_reuse: true,
            extra: Vec::new(),
        }
    }
}

impl VsftpdBuilder {
    /// `mdtm_write` (vsftpd's default: on): `MDTM YYYYMMDDhhmmss path` sets a file's time.
    pub fn mdtm_write(mut self, on: bool) -> Self {
        self.mdtm_write = on;
        self
    }

    /// Explicit TLS, required for logins and data (`force_local_*_ssl`), with a
    /// certificate for `127.0.0.1` signed by a CA made for this server.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// `require_ssl_reuse` (vsftpd's default: on): a data connection must resume the
    /// control connection's TLS session.
    pub fn require_ssl_reuse(mut self, on: bool) -> Self {
        self.require_ssl_reuse = on;
        self
    }

    /// Appends one raw `option=value` line to the generated configuration.
    pub fn config_line(mut self, line: impl Into<String>) -> Self {
        self.extra.push(line.into());
        self
    }

    /// Starts the server and waits until it greets with `220`.
    pub fn start(self) -> Vsftpd {
        Vsftpd::launch(self)
    }
}

/// A running vsftpd; killed with its session processes on drop.
#[derive(Debug)]
pub struct Vsftpd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    root: PathBuf,
    ca_file: Option<PathBuf>,
}

/// Creates the system user and the PAM service file once per machine (under `flock`).
fn ensure_system_user() {
    let flock = require_program("flock", "util-linux");
    let script = format!(
        r#"set -e
home=/var/lib/peex-ftp-test
mkdir -p "$home"
if ! id -u {VSFTPD_USER} >/dev/null 2>&1; then
  useradd -o -u 2121 -g 2121 -M -d "$home" -s /usr/sbin/nologin -c "peex FTP tests" {VSFTPD_USER} 2>/dev/null \
  || {{ groupadd -o -g 2121 {VSFTPD_USER} 2>/dev/null || true; useradd -o -u 2121 -g 2121 -M -d "$home" -s /usr/sbin/nologin -c "peex FTP tests" {VSFTPD_USER}; }}
fi
echo '{VSFTPD_USER}:{FTP_PASSWORD}' | chpasswd
printf 'auth required pam_unix.so\naccount required pam_unix.so\nsession required pam_permit.so\n' > /etc/pam.d/{PAM_SERVICE}
"#
    );
    let out = Command::new(flock)
        .args(["/tmp/peex-ftp-test-user.lock", "sh", "-c", &script])
        .output()
        .unwrap_or_else(|e| panic!("cannot run flock: {e}"));
    assert!(
        out.status.success(),
        "cannot create the vsftpd test user {VSFTPD_USER} (needs root, useradd, chpasswd): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Vsftpd {
    /// A builder.
    pub fn builder() -> VsftpdBuilder {
        VsftpdBuilder::default()
    }

    /// A plain FTP server with the defaults (`mdtm_write` on).
    pub fn start() -> Vsftpd {
        VsftpdBuilder::default().start()
    }

    fn launch(b: VsftpdBuilder) -> Vsftpd {
        let server = kit_program("vsftpd", "usr/sbin/vsftpd");
        ensure_system_user();
        let dir = tempfile::Builder::new()
            .prefix("peex-vsftpd-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let d = dir.path().to_path_buf();
        set_mode(&d, 0o755);
        let root = d.join("root");
        fs::create_dir(&root).unwrap_or_else(|e| panic!("mkdir {}: {e}", root.display()));
        chown_tree(&root);
        let empty = d.join("empty");
        fs::create_dir(&empty).unwrap_or_else(|e| panic!("mkdir {}: {e}", empty.display()));
        set_mode(&empty, 0o555);
        let ca_file = if b.tls { Some(make_certs(&d)) } else { None };
        let yes = |on: bool| if on { "YES" } else { "NO" };
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let lo = 30_000 + (u32::from(port) * 7919 + std::process::id() + 900) % 29_000;
            let mut conf = format!(
                "# generated by peex-tests
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={port}
background=NO
seccomp_sandbox=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=YES
allow_writeable_chroot=YES
local_root={root}
secure_chroot_dir={empty}
pam_service_name={PAM_SERVICE}
pasv_enable=YES
pasv_min_port={lo}
pasv_max_port={hi}
max_clients=64
max_per_ip=64
use_localtime=NO
mdtm_write={mdtm}
xferlog_enable=YES
log_ftp_protocol=YES
vsftpd_log_file={d}/vsftpd.log
syslog_enable=NO
idle_session_timeout=600
data_connection_timeout=600
",
                root = root.display(),
                empty = empty.display(),
                hi = lo + 1000,
                mdtm = yes(b.mdtm_write),
                d = d.display(),
            );
            if b.tls {
                conf.push_str(&format!(
                    "ssl_enable=YES
rsa_cert_file={d}/server.pem
rsa_private_key_file={d}/server.key
force_local_logins_ssl=YES
force_local_data_ssl=YES
ssl_tlsv1=YES
ssl_sslv2=NO
ssl_sslv3=NO
ssl_ciphers=HIGH
require_ssl_reuse={reuse}
",
                    d = d.display(),
                    reuse = yes(b.require_ssl_reuse)
                ));
            }
            for l in &b.extra {
                conf.push_str(l);
                conf.push('\n');
            }
            write(&d.join("vsftpd.conf"), &conf);
            set_mode(&d.join("vsftpd.conf"), 0o600);
            let log = fs::File::create(d.join("vsftpd.out"))
                .unwrap_or_else(|e| panic!("create vsftpd.out: {e}"));
            let err = log
                .try_clone()
                .unwrap_or_else(|e| panic!("dup vsftpd.out: {e}"));
            let child = Command::new(&server)
                .arg(d.join("vsftpd.conf"))
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(err)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
            let mut child = Some(child);
            if wait_for(Duration::from_secs(10), || greets(port).then_some(())).is_some() {
                return Vsftpd {
                    child,
                    dir,
                    port,
                    root,
                    ca_file,
                };
            }
            kill_group(&mut child);
            last_err = fs::read_to_string(d.join("vsftpd.out")).unwrap_or_default();
        }
        panic!("vsftpd did not come up:\n{last_err}");
    }

    /// The server's state directory (config, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every command logged so far, as `COMMAND argument` (the password hidden).
    pub fn commands(&self) -> Vec<String> {
        parse_log(&fs::read_to_string(self.dir().join("vsftpd.log")).unwrap_or_default())
    }
}

/// The commands in a vsftpd protocol log: lines `… FTP command: Client "…", "CMD arg"`.
pub fn parse_log(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let rest = l.split_once("FTP command: Client \"")?.1;
            let cmd = rest.split_once("\", \"")?.1;
            Some(cmd.strip_suffix('"').unwrap_or(cmd).to_owned())
        })
        .collect()
}

impl FtpServer for Vsftpd {
    fn name(&self) -> &str {
        "vsftpd"
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn user(&self) -> &str {
        VSFTPD_USER
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
        // The session process writes its line after answering: let it settle.
        std::thread::sleep(Duration::from_millis(300));
        Some(self.commands())
    }
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn log_lines_parse() {
        let t = "Wed Dec  2 05:14:23 2026 [pid 18638] FTP command: Client \"127.0.0.1\", \"USER peexftp\"\nWed Dec  2 05:14:23 2026 [pid 18638] [peexftp] FTP response: Client \"127.0.0.1\", \"331 Please\"\nx [peexftp] FTP command: Client \"127.0.0.1\", \"STOR /a \"b\".txt\"\n";
        assert_eq!(
            super::parse_log(t),
            vec!["USER peexftp", "STOR /a \"b\".txt"]
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod launch_tests {
    use super::*;

    #[test]
    fn vsftpd_starts_and_logs_the_system_user_in() {
        let srv = Vsftpd::start();
        let r = crate::pureftpd::tests::replies(srv.port(), VSFTPD_USER, &["PWD", "MDTM /x"]);
        assert!(r[0].starts_with("257 \"/\""), "{r:?}");
        assert!(r[1].starts_with("550"), "{r:?}");
        assert!(
            srv.commands().iter().any(|c| c == "MDTM /x"),
            "{:?}",
            srv.commands()
        );
    }
}
