//! A real proftpd started for one test: a virtual user, a private root directory, a wide
//! passive port range, `mod_site_misc` (SITE UTIME), optional TLS, and a command log.
//!
//! ```ignore
//! let ftpd = peex_tests::ftpd::ProftpdBuilder::new().deny_commands(&["MFMT"]).start();
//! // connect to ftpd.host():ftpd.port() as ftpd.user() / ftpd.password(); files land in ftpd.root()
//! let cmds = ftpd.commands_settled();
//! assert!(cmds.iter().any(|c| c.command == "SITE UTIME"));
//! ```
//!
//! The server runs as `proftpd -n -q -c CONF` in its own process group (proftpd forks one
//! process per session) on a free loopback port; the whole group is killed on drop. Its state
//! (config, passwd/group files, logs, TLS keys) lives in a temporary directory removed on drop.
//! Needs root (proftpd switches to the virtual user's uid, and the root directory is chowned
//! to it) and the Debian package `proftpd-basic`; without it, [`ProftpdBuilder::start`]
//! panics with the install command.
//!
//! **Command log caveat**: each session process appends to the log (`ExtendedLog … ALL`)
//! after it has answered the command, so a client may see a reply before its log line is
//! written. Read with [`Proftpd::commands_settled`] (waits until the log stops changing) or
//! [`Proftpd::wait_for_command`] after the client is done (ideally after `QUIT`).

use crate::util::{free_port, require_program, wait_for};
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The virtual user's name.
pub const FTP_USER: &str = "peex";
/// The virtual user's password.
pub const FTP_PASSWORD: &str = "peex-ftp-Test-pw";
/// The uid/gid the virtual user is mapped to (no `/etc/passwd` entry needed); the served
/// root is owned by it.
pub const FTP_UID: u32 = 2121;

/// Options for [`Proftpd`].
#[derive(Debug, Clone, Default)]
pub struct ProftpdBuilder {
    deny: Vec<String>,
    max_clients_per_user: Option<u32>,
    tls: bool,
    implicit_tls: bool,
    deny_upload_dirs: Vec<String>,
    hide_facts: bool,
    no_overwrite: bool,
    extra: Vec<String>,
}

impl ProftpdBuilder {
    /// The defaults: plain FTP, every command allowed, no client limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Denies these commands to everyone with `<Limit CMD> DenyAll </Limit>`. Names are
    /// proftpd's: `MFMT`, `SITE_UTIME` (for SITE UTIME), `STOR`, `DELE`, `RNFR`, `MKD`, …
    /// proftpd answers a denied command with `550`.
    pub fn deny_commands(mut self, commands: &[&str]) -> Self {
        self.deny.extend(commands.iter().map(|c| c.to_string()));
        self
    }

    /// `MaxClientsPerUser N` (further logins get `530 Sorry, the maximum number of clients
    /// (N) for this user are already connected.`).
    pub fn max_clients_per_user(mut self, n: Option<u32>) -> Self {
        self.max_clients_per_user = n;
        self
    }

    /// Explicit TLS (`mod_tls`, `TLSRequired on`, session reuse on data connections required
    /// as by default), with a certificate for `127.0.0.1`/`localhost` signed by a CA made for
    /// this server ([`Proftpd::ca_file`]).
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// Implicit TLS (`TLSOptions UseImplicitSSL`): TLS from the first byte, as on port 990.
    pub fn implicit_tls(mut self, on: bool) -> Self {
        self.implicit_tls = on;
        self.tls |= on;
        self
    }

    /// Subdirectories of the root (created, owned by the virtual user) in which `STOR` is
    /// denied, to make uploads fail on purpose.
    pub fn deny_upload_in(mut self, dirs: &[&str]) -> Self {
        self.deny_upload_dirs
            .extend(dirs.iter().map(|d| d.to_string()));
        self
    }

    /// `FactsAdvertise off`: FEAT then lists neither MLST nor MFMT (a server "without MLSD"
    /// as far as a client can tell).
    pub fn hide_facts(mut self, hide: bool) -> Self {
        self.hide_facts = hide;
        self
    }

    /// `AllowOverwrite off`, the value Debian's stock configuration leaves in force (its
    /// compiled-in default): `STOR` and `RNTO` onto an existing file are refused with `550`.
    pub fn stock_overwrite(mut self, off: bool) -> Self {
        self.no_overwrite = off;
        self
    }

    /// Appends one raw line to the generated configuration.
    pub fn config_line(mut self, line: impl Into<String>) -> Self {
        self.extra.push(line.into());
        self
    }

    /// Starts the server and waits until it greets with `220`.
    pub fn start(self) -> Proftpd {
        Proftpd::launch(self)
    }
}

/// One line of the command log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedCommand {
    /// The session process (one per connection).
    pub pid: u32,
    /// The command as proftpd names it: `STOR`, `MFMT`, `SITE UTIME`, `PASS`, …
    pub command: String,
    /// Its argument (`(hidden)` for `PASS`; for SITE, proftpd logs `UTIME …`).
    pub arg: String,
    /// The reply code.
    pub code: u32,
}

/// A running proftpd; killed with its session processes on drop.
#[derive(Debug)]
pub struct Proftpd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    root: PathBuf,
    ca_file: Option<PathBuf>,
}

impl Proftpd {
    /// A plain FTP server with the defaults.
    pub fn start() -> Proftpd {
        ProftpdBuilder::new().start()
    }

    /// A builder.
    pub fn builder() -> ProftpdBuilder {
        ProftpdBuilder::new()
    }

    fn launch(b: ProftpdBuilder) -> Proftpd {
        let proftpd = require_program("proftpd", "proftpd-basic");
        let dir = tempfile::Builder::new()
            .prefix("peex-proftpd-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let d = dir.path().to_path_buf();
        set_mode(&d, 0o755);
        let root = d.join("root");
        fs::create_dir(&root).unwrap_or_else(|e| panic!("mkdir {}: {e}", root.display()));
        for sub in &b.deny_upload_dirs {
            let p = root.join(sub);
            fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        }
        chown_tree(&root);

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
        write(&d.join("cmd.log"), "");

        let ca_file = if b.tls { Some(make_certs(&d)) } else { None };
        let mut last_err = String::new();
        // A port found free may be taken before proftpd binds it: retry with another one.
        for _attempt in 0..5 {
            let port = free_port();
            let conf = config(&b, &d, &root, port);
            let mut child = Some(start_proftpd(&proftpd, &d, &conf, "config"));
            // An implicit-TLS server says nothing in clear text: it is up when it accepts.
            let up = |port: u16| {
                if b.implicit_tls {
                    TcpStream::connect(("127.0.0.1", port)).is_ok()
                } else {
                    greets(port)
                }
            };
            if wait_for(Duration::from_secs(10), || up(port).then_some(())).is_some() {
                return Proftpd {
                    child,
                    dir,
                    port,
                    root,
                    ca_file,
                };
            }
            kill_group(&mut child);
            last_err = format!(
                "{}\n{}",
                fs::read_to_string(d.join("proftpd.out")).unwrap_or_default(),
                fs::read_to_string(d.join("system.log")).unwrap_or_default()
            );
        }
        panic!("proftpd did not come up:\n{last_err}");
    }

    fn kill(&mut self) {
        kill_group(&mut self.child);
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The control port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The virtual user.
    pub fn user(&self) -> &str {
        FTP_USER
    }

    /// Its password.
    pub fn password(&self) -> &str {
        FTP_PASSWORD
    }

    /// The served directory on disk (the user's `/` after login).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The server's state directory (config, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate (PEM) that signed the server certificate, when TLS is on.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// Connection parameters for this server with `root` as the remote root (`/` for the
    /// whole served directory). Scheme-specific options are left to the caller.
    pub fn site_params(&self, root: &str) -> peex_core::SiteParams {
        peex_core::SiteParams {
            host: self.host().to_owned(),
            port: Some(self.port),
            user: FTP_USER.to_owned(),
            password: Some(peex_core::Secret::new(FTP_PASSWORD)),
            root: root.to_owned(),
            timeout: Duration::from_secs(10),
            ..Default::default()
        }
    }

    /// The command log as it is now (see the module docs for the caveat).
    pub fn commands(&self) -> Vec<LoggedCommand> {
        parse_log(&fs::read_to_string(self.dir().join("cmd.log")).unwrap_or_default())
    }

    /// The command log once it has stopped changing for 300 ms (at most 5 s).
    pub fn commands_settled(&self) -> Vec<LoggedCommand> {
        let mut last = self.commands();
        let mut stable_since = std::time::Instant::now();
        let start = std::time::Instant::now();
        while stable_since.elapsed() < Duration::from_millis(300)
            && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.commands();
            if now != last {
                last = now;
                stable_since = std::time::Instant::now();
            }
        }
        last
    }

    /// Waits (up to 5 s) until a logged command satisfies `pred`, and returns the log then.
    pub fn wait_for_command(&self, pred: impl Fn(&LoggedCommand) -> bool) -> Vec<LoggedCommand> {
        wait_for(Duration::from_secs(5), || {
            let c = self.commands();
            c.iter().any(&pred).then_some(c)
        })
        .unwrap_or_else(|| self.commands())
    }

    /// Empties the command log (lines still being written by live sessions may follow).
    pub fn clear_log(&self) {
        let _ = fs::write(self.dir().join("cmd.log"), "");
    }

    /// proftpd's own log (`SystemLog`) and, with TLS, `mod_tls`'s log, for failure messages.
    pub fn system_log(&self) -> String {
        let mut s = fs::read_to_string(self.dir().join("system.log")).unwrap_or_default();
        if let Ok(t) = fs::read_to_string(self.dir().join("tls.log")) {
            s.push_str("\n--- tls.log ---\n");
            s.push_str(&t);
        }
        s
    }
}

impl Drop for Proftpd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Makes `path` and everything below it owned by the virtual user, so that the server may
/// change what a test put there.
pub fn chown_tree(path: &Path) {
    let _ = std::os::unix::fs::lchown(path, Some(FTP_UID), Some(FTP_UID));
    if path.is_dir() && !path.is_symlink() {
        if let Ok(rd) = fs::read_dir(path) {
            for e in rd.flatten() {
                chown_tree(&e.path());
            }
        }
    }
}

/// Parses the command log (`epoch|pid|command|code|argument` per line); other lines are
/// skipped.
pub fn parse_log(text: &str) -> Vec<LoggedCommand> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(5, '|');
            let _epoch = f.next()?;
            let pid = f.next()?.trim().parse().ok()?;
            let command = f.next()?.trim().to_owned();
            let code = f.next()?.trim().parse().ok()?;
            let arg = f.next().unwrap_or("").to_owned();
            Some(LoggedCommand {
                pid,
                command,
                arg,
                code,
            })
        })
        .collect()
}

/// True if something on `port` greets with `220`.
pub(crate) fn greets(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 3];
    s.read_exact(&mut buf).is_ok() && &buf == b"220"
}

/// Writes `conf` to `dir/proftpd.conf`, checks it with `proftpd -t` (a rejected config fails
/// the test with proftpd's words and the config; `what` names it), and starts proftpd in the
/// foreground in its own process group, its output in `dir/proftpd.out`.
pub(crate) fn start_proftpd(proftpd: &Path, dir: &Path, conf: &str, what: &str) -> Child {
    write(&dir.join("proftpd.conf"), conf);
    let check = Command::new(proftpd)
        .args(["-t", "-c"])
        .arg(dir.join("proftpd.conf"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", proftpd.display()));
    assert!(
        check.status.success(),
        "proftpd rejects the generated {what}:\n{}\n{}\n--- config ---\n{conf}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let out = fs::File::create(dir.join("proftpd.out"))
        .unwrap_or_else(|e| panic!("create proftpd.out: {e}"));
    let err = out
        .try_clone()
        .unwrap_or_else(|e| panic!("dup proftpd.out: {e}"));
    Command::new(proftpd)
        .args(["-n", "-q", "-c"])
        .arg(dir.join("proftpd.conf"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", proftpd.display()))
}

/// Kills the process group led by `child` (TERM, then KILL after 3 s) and reaps it.
pub(crate) fn kill_group(child: &mut Option<Child>) {
    let Some(mut child) = child.take() else {
        return;
    };
    // The master leads its own process group; the session processes are in it too.
    let signal = |sig: &str, pid: u32| {
        let _ = Command::new("kill")
            .args([sig, "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM", child.id());
    let gone = wait_for(Duration::from_secs(3), || {
        matches!(child.try_wait(), Ok(Some(_))).then_some(())
    });
    if gone.is_none() {
        signal("-KILL", child.id());
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn config(b: &ProftpdBuilder, d: &Path, root: &Path, port: u16) -> String {
    // A wide passive range from a random offset: parallel connections and parallel tests
    // must not run out of ports (a 200-port range gave 425 under 8 connections).
    let lo = 30_000 + (port as u32 * 7919 + std::process::id()) % 29_000;
    let hi = lo + 1_000;
    let d = d.display();
    let mut c = format!(
        r#"# generated by peex-tests
ServerName            "peex-test"
ServerType            standalone
DefaultServer         on
UseIPv6               off
DefaultAddress        127.0.0.1
SocketBindTight       on
Port                  {port}
PassivePorts          {lo} {hi}
MaxInstances          64
User                  nobody
Group                 nogroup
Umask                 022
AllowOverwrite        {overwrite}
AllowStoreRestart     on
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
LoadModule            mod_site_misc.c
<IfModule mod_site_misc.c>
  SiteMiscEngine      on
</IfModule>
<IfModule mod_facts.c>
  FactsAdvertise      {facts}
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
LogFormat             peexcmd "%{{epoch}}|%P|%m|%s|%J"
ExtendedLog           {d}/cmd.log ALL peexcmd
TimeoutIdle           600
TimeoutNoTransfer     600
"#,
        root = root.display(),
        facts = if b.hide_facts { "off" } else { "on" },
        overwrite = if b.no_overwrite { "off" } else { "on" },
    );
    if let Some(n) = b.max_clients_per_user {
        let _ = writeln!(c, "MaxClientsPerUser     {n}");
    }
    for cmd in &b.deny {
        let _ = writeln!(c, "<Limit {cmd}>\n  DenyAll\n</Limit>");
    }
    for sub in &b.deny_upload_dirs {
        let _ = writeln!(
            c,
            "<Directory {}>\n  <Limit STOR>\n    DenyAll\n  </Limit>\n</Directory>",
            root.join(sub).display()
        );
    }
    if b.tls {
        let _ = writeln!(
            c,
            r#"LoadModule            mod_tls.c
<IfModule mod_tls.c>
  TLSEngine           on
  TLSRequired         on
  TLSProtocol         TLSv1.2 TLSv1.3
  TLSRSACertificateFile    {d}/server.pem
  TLSRSACertificateKeyFile {d}/server.key
  TLSVerifyClient     off
  TLSLog              {d}/tls.log
  {implicit}
</IfModule>"#,
            implicit = if b.implicit_tls {
                "TLSOptions          UseImplicitSSL"
            } else {
                ""
            }
        );
    }
    for l in &b.extra {
        c.push_str(l);
        c.push('\n');
    }
    c
}

/// Makes a CA and a server certificate for `127.0.0.1` and `localhost` signed by it;
/// returns the CA's PEM file.
pub(crate) fn make_certs(d: &Path) -> PathBuf {
    write(
        &d.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    );
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3",
            "-subj",
            "/CN=peex test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "3",
            "-extfile",
            "server.ext",
        ],
    );
    set_mode(&d.join("server.key"), 0o600);
    d.join("ca.pem")
}

/// Runs `openssl ARGS` in `dir`, returning its stdout; panics with its stderr on failure.
pub(crate) fn openssl(dir: &Path, args: &[&str]) -> String {
    let bin = require_program("openssl", "openssl");
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn write(p: &Path, s: &str) {
    fs::write(p, s).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

pub(crate) fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_parse() {
        let log = "1795610716|4315|USER|331|peex\n1795610716|4315|SITE UTIME|550|UTIME 20200101000000 /a|b\ngarbage\n";
        let c = parse_log(log);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].command, "SITE UTIME");
        assert_eq!(c[1].code, 550);
        assert_eq!(c[1].arg, "UTIME 20200101000000 /a|b");
    }
}
