//! The connection: TCP + SSH handshake, host key check, authentication, the SFTP session
//! rooted at the site's root, and THE one function that maps libssh2 / SFTP errors to
//! [`peex_core::ErrorKind`].

use crate::config::SftpConfig;
use crate::known_hosts;
use crate::rename::PosixRename;
use peex_core::{Capabilities, Error, ErrorKind, MtimeMethod, RelPath, RenameOver, Result};
use ssh2::{ErrorCode, FileStat, Session, Sftp};
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};

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

// SFTP status codes (SSH_FX_*).
/// `SSH_FX_OK`.
pub(crate) const FX_OK: u32 = 0;
const FX_EOF: i32 = 1;
pub(crate) const FX_NO_SUCH_FILE: i32 = 2;
const FX_PERMISSION_DENIED: i32 = 3;
pub(crate) const FX_FAILURE: i32 = 4;
const FX_BAD_MESSAGE: i32 = 5;
const FX_NO_CONNECTION: i32 = 6;
const FX_CONNECTION_LOST: i32 = 7;
const FX_OP_UNSUPPORTED: i32 = 8;
const FX_NO_SUCH_PATH: i32 = 10;
const FX_FILE_ALREADY_EXISTS: i32 = 11;
const FX_WRITE_PROTECT: i32 = 12;
const FX_LOCK_CONFLICT: i32 = 17;
const FX_DIR_NOT_EMPTY: i32 = 18;
const FX_NOT_A_DIRECTORY: i32 = 19;
const FX_LINK_LOOP: i32 = 21;

/// Maps a libssh2 or SFTP error to the contract's error: THE one mapping function of this
/// backend. Lost connections, socket errors and timeouts are temporary.
pub(crate) fn map_err(e: &ssh2::Error) -> Error {
    let (kind, temporary, what) = match e.code() {
        ErrorCode::SFTP(c) => {
            let (k, t) = match c {
                FX_NO_SUCH_FILE | FX_NO_SUCH_PATH => (ErrorKind::NotFound, false),
                FX_PERMISSION_DENIED | FX_WRITE_PROTECT => (ErrorKind::PermissionDenied, false),
                FX_FILE_ALREADY_EXISTS => (ErrorKind::AlreadyExists, false),
                FX_DIR_NOT_EMPTY => (ErrorKind::DirectoryNotEmpty, false),
                FX_NOT_A_DIRECTORY => (ErrorKind::NotADirectory, false),
                FX_OP_UNSUPPORTED => (ErrorKind::Unsupported, false),
                FX_BAD_MESSAGE => (ErrorKind::Protocol, false),
                FX_NO_CONNECTION | FX_CONNECTION_LOST | FX_LOCK_CONFLICT => {
                    (ErrorKind::Unexpected, true)
                }
                FX_EOF | FX_FAILURE | FX_LINK_LOOP => (ErrorKind::Unexpected, false),
                _ => (ErrorKind::Unexpected, false),
            };
            (k, t, format!("SFTP status {c}"))
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

/// Maps an `io::Error` that ssh2 produced while reading or writing a remote file or channel.
/// ssh2 keeps only the message in it, so the code is recovered from the session's last error
/// (or, for SFTP statuses, from the message) and handed to [`map_err`].
pub(crate) fn map_io(e: &io::Error, session: &Session) -> Error {
    if e.kind() == io::ErrorKind::TimedOut {
        return map_err(&ssh2::Error::from_errno(ErrorCode::Session(E_TIMEOUT)));
    }
    let msg = e.to_string();
    // An SFTP status is reported with the fixed message of its code.
    for c in 1..=21 {
        let candidate = ssh2::Error::from_errno(ErrorCode::SFTP(c));
        if candidate.message() == msg {
            return map_err(&candidate);
        }
    }
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
    // Field order matters for drop: the SFTP handles go before the session.
    pub(crate) sftp: Sftp,
    pub(crate) rename: Option<PosixRename>,
    /// True once the advertised `posix-rename@openssh.com` was checked to work.
    pub(crate) rename_checked: bool,
    pub(crate) session: Session,
    /// The absolute (or login-relative, as the server understands it) root directory.
    pub(crate) root: String,
    pub(crate) caps: Capabilities,
}

impl std::fmt::Debug for SftpFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpFs")
            .field("root", &self.root)
            .field("caps", &self.caps)
            .finish()
    }
}

impl SftpFs {
    /// Opens, verifies the host, logs in and probes one connection (see
    /// [`peex_core::Transport::connect`] for the errors).
    pub fn connect(cfg: &SftpConfig) -> Result<SftpFs> {
        let tcp = tcp_connect(cfg)?;
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

        let sftp = session.sftp().map_err(|e| {
            let m = map_err(&e);
            Error::new(
                m.kind(),
                format!("cannot start the SFTP subsystem: {}", m.message()),
            )
            .set_temporary(m.is_temporary())
        })?;
        let root = resolve_root(&sftp, &cfg.root)?;

        // posix-rename@openssh.com replaces a target atomically; plain SFTP v3 rename
        // refuses an existing target (OpenSSH), so without it we remove first.
        // Whether the server really performs it is checked on the first rename, not here:
        // a dry run or a no-op run must not send the server anything that looks like a
        // change, not even a harmless probe.
        let rename = PosixRename::open(&session);
        let caps = Capabilities {
            set_mtime: MtimeMethod::Native,
            get_mtime: true,
            rename_over: if rename.is_some() {
                RenameOver::Atomic
            } else {
                RenameOver::RemoveThenRename
            },
            rename_dirs: true,
        };
        Ok(SftpFs {
            sftp,
            rename,
            rename_checked: false,
            session,
            root,
            caps,
        })
    }

    /// The full remote path of `p`.
    pub(crate) fn path(&self, p: &RelPath) -> PathBuf {
        PathBuf::from(p.under(&self.root))
    }

    /// The resolved remote root directory.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// `stat` that returns `Ok(None)` for a missing path.
    pub(crate) fn stat_opt(&self, path: &Path) -> Result<Option<FileStat>> {
        match self.sftp.stat(path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(map_err(&e)),
        }
    }

    pub(crate) fn delete(&mut self, p: &RelPath) -> Result<()> {
        let path = self.path(p);
        match self.sftp.unlink(&path) {
            Ok(()) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(map_err(&e)),
        }
    }

    pub(crate) fn mkdir(&mut self, p: &RelPath) -> Result<()> {
        let path = self.path(p);
        match self.sftp.mkdir(&path, 0o755) {
            Ok(()) => Ok(()),
            Err(e) => match self.sftp.lstat(&path) {
                Ok(st) if st.is_dir() => Ok(()),
                Ok(_) => Err(Error::new(
                    ErrorKind::AlreadyExists,
                    "exists and is not a directory",
                )),
                Err(_) => Err(map_err(&e)),
            },
        }
    }

    pub(crate) fn rmdir(&mut self, p: &RelPath) -> Result<()> {
        let path = self.path(p);
        match self.sftp.rmdir(&path) {
            Ok(()) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => {
                // OpenSSH reports ENOTEMPTY as the generic SSH_FX_FAILURE: look.
                if matches!(e.code(), ErrorCode::SFTP(FX_FAILURE)) && self.has_entries(&path) {
                    Err(Error::new(
                        ErrorKind::DirectoryNotEmpty,
                        "directory not empty",
                    ))
                } else {
                    Err(map_err(&e))
                }
            }
        }
    }

    /// True if `path` is a directory with at least one entry besides `.` and `..`.
    fn has_entries(&self, path: &Path) -> bool {
        let Ok(mut dir) = self.sftp.opendir(path) else {
            return false;
        };
        while let Ok((name, _)) = dir.readdir() {
            if name.as_os_str() != "." && name.as_os_str() != ".." {
                return true;
            }
        }
        false
    }

    pub(crate) fn rename(&mut self, from: &RelPath, to: &RelPath) -> Result<()> {
        let src = self.path(from);
        let dst = self.path(to);
        if !self.rename_checked {
            self.rename_checked = true;
            let dir = self.root.clone();
            if let Some(r) = self.rename.as_mut() {
                if !r.works(&self.session, &dir) {
                    self.rename = None;
                    self.caps.rename_over = RenameOver::RemoveThenRename;
                }
            }
        }
        if let Some(r) = self.rename.as_mut() {
            return r.rename(&self.session, &src, &dst);
        }
        // Plain SFTP v3 rename: refused by OpenSSH when the target exists.
        match self.sftp.rename(&src, &dst, None) {
            Ok(()) => Ok(()),
            Err(first) => {
                match self.sftp.lstat(&dst) {
                    Ok(st) if !st.is_dir() => {}
                    _ => return Err(map_err(&first)),
                }
                self.sftp.unlink(&dst).map_err(|e| map_err(&e))?;
                self.sftp.rename(&src, &dst, None).map_err(|e| map_err(&e))
            }
        }
    }

    pub(crate) fn set_mtime(&mut self, p: &RelPath, mtime: i64) -> Result<()> {
        // SFTP v3 carries times as unsigned 32-bit seconds.
        let t = u32::try_from(mtime).map_err(|_| {
            Error::new(
                ErrorKind::Unsupported,
                format!("SFTP cannot set the time {mtime} (outside 1970..2106)"),
            )
        })?;
        let path = self.path(p);
        // libssh2 sets access and modification time together: give both.
        let stat = FileStat {
            size: None,
            uid: None,
            gid: None,
            perm: None,
            atime: Some(u64::from(t)),
            mtime: Some(u64::from(t)),
        };
        self.sftp.setstat(&path, stat).map_err(|e| map_err(&e))
    }

    pub(crate) fn get_mtime(&mut self, p: &RelPath) -> Result<i64> {
        let path = self.path(p);
        let st = self.sftp.stat(&path).map_err(|e| map_err(&e))?;
        st.mtime
            .and_then(|m| i64::try_from(m).ok())
            .ok_or_else(|| Error::new(ErrorKind::Protocol, "the server sent no modification time"))
    }

    pub(crate) fn quit(&mut self) -> Result<()> {
        self.rename = None;
        let _ = self.session.disconnect(None, "peex done", None);
        Ok(())
    }
}

/// True for the SFTP statuses that mean "no such file".
pub(crate) fn is_missing(e: &ssh2::Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::SFTP(FX_NO_SUCH_FILE) | ErrorCode::SFTP(FX_NO_SUCH_PATH)
    )
}

/// Resolves every address of the host and connects to the first that answers.
fn tcp_connect(cfg: &SftpConfig) -> Result<TcpStream> {
    let target = format!("{}:{}", cfg.host, cfg.port);
    let addrs: Vec<_> = (cfg.host.as_str(), cfg.port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::new(
                ErrorKind::ConnectionFailed,
                format!("cannot resolve {}: {e}", cfg.host),
            )
            .set_temporary(e.kind() == io::ErrorKind::TimedOut)
        })?
        .collect();
    let mut last: Option<io::Error> = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, cfg.timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    let (msg, temporary) = match &last {
        Some(e) => (e.to_string(), matches!(e.kind(), io::ErrorKind::TimedOut)),
        None => ("no address".to_owned(), false),
    };
    let err = Error::new(
        ErrorKind::ConnectionFailed,
        format!("cannot connect to {target}: {msg}"),
    )
    .set_temporary(temporary);
    Err(match last {
        Some(e) => err.with_source(e),
        None => err,
    })
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
fn resolve_root(sftp: &Sftp, root: &str) -> Result<String> {
    let root_trimmed = if root.len() > 1 {
        root.trim_end_matches('/')
    } else {
        root
    };
    let full = if root_trimmed.starts_with('/') {
        root_trimmed.to_owned()
    } else {
        let login = sftp.realpath(Path::new(".")).map_err(|e| {
            let m = map_err(&e);
            Error::new(
                m.kind(),
                format!("cannot resolve the login directory: {}", m.message()),
            )
            .set_temporary(m.is_temporary())
        })?;
        let login = login
            .to_str()
            .ok_or_else(|| Error::new(ErrorKind::Protocol, "the login directory is not UTF-8"))?;
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
    match sftp.stat(Path::new(&full)) {
        Ok(st) if st.is_dir() => Ok(full),
        Ok(_) => Err(Error::new(
            ErrorKind::NotADirectory,
            format!("remote root {full} is not a directory"),
        )),
        Err(e) => {
            let m = map_err(&e);
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
        let e = map_err(&ssh2::Error::from_errno(ErrorCode::SFTP(FX_NO_SUCH_FILE)));
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = map_err(&ssh2::Error::from_errno(ErrorCode::SFTP(
            FX_PERMISSION_DENIED,
        )));
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let e = map_err(&ssh2::Error::from_errno(ErrorCode::SFTP(
            FX_CONNECTION_LOST,
        )));
        assert!(e.is_temporary());
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
        let e = map_err(&ssh2::Error::from_errno(ErrorCode::SFTP(FX_FAILURE)));
        assert_eq!(e.kind(), ErrorKind::Unexpected);
        assert!(!e.is_temporary());
    }
}
