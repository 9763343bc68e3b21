//! From what a parser found ([`Draft`]) to a [`SiteConfig`]: values checked, paths
//! resolved against the configuration file's directory ([`finish`]), the password looked up
//! in the environment and the netrc file ([`resolve_password`]), permissions checked
//! ([`permission_warning`]); [`Env`] is the part of the environment read.

use super::{
    netrc, Compare, ConfigError, FilterSpec, MtimeFrom, Pos, Rule, SiteConfig, TlsConfig, Val,
    MAX_JOBS, MAX_RETRIES, RESERVED_OPTIONS,
};
use peex_core::Secret;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

    /// Only `HOME` (what [`parse_str`](super::parse_str) uses).
    pub(super) fn home_only() -> Env {
        Env {
            home: Env::from_process().home,
            ..Env::default()
        }
    }
}

/// A warning if `path` can be read (or written) by group or others.
pub(super) fn permission_warning(path: &Path, what: &str) -> Option<String> {
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
pub(super) fn resolve_password(cfg: &mut SiteConfig, env: &Env) -> Result<(), ConfigError> {
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
pub(super) fn finish(d: Draft, origin: &Path, env: &Env) -> Result<SiteConfig, ConfigError> {
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
