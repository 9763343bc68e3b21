//! Options of the `ftp` and `ftps` transports, parsed from [`SiteParams`].

use crate::pipelining::Level;
use peex_core::{Error, ErrorKind, MtimeMethod, Result, Secret, SiteParams};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The timeout used when the site sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The option names this transport understands (anything else is a configuration error, so a
/// typo such as `tls_verfy=false` is not silently ignored).
pub const OPTIONS: &[&str] = &[
    "tls_verify",
    "ca_file",
    "passive_nat_workaround",
    "pipeline_passive",
    "pipelining",
    "mtime_method",
    "implicit_tls",
    "rename_dirs",
];

/// The resolved configuration of one FTP or FTPS site.
///
/// `Debug` prints the host, user and root but never the password.
#[derive(Clone)]
pub struct FtpConfig {
    /// Host name or address.
    pub host: String,
    /// Port (21 unless the site says otherwise).
    pub port: u16,
    /// User name; `anonymous` when the site gives none.
    pub user: String,
    /// Password; empty when the site gives none.
    pub password: Secret,
    /// The remote root as configured (`/www/`, `www`, or empty for the login directory).
    pub root: String,
    /// Connect timeout, and read/write timeout of the control and data connections.
    pub timeout: Duration,
    /// True for the `ftps` scheme: `AUTH TLS` then `PROT P` before logging in.
    pub tls: bool,
    /// Verify the server certificate (option `tls_verify`, default true).
    pub tls_verify: bool,
    /// Extra trusted CA certificates, PEM (option `ca_file`).
    pub ca_file: Option<PathBuf>,
    /// In PASV mode, connect to the control connection's address rather than the one in the
    /// reply (option `passive_nat_workaround`, default true).
    pub passive_nat_workaround: bool,
    /// Forces how modification times are set (option `mtime_method`:
    /// `mfmt|mff|site-utime|site-utime5|mdtm|none`); `None` probes with FEAT.
    pub mtime_method: Option<MtimeMethod>,
    /// Forces how far commands are pipelined (option `pipelining`:
    /// `auto|lockstep|safe|full`, default auto: from the greeting and what the connections
    /// see; see the `pipelining` module). The older option `pipeline_passive=false` (no
    /// `EPSV` in the same write as a listing or right after an upload's data) is `safe`.
    pub pipelining: Option<Level>,
    /// Implicit TLS (option `implicit_tls`, ftps only): TLS from the first byte, no
    /// `AUTH TLS`; the default port is then 990.
    pub implicit_tls: bool,
    /// Let the engine build new directories under a temporary name and rename them into
    /// place whole (option `rename_dirs`, default true; turn off for a server that refuses
    /// to rename directories: every file then gets its own temporary name).
    pub rename_dirs: bool,
}

impl FtpConfig {
    /// Resolves `site` for the plain (`tls == false`) or explicit-TLS transport.
    pub fn from_site(site: &SiteParams, tls: bool) -> Result<Self> {
        for key in site.options.keys() {
            if !OPTIONS.contains(&key.as_str()) {
                return Err(Error::new(
                    ErrorKind::ConfigInvalid,
                    format!("unknown ftp option {key:?} (known: {})", OPTIONS.join(", ")),
                ));
            }
        }
        if site.host.trim().is_empty() {
            return Err(Error::new(ErrorKind::ConfigInvalid, "ftp: no host given"));
        }
        let implicit_tls = site.bool_option("implicit_tls", false)?;
        if implicit_tls && !tls {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                "implicit_tls applies to the ftps scheme only",
            ));
        }
        let mtime_method = match site.option("mtime_method") {
            None => None,
            Some(v) => Some(parse_mtime_method(v)?),
        };
        let tls_verify = site.bool_option("tls_verify", true)?;
        let ca_file = site.option("ca_file").map(PathBuf::from);
        if !tls && (site.options.contains_key("tls_verify") || ca_file.is_some()) {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                "tls_verify and ca_file apply to the ftps scheme only",
            ));
        }
        let user = if site.user.is_empty() {
            "anonymous".to_owned()
        } else {
            site.user.clone()
        };
        Ok(FtpConfig {
            host: site.host.trim().to_owned(),
            // Implicit TLS listens on its own port (990) unless told otherwise.
            port: site.port.unwrap_or(if implicit_tls { 990 } else { 21 }),
            user,
            password: site.password.clone().unwrap_or_default(),
            root: site.root.clone(),
            timeout: if site.timeout.is_zero() {
                DEFAULT_TIMEOUT
            } else {
                site.timeout
            },
            tls,
            tls_verify,
            ca_file,
            passive_nat_workaround: site.bool_option("passive_nat_workaround", true)?,
            pipelining: match site.option("pipelining") {
                Some(v) => Level::parse_option(v)?,
                None if !site.bool_option("pipeline_passive", true)? => Some(Level::Safe),
                None => None,
            },
            mtime_method,
            implicit_tls,
            rename_dirs: site.bool_option("rename_dirs", true)?,
        })
    }
}

/// Parses the `mtime_method` option.
fn parse_mtime_method(v: &str) -> Result<MtimeMethod> {
    match v.trim().to_ascii_lowercase().as_str() {
        "mfmt" => Ok(MtimeMethod::Mfmt),
        "site-utime" | "site_utime" => Ok(MtimeMethod::SiteUtime),
        "site-utime5" | "site_utime5" => Ok(MtimeMethod::SiteUtime5),
        "mff" => Ok(MtimeMethod::Mff),
        "mdtm" => Ok(MtimeMethod::MdtmWrite),
        "none" => Ok(MtimeMethod::Unsupported),
        _ => Err(Error::new(
            ErrorKind::ConfigInvalid,
            format!(
                "option mtime_method: expected mfmt, mff, site-utime, site-utime5, mdtm or none, got {v:?}"
            ),
        )),
    }
}

impl fmt::Debug for FtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"***")
            .field("root", &self.root)
            .field("timeout", &self.timeout)
            .field("tls", &self.tls)
            .field("tls_verify", &self.tls_verify)
            .field("ca_file", &self.ca_file)
            .field("passive_nat_workaround", &self.passive_nat_workaround)
            .field("mtime_method", &self.mtime_method)
            .field("pipelining", &self.pipelining)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
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
        let c = FtpConfig::from_site(&site(), false).unwrap();
        assert_eq!(c.port, 21);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert!(c.tls_verify && c.passive_nat_workaround);
        assert_eq!(c.mtime_method, None);
    }

    #[test]
    fn debug_hides_password() {
        let c = FtpConfig::from_site(&site(), true).unwrap();
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("example.org"));
    }

    #[test]
    fn options_are_checked() {
        let mut s = site();
        s.options
            .insert("mtime_method".into(), "site-utime5".into());
        s.options.insert("tls_verify".into(), "no".into());
        let c = FtpConfig::from_site(&s, true).unwrap();
        assert_eq!(c.mtime_method, Some(MtimeMethod::SiteUtime5));
        assert!(!c.tls_verify);
        // tls options make no sense for plain ftp
        let e = FtpConfig::from_site(&s, false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        let mut s = site();
        s.options.insert("tls_verfy".into(), "no".into());
        let e = FtpConfig::from_site(&s, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(e.message().contains("tls_verfy"));
        let mut s = site();
        s.options.insert("mtime_method".into(), "touch".into());
        assert!(FtpConfig::from_site(&s, false).is_err());
        let mut s = site();
        s.options.insert("implicit_tls".into(), "yes".into());
        assert!(
            FtpConfig::from_site(&s, false).is_err(),
            "implicit TLS on plain ftp"
        );
        let c = FtpConfig::from_site(&s, true).unwrap();
        assert!(c.implicit_tls);
        assert_eq!(c.port, 990);
    }

    #[test]
    fn pipelining_option_and_the_older_pipeline_passive() {
        let with = |pairs: &[(&str, &str)]| {
            let mut s = site();
            for (k, v) in pairs {
                s.options.insert((*k).into(), (*v).into());
            }
            FtpConfig::from_site(&s, false)
        };
        assert_eq!(with(&[]).unwrap().pipelining, None);
        assert_eq!(
            with(&[("pipelining", "lockstep")]).unwrap().pipelining,
            Some(Level::Lockstep)
        );
        assert_eq!(
            with(&[("pipeline_passive", "false")]).unwrap().pipelining,
            Some(Level::Safe)
        );
        assert_eq!(
            with(&[("pipeline_passive", "true")]).unwrap().pipelining,
            None
        );
        assert_eq!(
            with(&[("pipeline_passive", "false"), ("pipelining", "full")])
                .unwrap()
                .pipelining,
            Some(Level::Full)
        );
        let e = with(&[("pipelining", "turbo")]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    }
}
