//! THE one mapping of FTP failures to [`ErrorKind`]s: replies ([`map_reply`]) and I/O
//! failures ([`map_io`]), by what the failing command was doing ([`Op`]).

use peex_core::{Error, ErrorKind};

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

#[cfg(test)]
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
}
