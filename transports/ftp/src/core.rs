//! Connection handling: connect, TLS, login, FEAT probing, raw commands, and THE one function
//! that maps FTP failures to [`ErrorKind`]s ([`map_reply`]; I/O failures: [`map_io`]).

use crate::config::FtpConfig;
use crate::wire::{DataTls, Wire};
use peex_core::{Error, ErrorKind, MtimeMethod, Result};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// What a failing command was doing; decides what an ambiguous reply (550) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Opening the connection, TLS, greeting.
    Connect,
    /// USER/PASS.
    Login,
    /// MLSD / MLST of a path that should exist.
    List,
    /// STOR.
    Upload,
    /// DELE, RMD, MKD, RNFR/RNTO, MFMT, SITE UTIME, …: a 550 is a refusal unless the reply
    /// says the path is missing.
    Change,
    /// MDTM.
    Read,
}

/// One reply of the server: code and text (all lines, CRLF kept out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code of the last line.
    pub code: u32,
    /// The text of every line, joined with `\n`, without trailing whitespace.
    pub text: String,
}

impl Reply {
    #[cfg(test)]
    fn from_body(body: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(body)
            .trim_end()
            .replace("\r\n", "\n");
        let code = text
            .lines()
            .last()
            .and_then(|l| l.get(0..3))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Reply { code, text }
    }

    /// True for 1xx, 2xx and 3xx replies.
    pub fn is_ok(&self) -> bool {
        (100..400).contains(&self.code)
    }

    /// The text on one line (multi-line replies joined with ` / `).
    pub fn one_line(&self) -> String {
        self.text.lines().collect::<Vec<_>>().join(" / ")
    }

    /// The error this reply means for `op` (see [`map_reply`]).
    pub fn error(&self, op: Op) -> Error {
        map_reply(self.code, &self.one_line(), op)
    }
}

/// THE mapping from an FTP reply code (and its text) to an error kind and temporary flag.
///
/// - 421, 425, 426, 450: temporary (`421` at connect is [`ErrorKind::ConnectionFailed`]).
/// - `421`/`530` saying "too many" or "maximum number of" (connections, users, clients):
///   [`ErrorKind::RateLimited`], temporary.
/// - 530: [`ErrorKind::AuthFailed`].
/// - 550: by its text ("No such file" → NotFound, "not empty" → DirectoryNotEmpty, "File
///   exists" → AlreadyExists, "Not a directory" → NotADirectory, "Permission denied" /
///   "Operation not permitted" → PermissionDenied), else by `op`: NotFound when listing or
///   reading, PermissionDenied when changing.
/// - 553: InvalidName when the text speaks of the name, else PermissionDenied.
/// - 500, 502, 504: Unsupported (the command is not implemented or refused as such).
pub fn map_reply(code: u32, text: &str, op: Op) -> Error {
    let lower = text.to_ascii_lowercase();
    let too_many = lower.contains("too many") || lower.contains("maximum number of");
    let (kind, temporary) = match code {
        421 if too_many => (ErrorKind::RateLimited, true),
        530 if too_many => (ErrorKind::RateLimited, true),
        421 if op == Op::Connect => (ErrorKind::ConnectionFailed, true),
        421 | 425 | 426 | 450 => (ErrorKind::Unexpected, true),
        530 => (ErrorKind::AuthFailed, false),
        532 => (ErrorKind::PermissionDenied, false),
        550 => {
            let kind = if lower.contains("no such file") || lower.contains("not found") {
                ErrorKind::NotFound
            } else if lower.contains("not empty") {
                ErrorKind::DirectoryNotEmpty
            } else if lower.contains("file exists") || lower.contains("already exists") {
                ErrorKind::AlreadyExists
            } else if lower.contains("not a directory") {
                ErrorKind::NotADirectory
            } else if lower.contains("permission denied")
                || lower.contains("not permitted")
                || lower.contains("access denied")
            {
                ErrorKind::PermissionDenied
            } else {
                match op {
                    Op::List | Op::Read => ErrorKind::NotFound,
                    _ => ErrorKind::PermissionDenied,
                }
            };
            (kind, false)
        }
        553 => {
            if lower.contains("name") {
                (ErrorKind::InvalidName, false)
            } else {
                (ErrorKind::PermissionDenied, false)
            }
        }
        500 | 502 | 504 => (ErrorKind::Unsupported, false),
        _ => (ErrorKind::Unexpected, false),
    };
    let kind = if op == Op::Login && kind == ErrorKind::Unexpected && !temporary {
        ErrorKind::AuthFailed
    } else {
        kind
    };
    Error::new(kind, text.to_owned()).set_temporary(temporary)
}

/// Maps an I/O error of the control or data connection.
pub fn map_io(io: std::io::Error, op: Op) -> Error {
    use std::io::ErrorKind as K;
    if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        let kind = match tls {
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                ErrorKind::HostIdentity
            }
            _ if op == Op::Connect => ErrorKind::ConnectionFailed,
            _ => ErrorKind::Protocol,
        };
        return Error::new(kind, format!("TLS: {tls}"));
    }
    let temporary = matches!(
        io.kind(),
        K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::TimedOut
            | K::WouldBlock
            | K::UnexpectedEof
            | K::Interrupted
            | K::NotConnected
    ) || (io.kind() == K::ConnectionRefused && op != Op::Connect);
    // (A refused *data* connection — a passive port that closed — is worth a retry on a
    // fresh session; a refused control connection means the server is not there.)
    let kind = if op == Op::Connect {
        ErrorKind::ConnectionFailed
    } else {
        ErrorKind::Unexpected
    };
    let msg = match io.kind() {
        K::WouldBlock | K::TimedOut => "timed out: the server did not answer in time".to_owned(),
        _ => io.to_string(),
    };
    Error::new(kind, msg)
        .set_temporary(temporary)
        .with_source(io)
}

/// What FEAT (and SITE HELP) said the server can do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// FEAT lines, trimmed, upper-cased.
    pub lines: Vec<String>,
}

impl Features {
    /// Parses the text of a `211` FEAT reply.
    pub fn parse(text: &str) -> Features {
        let mut lines = Vec::new();
        let all: Vec<&str> = text.lines().collect();
        for (i, l) in all.iter().enumerate() {
            if i == 0 || i + 1 == all.len() && l.starts_with("211") {
                continue;
            }
            let t = l.trim();
            if !t.is_empty() {
                lines.push(t.to_ascii_uppercase());
            }
        }
        Features { lines }
    }

    /// True if a FEAT line is `name` or starts with `name ` (`MLST modify*;…`).
    pub fn has(&self, name: &str) -> bool {
        self.lines
            .iter()
            .any(|l| l == name || l.strip_prefix(name).is_some_and(|r| r.starts_with(' ')))
    }
}

/// Opens the TCP control connection ([`peex_core::net::connect`]), then sets the read and
/// write timeouts.
fn tcp_connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
    let s = peex_core::net::connect(host, port, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    Ok(s)
}

/// The configured root as an absolute path without trailing `/` (`/` itself kept), or
/// `None` if it is relative (then it is below the login directory, found with `PWD`).
fn absolute_root(root: &str) -> Option<String> {
    if !root.starts_with('/') {
        return None;
    }
    let t = root.trim_end_matches('/');
    Some(if t.is_empty() {
        "/".to_owned()
    } else {
        t.to_owned()
    })
}

/// An open, logged-in, probed control connection.
pub struct Session {
    /// The control connection (pipelining, data connections).
    pub wire: Wire,
    /// The server's greeting (for `peex check`).
    pub greeting: String,
    /// The root directory's `modify` fact as read at login, if it was.
    pub root_modify: Option<String>,
    /// What FEAT said.
    pub features: Features,
    /// The absolute root directory, without a trailing `/` (except `/` itself).
    pub root: String,
    /// How directories are listed: MLSD where FEAT lists MLST, else LIST.
    pub listing: Listing,
}

/// How a session lists directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// `MLSD` (RFC 3659): exact sizes and times.
    Mlsd,
    /// `LIST -a` (Unix `ls -l` or MS-DOS lines), with each file's exact time read by `MDTM`.
    List,
}

/// True for the MLST `type` values that name a directory: `dir`, and `cdir`/`pdir` (the
/// listed directory itself and its parent: Pure-FTPd answers `MLST /` with `type=pdir`).
pub fn is_dir_type(t: &str) -> bool {
    ["dir", "cdir", "pdir"]
        .iter()
        .any(|d| t.eq_ignore_ascii_case(d))
}

impl Session {
    /// Connects, optionally secures (`tls`), logs in, switches to binary mode, probes FEAT
    /// and checks the root — in as few round trips as the protocol allows: after the
    /// greeting, `USER`, `PASS`, `TYPE I` and `FEAT` go out in one write.
    pub fn open(cfg: &FtpConfig, tls: Option<DataTls>) -> Result<Session> {
        let tcp = tcp_connect(&cfg.host, cfg.port, cfg.timeout)?;
        let (mut wire, greeting) = match (&tls, cfg.implicit_tls) {
            (Some(t), true) => Wire::new_implicit(tcp, cfg.timeout, t.clone())?,
            _ => Wire::new(tcp, cfg.timeout)?,
        };
        if greeting.code != 220 {
            return Err(greeting.error(Op::Connect));
        }
        wire.nat_workaround = cfg.passive_nat_workaround;
        wire.pipelining = crate::pipelining::Policy::new(
            &format!("{}:{}", cfg.host, cfg.port),
            &greeting.text,
            cfg.pipelining,
        );
        if let (Some(tls), false) = (tls, cfg.implicit_tls) {
            wire.start_tls(tls)?;
        }
        let user = if cfg.user.is_empty() {
            "anonymous"
        } else {
            cfg.user.as_str()
        };
        // The binary type matters: ASCII would turn LF into CRLF on upload.
        let mut lines = vec![
            format!("USER {user}"),
            format!("PASS {}", cfg.password.expose()),
            "TYPE I".to_owned(),
            "FEAT".to_owned(),
            // Harmless where unsupported (500), and it saves a round trip to send it now.
            "OPTS UTF8 ON".to_owned(),
            // Only the facts peex reads: the server then skips the rest (owner and group
            // names, permissions) for every entry it lists. Harmless where unsupported.
            "OPTS MLST type;size;modify;".to_owned(),
        ];
        let root_abs = absolute_root(&cfg.root);
        if let Some(abs) = &root_abs {
            lines.push(format!("MLST {abs}"));
        }
        let n = lines.len();
        let lockstep = wire.pipelining.level() == crate::pipelining::Level::Lockstep;
        if !lockstep {
            wire.send_batch(&lines)?;
        }
        // Read one reply at a time: a server that refuses the login may hang up right after
        // saying why, and that reply is the one to report.
        let mut replies = Vec::with_capacity(n);
        for line in &lines {
            let reply = if lockstep {
                wire.send_batch(std::slice::from_ref(line))
                    .and_then(|()| wire.read_reply(Op::Login))
            } else {
                wire.read_reply(Op::Login)
            };
            match reply {
                Ok(r) => replies.push(r),
                Err(e) => match replies.first() {
                    Some(first) if !matches!(first.code, 230 | 331 | 332) => break,
                    _ if replies.len() == 2 && !matches!(replies[1].code, 230 | 202) => break,
                    _ => return Err(e),
                },
            }
        }
        let login_refused = |r: &Reply| {
            let e = r.error(Op::Login);
            Error::new(
                e.kind(),
                format!("login as {user} refused: {}", e.message()),
            )
            .set_temporary(e.is_temporary())
        };
        match (replies.first(), replies.get(1)) {
            (Some(r), _) if r.code == 230 => {}
            (Some(r), Some(p)) if matches!(r.code, 331 | 332) => {
                if p.code != 230 && p.code != 202 {
                    return Err(login_refused(p));
                }
            }
            (Some(r), _) => return Err(login_refused(r)),
            (None, _) => return Err(Error::new(ErrorKind::Protocol, "no reply to USER")),
        }
        if replies.len() < n {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the server closed the connection during login",
            )
            .temporary());
        }
        if !replies[2].is_ok() {
            return Err(replies[2].error(Op::Connect));
        }
        let mut s = Session {
            wire,
            greeting: greeting.one_line(),
            root_modify: None,
            features: Features::default(),
            root: String::new(),
            listing: Listing::Mlsd,
        };
        if replies[3].code == 211 {
            s.features = Features::parse(&replies[3].text);
        }
        // Without MLSD (vsftpd), directories are listed with LIST and files' times read with
        // MDTM (the `list_lines` module).
        s.listing = if s.features.has("MLST") {
            Listing::Mlsd
        } else {
            Listing::List
        };
        s.wire.epsv = s.features.has("EPSV");
        let early = if root_abs.is_some() {
            replies.pop()
        } else {
            None
        };
        s.root = s.resolve_root(&cfg.root, early)?;
        Ok(s)
    }

    /// Makes the configured root absolute (relative roots are below the login directory) and
    /// checks that it is a directory.
    fn resolve_root(&mut self, root: &str, early: Option<Reply>) -> Result<String> {
        let mut abs = if let Some(abs) = absolute_root(root) {
            abs
        } else {
            let r = self.command("PWD")?;
            if r.code != 257 {
                return Err(r.error(Op::Connect));
            }
            // 257 "/home/user" is the current directory ("" inside doubled)
            let pwd = r
                .text
                .split('"')
                .nth(1)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Protocol,
                        format!("bad PWD reply: {}", r.one_line()),
                    )
                })?
                .to_owned();
            format!("{}/{}", pwd.trim_end_matches('/'), root)
        };
        while abs.len() > 1 && abs.ends_with('/') {
            abs.pop();
        }
        if abs.is_empty() {
            abs.push('/');
        }
        let kind = match early {
            Some(r) if self.listing == Listing::Mlsd || r.code == 250 => {
                // Keep the root's time: the check that times can be set may reuse it.
                self.root_modify = mlst_fact(&r, &abs, "modify").ok().flatten();
                mlst_fact(&r, &abs, "type")?
            }
            _ => self.stat(&abs)?,
        };
        match kind.map(|k| k.to_ascii_lowercase()) {
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("the remote root {abs} does not exist"),
            )),
            Some(kind) if !is_dir_type(&kind) => Err(Error::new(
                ErrorKind::NotADirectory,
                format!("the remote root {abs} is not a directory (type {kind})"),
            )),
            Some(_) => Ok(abs),
        }
    }

    /// MLST of `abs`: `None` if the server says it does not exist (550), else the value of
    /// its `type` fact, lower-cased. Without MLST: `SIZE` (a file) then `CWD` (a
    /// directory); `file`, `dir` or `None`.
    pub fn stat(&mut self, abs: &str) -> Result<Option<String>> {
        if self.listing == Listing::List {
            let r = self.command(&format!("SIZE {abs}"))?;
            if r.code == 213 {
                return Ok(Some("file".to_owned()));
            }
            let r = self.command(&format!("CWD {abs}"))?;
            return Ok((r.code == 250).then(|| "dir".to_owned()));
        }
        self.fact(abs, "type")
            .map(|v| v.map(|t| t.to_ascii_lowercase()))
    }

    /// MLST of `abs`: `None` if it does not exist (550), else the value of fact `name`
    /// (an error if the reply lacks it).
    pub fn fact(&mut self, abs: &str, name: &str) -> Result<Option<String>> {
        let r = self.command(&format!("MLST {abs}"))?;
        mlst_fact(&r, abs, name)
    }
}

/// The value of fact `name` in the reply `r` to `MLST abs`: `None` if the path does not
/// exist (550), an error if the reply lacks the fact.
pub fn mlst_fact(r: &Reply, abs: &str, name: &str) -> Result<Option<String>> {
    if r.code == 550 {
        return Ok(None);
    }
    if r.code != 250 {
        return Err(r.error(Op::List));
    }
    for line in r.text.lines().skip(1) {
        let Some(facts) = line.strip_prefix(' ') else {
            continue;
        };
        let facts = facts.split(' ').next().unwrap_or("");
        for f in facts.split(';') {
            if let Some((k, v)) = f.split_once('=') {
                if k.eq_ignore_ascii_case(name) {
                    return Ok(Some(v.to_owned()));
                }
            }
        }
    }
    Err(Error::new(
        ErrorKind::Protocol,
        format!("MLST {abs}: reply has no {name} fact: {}", r.one_line()),
    ))
}

impl Session {
    /// Sends one command and returns the server's reply, whatever its code. Only I/O failures
    /// are errors.
    pub fn command(&mut self, line: &str) -> Result<Reply> {
        self.wire.command(line, Op::Change)
    }

    /// Runs a data command (`MLSD path`) and returns everything the data connection carried.
    pub fn read_data(&mut self, line: &str, op: Op) -> Result<Vec<u8>> {
        self.wire.read_data(line, op)
    }

    /// The ways times may be set, best first, from FEAT, the greeting and (when FEAT lists
    /// neither MFMT nor SITE UTIME) SITE HELP: `MFMT`, `SITE UTIME` (2, then 5 arguments),
    /// `MFF`, vsftpd's two-argument `MDTM`. Empty: none is offered.
    pub fn probe_mtime_methods(&mut self) -> Result<Vec<MtimeMethod>> {
        let f = &self.features;
        let mut v = Vec::new();
        if f.has("MFMT") {
            v.push(MtimeMethod::Mfmt);
        }
        let mff = f
            .lines
            .iter()
            .any(|l| l.starts_with("MFF") && l.contains("MODIFY"));
        let utime = if !v.is_empty() || mff || f.has("SITE UTIME") {
            // proftpd lists SITE UTIME in FEAT; servers that offer MFMT often take SITE
            // UTIME too: worth a try on refusal, and no round trip for SITE HELP.
            true
        } else {
            let help = self.command("SITE HELP")?;
            help.is_ok() && help.text.to_ascii_uppercase().contains("UTIME")
        };
        if utime {
            v.push(MtimeMethod::SiteUtime);
            v.push(MtimeMethod::SiteUtime5);
        }
        if mff {
            v.push(MtimeMethod::Mff);
        }
        // vsftpd (`mdtm_write`, on by default) sets a time with `MDTM time path`; elsewhere
        // the two-argument form is a last resort (a server that reads it as a path answers
        // 550, which is a refusal).
        let vsftpd = self.greeting.to_ascii_lowercase().contains("vsftpd");
        if self.features.has("MDTM") && (vsftpd || v.is_empty()) {
            v.push(MtimeMethod::MdtmWrite);
        }
        Ok(v)
    }
}

/// Builds the rustls client configuration for FTPS: system roots (plus `ca_file`), or no
/// verification at all when `tls_verify` is off. The same `Arc` is used for the control and
/// every data connection, so data connections resume the control connection's TLS session
/// (servers such as proftpd require that by default).
pub fn tls_config(cfg: &FtpConfig) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // TLS 1.2 only: data connections must resume the control connection's session, and TLS
    // 1.3 tickets are single-use, so after a few transfers a data connection would need a
    // full handshake, which proftpd refuses ("425 … Operation not permitted").
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .map_err(|e| Error::new(ErrorKind::Unexpected, format!("TLS setup: {e}")))?;
    let config = if cfg.tls_verify {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = &cfg.ca_file {
            use rustls_pki_types::pem::PemObject;
            use rustls_pki_types::CertificateDer;
            let bad = |e: &dyn std::fmt::Display| {
                Error::new(
                    ErrorKind::ConfigInvalid,
                    format!("ca_file {}: {e}", path.display()),
                )
            };
            let mut n = 0;
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
                n += 1;
            }
            if n == 0 {
                return Err(bad(&"no PEM certificate in the file"));
            }
        }
        if roots.is_empty() {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                "no trusted CA certificates: the system has none; set ca_file or tls_verify=false",
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The verifier used with `tls_verify=false`: accepts any certificate (handshake signatures
/// are still checked, so the connection is encrypted, just not authenticated).
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes_map_to_kinds() {
        let k = |code, text: &str, op| {
            let e = map_reply(code, text, op);
            (e.kind(), e.is_temporary())
        };
        use ErrorKind as E;
        assert_eq!(
            k(421, "Service not available", Op::Change),
            (E::Unexpected, true)
        );
        assert_eq!(
            k(421, "Service not available", Op::Connect),
            (E::ConnectionFailed, true)
        );
        assert_eq!(
            k(421, "Too many connections (8) from this IP", Op::Connect),
            (E::RateLimited, true)
        );
        assert_eq!(
            k(
                530,
                "Sorry, the maximum number of clients (2) for this user are already connected.",
                Op::Login
            ),
            (E::RateLimited, true)
        );
        assert_eq!(k(530, "Too many users", Op::Login), (E::RateLimited, true));
        assert_eq!(
            k(530, "Login incorrect.", Op::Login),
            (E::AuthFailed, false)
        );
        assert_eq!(
            k(425, "Unable to build data connection", Op::List),
            (E::Unexpected, true)
        );
        assert_eq!(
            k(426, "Transfer aborted", Op::Upload),
            (E::Unexpected, true)
        );
        assert_eq!(k(450, "busy", Op::Change), (E::Unexpected, true));
        assert_eq!(
            k(550, "/x: No such file or directory", Op::Change),
            (E::NotFound, false)
        );
        assert_eq!(
            k(550, "/x: Permission denied", Op::List),
            (E::PermissionDenied, false)
        );
        assert_eq!(
            k(550, "Unable to handle command", Op::Change),
            (E::PermissionDenied, false)
        );
        assert_eq!(
            k(550, "'/x' cannot be listed", Op::List),
            (E::NotFound, false)
        );
        assert_eq!(
            k(550, "d: Directory not empty", Op::Change),
            (E::DirectoryNotEmpty, false)
        );
        assert_eq!(
            k(550, "/d: File exists", Op::Change),
            (E::AlreadyExists, false)
        );
        assert_eq!(
            k(550, "/f: Not a directory", Op::List),
            (E::NotADirectory, false)
        );
        assert_eq!(
            k(553, "File name not allowed", Op::Upload),
            (E::InvalidName, false)
        );
        assert_eq!(
            k(553, "Requested action not taken", Op::Upload),
            (E::PermissionDenied, false)
        );
        assert_eq!(
            k(500, "MFMT not understood", Op::Change),
            (E::Unsupported, false)
        );
        assert_eq!(
            k(502, "Command not implemented", Op::Change),
            (E::Unsupported, false)
        );
        assert_eq!(
            k(504, "not implemented for that parameter", Op::Change),
            (E::Unsupported, false)
        );
        assert_eq!(k(451, "local error", Op::Upload), (E::Unexpected, false));
        let e = map_reply(550, "/x: No such file or directory", Op::List);
        assert_eq!(e.message(), "/x: No such file or directory");
    }

    #[test]
    fn io_errors() {
        use std::io::{Error as Io, ErrorKind as K};
        let e = map_io(Io::from(K::ConnectionReset), Op::Change);
        assert!(e.is_temporary());
        let e = map_io(Io::from(K::TimedOut), Op::List);
        assert!(e.is_temporary());
        assert!(e.message().contains("timed out"));
        let e = map_io(Io::from(K::ConnectionRefused), Op::Connect);
        assert_eq!(e.kind(), ErrorKind::ConnectionFailed);
        assert!(!e.is_temporary());
        let e = map_io(Io::from(K::ConnectionRefused), Op::List);
        assert!(e.is_temporary(), "refused data connection");
        let e = map_io(Io::from(K::UnexpectedEof), Op::Upload);
        assert!(e.is_temporary());
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let e = map_io(Io::new(K::InvalidData, tls), Op::Connect);
        assert_eq!(e.kind(), ErrorKind::HostIdentity);
    }

    #[test]
    fn feat_parsing() {
        let text = "211-Features:\n EPSV\n MDTM\n MFMT\n MLST modify*;perm*;size*;type*;\n SITE MKDIR\n SITE UTIME\n UTF8\n211 End";
        let f = Features::parse(text);
        assert!(
            f.has("MLST") && f.has("MFMT") && f.has("MDTM") && f.has("SITE UTIME") && f.has("EPSV")
        );
        assert!(!f.has("MLS") && !f.has("SIZE") && !f.has("UTIME"));
        let f = Features::parse("211 No features");
        assert!(f.lines.is_empty());
    }

    #[test]
    fn reply_text() {
        let r = Reply::from_body(
            b"214-The following SITE commands\r\n UTIME\r\n214 Direct comments\r\n",
        );
        assert_eq!(r.code, 214);
        assert!(r.is_ok());
        assert_eq!(
            r.one_line(),
            "214-The following SITE commands /  UTIME / 214 Direct comments"
        );
    }
}
