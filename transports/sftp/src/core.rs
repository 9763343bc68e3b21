//! The connection: TCP + SSH handshake, host key check, authentication (ssh2), the SFTP
//! channel ([`Pipe`]) rooted at the site's root, and THE one function that maps SFTP status
//! codes to [`peex_core::ErrorKind`] ([`status_error`]; libssh2's own errors go through
//! [`map_err`]).

use crate::config::SftpConfig;
use crate::known_hosts;
use crate::packet::{Attrs, Reply, Request, EXT_POSIX_RENAME, FXP_REALPATH, FXP_STAT};
use crate::pipe::Pipe;
use peex_core::{Capabilities, Error, ErrorKind, MtimeMethod, RelPath, RenameOver, Result};
use ssh2::{ErrorCode, Session};
use std::io;
use std::net::TcpStream;

// libssh2 session error codes (LIBSSH2_ERROR_*), as in libssh2.h.
const E_BANNER_RECV: i32 = -2;
const E_BANNER_SEND: i32 = -3;
const E_INVALID_MAC: i32 = -4;
const E_KEX_FAILURE: i32 = -5;
const E_SOCKET_SEND: i32 = -7;
const E_KEY_EXCHANGE_FAILURE: i32 = -8;
const E_TIMEOUT: i32 = -9;
const E_DECRYPT: i32 = -12;
const E_SOCKET_DISCONNECT: i32 = -13;
const E_PROTO: i32 = -14;
const E_PASSWORD_EXPIRED: i32 = -15;
/// Also what ssh2 reports at the end of a directory listing.
pub(crate) const E_FILE: i32 = -16;
const E_AUTHENTICATION_FAILED: i32 = -18;
const E_PUBLICKEY_UNVERIFIED: i32 = -19;
const E_CHANNEL_FAILURE: i32 = -21;
const E_CHANNEL_REQUEST_DENIED: i32 = -22;
const E_CHANNEL_CLOSED: i32 = -26;
const E_CHANNEL_EOF_SENT: i32 = -27;
const E_SOCKET_TIMEOUT: i32 = -30;
const E_SFTP_PROTOCOL: i32 = -31;
const E_REQUEST_DENIED: i32 = -32;
const E_METHOD_NOT_SUPPORTED: i32 = -33;
const E_EAGAIN: i32 = -37;
const E_SOCKET_RECV: i32 = -43;
const E_BAD_SOCKET: i32 = -45;
const E_KEYFILE_AUTH_FAILED: i32 = -48;
const E_ALGO_UNSUPPORTED: i32 = -51;

// SFTP status codes (SSH_FX_*; 0-8 are version 3, the rest are sent by newer servers).
pub(crate) const FX_OK: u32 = 0;
pub(crate) const FX_EOF: u32 = 1;
pub(crate) const FX_NO_SUCH_FILE: u32 = 2;
const FX_PERMISSION_DENIED: u32 = 3;
pub(crate) const FX_FAILURE: u32 = 4;
const FX_BAD_MESSAGE: u32 = 5;
const FX_NO_CONNECTION: u32 = 6;
const FX_CONNECTION_LOST: u32 = 7;
const FX_OP_UNSUPPORTED: u32 = 8;
const FX_NO_SUCH_PATH: u32 = 10;
const FX_FILE_ALREADY_EXISTS: u32 = 11;
const FX_WRITE_PROTECT: u32 = 12;
const FX_NO_SPACE_ON_FILESYSTEM: u32 = 14;
const FX_QUOTA_EXCEEDED: u32 = 15;
const FX_LOCK_CONFLICT: u32 = 17;
const FX_DIR_NOT_EMPTY: u32 = 18;
const FX_NOT_A_DIRECTORY: u32 = 19;
const FX_LINK_LOOP: u32 = 21;

/// Maps an SFTP status code (and the server's message) to the contract's error: THE one
/// mapping of SFTP statuses in this backend. `FX_OK` is not an error and never reaches it.
pub(crate) fn status_error(code: u32, server_msg: &str) -> Error {
    let (kind, temporary, what) = match code {
        FX_NO_SUCH_FILE | FX_NO_SUCH_PATH => (ErrorKind::NotFound, false, "no such file"),
        FX_PERMISSION_DENIED | FX_WRITE_PROTECT => {
            (ErrorKind::PermissionDenied, false, "permission denied")
        }
        FX_FILE_ALREADY_EXISTS => (ErrorKind::AlreadyExists, false, "already exists"),
        FX_DIR_NOT_EMPTY => (ErrorKind::DirectoryNotEmpty, false, "directory not empty"),
        FX_NOT_A_DIRECTORY => (ErrorKind::NotADirectory, false, "not a directory"),
        FX_OP_UNSUPPORTED => (ErrorKind::Unsupported, false, "operation unsupported"),
        FX_BAD_MESSAGE => (ErrorKind::Protocol, false, "bad message"),
        FX_NO_CONNECTION | FX_CONNECTION_LOST => (ErrorKind::Unexpected, true, "connection lost"),
        FX_LOCK_CONFLICT => (ErrorKind::Unexpected, true, "lock conflict"),
        FX_NO_SPACE_ON_FILESYSTEM | FX_QUOTA_EXCEEDED => {
            (ErrorKind::Unexpected, false, "no space left")
        }
        FX_EOF => (ErrorKind::Unexpected, false, "end of file"),
        FX_FAILURE => (ErrorKind::Unexpected, false, "failure"),
        FX_LINK_LOOP => (ErrorKind::Unexpected, false, "too many symbolic links"),
        _ => (ErrorKind::Unexpected, false, "error"),
    };
    let msg = if server_msg.trim().is_empty() {
        format!("{what} (SFTP status {code})")
    } else {
        format!("{} (SFTP status {code})", server_msg.trim())
    };
    Error::new(kind, msg).set_temporary(temporary)
}

/// A reply that is a plain status: `Ok` for `FX_OK`, the mapped error otherwise, a protocol
/// error for anything else.
pub(crate) fn status_ok(reply: Reply) -> Result<()> {
    match reply {
        Reply::Status { code: FX_OK, .. } => Ok(()),
        Reply::Status { code, msg } => Err(status_error(code, &msg)),
        other => Err(unexpected(&other, "a status")),
    }
}

/// True for the statuses that mean "no such file".
pub(crate) fn is_missing(e: &Reply) -> bool {
    matches!(
        e,
        Reply::Status {
            code: FX_NO_SUCH_FILE | FX_NO_SUCH_PATH,
            ..
        }
    )
}

/// The error a reply stands for when it is not the `wanted` kind: a status's error, or a
/// protocol error (also for an `FX_OK` where data was due).
pub(crate) fn reply_error(reply: Reply, wanted: &str) -> Error {
    match reply {
        Reply::Status { code, msg } if code != FX_OK => status_error(code, &msg),
        other => unexpected(&other, wanted),
    }
}

/// The protocol error for a reply of the wrong type.
pub(crate) fn unexpected(reply: &Reply, wanted: &str) -> Error {
    let got = match reply {
        Reply::Status { .. } => "a status",
        Reply::Handle(_) => "a handle",
        Reply::Data => "data",
        Reply::Name(_) => "names",
        Reply::Attrs(_) => "attributes",
        Reply::Extended(_) => "an extended reply",
    };
    Error::new(
        ErrorKind::Protocol,
        format!("the server sent {got} where {wanted} was due"),
    )
}

/// Maps a libssh2 error to the contract's error (an SFTP status inside one goes to
/// [`status_error`]). Lost connections, socket errors and timeouts are temporary.
pub(crate) fn map_err(e: &ssh2::Error) -> Error {
    let (kind, temporary, what) = match e.code() {
        ErrorCode::SFTP(c) => {
            return status_error(u32::try_from(c).unwrap_or(u32::MAX), e.message());
        }
        ErrorCode::Session(c) => {
            let (k, t) = match c {
                E_SOCKET_SEND | E_SOCKET_RECV | E_SOCKET_DISCONNECT | E_TIMEOUT
                | E_SOCKET_TIMEOUT | E_CHANNEL_CLOSED | E_CHANNEL_EOF_SENT | E_BANNER_RECV
                | E_BANNER_SEND | E_BAD_SOCKET | E_EAGAIN => (ErrorKind::Unexpected, true),
                E_AUTHENTICATION_FAILED
                | E_PUBLICKEY_UNVERIFIED
                | E_PASSWORD_EXPIRED
                | E_KEYFILE_AUTH_FAILED => (ErrorKind::AuthFailed, false),
                E_KEX_FAILURE
                | E_KEY_EXCHANGE_FAILURE
                | E_ALGO_UNSUPPORTED
                | E_METHOD_NOT_SUPPORTED => (ErrorKind::Unsupported, false),
                E_PROTO | E_SFTP_PROTOCOL | E_INVALID_MAC | E_DECRYPT => {
                    (ErrorKind::Protocol, false)
                }
                E_CHANNEL_FAILURE | E_CHANNEL_REQUEST_DENIED | E_REQUEST_DENIED => {
                    (ErrorKind::Unsupported, false)
                }
                _ => (ErrorKind::Unexpected, false),
            };
            (k, t, format!("libssh2 error {c}"))
        }
    };
    Error::new(kind, format!("{} ({what})", e.message())).set_temporary(temporary)
}

/// Maps an `io::Error` that ssh2 produced while reading or writing the channel. ssh2 keeps
/// only the message in it, so the code is recovered from the session's last error and
/// handed to [`map_err`].
pub(crate) fn map_io(e: &io::Error, session: &Session) -> Error {
    if e.kind() == io::ErrorKind::TimedOut {
        return map_err(&ssh2::Error::from_errno(ErrorCode::Session(E_TIMEOUT)));
    }
    let msg = e.to_string();
    if let Some(last) = ssh2::Error::last_session_error(session) {
        if !matches!(last.code(), ErrorCode::Session(E_SFTP_PROTOCOL)) {
            let mut mapped = map_err(&last);
            if mapped.kind() == ErrorKind::Unexpected && !mapped.is_temporary() {
                mapped = Error::new(ErrorKind::Unexpected, msg);
            }
            return mapped;
        }
    }
    Error::new(ErrorKind::Unexpected, msg)
}

/// One authenticated SFTP connection rooted at the site's root.
pub struct SftpFs {
    // Field order matters for drop: the channel goes before the session.
    pub(crate) pipe: Pipe,
    /// True while `posix-rename@openssh.com` is offered (and not yet found refused).
    pub(crate) posix_rename: bool,
    /// True once the advertised `posix-rename@openssh.com` was checked to work.
    pub(crate) rename_checked: bool,
    /// The check sent ahead, its reply not read yet.
    pub(crate) probe: Option<u32>,
    pub(crate) session: Session,
    /// A second handle on the TCP socket, to shut it down at the end (see [`SftpFs::quit`]).
    pub(crate) tcp: Option<TcpStream>,
    /// The absolute (or login-relative, as the server understands it) root directory.
    pub(crate) root: String,
    pub(crate) caps: Capabilities,
}

impl std::fmt::Debug for SftpFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpFs")
            .field("root", &self.root)
            .field("caps", &self.caps)
            .field("limits", &self.pipe.limits)
            .finish()
    }
}

impl SftpFs {
    /// Opens, verifies the host, logs in and probes one connection (see
    /// [`peex_core::Transport::connect`] for the errors).
    pub fn connect(cfg: &SftpConfig) -> Result<SftpFs> {
        let tcp = tcp_connect(cfg)?;
        let tcp_handle = tcp.try_clone().ok();
        let mut session = Session::new().map_err(|e| map_err(&e))?;
        session.set_tcp_stream(tcp);
        session.set_timeout(u32::try_from(cfg.timeout.as_millis()).unwrap_or(u32::MAX));
        session.handshake().map_err(|e| {
            let m = map_err(&e);
            Error::new(
                ErrorKind::ConnectionFailed,
                format!(
                    "SSH handshake with {}:{} failed: {}",
                    cfg.host,
                    cfg.port,
                    m.message()
                ),
            )
            .set_temporary(m.is_temporary())
            .with_source(e)
        })?;

        // Host key BEFORE authentication: a password must never reach an impostor.
        known_hosts::verify(&session, cfg)?;
        authenticate(&session, cfg)?;

        let mut pipe = Pipe::open(&session)?;
        // The limits travel with the root's STAT: one round trip for both.
        let limits = pipe.ask_limits()?;
        let root = resolve_root(&mut pipe, &cfg.root)?;
        pipe.take_limits(limits)?;

        // posix-rename@openssh.com replaces a target atomically; plain SFTP v3 rename
        // refuses an existing target (OpenSSH), so without it we remove first.
        // Whether the server really performs it is checked on the first rename, not here:
        // a dry run or a no-op run must not send the server anything that looks like a
        // change, not even a harmless probe.
        let posix_rename = pipe.offers(EXT_POSIX_RENAME, "1");
        let caps = Capabilities {
            set_mtime: MtimeMethod::Native,
            get_mtime: true,
            rename_over: if posix_rename {
                RenameOver::Atomic
            } else {
                RenameOver::RemoveThenRename
            },
            rename_dirs: true,
        };
        Ok(SftpFs {
            pipe,
            posix_rename,
            rename_checked: false,
            probe: None,
            session,
            tcp: tcp_handle,
            root,
            caps,
        })
    }

    /// The full remote path of `p`, as bytes for a request.
    pub(crate) fn path(&self, p: &RelPath) -> Vec<u8> {
        p.under(&self.root).into_bytes()
    }

    /// The resolved remote root directory.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The write size and open-handle limits in use (from `limits@openssh.com` when the
    /// server offers it), for `peex check`.
    pub(crate) fn limits_line(&self) -> String {
        let l = self.pipe.limits;
        format!(
            "{} KiB per write, up to {} handles ({})",
            l.write / 1024,
            l.handles,
            if l.told {
                "limits@openssh.com"
            } else {
                "defaults; the server tells no limits"
            }
        )
    }

    /// The extensions the server offered, for `peex check`.
    pub(crate) fn extensions_line(&self) -> String {
        let names: Vec<String> = self
            .pipe
            .extensions
            .iter()
            .map(|(n, v)| format!("{n} {v}"))
            .collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    }

    /// `stat` (`lstat` when `!follow`) that returns `Ok(None)` for a missing path.
    pub(crate) fn stat_opt(&mut self, path: &[u8], follow: bool) -> Result<Option<Attrs>> {
        let kind = if follow {
            FXP_STAT
        } else {
            crate::packet::FXP_LSTAT
        };
        match self.pipe.call(Request::path(kind, path))? {
            Reply::Attrs(a) => Ok(Some(a)),
            r if is_missing(&r) => Ok(None),
            r => Err(reply_error(r, "attributes")),
        }
    }

    pub(crate) fn get_mtime(&mut self, p: &RelPath) -> Result<i64> {
        let path = self.path(p);
        match self.pipe.call(Request::path(FXP_STAT, &path))? {
            Reply::Attrs(a) => a.mtime.map(i64::from).ok_or_else(|| {
                Error::new(ErrorKind::Protocol, "the server sent no modification time")
            }),
            r => Err(reply_error(r, "attributes")),
        }
    }

    /// Ends the session without waiting for the server: libssh2's channel close waits for
    /// the server's own close (a round trip per connection, and the pool quits them one
    /// after the other), so the queued requests are written, the SSH disconnect sent, and
    /// the socket shut down; freeing the channel then finds it closed.
    pub(crate) fn quit(&mut self) -> Result<()> {
        let _ = self.pipe.flush();
        let _ = self.session.disconnect(None, "peex done", None);
        if let Some(tcp) = self.tcp.take() {
            let _ = tcp.shutdown(std::net::Shutdown::Both);
        }
        Ok(())
    }
}

/// Resolves every address of the host and connects to the first that answers (the one TCP
/// connect the network transports share).
fn tcp_connect(cfg: &SftpConfig) -> Result<TcpStream> {
    peex_core::net::connect(&cfg.host, cfg.port, cfg.timeout)
}

/// Password if one is configured; else the key file; else every ssh-agent identity in turn.
fn authenticate(session: &Session, cfg: &SftpConfig) -> Result<()> {
    let user = cfg.user.as_str();
    let who = format!("{user}@{}:{}", cfg.host, cfg.port);
    if let Some(pw) = &cfg.password {
        return match session.userauth_password(user, pw.expose()) {
            Ok(()) if session.authenticated() => Ok(()),
            Ok(()) => Err(auth_failed(format!(
                "login as {who} failed: the password was not accepted"
            ))),
            Err(e) => Err(auth_error(
                &e,
                format!("login as {who} failed: the password was refused"),
            )),
        };
    }
    if let Some(key) = &cfg.key_file {
        if !key.is_file() {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                format!("sftp key_file {}: no such file", key.display()),
            ));
        }
        let pass = cfg.key_passphrase.as_ref().map(|p| p.expose());
        return match session.userauth_pubkey_file(user, None, key, pass) {
            Ok(()) if session.authenticated() => Ok(()),
            Ok(()) => Err(auth_failed(format!(
                "login as {who} failed: key {} was not accepted",
                key.display()
            ))),
            Err(e) => {
                let msg = if matches!(e.code(), ErrorCode::Session(E_FILE)) {
                    format!(
                        "login as {who} failed: cannot use key {}: wrong or missing \
                         passphrase (key_passphrase / PEEX_KEY_PASSPHRASE) or unreadable key",
                        key.display()
                    )
                } else {
                    format!("login as {who} failed: key {} was refused", key.display())
                };
                Err(auth_error(&e, msg))
            }
        };
    }
    if cfg.agent {
        return agent_auth(session, user, &who);
    }
    Err(Error::new(
        ErrorKind::ConfigInvalid,
        format!("no credentials for {who}: give a password, a key_file, or enable agent"),
    ))
}

fn agent_auth(session: &Session, user: &str, who: &str) -> Result<()> {
    let no_agent = |why: String| {
        auth_failed(format!(
            "login as {who} failed: no password or key_file given, and {why}"
        ))
    };
    let mut agent = session
        .agent()
        .map_err(|e| no_agent(format!("ssh-agent is unusable ({})", e.message())))?;
    agent
        .connect()
        .map_err(|_| no_agent("no ssh-agent is reachable (SSH_AUTH_SOCK)".to_owned()))?;
    agent
        .list_identities()
        .map_err(|e| no_agent(format!("ssh-agent failed ({})", e.message())))?;
    let ids = agent
        .identities()
        .map_err(|e| no_agent(format!("ssh-agent failed ({})", e.message())))?;
    if ids.is_empty() {
        let _ = agent.disconnect();
        return Err(no_agent("ssh-agent holds no identity".to_owned()));
    }
    let mut last: Option<ssh2::Error> = None;
    for id in &ids {
        match agent.userauth(user, id) {
            Ok(()) if session.authenticated() => {
                let _ = agent.disconnect();
                return Ok(());
            }
            Ok(()) => {}
            Err(e) => {
                let temporary = map_err(&e).is_temporary();
                last = Some(e);
                if temporary {
                    break;
                }
            }
        }
    }
    let _ = agent.disconnect();
    let msg = format!(
        "login as {who} failed: none of the {} ssh-agent identities was accepted",
        ids.len()
    );
    Err(match last {
        Some(e) => auth_error(&e, msg),
        None => auth_failed(msg),
    })
}

fn auth_failed(msg: String) -> Error {
    Error::new(ErrorKind::AuthFailed, msg)
}

/// An authentication error: AuthFailed, unless the connection itself broke (temporary).
fn auth_error(e: &ssh2::Error, msg: String) -> Error {
    let m = map_err(e);
    if m.is_temporary() {
        Error::new(
            ErrorKind::ConnectionFailed,
            format!("{msg}: {}", m.message()),
        )
        .temporary()
    } else {
        auth_failed(msg)
    }
}

/// Resolves the configured root (relative roots are relative to the login directory) and
/// checks that it is a directory.
fn resolve_root(pipe: &mut Pipe, root: &str) -> Result<String> {
    let root_trimmed = if root.len() > 1 {
        root.trim_end_matches('/')
    } else {
        root
    };
    let full = if root_trimmed.starts_with('/') {
        root_trimmed.to_owned()
    } else {
        let context = |m: Error| {
            Error::new(
                m.kind(),
                format!("cannot resolve the login directory: {}", m.message()),
            )
            .set_temporary(m.is_temporary())
        };
        let login = match pipe
            .call(Request::path(FXP_REALPATH, b"."))
            .map_err(context)?
        {
            Reply::Name(mut n) if n.len() == 1 => n.remove(0).name,
            r => return Err(context(reply_error(r, "one name"))),
        };
        let login = String::from_utf8(login)
            .map_err(|_| Error::new(ErrorKind::Protocol, "the login directory is not UTF-8"))?;
        let login = login.trim_end_matches('/');
        if root_trimmed.is_empty() || root_trimmed == "." {
            if login.is_empty() {
                "/".to_owned()
            } else {
                login.to_owned()
            }
        } else {
            format!("{login}/{root_trimmed}")
        }
    };
    let reply = pipe.call(Request::path(FXP_STAT, full.as_bytes()))?;
    match reply {
        Reply::Attrs(a) if a.is_dir() => Ok(full),
        Reply::Attrs(_) => Err(Error::new(
            ErrorKind::NotADirectory,
            format!("remote root {full} is not a directory"),
        )),
        r => {
            let m = reply_error(r, "attributes");
            let msg = if m.kind() == ErrorKind::NotFound {
                format!("remote root {full} does not exist")
            } else {
                format!("remote root {full}: {}", m.message())
            };
            Err(Error::new(m.kind(), msg).set_temporary(m.is_temporary()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_mapping() {
        assert_eq!(
            status_error(FX_NO_SUCH_FILE, "").kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            status_error(FX_NO_SUCH_PATH, "x").kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            status_error(FX_PERMISSION_DENIED, "").kind(),
            ErrorKind::PermissionDenied
        );
        assert!(status_error(FX_CONNECTION_LOST, "").is_temporary());
        let e = status_error(FX_FAILURE, "Failure");
        assert_eq!(e.kind(), ErrorKind::Unexpected);
        assert!(!e.is_temporary());
        assert!(e.message().contains("Failure"), "{e}");
        assert_eq!(
            status_error(FX_OP_UNSUPPORTED, "").kind(),
            ErrorKind::Unsupported
        );
        // libssh2 errors
        let e = map_err(&ssh2::Error::from_errno(ErrorCode::Session(
            E_SOCKET_DISCONNECT,
        )));
        assert!(e.is_temporary());
        let e = map_err(&ssh2::Error::from_errno(ErrorCode::Session(E_TIMEOUT)));
        assert!(e.is_temporary());
        let e = map_err(&ssh2::Error::from_errno(ErrorCode::Session(
            E_AUTHENTICATION_FAILED,
        )));
        assert_eq!(e.kind(), ErrorKind::AuthFailed);
        let e = map_err(&ssh2::Error::from_errno(ErrorCode::SFTP(2)));
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
}
