//! Options of the `ftp` and `ftps` transports: declared once ([`options`]), read typed
//! into [`FtpConfig`].

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
            "pipeline_passive",
            OptionType::Bool,
            "ask for the next passive address before the current transfer's reply",
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
    /// Send a listing's next `EPSV` in the same write as its `MLSD`, and on a slow link an
    /// upload's next `EPSV` right after its data, before the `226` (option
    /// `pipeline_passive`, default true; turn off for a server that mishandles either).
    pub pipeline_passive: bool,
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
        let (implicit_tls, tls_verify, ca_file) = if tls {
            (
                o.bool("implicit_tls")?,
                o.bool("tls_verify")?,
                o.text("ca_file")?.map(PathBuf::from),
            )
        } else {
            (false, true, None)
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
            pipeline_passive: o.bool("pipeline_passive")?,
            mtime_method,
            implicit_tls,
            rename_dirs: o.bool("rename_dirs")?,
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
    }
}
