//! Site configuration: one file per site, in PEEX's INI format or the native RON format.
//!
//! [`load`] reads a file, picks its format ([`detect_format`]), parses it, resolves paths,
//! finds the password and checks the file's permissions. [`parse_str`] does the parsing
//! and path resolution only (see its documentation).
//!
//! * INI (PEEX's format, read as PEEX users have it): see the [`ini`] module.
//! * RON (the native format, carrying everything newer): see the [`native`] module.
//!
//! **Relative paths** (`source`, `dest` of the `local` transport, `ca_file`, `known_hosts`,
//! `key_file`, `plugins`) are resolved against the directory holding the configuration
//! file, not the current directory; a leading `~/` stands for `$HOME`.
//!
//! **Password**: the config's `pass`/`password`, else the environment variable
//! `PEEX_PASSWORD`, else `~/.netrc` (or the file named by `$NETRC`): the first
//! `machine HOST` entry whose login is the configured user (any login when no user is
//! configured; then the user is taken from that entry), else the `default` entry. An empty
//! password value counts as absent. The password never appears in `Debug` output or in any
//! error message. A file that holds a password (or another secret) and can be read by group
//! or others earns a warning in [`SiteConfig::warnings`].

pub mod ini;
pub mod native;
mod netrc;
mod rules;

pub use rules::{Action, AppliesTo, Rule, Scope};

use peex_core::{Secret, SiteParams};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The highest number of parallel connections (`jobs`) a site may ask for.
pub const MAX_JOBS: u64 = 64;

/// The most retries (`retries`) a site may ask for.
pub const MAX_RETRIES: u32 = 100;

/// Keys of [`SiteConfig::options`] that only the typed settings may set (TLS and SSH
/// settings are copied there for the transports).
pub const RESERVED_OPTIONS: &[&str] = &[
    "tls_verify",
    "ca_file",
    "implicit_tls",
    "known_hosts",
    "key_file",
    "accept_new_host_key",
    "agent",
    "host_key_check",
];

/// Where the local side's modification times come from (`mtime_from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MtimeFrom {
    /// The file system's mtime (default).
    #[default]
    Filesystem,
    /// For a file tracked by git and unmodified in the work tree: the committer time of the
    /// last commit that changed it (see [`crate::gittime`]); other files keep the file
    /// system's time.
    Git,
}

impl MtimeFrom {
    /// Parses `filesystem` or `git` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "filesystem" | "fs" => Some(MtimeFrom::Filesystem),
            "git" => Some(MtimeFrom::Git),
            _ => None,
        }
    }
}

/// How a local file is judged the same as its remote copy (`compare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compare {
    /// Same size and same modification time (PEEX's rule; default).
    #[default]
    Mtime,
    /// As `mtime`, but a file of the same size whose time differs is hashed on both sides
    /// (the server must offer HASH, XSHA256, XSHA1 or XMD5); equal hashes correct only the
    /// remote time.
    Checksum,
    /// Same size is enough (for servers with no hash command and no reliable times).
    Size,
}

impl Compare {
    /// Parses `mtime`, `checksum` or `size` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "mtime" => Some(Compare::Mtime),
            "checksum" => Some(Compare::Checksum),
            "size" => Some(Compare::Size),
            _ => None,
        }
    }
}

/// A configuration file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PEEX's INI format (`[site]`, `[exceptions]`).
    Ini,
    /// The native RON format.
    Ron,
}

/// TLS settings (FTPS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Verify the server certificate (default `true`; turning it off earns a warning).
    pub verify: bool,
    /// Extra CA certificates (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Implicit TLS (connect with TLS, usually port 990) instead of `AUTH TLS`.
    pub implicit: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            verify: true,
            ca_file: None,
            implicit: false,
        }
    }
}

/// A filter plugin to apply, with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    /// The filter's registered name.
    pub name: String,
    /// Its options, passed as they are.
    pub options: BTreeMap<String, String>,
}

/// Fully resolved site configuration.
///
/// `Debug` never shows the password or the values of [`SiteConfig::secret_options`]
/// ([`Secret`] redacts itself).
#[derive(Clone, Debug)]
pub struct SiteConfig {
    /// The configuration file.
    pub file: PathBuf,
    /// Transport scheme: `ftp` (default), `ftps`, `sftp`, `local`, or a plugin's scheme.
    /// Always lower case.
    pub transport: String,
    /// Host name or address (empty for `local`).
    pub host: String,
    /// Port; `None` means the transport's default.
    pub port: Option<u16>,
    /// User name (may be empty).
    pub user: String,
    /// Password: from the file, else `PEEX_PASSWORD`, else `~/.netrc`.
    pub password: Option<Secret>,
    /// The local folder, resolved against the configuration file's directory if relative.
    pub source: PathBuf,
    /// The remote root as written (`/www/`); for `local`, a path resolved against the
    /// configuration file's directory if relative.
    pub dest: String,
    /// PEEX's `srcutime`: set the local mtime from the server after an upload.
    pub srcutime: bool,
    /// What the walk does with symbolic links in the source (`--symlinks` overrides it).
    pub symlinks: crate::local::Symlinks,
    /// Where local modification times come from (`mtime_from`).
    pub mtime_from: MtimeFrom,
    /// How a file is judged up to date (`compare`).
    pub compare: Compare,
    /// Parallel connections (1..=64); `None` means the engine's default.
    pub jobs: Option<usize>,
    /// The most deletes a run may plan; more stops the run before any change.
    pub max_delete: Option<u64>,
    /// Network timeout in seconds; `None` means [`peex_core::DEFAULT_TIMEOUT`].
    pub timeout_secs: Option<u64>,
    /// Retries of an operation after a temporary error (0..=[`MAX_RETRIES`]); `None` means
    /// the engine's default. `--retries` overrides it.
    pub retries: Option<u32>,
    /// TLS settings (also copied into `options`).
    pub tls: TlsConfig,
    /// Exception rules, in order; the first match decides.
    pub rules: Vec<Rule>,
    /// Filter plugins, in order, consulted after the rules.
    pub filters: Vec<FilterSpec>,
    /// Plugin libraries to load, resolved against the configuration file's directory.
    pub plugins: Vec<PathBuf>,
    /// Transport options: the user's own, plus `tls_verify` (when false), `implicit_tls` (when true),
    /// `ca_file`, `known_hosts`, `key_file`, `accept_new_host_key`, `agent` (when set).
    pub options: BTreeMap<String, String>,
    /// Secret transport options (`key_passphrase`, a plugin's tokens).
    pub secret_options: BTreeMap<String, Secret>,
    /// Warnings to show the user (each a full line starting with `peex: warning:`).
    pub warnings: Vec<String>,
    /// Where each option of [`SiteConfig::options`] and [`SiteConfig::secret_options`] was
    /// written, for errors found once the transport is known ([`SiteConfig::option_error`]).
    option_pos: BTreeMap<String, Pos>,
    /// Where the site's settings start (for errors about something missing).
    anchor: Option<Pos>,
}

impl SiteConfig {
    /// An error about the option `key`, at the line and column where the file sets it (at
    /// the site's start when it does not, e.g. for a missing required option).
    pub fn option_error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let pos = self.option_pos.get(key).copied().or(self.anchor);
        ConfigError::at_pos(&self.file, pos, message)
    }

    /// The connection parameters for the transport: host, port, user, password,
    /// root = `dest`, timeout ([`peex_core::DEFAULT_TIMEOUT`] unless set), options and
    /// secret options.
    pub fn to_site_params(&self) -> SiteParams {
        SiteParams {
            host: self.host.clone(),
            port: self.port,
            user: self.user.clone(),
            password: self.password.clone(),
            root: self.dest.clone(),
            timeout: self
                .timeout_secs
                .map_or(peex_core::DEFAULT_TIMEOUT, Duration::from_secs),
            options: self.options.clone(),
            secret_options: self.secret_options.clone(),
        }
    }
}

/// A configuration error. `Display` gives `file:line:col: message` when the position is
/// known (`file:line: message` with a line only, `file: message` otherwise). Messages never
/// contain a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    file: PathBuf,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
}

impl ConfigError {
    /// An error about `file` with no known position.
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// An error at a 1-based line and column of `file`.
    pub fn at(file: &Path, line: usize, column: usize, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    fn at_line(file: &Path, line: usize, message: impl Into<String>) -> Self {
        ConfigError {
            line: Some(line),
            ..ConfigError::new(file, message)
        }
    }

    pub(crate) fn at_pos(file: &Path, pos: Option<Pos>, message: impl Into<String>) -> Self {
        match pos {
            Some(p) => ConfigError::at(file, p.line, p.col, message),
            None => ConfigError::new(file, message),
        }
    }

    /// The file the error is about.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The 1-based line, if known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The 1-based column, if known.
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// The message without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A 1-based position in a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A value with the position it was written at (when known), for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Val<T> {
    pub v: T,
    pub pos: Option<Pos>,
}

impl<T> Val<T> {
    pub(crate) fn new(v: T, pos: Option<Pos>) -> Self {
        Val { v, pos }
    }
}

/// What a parser found, before validation and resolution (shared by both formats).
#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub transport: Option<Val<String>>,
    pub host: Option<Val<String>>,
    pub port: Option<Val<u64>>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub source: Option<Val<String>>,
    pub dest: Option<Val<String>>,
    pub srcutime: bool,
    pub symlinks: Option<crate::local::Symlinks>,
    pub mtime_from: Option<Val<String>>,
    pub compare: Option<Val<String>>,
    pub jobs: Option<Val<u64>>,
    pub max_delete: Option<u64>,
    pub timeout: Option<Val<u64>>,
    pub retries: Option<Val<u64>>,
    pub tls_verify: Option<bool>,
    pub ca_file: Option<Val<String>>,
    pub implicit_tls: Option<bool>,
    pub known_hosts: Option<Val<String>>,
    pub key_file: Option<Val<String>>,
    pub accept_new_host_key: Option<bool>,
    pub agent: Option<bool>,
    pub host_key_check: Option<bool>,
    pub rules: Vec<Rule>,
    pub filters: Vec<FilterSpec>,
    pub plugins: Vec<Val<String>>,
    pub options: BTreeMap<String, Val<String>>,
    pub secret_options: BTreeMap<String, Secret>,
    /// Where "missing key" errors point (the `[site]` header in INI).
    pub anchor: Option<Pos>,
}

/// The parts of the environment the loader reads; injectable for tests.
#[derive(Debug, Clone, Default)]
pub(crate) struct Env {
    /// `$HOME`, for `~/` expansion and the default `~/.netrc`.
    pub home: Option<PathBuf>,
    /// `$PEEX_PASSWORD`.
    pub password_env: Option<String>,
    /// The netrc file to read (`$NETRC`, else `$HOME/.netrc`); `None` reads none.
    pub netrc_path: Option<PathBuf>,
}

impl Env {
    /// Reads `HOME`, `PEEX_PASSWORD` and `NETRC` from the process environment.
    pub(crate) fn from_process() -> Env {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let netrc_path = std::env::var_os("NETRC")
            .filter(|n| !n.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".netrc")));
        Env {
            home,
            password_env: std::env::var("PEEX_PASSWORD").ok(),
            netrc_path,
        }
    }

    /// Only `HOME` (what [`parse_str`] uses).
    fn home_only() -> Env {
        Env {
            home: Env::from_process().home,
            ..Env::default()
        }
    }
}

/// Guesses a file's format: a `.ron` extension means RON; otherwise (`.peex`, `.ini`,
/// `.conf`, anything) the content decides: if the first character that is not blank and
/// not on a comment line (`#`, `;` or `//`) is `(`, or the file starts with a RON
/// `#![enable(...)]` attribute, it is RON, else INI.
pub fn detect_format(path: &Path, text: &str) -> Format {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("ron"))
    {
        return Format::Ron;
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#![") {
            return Format::Ron;
        }
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') || t.starts_with("//") {
            continue;
        }
        return if t.starts_with('(') {
            Format::Ron
        } else {
            Format::Ini
        };
    }
    Format::Ini
}

/// Parses configuration text as if read from `origin` (used for messages and to resolve
/// relative paths against `origin`'s directory).
///
/// Unlike [`load`], it reads no file, does not look up `PEEX_PASSWORD` or `~/.netrc` (the
/// password is the one written in the text, if any) and checks no permissions; the only
/// thing it reads from the environment is `$HOME`, to expand a leading `~/` in paths.
pub fn parse_str(text: &str, origin: &Path, format: Format) -> Result<SiteConfig, ConfigError> {
    parse_with(text, origin, format, &Env::home_only())
}

/// Reads and resolves the configuration file at `path`: the format is guessed with
/// [`detect_format`], the password is looked up as the module documentation says, and a
/// warning is added if the file holds a secret and is readable by group or others.
pub fn load(path: &Path) -> Result<SiteConfig, ConfigError> {
    load_with(path, &Env::from_process())
}

pub(crate) fn load_with(path: &Path, env: &Env) -> Result<SiteConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            ConfigError::new(path, "cannot read: the file is not valid UTF-8")
        } else {
            ConfigError::new(path, format!("cannot read: {e}"))
        }
    })?;
    let mut cfg = parse_with(&text, path, detect_format(path, &text), env)?;
    if cfg.password.is_some() || !cfg.secret_options.is_empty() {
        let what = if cfg.password.is_some() {
            "a password"
        } else {
            "a secret"
        };
        if let Some(w) = permission_warning(path, what) {
            cfg.warnings.push(w);
        }
    }
    if cfg.password.is_none() {
        resolve_password(&mut cfg, env)?;
    }
    Ok(cfg)
}

/// A warning if `path` can be read (or written) by group or others.
fn permission_warning(path: &Path, what: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{f} holds {what} and is readable by group/others (mode {mode:04o}); chmod 600 {f}",
            f = path.display()
        )
    })
}

/// Fills in the password from `PEEX_PASSWORD`, then the netrc file.
fn resolve_password(cfg: &mut SiteConfig, env: &Env) -> Result<(), ConfigError> {
    if let Some(p) = env.password_env.as_deref().filter(|p| !p.is_empty()) {
        cfg.password = Some(Secret::new(p));
        return Ok(());
    }
    if cfg.host.is_empty() {
        return Ok(());
    }
    let Some(netrc_path) = env.netrc_path.as_deref() else {
        return Ok(());
    };
    let text = match std::fs::read_to_string(netrc_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            cfg.warnings
                .push(format!("cannot read {}: {e}", netrc_path.display()));
            return Ok(());
        }
    };
    let entries =
        netrc::parse(&text).map_err(|e| ConfigError::at_line(netrc_path, e.line, e.message))?;
    if let Some(entry) = netrc::lookup(&entries, &cfg.host, &cfg.user) {
        if let Some(pw) = entry.password.as_ref().filter(|p| !p.is_empty()) {
            cfg.password = Some(pw.clone());
            if cfg.user.is_empty() {
                if let Some(login) = &entry.login {
                    cfg.user.clone_from(login);
                }
            }
            if let Some(w) = permission_warning(netrc_path, "a password") {
                cfg.warnings.push(w);
            }
        }
    }
    Ok(())
}

fn parse_with(
    text: &str,
    origin: &Path,
    format: Format,
    env: &Env,
) -> Result<SiteConfig, ConfigError> {
    let draft = match format {
        Format::Ini => ini::parse(text, origin)?,
        Format::Ron => native::parse(text, origin)?,
    };
    finish(draft, origin, env)
}

/// Resolves a path written in the config: `~/` → `$HOME`, relative → below `base`.
fn resolve_path(
    origin: &Path,
    base: &Path,
    home: Option<&Path>,
    what: &str,
    val: &Val<String>,
) -> Result<PathBuf, ConfigError> {
    let s = val.v.as_str();
    if s.is_empty() {
        return Err(ConfigError::at_pos(
            origin,
            val.pos,
            format!("{what} is empty"),
        ));
    }
    let expanded = if s == "~" || s.starts_with("~/") {
        let Some(home) = home else {
            return Err(ConfigError::at_pos(
                origin,
                val.pos,
                format!("{what}: cannot expand `~`: HOME is not set"),
            ));
        };
        home.join(s.trim_start_matches('~').trim_start_matches('/'))
    } else {
        PathBuf::from(s)
    };
    Ok(if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    })
}

/// Validates a draft and resolves it into a [`SiteConfig`].
fn finish(d: Draft, origin: &Path, env: &Env) -> Result<SiteConfig, ConfigError> {
    let base = origin.parent().unwrap_or(Path::new(""));
    let home = env.home.as_deref();
    let mut warnings = Vec::new();

    let transport = match &d.transport {
        None => "ftp".to_owned(),
        Some(t) => {
            let s = t.v.trim().to_ascii_lowercase();
            if !peex_plugin_abi::valid_scheme(&s) {
                return Err(ConfigError::at_pos(
                    origin,
                    t.pos,
                    format!(
                        "bad transport `{}`: expected ftp, ftps, sftp, local or a plugin's scheme (a letter, then letters, digits, `+.-`)",
                        t.v
                    ),
                ));
            }
            s
        }
    };
    let is_local = transport == "local";
    let host = d
        .host
        .as_ref()
        .map(|h| h.v.trim().to_owned())
        .unwrap_or_default();
    // A plugin transport may need no host: the plugin host checks that when it is known.
    let is_builtin_network = matches!(transport.as_str(), "ftp" | "ftps" | "sftp");
    if host.is_empty() && is_builtin_network {
        return Err(ConfigError::at_pos(
            origin,
            d.host.as_ref().and_then(|h| h.pos).or(d.anchor),
            format!("host is required (transport {transport})"),
        ));
    }
    let port = match &d.port {
        None => None,
        Some(p) => match u16::try_from(p.v) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(ConfigError::at_pos(
                    origin,
                    p.pos,
                    format!("port {} is out of range (1..=65535)", p.v),
                ))
            }
        },
    };
    let Some(source) = &d.source else {
        return Err(ConfigError::at_pos(
            origin,
            d.anchor,
            "missing `source` (the local folder to publish)",
        ));
    };
    let source = resolve_path(origin, base, home, "source", source)?;
    let Some(dest_val) = &d.dest else {
        return Err(ConfigError::at_pos(
            origin,
            d.anchor,
            "missing `dest` (the remote folder to publish to)",
        ));
    };
    if dest_val.v.trim().is_empty() {
        return Err(ConfigError::at_pos(origin, dest_val.pos, "dest is empty"));
    }
    let dest = if is_local {
        let p = resolve_path(origin, base, home, "dest", dest_val)?;
        p.to_str()
            .ok_or_else(|| {
                ConfigError::at_pos(
                    origin,
                    dest_val.pos,
                    "dest: the resolved path is not valid UTF-8",
                )
            })?
            .to_owned()
    } else {
        dest_val.v.clone()
    };
    let jobs = match &d.jobs {
        None => None,
        Some(j) if (1..=MAX_JOBS).contains(&j.v) => usize::try_from(j.v).ok(),
        Some(j) => {
            return Err(ConfigError::at_pos(
                origin,
                j.pos,
                format!("jobs must be between 1 and {MAX_JOBS}, not {}", j.v),
            ))
        }
    };
    let timeout_secs = match &d.timeout {
        None => None,
        Some(t) if t.v > 0 => Some(t.v),
        Some(t) => {
            return Err(ConfigError::at_pos(
                origin,
                t.pos,
                "timeout must be at least 1 second",
            ))
        }
    };
    let mtime_from = match &d.mtime_from {
        None => MtimeFrom::default(),
        Some(v) => MtimeFrom::parse(&v.v).ok_or_else(|| {
            ConfigError::at_pos(
                origin,
                v.pos,
                format!("mtime_from: expected `filesystem` or `git`, got `{}`", v.v),
            )
        })?,
    };
    let compare = match &d.compare {
        None => Compare::default(),
        Some(v) => Compare::parse(&v.v).ok_or_else(|| {
            ConfigError::at_pos(
                origin,
                v.pos,
                format!(
                    "compare: expected `mtime`, `checksum` or `size`, got `{}`",
                    v.v
                ),
            )
        })?,
    };
    if d.srcutime && mtime_from == MtimeFrom::Git {
        return Err(ConfigError::at_pos(
            origin,
            d.mtime_from.as_ref().and_then(|v| v.pos),
            "mtime_from = git cannot be combined with srcutime (which sets local times from \
             the server)",
        ));
    }
    let retries = match &d.retries {
        None => None,
        Some(r) if r.v <= u64::from(MAX_RETRIES) => u32::try_from(r.v).ok(),
        Some(r) => {
            return Err(ConfigError::at_pos(
                origin,
                r.pos,
                format!("retries must be between 0 and {MAX_RETRIES}, not {}", r.v),
            ))
        }
    };

    let mut options = BTreeMap::new();
    let mut option_pos = BTreeMap::new();
    for (k, v) in &d.options {
        if let Some(p) = v.pos {
            option_pos.insert(k.clone(), p);
        }
        if RESERVED_OPTIONS.contains(&k.as_str()) {
            return Err(ConfigError::at_pos(
                origin,
                v.pos,
                format!("option `{k}` is set by the `tls` or `sftp` settings, not in `options`"),
            ));
        }
        options.insert(k.clone(), v.v.clone());
    }
    let ca_file = d
        .ca_file
        .as_ref()
        .map(|v| resolve_path(origin, base, home, "ca_file", v))
        .transpose()?;
    let tls = TlsConfig {
        verify: d.tls_verify.unwrap_or(true),
        ca_file,
        implicit: d.implicit_tls.unwrap_or(false),
    };
    if !tls.verify {
        warnings.push(format!(
            "{} turns off TLS certificate verification (tls verify: false); the server is not authenticated",
            origin.display()
        ));
    }
    // Only what differs from the defaults is passed on: a transport may refuse TLS options
    // that do not apply to it (plain `ftp`), and defaults need no saying.
    if !tls.verify {
        options.insert("tls_verify".into(), "false".into());
    }
    if tls.implicit {
        options.insert("implicit_tls".into(), "true".into());
    }
    let path_str = |p: &Path, pos: Option<Pos>, what: &str| {
        p.to_str().map(str::to_owned).ok_or_else(|| {
            ConfigError::at_pos(
                origin,
                pos,
                format!("{what}: the resolved path is not valid UTF-8"),
            )
        })
    };
    if let Some(ca) = &tls.ca_file {
        let pos = d.ca_file.as_ref().and_then(|v| v.pos);
        options.insert("ca_file".into(), path_str(ca, pos, "ca_file")?);
        if let Some(p) = pos {
            option_pos.insert("ca_file".into(), p);
        }
    }
    for (name, val) in [("known_hosts", &d.known_hosts), ("key_file", &d.key_file)] {
        if let Some(val) = val {
            let p = resolve_path(origin, base, home, name, val)?;
            options.insert(name.into(), path_str(&p, val.pos, name)?);
            if let Some(p) = val.pos {
                option_pos.insert(name.into(), p);
            }
        }
    }
    for (name, val) in [
        ("accept_new_host_key", d.accept_new_host_key),
        ("agent", d.agent),
        ("host_key_check", d.host_key_check),
    ] {
        if let Some(b) = val {
            options.insert(name.into(), b.to_string());
        }
    }
    let plugins = d
        .plugins
        .iter()
        .map(|p| resolve_path(origin, base, home, "plugin", p))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(SiteConfig {
        file: origin.to_path_buf(),
        transport,
        host,
        port,
        user: d.user.unwrap_or_default(),
        password: d.password.filter(|p| !p.is_empty()),
        source,
        dest,
        srcutime: d.srcutime,
        symlinks: d.symlinks.unwrap_or_default(),
        mtime_from,
        compare,
        jobs,
        max_delete: d.max_delete,
        timeout_secs,
        retries,
        tls,
        rules: d.rules,
        filters: d.filters,
        plugins,
        options,
        secret_options: d.secret_options,
        warnings,
        option_pos,
        anchor: d.anchor,
    })
}

/// The 1-based column of byte offset `byte` in `line`, counted in characters.
pub(crate) fn column(line: &str, byte: usize) -> usize {
    line.get(..byte).map_or(1, |s| s.chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn env(password_env: Option<&str>, netrc_path: Option<PathBuf>) -> Env {
        Env {
            home: Some(PathBuf::from("/home/u")),
            password_env: password_env.map(str::to_owned),
            netrc_path,
        }
    }

    fn write_file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(text.as_bytes()).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    const NO_PASS: &str = "[site]\nhost=ftp.example.com\nuser=alice\nsource=pub\ndest=/www/\n";

    #[test]
    fn format_detection() {
        let p = Path::new;
        assert_eq!(detect_format(p("a.ron"), "[site]"), Format::Ron);
        assert_eq!(detect_format(p("a.RON"), ""), Format::Ron);
        assert_eq!(detect_format(p("a.peex"), "[site]\nhost=x"), Format::Ini);
        assert_eq!(
            detect_format(p("a.peex"), "\n# c\n; c\n  (host: \"x\")"),
            Format::Ron
        );
        assert_eq!(detect_format(p("a.conf"), "// c\n("), Format::Ron);
        assert_eq!(
            detect_format(p("a.ini"), "#![enable(implicit_some)]\n("),
            Format::Ron
        );
        assert_eq!(detect_format(p("a"), ""), Format::Ini);
        assert_eq!(detect_format(p("a"), "\u{feff}("), Format::Ron);
    }

    #[test]
    fn password_precedence() {
        let dir = tempfile::tempdir().expect("tempdir");
        let netrc = write_file(
            dir.path(),
            "netrc",
            "machine ftp.example.com login alice password fromnetrc\n",
            0o600,
        );
        // Config value wins over everything.
        let with = format!("{NO_PASS}pass=fromfile\n");
        let cfg_path = write_file(dir.path(), "a.peex", &with, 0o600);
        let cfg = load_with(&cfg_path, &env(Some("fromenv"), Some(netrc.clone()))).expect("ok");
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("fromfile"));
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        // Then PEEX_PASSWORD.
        let cfg_path = write_file(dir.path(), "b.peex", NO_PASS, 0o644);
        let cfg = load_with(&cfg_path, &env(Some("fromenv"), Some(netrc.clone()))).expect("ok");
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("fromenv"));
        // An empty PEEX_PASSWORD counts as unset: then netrc.
        let cfg = load_with(&cfg_path, &env(Some(""), Some(netrc.clone()))).expect("ok");
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("fromnetrc"));
        // A config without a password is not warned about, whatever its mode.
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        // Netrc for another user: nothing.
        let other = NO_PASS.replace("alice", "bob");
        let cfg_path = write_file(dir.path(), "c.peex", &other, 0o600);
        let cfg = load_with(&cfg_path, &env(None, Some(netrc.clone()))).expect("ok");
        assert!(cfg.password.is_none());
        // No user configured: netrc supplies both.
        let nouser = NO_PASS.replace("user=alice\n", "");
        let cfg_path = write_file(dir.path(), "d.peex", &nouser, 0o600);
        let cfg = load_with(&cfg_path, &env(None, Some(netrc))).expect("ok");
        assert_eq!(cfg.user, "alice");
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("fromnetrc"));
        // Missing netrc file: fine, no password.
        let cfg = load_with(&cfg_path, &env(None, Some(dir.path().join("nope")))).expect("ok");
        assert!(cfg.password.is_none());
    }

    #[test]
    fn load_ron_and_missing_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "// site\n(host: \"h\", source: \"pub\", dest: \"/www/\", pass: \"x\")";
        let path = write_file(dir.path(), "site.peex", text, 0o600);
        let err = load_with(&path, &env(None, None)).expect_err("`pass` is INI only");
        assert!(
            err.to_string()
                .contains(":2:43: Unexpected field named `pass`"),
            "{err}"
        );
        let text = "(host: \"h\", source: \"pub\", dest: \"/www/\", password: \"\")";
        let path = write_file(dir.path(), "site.ron", text, 0o644);
        // An empty password counts as absent: PEEX_PASSWORD is used, and no warning.
        let cfg = load_with(&path, &env(Some("e"), None)).expect("ok");
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("e"));
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        assert_eq!(cfg.source, dir.path().join("pub"));
        let err = load_with(&dir.path().join("nope.peex"), &env(None, None)).expect_err("missing");
        assert!(
            err.to_string().contains("nope.peex: cannot read: "),
            "{err}"
        );
        let bad = dir.path().join("bin.peex");
        std::fs::write(&bad, b"[site]\nhost=\xff\n").expect("write");
        let err = load_with(&bad, &env(None, None)).expect_err("not utf-8");
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    }

    #[test]
    fn netrc_error_is_reported_without_tokens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let netrc = write_file(dir.path(), "netrc", "password hunter2\n", 0o600);
        let cfg_path = write_file(dir.path(), "a.peex", NO_PASS, 0o600);
        let err = load_with(&cfg_path, &env(None, Some(netrc))).expect_err("bad netrc");
        let msg = err.to_string();
        assert!(msg.contains("netrc:1:"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn permission_warning_for_password_in_readable_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!("{NO_PASS}pass=hunter2\n");
        let open = write_file(dir.path(), "mysite.peex", &text, 0o644);
        let cfg = load_with(&open, &env(None, None)).expect("ok");
        assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
        let w = &cfg.warnings[0];
        assert!(
            !w.starts_with("peex: warning: "),
            "the reporter adds the prefix: {w}"
        );
        assert!(w.contains("mysite.peex"), "{w}");
        assert!(w.contains("0644"), "{w}");
        assert!(w.contains("chmod 600"), "{w}");
        assert!(!w.contains("hunter2"));
        let closed = write_file(dir.path(), "private.peex", &text, 0o600);
        let cfg = load_with(&closed, &env(None, None)).expect("ok");
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    }

    #[test]
    fn debug_and_errors_never_show_the_password() {
        let text = "[site]\nhost=h\npass=hunter2\nsource=s\ndest=/d\n[site]\n";
        let err = parse_str(text, Path::new("x.peex"), Format::Ini).expect_err("dup section");
        assert!(!err.to_string().contains("hunter2"));
        let text = "[site]\nhost=h\npass=hunter2\npass hunter2\nsource=s\ndest=/d\n";
        let err = parse_str(text, Path::new("x.peex"), Format::Ini).expect_err("bad line");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().starts_with("x.peex:4:1: "), "{err}");
        let text = "[site]\nhost=h\npass=hunter2\nsource=s\ndest=/d\nkey_passphrase=sesame\n";
        let cfg = parse_str(text, Path::new("x.peex"), Format::Ini).expect("ok");
        let dbg = format!("{cfg:?} {:?}", cfg.to_site_params());
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(!dbg.contains("sesame"), "{dbg}");
        assert!(dbg.contains("key_passphrase"), "{dbg}");
    }

    #[test]
    fn relative_paths_resolve_against_config_dir() {
        let text = "[site]\nhost=h\nsource=public/\ndest=/www/\nca_file=ca.pem\nknown_hosts=~/.ssh/known_hosts\n";
        let cfg = parse_with(
            text,
            Path::new("/etc/peex/site.peex"),
            Format::Ini,
            &env(None, None),
        )
        .expect("ok");
        assert_eq!(cfg.source, PathBuf::from("/etc/peex/public/"));
        assert_eq!(cfg.dest, "/www/");
        assert_eq!(cfg.tls.ca_file, Some(PathBuf::from("/etc/peex/ca.pem")));
        assert_eq!(
            cfg.options.get("ca_file").map(String::as_str),
            Some("/etc/peex/ca.pem")
        );
        assert_eq!(
            cfg.options.get("known_hosts").map(String::as_str),
            Some("/home/u/.ssh/known_hosts")
        );
        // A bare file name: relative to the current directory, as given.
        let cfg =
            parse_with(text, Path::new("site.peex"), Format::Ini, &env(None, None)).expect("ok");
        assert_eq!(cfg.source, PathBuf::from("public/"));
        // Absolute stays absolute; local dest is resolved too.
        let text = "[site]\ntransport=local\nsource=/srv/src\ndest=out\n";
        let cfg =
            parse_with(text, Path::new("/a/b.peex"), Format::Ini, &env(None, None)).expect("ok");
        assert_eq!(cfg.source, PathBuf::from("/srv/src"));
        assert_eq!(cfg.dest, "/a/out");
        assert_eq!(cfg.host, "");
    }

    #[test]
    fn defaults_and_site_params() {
        let text = "[site]\nhost=h\nport=2121\nuser=u\npass=p\nsource=s\ndest=/www/\n";
        let cfg = parse_str(text, Path::new("/x/a.peex"), Format::Ini).expect("ok");
        assert_eq!(cfg.transport, "ftp");
        assert!(cfg.tls.verify && !cfg.tls.implicit);
        // defaults are not passed on (plain ftp refuses TLS options)
        assert_eq!(cfg.options.get("tls_verify"), None);
        assert!(cfg.warnings.is_empty());
        let sp = cfg.to_site_params();
        assert_eq!(sp.host, "h");
        assert_eq!(sp.port, Some(2121));
        assert_eq!(sp.root, "/www/");
        assert_eq!(sp.timeout, Duration::from_secs(30));
        assert_eq!(sp.password.as_ref().map(Secret::expose), Some("p"));
    }

    #[test]
    fn value_checks() {
        let base = "[site]\nhost=h\nsource=s\ndest=/d\n";
        let check = |extra: &str, want: &str| {
            let err = parse_str(
                &format!("{base}{extra}\n"),
                Path::new("a.peex"),
                Format::Ini,
            )
            .expect_err(extra);
            assert!(err.to_string().contains(want), "{extra}: {err}");
        };
        check("jobs=0", "a.peex:5:6: jobs must be between 1 and 64");
        check("jobs=65", "jobs must be between 1 and 64");
        check("port=0", "a.peex:5:6: port 0 is out of range");
        check("port=70000", "out of range");
        check("timeout=0", "timeout must be at least 1");
        check(
            "retries=101",
            "a.peex:5:9: retries must be between 0 and 100, not 101",
        );
        check("retries=-1", "retries: expected a whole number");
        check("transport=f t p", "bad transport");
        let err = parse_str(
            "[site]\nsource=s\ndest=/d\n",
            Path::new("a.peex"),
            Format::Ini,
        )
        .expect_err("no host");
        assert!(err.to_string().contains("host is required"), "{err}");
        let cfg = parse_str(
            &format!("{base}tls_verify=no\n"),
            Path::new("a.peex"),
            Format::Ini,
        )
        .expect("ok");
        assert!(!cfg.tls.verify);
        assert_eq!(cfg.warnings.len(), 1);
    }
}
