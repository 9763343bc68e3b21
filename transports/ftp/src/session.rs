//! Session setup: connect, TLS, login, FEAT probing and the root directory; raw commands on
//! the open session.

use crate::config::{FtpConfig, Tls13};
use crate::control::Wire;
use crate::data::{DataTls, TicketStore};
use crate::errors::Op;
use crate::reply::Reply;
use peex_core::{Error, ErrorKind, MtimeMethod, Result};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    ///
    /// With `cfg.tls`: TLS 1.3 is offered as `cfg.tls13` says; under `auto`, not to a server
    /// on which this run gave it up ([`give_up_tls13`]) nor to one whose greeting says it
    /// cannot resume TLS 1.3 sessions on every data connection ([`tls13_unfit_greeting`];
    /// with implicit TLS the greeting comes after the handshake: the connection is then
    /// made again, with TLS 1.2).
    pub fn open(cfg: &FtpConfig) -> Result<Session> {
        let server = format!("{}:{}", cfg.host, cfg.port);
        let auto = cfg.tls13 == Tls13::Auto;
        let tls13 = match cfg.tls13 {
            Tls13::Off => false,
            Tls13::On => true,
            Tls13::Auto => tls13_given_up(&server).is_none(),
        };
        let mut tls = if cfg.tls {
            Some(data_tls(cfg, tls13)?)
        } else {
            None
        };
        let tcp = tcp_connect(&cfg.host, cfg.port, cfg.timeout)?;
        let (mut wire, greeting) = match (&tls, cfg.implicit_tls) {
            (Some(t), true) => Wire::new_implicit(tcp, cfg.timeout, t.clone())?,
            _ => Wire::new(tcp, cfg.timeout)?,
        };
        if greeting.code != 220 {
            return Err(greeting.error(Op::Connect));
        }
        if let (Some(why), true, true) = (tls13_unfit_greeting(&greeting.text), auto, tls13) {
            give_up_tls13(&server, why);
            if cfg.implicit_tls {
                if wire.tls_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
                    let _ = wire.quit();
                    return Session::open(cfg);
                }
            } else {
                tls = Some(data_tls(cfg, false)?);
            }
        }
        wire.nat_workaround = cfg.passive_nat_workaround;
        wire.tls13_fallback = auto.then(|| server.clone());
        wire.pipelining = crate::pipelining::Policy::new(&server, &greeting.text, cfg.pipelining);
        if let (Some(tls), false) = (tls, cfg.implicit_tls) {
            wire.start_tls(tls)?;
        }
        // (An empty user is `anonymous` already: FtpConfig::from_site.)
        let user = cfg.user.as_str();
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

    /// Sends one command; a reply other than 1xx–3xx is an error mapped for `op`.
    pub fn expect(&mut self, line: &str, op: Op) -> Result<Reply> {
        let r = self.command(line)?;
        if r.is_ok() {
            Ok(r)
        } else {
            Err(r.error(op))
        }
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

/// Servers (`host:port`) on which TLS 1.3 was given up during this run
/// ([`give_up_tls13`]): later connections to them offer TLS 1.2 only.
static TLS13_GIVEN_UP: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

fn given_up() -> std::sync::MutexGuard<'static, Vec<(String, String)>> {
    TLS13_GIVEN_UP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Remembers, for the rest of the run, that TLS 1.3 does not work for `server`
/// (`host:port`): why, for `peex check`.
pub fn give_up_tls13(server: &str, why: &str) {
    let mut v = given_up();
    if !v.iter().any(|(s, _)| s == server) {
        v.push((server.to_owned(), why.to_owned()));
    }
}

/// Why TLS 1.3 was given up for `server` during this run, if it was.
pub fn tls13_given_up(server: &str) -> Option<String> {
    given_up()
        .iter()
        .find(|(s, _)| s == server)
        .map(|(_, why)| why.clone())
}

/// Why TLS 1.3 is not tried on a server with this greeting, under `tls13=auto`: proftpd's
/// `mod_tls` sends session tickets after the control connection's handshake only (two,
/// OpenSSL's default) and never renews them on data connections (its ticket callbacks
/// answer `SSL_TICKET_RETURN_USE`: "we do not want to renew (or issue) new tickets"), so a
/// client that uses each ticket once (rustls) resumes the session on two data connections,
/// and proftpd refuses the third ("client did not reuse TLS session").
pub fn tls13_unfit_greeting(greeting: &str) -> Option<&'static str> {
    greeting.to_ascii_lowercase().contains("proftpd").then_some(
        "proftpd sends TLS 1.3 session tickets with the control connection's handshake only, \
         two, and data connections must resume the session",
    )
}

/// The TLS settings of one FTPS connection: its rustls client configuration, used for the
/// control and every data connection (so data connections resume the control connection's
/// session, which servers such as proftpd require by default), with its own session store.
/// TLS 1.2 and 1.3 are offered when `tls13`, else TLS 1.2 only. Certificates: system roots
/// (plus `ca_file`), or no verification at all when `tls_verify` is off.
pub fn data_tls(cfg: &FtpConfig, tls13: bool) -> Result<DataTls> {
    let name = rustls::pki_types::ServerName::try_from(cfg.host.clone()).map_err(|e| {
        Error::new(
            ErrorKind::ConfigInvalid,
            format!("{:?} is not a valid TLS server name: {e}", cfg.host),
        )
    })?;
    let store = Arc::new(TicketStore::default());
    let mut config = tls_config(cfg, tls13)?;
    config.resumption = rustls::client::Resumption::store(store.clone());
    Ok(DataTls {
        config: Arc::new(config),
        name,
        store,
    })
}

/// The rustls client configuration (see [`data_tls`]).
fn tls_config(cfg: &FtpConfig, tls13: bool) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls13 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS12]
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
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
    Ok(config)
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
}
