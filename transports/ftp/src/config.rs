//! Options of the `ftp` and `ftps` transports: declared once ([`options`]), read typed
//! into [`FtpConfig`].

use crate::pipelining::Level;
use peex_core::options::{choice, OptionType, OptionValues};
use peex_core::{Error, ErrorKind, MtimeMethod, OptionSpec, Result, Secret, SiteParams};
use std::path::PathBuf;
use std::time::Duration;

/// The options of `ftp` (`tls == false`) or `ftps`: name, type, default and help, the one
/// place each is written. TLS options exist for `ftps` only, so `tls_verify` on plain `ftp`
/// is an unknown option.
pub fn options(tls: bool) -> Vec<OptionSpec> {
    let mut v = Vec::new();
    if tls {
        v.extend([
            OptionSpec::new(
                "tls_verify",
                OptionType::Bool,
                "verify the server certificate",
            )
            .default_value("true"),
            OptionSpec::new(
                "ca_file",
                OptionType::Path,
                "extra trusted CA certificates (PEM)",
            ),
            OptionSpec::new(
                "implicit_tls",
                OptionType::Bool,
                "TLS from the first byte (no AUTH TLS); default port 990",
            )
            .default_value("false"),
            OptionSpec::new(
                "tls13",
                choice(&["auto", "on", "off"]),
                "TLS 1.3 (auto: when the server offers it and keeps sending the session tickets \
                 its data connections need to resume the session, else TLS 1.2; on: always \
                 where offered; off: TLS 1.2 only)",
            )
            .default_value("auto"),
        ]);
    }
    v.extend([
        OptionSpec::new(
            "passive_nat_workaround",
            OptionType::Bool,
            "in PASV mode, connect to the control connection's address, not the reply's",
        )
        .default_value("true"),
        OptionSpec::new(
            "pipelining",
            choice(&["auto", "lockstep", "safe", "full"]),
            "how commands are pipelined (auto: the server's profile, lowered on anomalies)",
        )
        .default_value("auto"),
        OptionSpec::new(
            "pipeline_passive",
            OptionType::Bool,
            "older switch: false is pipelining=safe",
        )
        .default_value("true"),
        OptionSpec::new(
            "mtime_method",
            choice(&["mfmt", "mff", "site-utime", "site-utime5", "mdtm", "none"]),
            "force how modification times are set (default: probed)",
        ),
        OptionSpec::new(
            "rename_dirs",
            OptionType::Bool,
            "build new directories under a temporary name and rename them into place whole",
        )
        .default_value("true"),
    ]);
    v
}

/// The resolved configuration of one FTP or FTPS site.
///
/// `Debug` prints everything but the password ([`Secret`] redacts itself).
#[derive(Clone, Debug)]
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
    /// Whether TLS 1.3 may be used (option `tls13`, ftps only; default auto).
    pub tls13: Tls13,
}

/// When TLS 1.3 is used (option `tls13`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls13 {
    /// Where the server offers it, unless the server is known (proftpd, by its greeting) or
    /// found (a connection left with no session ticket for its next data connection, or a
    /// data connection refused under TLS 1.3) not to let every data connection resume the
    /// session: then TLS 1.2, for the rest of the run.
    Auto,
    /// Where the server offers it, whatever happens.
    On,
    /// Never: TLS 1.2 only.
    Off,
}

impl FtpConfig {
    /// Resolves `site` for the plain (`tls == false`) or explicit-TLS transport.
    pub fn from_site(site: &SiteParams, tls: bool) -> Result<Self> {
        let specs = options(tls);
        let scheme = if tls {
            crate::FTPS_SCHEME
        } else {
            crate::FTP_SCHEME
        };
        let o = OptionValues::new(scheme, &specs, site)?;
        if site.host.trim().is_empty() {
            return Err(Error::new(ErrorKind::ConfigInvalid, "ftp: no host given"));
        }
        let (implicit_tls, tls_verify, ca_file, tls13) = if tls {
            let tls13 = match o.word("tls13")?.as_deref() {
                Some("on") => Tls13::On,
                Some("off") => Tls13::Off,
                _ => Tls13::Auto,
            };
            (
                o.bool("implicit_tls")?,
                o.bool("tls_verify")?,
                o.text("ca_file")?.map(PathBuf::from),
                tls13,
            )
        } else {
            (false, true, None, Tls13::Off)
        };
        let mtime_method = o
            .word("mtime_method")?
            .map(|v| parse_mtime_method(&v))
            .transpose()?;
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
                peex_core::DEFAULT_TIMEOUT
            } else {
                site.timeout
            },
            tls,
            tls_verify,
            ca_file,
            passive_nat_workaround: o.bool("passive_nat_workaround")?,
            // `pipelining` wins; without it the older `pipeline_passive=false` means safe.
            pipelining: match (o.is_set("pipelining"), o.bool("pipeline_passive")?) {
                (false, false) => Some(Level::Safe),
                _ => Level::parse_option(&o.text("pipelining")?.unwrap_or_default())?,
            },
            mtime_method,
            implicit_tls,
            rename_dirs: o.bool("rename_dirs")?,
            tls13,
        })
    }
}

/// Parses the `mtime_method` option.
fn parse_mtime_method(v: &str) -> Result<MtimeMethod> {
    match v.trim().to_ascii_lowercase().as_str() {
        "mfmt" => Ok(MtimeMethod::Mfmt),
        "site-utime" => Ok(MtimeMethod::SiteUtime),
        "site-utime5" => Ok(MtimeMethod::SiteUtime5),
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
        assert_eq!(c.timeout, peex_core::DEFAULT_TIMEOUT);
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
        assert!(e.message().contains("did you mean `tls_verify`"), "{e}");
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
        assert_eq!(c.tls13, Tls13::Auto);
        let mut s = site();
        s.options.insert("tls13".into(), "off".into());
        assert_eq!(FtpConfig::from_site(&s, true).unwrap().tls13, Tls13::Off);
        s.options.insert("tls13".into(), "maybe".into());
        assert!(FtpConfig::from_site(&s, true).is_err());
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
