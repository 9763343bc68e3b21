//! A real ProFTPD speaking SFTP (`mod_sftp`), started for one test: the second SFTP server
//! implementation the `sftp` transport is tested against (OpenSSH is [`crate::sshd`]).
//!
//! ```ignore
//! let srv = peex_tests::modsftp::ModSftp::start();
//! // connect to srv.host():srv.port() as srv.user() / srv.password(), trusting
//! // srv.known_hosts_line(); files land in srv.root()
//! ```
//!
//! The server runs as `proftpd -n -q -c CONF` in its own process group with `SFTPEngine on`
//! on a free loopback port, one virtual user (password login; the served root is owned by
//! its uid, [`crate::ftpd::FTP_UID`]) and an RSA host key made for it. Its state lives in a
//! temporary directory removed on drop; `mod_sftp`'s own log is [`ModSftp::sftp_log`]. Needs
//! root and Debian's `proftpd-basic` (which ships `/usr/lib/proftpd/mod_sftp.so`); without
//! them [`ModSftp::start`] panics with the install command.

use crate::ftpd::{
    chown_tree, kill_group, openssl, set_mode, start_proftpd, write, FTP_PASSWORD, FTP_UID,
    FTP_USER,
};
use crate::util::{free_port, require_program, wait_for};
use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const MOD_SFTP: &str = "/usr/lib/proftpd/mod_sftp.so";
const INSTALL_HINT: &str = "ProFTPD's mod_sftp is missing: apt-get install proftpd-basic";

/// A running ProFTPD with `mod_sftp`; killed with its session processes on drop.
#[derive(Debug)]
pub struct ModSftp {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    root: PathBuf,
    host_public_key: String,
}

impl ModSftp {
    /// Starts a server and waits until it answers with an SSH banner.
    pub fn start() -> ModSftp {
        let proftpd = require_program("proftpd", "proftpd-basic");
        assert!(Path::new(MOD_SFTP).exists(), "{INSTALL_HINT}");
        require_program("ssh-keygen", "openssh-client");
        let dir = tempfile::Builder::new()
            .prefix("peex-modsftp-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let d = dir.path().to_path_buf();
        set_mode(&d, 0o755);
        let root = d.join("root");
        fs::create_dir(&root).unwrap_or_else(|e| panic!("mkdir {}: {e}", root.display()));
        chown_tree(&root);

        // mod_sftp reads PEM host keys; RSA is what every version takes.
        let key = d.join("ssh_host_rsa_key");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-f"])
            .arg(&key)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("ssh-keygen: {e}"));
        assert!(
            out.status.success(),
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let public = fs::read_to_string(d.join("ssh_host_rsa_key.pub"))
            .unwrap_or_else(|e| panic!("read host public key: {e}"));
        let host_public_key = public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");

        let hash = openssl(&d, &["passwd", "-6", "-salt", "peextest", FTP_PASSWORD]);
        write(
            &d.join("ftpd.passwd"),
            &format!(
                "{FTP_USER}:{}:{FTP_UID}:{FTP_UID}:peex test:{}:/bin/false\n",
                hash.trim(),
                root.display()
            ),
        );
        write(
            &d.join("ftpd.group"),
            &format!("{FTP_USER}:x:{FTP_UID}:{FTP_USER}\n"),
        );
        set_mode(&d.join("ftpd.passwd"), 0o600);
        set_mode(&d.join("ftpd.group"), 0o600);

        let mut last_err = String::new();
        // A port found free may be taken before proftpd binds it: retry with another one.
        for _attempt in 0..5 {
            let port = free_port();
            let conf = config(&d, &root, &key, port);
            let mut child = Some(start_proftpd(&proftpd, &d, &conf, "mod_sftp config"));
            if wait_for(Duration::from_secs(10), || ssh_banner(port).then_some(())).is_some() {
                return ModSftp {
                    child,
                    dir,
                    port,
                    root,
                    host_public_key,
                };
            }
            kill_group(&mut child);
            last_err = format!(
                "{}\n{}",
                fs::read_to_string(d.join("proftpd.out")).unwrap_or_default(),
                fs::read_to_string(d.join("system.log")).unwrap_or_default()
            );
        }
        panic!("proftpd with mod_sftp did not come up:\n{last_err}");
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The SSH port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The virtual user.
    pub fn user(&self) -> &str {
        FTP_USER
    }

    /// The virtual user's password.
    pub fn password(&self) -> &str {
        FTP_PASSWORD
    }

    /// The served root directory (owned by the virtual user's uid).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The server's state directory (config, keys, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The host key as an OpenSSH `known_hosts` line for `[127.0.0.1]:port`.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_public_key)
    }

    /// `mod_sftp`'s log (`SFTPLog`): sessions, requests it refused, errors.
    pub fn sftp_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sftp.log")).unwrap_or_default()
    }
}

impl Drop for ModSftp {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// True if something on `port` greets with an SSH banner.
fn ssh_banner(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"SSH-2.0"
}

fn config(d: &Path, root: &Path, key: &Path, port: u16) -> String {
    let d = d.display();
    format!(
        r#"# generated by peex-tests (mod_sftp)
ServerName            "peex-test-sftp"
ServerType            standalone
DefaultServer         on
UseIPv6               off
DefaultAddress        127.0.0.1
SocketBindTight       on
Port                  {port}
MaxInstances          64
User                  nobody
Group                 nogroup
Umask                 022
AllowOverwrite        on
TimesGMT              on
UseReverseDNS         off
<IfModule mod_ident.c>
  IdentLookups        off
</IfModule>
<IfModule mod_delay.c>
  DelayEngine         off
</IfModule>
<IfModule mod_ctrls.c>
  ControlsEngine      off
</IfModule>
<IfModule mod_auth_pam.c>
  AuthPAM             off
</IfModule>
ModulePath            /usr/lib/proftpd
LoadModule            mod_sftp.c
<IfModule mod_sftp.c>
  SFTPEngine          on
  SFTPLog             {d}/sftp.log
  SFTPHostKey         {key}
  SFTPAuthMethods     password
  SFTPCompression     off
</IfModule>
AuthOrder             mod_auth_file.c
AuthUserFile          {d}/ftpd.passwd
AuthGroupFile         {d}/ftpd.group
RequireValidShell     off
DefaultRoot           {root}
WtmpLog               off
ScoreboardFile        {d}/scoreboard
PidFile               {d}/proftpd.pid
SystemLog             {d}/system.log
TransferLog           none
TimeoutIdle           600
TimeoutNoTransfer     600
"#,
        key = key.display(),
        root = root.display(),
    )
}
