//! # peex-ftp: the `ftp` and `ftps` transports of peex
//!
//! Both register themselves with [`peex_core::inventory`]; the binary links them with
//! `use peex_ftp as _;`.
//!
//! - `ftp` (port 21): plain FTP.
//! - `ftps` (port 21): explicit TLS (`AUTH TLS`, then `PBSZ 0` and `PROT P`, so data
//!   connections are encrypted too). Certificates are verified against the system roots, plus
//!   `ca_file` (PEM) if given; `tls_verify=false` turns verification off. TLS 1.2 is used:
//!   data connections must resume the control connection's TLS session (proftpd's default),
//!   and TLS 1.3 tickets are single-use, which makes later data connections fail.
//!
//! What the server must offer: `MLSD` (listing with exact sizes and times), and `MFMT` or
//! `SITE UTIME` to set modification times. Transfers are binary (`TYPE I`), in passive mode
//! (`EPSV` when offered, else `PASV`, whose address is replaced by the control connection's
//! unless `passive_nat_workaround=false`).
//!
//! - `ftps` with `implicit_tls=true`: TLS from the first byte (no `AUTH TLS`), port 990 by
//!   default.
//!
//! Options (`SiteParams::options`): `tls_verify`, `ca_file`, `implicit_tls`, `pipeline_passive`
//! (default true: a listing's next `EPSV` goes in the same write as its `MLSD`, and on a slow
//! link an upload's next `EPSV` right after its data), `passive_nat_workaround`,
//! `mtime_method` (`mfmt|site-utime|site-utime5|none`, forcing how times are set),
//! `rename_dirs` (default true: new directories are built under a temporary name and renamed
//! into place whole; false gives every file its own temporary name, for a server that will
//! not rename directories).
//!
//! Round trips dominate a deploy, so the protocol is spoken by `wire.rs`, which pipelines
//! commands whose replies do not decide the next one. Uploads stream (`stream.rs`): a file
//! goes to a temporary name with `STOR`; its size check (`SIZE`, else `MLST`: a cut data
//! connection can still earn a `226`) and `MFMT` ride in front of the next file's `STOR`,
//! and its `RNFR` and `RNTO` in front of the one after, once the check said yes: two round
//! trips per file on a slow link (connect, then the write with `STOR`; the next `EPSV`
//! goes right after the data), three on a fast one. A listing's `MLSD` goes out with the next listing's
//! `EPSV` (two). `MKD`s are pipelined. (suppaftp, the first choice, offers no way to
//! pipeline.)
//!
//! Files: `config.rs` (options), `core.rs` (login, FEAT, the one error-mapping function),
//! `wire.rs` (control and data connections, pipelining), `lister.rs` (MLSD parser),
//! `writer.rs` (single upload, size check), `stream.rs` (pipelined uploads), `backend.rs`
//! (the `RemoteFs`), `time.rs` (FTP timestamps).
#![deny(missing_docs)]

mod backend;
mod config;
mod core;
mod hash;
mod lister;
mod stream;
mod time;
mod wire;
mod writer;

pub use backend::FtpFs;
pub use config::{FtpConfig, DEFAULT_TIMEOUT, OPTIONS};
pub use core::{map_io, map_reply, Op};
pub use lister::{parse_mlsd, parse_mlsd_line};
pub use time::{format_ftp_time, parse_ftp_time};

use crate::core::Session;
use peex_core::{RemoteFs, Result, SiteParams, Transport, TransportRegistration};

/// The scheme of plain FTP.
pub const FTP_SCHEME: &str = "ftp";
/// The scheme of FTP with explicit TLS.
pub const FTPS_SCHEME: &str = "ftps";
/// The default port of both schemes.
pub const DEFAULT_PORT: u16 = 21;

/// The `ftp` transport.
#[derive(Debug, Clone, Copy, Default)]
pub struct FtpTransport;

/// The `ftps` transport (explicit TLS).
#[derive(Debug, Clone, Copy, Default)]
pub struct FtpsTransport;

impl Transport for FtpTransport {
    fn scheme(&self) -> &str {
        FTP_SCHEME
    }

    fn description(&self) -> &str {
        "FTP (MLSD listings; MFMT or SITE UTIME for times)"
    }

    fn default_port(&self) -> Option<u16> {
        Some(DEFAULT_PORT)
    }

    fn connect(&self, site: &SiteParams) -> Result<Box<dyn RemoteFs>> {
        let cfg = FtpConfig::from_site(site, false)?;
        let s = Session::open(&cfg, None)?;
        Ok(Box::new(FtpFs::new(s, cfg.mtime_method, cfg.rename_dirs)?))
    }
}

impl Transport for FtpsTransport {
    fn scheme(&self) -> &str {
        FTPS_SCHEME
    }

    fn description(&self) -> &str {
        "FTP over explicit TLS (AUTH TLS, PROT P); certificates verified"
    }

    fn default_port(&self) -> Option<u16> {
        Some(DEFAULT_PORT)
    }

    fn connect(&self, site: &SiteParams) -> Result<Box<dyn RemoteFs>> {
        let cfg = FtpConfig::from_site(site, true)?;
        let config = crate::core::tls_config(&cfg)?;
        let name = rustls::pki_types::ServerName::try_from(cfg.host.clone()).map_err(|e| {
            peex_core::Error::new(
                peex_core::ErrorKind::ConfigInvalid,
                format!("{:?} is not a valid TLS server name: {e}", cfg.host),
            )
        })?;
        let s = Session::open(&cfg, Some(crate::wire::DataTls { config, name }))?;
        Ok(Box::new(FtpFs::new(s, cfg.mtime_method, cfg.rename_dirs)?))
    }
}

static FTP: FtpTransport = FtpTransport;
static FTPS: FtpsTransport = FtpsTransport;

peex_core::inventory::submit! { TransportRegistration { transport: &FTP } }
peex_core::inventory::submit! { TransportRegistration { transport: &FTPS } }

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn both_schemes_are_registered() {
        let schemes: Vec<&str> = peex_core::transports().map(|t| t.scheme()).collect();
        assert!(schemes.contains(&"ftp"), "{schemes:?}");
        assert!(schemes.contains(&"ftps"), "{schemes:?}");
    }
}
