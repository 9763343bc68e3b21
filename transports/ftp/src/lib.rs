//! # peex-ftp: the `ftp` and `ftps` transports of peex
//!
//! Both register themselves with [`peex_core::inventory`]; the binary links them with
//! `use peex_ftp as _;`.
//!
//! - `ftp` (port 21): plain FTP.
//! - `ftps` (port 21): explicit TLS (`AUTH TLS`, then `PBSZ 0` and `PROT P`, so data
//!   connections are encrypted too). Certificates are verified against the system roots, plus
//!   `ca_file` (PEM) if given; `tls_verify=false` turns verification off. Data connections
//!   resume the control connection's TLS session (proftpd and vsftpd refuse them otherwise),
//!   with the same config and its session store (`data.rs`, `TicketStore`, which counts
//!   TLS 1.3 tickets). TLS 1.2 and 1.3 are offered (option `tls13`, default `auto`). Under
//!   TLS 1.3 each data connection resumes with a ticket of its own (rustls uses a ticket
//!   once; its value cannot be copied): vsftpd sends two with the control connection's
//!   handshake and one on each data connection, which an upload reads once its `226` is in
//!   (`drain_tickets`: no round trip, nothing serialised); Pure-FTPd sends none and checks
//!   nothing (full handshakes); proftpd sends two and never renews them on data connections,
//!   so the third would be refused (`425`; its log: `client did not reuse TLS session,
//!   rejecting data connection`). Under `auto`, TLS 1.2 is used for the rest of the run with
//!   a server whose greeting names proftpd, or once a connection that received tickets has
//!   none left for its next data connection (that connection is dropped, what it did redone
//!   on a fresh one), or once a data connection is refused under TLS 1.3. A refusal (`425`,
//!   `450`, `522`) under TLS names session reuse and the options that turn it off.
//!
//! Listing: `MLSD` where FEAT lists MLST (exact sizes and times; facts read
//! case-insensitively; `type=dir|cdir|pdir` is a directory, `OS.unix=slink…` a link), else
//! `LIST -a` (`list_lines.rs`: Unix and MS-DOS lines, suppaftp's parser) with the exact time
//! read by pipelined `MDTM` of each file whose size equals the local one's (the engine's
//! `RemoteFs::list_for`; `list` reads every file's). A listing the server says it truncated (`226 Output
//! truncated…`) is an error: the directory is incomplete. Times are set with the first of
//! `MFMT`, `SITE UTIME` (2, then 5 arguments), `MFF`, vsftpd's `MDTM time path` the server
//! offers and takes, checked on a listed file before the run changes anything (see
//! `FtpFs::verify_set_mtime`). `RNTO` onto an existing file refused (`550`/`553`): the file
//! is removed first for the rest of the connection. Transfers are binary (`TYPE I`), in passive mode
//! (`EPSV` when offered, else `PASV`, whose address is replaced by the control connection's
//! unless `passive_nat_workaround=false`).
//!
//! - `ftps` with `implicit_tls=true`: TLS from the first byte (no `AUTH TLS`), port 990 by
//!   default.
//!
//! Options: declared once, with types, defaults and help, in [`options`] (`peex transports`
//! prints them).
//!
//! Round trips dominate a deploy, so the protocol is spoken by `control.rs`, which pipelines
//! commands whose replies do not decide the next one. Uploads stream (`stream.rs`): a file
//! goes to a temporary name with `STOR`; its size check (`SIZE`, else `MLST`: a cut data
//! connection can still earn a `226`) and `MFMT` ride in front of the next file's `STOR`,
//! and its `RNFR` and `RNTO` in front of the one after, once the check said yes: two round
//! trips per file on a slow link (connect, then the write with `STOR`; the next `EPSV`
//! goes right after the data), three on a fast one. A listing's `MLSD` goes out with the next listing's
//! `EPSV` (two). `MKD`s are pipelined. (suppaftp, the first choice, offers no way to
//! pipeline.)
//!
//! Layers, from the bytes up (each module uses only those above it):
//!
//! - `errors.rs`: THE mapping of FTP failures to error kinds (`map_reply`, `map_io`);
//! - `reply.rs`: reply framing, and whether a reply can answer the command sent;
//! - `passive.rs`: passive-mode replies (a pure function);
//! - `data.rs`: data connections (plain or TLS), exact-size copies;
//! - `pipelining.rs`: the levels of pipelining, a server's profile and how it is lowered;
//! - `control.rs`: the control connection (`Wire`): commands and their replies, pipelined
//!   as its level allows; its children add to it, in this order: `control/tls.rs` (TLS,
//!   session resumption by data connections, refusals under TLS), `control/data_conn.rs`
//!   (passive addresses, data connections, listings), `control/early_passive.rs` (an
//!   upload's next `EPSV` before its `226`), `control/upload_round.rs` (uploads, the rounds
//!   of a pipelined upload);
//! - `session.rs`: session setup (connect, TLS, login, FEAT, the root);
//! - `lister.rs`, `list_lines.rs` (MLSD and LIST parsers), `time.rs` (FTP timestamps),
//!   `writer.rs` (single upload, size check),
//!   `ftpfs.rs` (a connection's state, shared by the two below), `stream.rs` (pipelined
//!   uploads), `backend.rs` (the `RemoteFs`), `config.rs` (options).
#![deny(missing_docs)]

mod backend;
mod config;
mod control;
mod data;
mod errors;
mod ftpfs;
mod hash;
mod list_lines;
mod lister;
mod passive;
mod pipelining;
mod reply;
mod session;
mod stream;
mod time;
mod writer;

pub use config::{options, FtpConfig};
pub use errors::{map_io, map_reply, Op};
pub use ftpfs::FtpFs;
pub use list_lines::{parse_list, parse_list_line};
pub use lister::{parse_mlsd, parse_mlsd_line};
pub use pipelining::Level as PipeliningLevel;
pub use time::{format_ftp_time, parse_ftp_time};

use crate::session::Session;
use peex_core::{OptionSpec, RemoteFs, Result, SiteParams, Transport, TransportRegistration};

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

    fn options(&self) -> Vec<OptionSpec> {
        options(false)
    }

    fn connect(&self, site: &SiteParams) -> Result<Box<dyn RemoteFs>> {
        let cfg = FtpConfig::from_site(site, false)?;
        let s = Session::open(&cfg)?;
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

    fn options(&self) -> Vec<OptionSpec> {
        options(true)
    }

    fn connect(&self, site: &SiteParams) -> Result<Box<dyn RemoteFs>> {
        let cfg = FtpConfig::from_site(site, true)?;
        let s = Session::open(&cfg)?;
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
