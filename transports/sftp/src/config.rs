//! Options of the `sftp` transport, parsed from [`SiteParams`].

use peex_core::options::{OptionType, OptionValues};
use peex_core::{Error, ErrorKind, OptionSpec, Result, Secret, SiteParams};
use std::path::PathBuf;
use std::time::Duration;

/// The port used when the site names none.
pub const DEFAULT_PORT: u16 = 22;

/// The `known_hosts` file used when the option is absent (`~` is the user's home).
pub const DEFAULT_KNOWN_HOSTS: &str = "~/.ssh/known_hosts";

/// The environment variable read for the key passphrase when the configuration gives none.
pub const PASSPHRASE_ENV: &str = "PEEX_KEY_PASSPHRASE";

/// The options of `sftp`: name, type, default and help, the one place each is written.
pub fn options() -> Vec<OptionSpec> {
    vec![
        OptionSpec::new(
            "known_hosts",
            OptionType::Path,
            "the OpenSSH known_hosts file host keys are checked against",
        )
        .default_value(DEFAULT_KNOWN_HOSTS),
        OptionSpec::new(
            "key_file",
            OptionType::Path,
            "private key for public-key login",
        ),
        OptionSpec::new(
            "agent",
            OptionType::Bool,
            "try ssh-agent's identities when no password or key file is given",
        )
        .default_value("true"),
        OptionSpec::new(
            "accept_new_host_key",
            OptionType::Bool,
            "record an unknown host key and go on (a changed one is always refused)",
        )
        .default_value("false"),
        OptionSpec::new(
            "host_key_check",
            OptionType::Bool,
            "verify the host key at all (off is warned about on every run)",
        )
        .default_value("true"),
        OptionSpec::new(
            "key_passphrase",
            OptionType::Text,
            "passphrase of key_file (else PEEX_KEY_PASSPHRASE)",
        )
        .secret(),
    ]
}

/// The resolved configuration of one SFTP site.
///
/// `Debug` never shows the password or the key passphrase ([`Secret`] redacts itself).
#[derive(Clone, Debug)]
pub struct SftpConfig {
    /// Host name or address.
    pub host: String,
    /// Port (22 unless the site says otherwise).
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Password; when set, password authentication is used (and nothing else).
    pub password: Option<Secret>,
    /// The remote root as configured: absolute, or relative to the login directory (empty
    /// means the login directory itself).
    pub root: String,
    /// Connect timeout, and the timeout of every blocking SSH operation.
    pub timeout: Duration,
    /// The OpenSSH `known_hosts` file the host key is checked against (option
    /// `known_hosts`, default `~/.ssh/known_hosts`). A missing file means every host is
    /// unknown.
    pub known_hosts: PathBuf,
    /// Private key for public-key authentication (option `key_file`).
    pub key_file: Option<PathBuf>,
    /// Passphrase of [`SftpConfig::key_file`] (secret option `key_passphrase`, or the
    /// environment variable `PEEX_KEY_PASSPHRASE`).
    pub key_passphrase: Option<Secret>,
    /// Try the identities of a running ssh-agent when neither a password nor a key file is
    /// given (option `agent`, default true).
    pub agent: bool,
    /// Record an *unknown* host key in `known_hosts` and go on (option
    /// `accept_new_host_key`, default false). A *changed* key is never accepted.
    pub accept_new_host_key: bool,
    /// Verify the host key at all (option `host_key_check`, default true). Turning it off
    /// is explicit and the engine warns about it on every run.
    pub host_key_check: bool,
}

impl SftpConfig {
    /// Resolves `site`, checking every option.
    pub fn from_site(site: &SiteParams) -> Result<Self> {
        let specs = options();
        let o = OptionValues::new(crate::SCHEME, &specs, site)?;
        let host = site.host.trim();
        if host.is_empty() {
            return Err(Error::new(ErrorKind::ConfigInvalid, "sftp: no host given"));
        }
        if host.contains(['\0', ' ', '\t', '\n', '\r', '/', ',']) {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                format!("sftp: invalid host name {host:?}"),
            ));
        }
        if site.user.is_empty() {
            return Err(Error::new(ErrorKind::ConfigInvalid, "sftp: no user given"));
        }
        if site.user.contains('\0') || site.root.contains('\0') {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                "sftp: user and root may not contain NUL",
            ));
        }
        let known_hosts = expand_home(
            o.text("known_hosts")?
                .as_deref()
                .unwrap_or(DEFAULT_KNOWN_HOSTS),
        )?;
        let key_file = match o.text("key_file")?.as_deref() {
            Some(k) if !k.trim().is_empty() => Some(expand_home(k.trim())?),
            _ => None,
        };
        let key_passphrase = match site.secret_options.get("key_passphrase") {
            Some(p) => Some(p.clone()),
            None => std::env::var(PASSPHRASE_ENV).ok().map(Secret::new),
        };
        Ok(SftpConfig {
            host: host.to_owned(),
            port: site.port.unwrap_or(DEFAULT_PORT),
            user: site.user.clone(),
            password: site.password.clone(),
            root: site.root.clone(),
            timeout: if site.timeout.is_zero() {
                peex_core::DEFAULT_TIMEOUT
            } else {
                site.timeout
            },
            known_hosts,
            key_file,
            key_passphrase,
            agent: o.bool("agent")?,
            accept_new_host_key: o.bool("accept_new_host_key")?,
            host_key_check: o.bool("host_key_check")?,
        })
    }

    /// The name under which this host is stored in `known_hosts`: `host` for port 22,
    /// `[host]:port` otherwise (as OpenSSH does).
    pub fn known_hosts_name(&self) -> String {
        if self.port == DEFAULT_PORT {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

/// Expands a leading `~/` to `$HOME`.
fn expand_home(p: &str) -> Result<PathBuf> {
    if p == "~" || p.starts_with("~/") {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::ConfigInvalid,
                    format!("sftp: cannot expand {p:?}: HOME is not set"),
                )
            })?;
        let mut path = PathBuf::from(home);
        if let Some(rest) = p.strip_prefix("~/") {
            path.push(rest);
        }
        Ok(path)
    } else {
        Ok(PathBuf::from(p))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn site() -> SiteParams {
        SiteParams {
            host: "example.org".into(),
            user: "u".into(),
            password: Some(Secret::new("hunter2")),
            ..SiteParams::default()
        }
    }

    #[test]
    fn defaults() {
        let c = SftpConfig::from_site(&site()).unwrap();
        assert_eq!(c.port, 22);
        assert_eq!(c.timeout, peex_core::DEFAULT_TIMEOUT);
        assert!(c.agent && c.host_key_check && !c.accept_new_host_key);
        assert!(c.known_hosts.ends_with(".ssh/known_hosts"));
        assert_eq!(c.known_hosts_name(), "example.org");
        let mut s = site();
        s.port = Some(2222);
        assert_eq!(
            SftpConfig::from_site(&s).unwrap().known_hosts_name(),
            "[example.org]:2222"
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let mut s = site();
        s.secret_options
            .insert("key_passphrase".into(), Secret::new("open sesame"));
        let c = SftpConfig::from_site(&s).unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2") && !d.contains("open sesame"), "{d}");
        assert!(d.contains("example.org"));
        assert_eq!(c.key_passphrase.unwrap().expose(), "open sesame");
    }

    #[test]
    fn options_are_checked() {
        let mut s = site();
        s.options.insert("accept_new_host_key".into(), "yes".into());
        s.options.insert("key_file".into(), "/k/id".into());
        s.options.insert("known_hosts".into(), "/k/kh".into());
        let c = SftpConfig::from_site(&s).unwrap();
        assert!(c.accept_new_host_key);
        assert_eq!(c.key_file.as_deref(), Some(std::path::Path::new("/k/id")));
        assert_eq!(c.known_hosts, PathBuf::from("/k/kh"));

        let mut s = site();
        s.options.insert("acept_new_host_key".into(), "yes".into());
        let e = SftpConfig::from_site(&s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(e.message().contains("acept_new_host_key"));

        let mut s = site();
        s.options.insert("host_key_check".into(), "maybe".into());
        assert!(SftpConfig::from_site(&s).is_err());

        let mut s = site();
        s.options.insert("key_passphrase".into(), "plain".into());
        let e = SftpConfig::from_site(&s).unwrap_err();
        assert!(!e.to_string().contains("plain\""));

        let mut s = site();
        s.host = "a\0b".into();
        assert!(SftpConfig::from_site(&s).is_err());
        let mut s = site();
        s.user.clear();
        assert!(SftpConfig::from_site(&s).is_err());
    }
}
