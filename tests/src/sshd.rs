//! A real OpenSSH `sshd` started for one test: generated host key, client keys,
//! `authorized_keys`, a free loopback port, and a dedicated system user with a password.
//!
//! ```ignore
//! let sshd = peex_tests::sshd::Sshd::start();
//! std::fs::write(dir.join("known_hosts"), sshd.known_hosts_line() + "\n").unwrap();
//! // connect to 127.0.0.1:sshd.port() as sshd.user() with sshd.password() or sshd.key_file()
//! ```
//!
//! The server runs as `/usr/sbin/sshd -D -e -f CONF` in its own process group, its log
//! (`LogLevel VERBOSE`, SFTP subsystem at `-l INFO` so every write is logged) goes to a file
//! read with [`Sshd::log`], and the whole group is killed on drop. Needs root (sshd must be able
//! to switch to the test user) and the Debian package `openssh-server`; a test that uses it
//! fails with the install command when `sshd` is missing.

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Where Debian installs the server.
pub const SSHD: &str = "/usr/sbin/sshd";
/// The system user the tests log in as (created with `useradd` when missing).
pub const TEST_USER: &str = "peextest";
/// That user's password (set with `chpasswd` every time a server starts).
pub const TEST_PASSWORD: &str = "peex-Test-pw-7";
/// The passphrase of the client key made by [`SshdBuilder::passphrase_key`].
pub const KEY_PASSPHRASE: &str = "correct horse battery";

const INSTALL_HINT: &str =
    "sshd is not installed: install it with `apt-get install -y openssh-server`";

/// Options for [`Sshd`]; see [`Sshd::builder`].
#[derive(Debug, Clone, Default)]
pub struct SshdBuilder {
    passphrase_key: bool,
    extra_config: Vec<String>,
    sftp_server_args: Vec<String>,
}

impl SshdBuilder {
    /// Also generates a client key protected by [`KEY_PASSPHRASE`] and authorizes it.
    pub fn passphrase_key(mut self, yes: bool) -> Self {
        self.passphrase_key = yes;
        self
    }

    /// Extra arguments for OpenSSH's `sftp-server`, e.g. `["-P", "posix-rename"]` to refuse
    /// a request (see `sftp-server -Q requests`).
    pub fn sftp_server_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sftp_server_args
            .extend(args.into_iter().map(Into::into));
        self
    }

    /// Appends one line to the generated `sshd_config`.
    pub fn config_line(mut self, line: impl Into<String>) -> Self {
        self.extra_config.push(line.into());
        self
    }

    /// Starts the server and waits until it answers with `SSH-2.0`.
    ///
    /// Panics (with the install command) when `sshd` is missing, and with the server's log
    /// when it does not come up.
    pub fn start(self) -> Sshd {
        Sshd::launch(self)
    }
}

/// A running `sshd`; killed (with its whole process group) on drop.
#[derive(Debug)]
pub struct Sshd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    root: PathBuf,
    key_file: PathBuf,
    passphrase_key_file: Option<PathBuf>,
    host_public_key: String,
    log_path: PathBuf,
    sftp_log_path: PathBuf,
}

impl Sshd {
    /// A builder with the defaults (one client key without passphrase).
    pub fn builder() -> SshdBuilder {
        SshdBuilder::default()
    }

    /// Starts a server with the defaults.
    pub fn start() -> Sshd {
        SshdBuilder::default().start()
    }

    fn launch(opts: SshdBuilder) -> Sshd {
        if !Path::new(SSHD).exists() {
            panic!("{INSTALL_HINT}");
        }
        if which("ssh-keygen").is_none() {
            panic!("ssh-keygen is missing: {INSTALL_HINT}");
        }
        ensure_test_user();
        // Privilege separation directory.
        fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        // A free port can be taken by someone else between probing and binding: retry.
        let mut why = String::new();
        for _attempt in 0..5 {
            match Sshd::try_launch(&opts) {
                Ok(s) => return s,
                Err(e) => {
                    let busy = e.contains("Address already in use");
                    why = e;
                    if !busy {
                        break;
                    }
                }
            }
        }
        panic!("sshd did not start:\n{why}");
    }

    fn try_launch(opts: &SshdBuilder) -> Result<Sshd, String> {
        let uid = id_of("-u");
        let gid = id_of("-g");
        let dir = tempfile::Builder::new()
            .prefix("peex-sshd-")
            .tempdir()
            .expect("temp dir for sshd");
        // The test user must be able to reach the served root below it.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod tmp");
        let d = dir.path().to_path_buf();

        let host_key = d.join("ssh_host_ed25519_key");
        let host_public_key = generate_ed25519(&host_key, "");
        let key_file = d.join("id_ed25519");
        let mut authorized = generate_ed25519(&key_file, "") + "\n";
        let passphrase_key_file = if opts.passphrase_key {
            let p = d.join("id_ed25519_pp");
            authorized.push_str(&generate_ed25519(&p, KEY_PASSPHRASE));
            authorized.push('\n');
            Some(p)
        } else {
            None
        };
        let authorized_keys = d.join("authorized_keys");
        fs::write(&authorized_keys, authorized).expect("write authorized_keys");
        fs::set_permissions(&authorized_keys, fs::Permissions::from_mode(0o644))
            .expect("chmod authorized_keys");

        let root = d.join("root");
        fs::create_dir(&root).expect("create served root");
        std::os::unix::fs::chown(&root, Some(uid), Some(gid)).expect("chown served root");
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod root");

        // sftp-server logs to syslog (absent here) or, with -e, to its stderr, which sshd
        // would send to the client: the subsystem runs through the user's shell, so send it
        // to a file the test user may write. Its INFO lines log every open, rename, setstat…
        let sftp_log_path = d.join("sftp-server.log");
        fs::write(&sftp_log_path, b"").expect("create sftp-server log");
        std::os::unix::fs::chown(&sftp_log_path, Some(uid), Some(gid)).expect("chown log");
        let sftp_server = match which_sftp_server() {
            Some(bin) => format!(
                "{} -e -l INFO {} 2>>{}",
                bin.display(),
                opts.sftp_server_args.join(" "),
                sftp_log_path.display()
            ),
            None => format!("internal-sftp -l INFO {}", opts.sftp_server_args.join(" ")),
        };
        let port = free_port();
        let mut cfg = format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {hk}\n\
             PidFile {pid}\n\
             AuthorizedKeysFile {ak}\n\
             StrictModes no\n\
             UsePAM no\n\
             PasswordAuthentication yes\n\
             PubkeyAuthentication yes\n\
             KbdInteractiveAuthentication no\n\
             PermitRootLogin no\n\
             AllowUsers {user}\n\
             LogLevel VERBOSE\n\
             MaxStartups 100\n\
             MaxSessions 20\n\
             Subsystem sftp {sftp_server}\n",
            hk = host_key.display(),
            pid = d.join("sshd.pid").display(),
            ak = authorized_keys.display(),
            user = TEST_USER,
        );
        for line in &opts.extra_config {
            cfg.push_str(line);
            cfg.push('\n');
        }
        let conf = d.join("sshd_config");
        fs::write(&conf, cfg).expect("write sshd_config");
        let log_path = d.join("sshd.log");
        let log = fs::File::create(&log_path).expect("create sshd log");
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}; {INSTALL_HINT}"));
        let mut sshd = Sshd {
            child: Some(child),
            dir,
            port,
            root,
            key_file,
            passphrase_key_file,
            host_public_key,
            log_path,
            sftp_log_path,
        };
        match sshd.wait_ready() {
            Ok(()) => Ok(sshd),
            Err(why) => Err(format!("{why}\n{}", sshd.log())),
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("sshd exited early ({status})"));
                }
            }
            if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 64];
                let mut got = Vec::new();
                while got.len() < 7 {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                if got.starts_with(b"SSH-2.0") {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err("sshd did not answer with SSH-2.0 within 15 s".into());
            }
            sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Per-connection processes start their own session (setsid), so killing the
            // listener's process group does not reach them: kill them by id first.
            kill_descendants(child.id());
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg("--")
                .arg(format!("-{}", child.id()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills every open SSH connection (the per-connection server processes) while the
    /// listener keeps running: clients see the connection drop, as after a network failure.
    pub fn kill_connections(&self) {
        if let Some(child) = &self.child {
            kill_descendants(child.id());
        }
    }

    /// The host to connect to (`127.0.0.1`).
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The login user.
    pub fn user(&self) -> &str {
        TEST_USER
    }

    /// The login user's password.
    pub fn password(&self) -> &str {
        TEST_PASSWORD
    }

    /// The served root: an empty directory owned by the test user.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The server's temporary directory (config, keys, log); a good place for a test's
    /// `known_hosts`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The authorized client private key without passphrase.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// The authorized client private key protected by [`Sshd::key_passphrase`], if the
    /// builder asked for one.
    pub fn passphrase_key_file(&self) -> Option<&Path> {
        self.passphrase_key_file.as_deref()
    }

    /// The passphrase of [`Sshd::passphrase_key_file`].
    pub fn key_passphrase(&self) -> &str {
        KEY_PASSPHRASE
    }

    /// The server's host public key, `ssh-ed25519 AAAA…` (no comment).
    pub fn host_public_key(&self) -> &str {
        &self.host_public_key
    }

    /// The `known_hosts` line for this server: `[127.0.0.1]:PORT ssh-ed25519 AAAA…`.
    pub fn known_hosts_line(&self) -> String {
        format!("[{}]:{} {}", self.host(), self.port, self.host_public_key)
    }

    /// What the server has logged so far: sshd's stderr (`LogLevel VERBOSE`), then the
    /// SFTP server's log at INFO (every open, close with byte counts, rename, setstat, …).
    pub fn log(&self) -> String {
        let mut log = fs::read_to_string(&self.log_path).unwrap_or_default();
        log.push_str("--- sftp-server ---\n");
        log.push_str(&fs::read_to_string(&self.sftp_log_path).unwrap_or_default());
        log
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Generates an ed25519 key pair at `path` (and `path.pub`) with `passphrase` (empty for
/// none) and returns the public key as `ssh-ed25519 AAAA…` without its comment.
pub fn generate_ed25519(path: &Path, passphrase: &str) -> String {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-C",
            "peex-test",
            "-N",
            passphrase,
            "-f",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("ssh-keygen: {e}; {INSTALL_HINT}"));
    assert!(
        out.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = fs::read_to_string(path.with_extension("pub"))
        .or_else(|_| fs::read_to_string(format!("{}.pub", path.display())))
        .expect("read generated public key");
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Kills (SIGKILL, by process id) every descendant of `pid`, found through `/proc`.
fn kill_descendants(pid: u32) {
    let mut all = Vec::new();
    let mut todo = vec![pid];
    while let Some(parent) = todo.pop() {
        for c in children_of(parent) {
            all.push(c);
            todo.push(c);
        }
    }
    for c in all {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(c.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The ids of the processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(id) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let ppid = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(id);
        }
    }
    out
}

fn which_sftp_server() -> Option<PathBuf> {
    [
        "/usr/lib/openssh/sftp-server",
        "/usr/libexec/openssh/sftp-server",
        "/usr/libexec/sftp-server",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join(prog))
        .find(|p| p.exists())
}

/// Creates the test user if missing (tolerating a concurrent creation) and sets its password.
fn ensure_test_user() {
    let exists = || {
        Command::new("id")
            .arg(TEST_USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !exists() {
        let out = Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/sh", TEST_USER])
            .output()
            .unwrap_or_else(|e| panic!("useradd: {e} (the sshd tests run as root)"));
        // Exit status 9: created meanwhile by a concurrent test.
        assert!(
            out.status.success() || exists(),
            "useradd {TEST_USER} failed (the sshd tests must run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut child = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("chpasswd: {e}"));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("chpasswd stdin");
        stdin
            .write_all(format!("{TEST_USER}:{TEST_PASSWORD}\n").as_bytes())
            .expect("write to chpasswd");
    }
    let out = child.wait_with_output().expect("wait for chpasswd");
    assert!(
        out.status.success(),
        "chpasswd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn id_of(flag: &str) -> u32 {
    let out = Command::new("id")
        .arg(flag)
        .arg(TEST_USER)
        .output()
        .expect("run id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("cannot read {flag} of {TEST_USER}"))
}
