//! What a site's configuration resolves to: [`SiteConfig`] and its parts ([`TlsConfig`],
//! [`FilterSpec`], the settings [`MtimeFrom`] and [`Compare`]), the file [`Format`]s, and
//! the limits a site's values are checked against.

use super::{ConfigError, Pos, Rule};
use peex_core::{Secret, SiteParams};
use std::collections::BTreeMap;
use std::path::PathBuf;
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
    pub(super) option_pos: BTreeMap<String, Pos>,
    /// Where the site's settings start (for errors about something missing).
    pub(super) anchor: Option<Pos>,
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
