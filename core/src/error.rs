//! The one error type of the contract: a kind, a temporary/permanent flag, and context.

use std::fmt;

/// What went wrong, independent of the protocol. Backends map their native errors (FTP reply
/// codes, SFTP status codes, `io::ErrorKind`) to these kinds in one function each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The path does not exist.
    NotFound,
    /// The server refused the operation for lack of permission.
    PermissionDenied,
    /// The target exists and the operation does not replace it.
    AlreadyExists,
    /// A path component that should be a directory is not one.
    NotADirectory,
    /// `rmdir` of a directory that still has entries.
    DirectoryNotEmpty,
    /// The server (or transport) cannot do this at all.
    Unsupported,
    /// The configuration or options given to the transport are invalid.
    ConfigInvalid,
    /// A name from the server or a plugin is unsafe (`/`, `\`, NUL, `.`, `..`).
    InvalidName,
    /// The server sent something the protocol does not allow (bad reply, bad listing line).
    Protocol,
    /// Could not reach the server (DNS, refused, timeout while connecting).
    ConnectionFailed,
    /// Connected, but the credentials were refused.
    AuthFailed,
    /// TLS or SSH host identity could not be verified.
    HostIdentity,
    /// The server is limiting us (too many connections, rate limit).
    RateLimited,
    /// A plugin panicked.
    Panicked,
    /// Anything else.
    Unexpected,
}

impl ErrorKind {
    /// A short lower-case description of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::NotADirectory => "not a directory",
            ErrorKind::DirectoryNotEmpty => "directory not empty",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::ConfigInvalid => "invalid configuration",
            ErrorKind::InvalidName => "invalid name",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::ConnectionFailed => "connection failed",
            ErrorKind::AuthFailed => "authentication failed",
            ErrorKind::HostIdentity => "host identity not verified",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Panicked => "plugin panicked",
            ErrorKind::Unexpected => "unexpected error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Result alias used across the contract.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from a transport or the engine.
///
/// It carries a [`ErrorKind`], whether it is *temporary* (worth reconnecting and retrying:
/// connection resets, FTP 421/425/426/450, timeouts), a message in the backend's own words,
/// and the operation and path it happened on (added with [`Error::with_op`] by the caller,
/// not by every call site).
pub struct Error {
    kind: ErrorKind,
    temporary: bool,
    message: String,
    op: Option<&'static str>,
    path: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A permanent error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            temporary: false,
            message: message.into(),
            op: None,
            path: None,
            source: None,
        }
    }

    /// Marks the error as temporary (a retry on a fresh connection may succeed).
    pub fn temporary(mut self) -> Self {
        self.temporary = true;
        self
    }

    /// Sets whether the error is temporary.
    pub fn set_temporary(mut self, temporary: bool) -> Self {
        self.temporary = temporary;
        self
    }

    /// Adds the operation (`"list"`, `"upload"`, …) and the path it was applied to, unless
    /// already set.
    pub fn with_op(mut self, op: &'static str, path: impl fmt::Display) -> Self {
        if self.op.is_none() {
            self.op = Some(op);
            self.path = Some(path.to_string());
        }
        self
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// True if retrying on a fresh connection may succeed.
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    /// The backend's message, without operation/path context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The operation, if known.
    pub fn op(&self) -> Option<&'static str> {
        self.op
    }

    /// The path, if known.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(op) = self.op {
            match self.path.as_deref() {
                Some(p) if !p.is_empty() => write!(f, "{op} {p}: ")?,
                _ => write!(f, "{op}: ")?,
            }
        }
        write!(f, "{}", self.message)?;
        if self.temporary {
            f.write_str(" (temporary)")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("temporary", &self.temporary)
            .field("message", &self.message)
            .field("op", &self.op)
            .field("path", &self.path)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    /// Maps local I/O errors; resets, timeouts and broken pipes are temporary.
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let (kind, temporary) = match e.kind() {
            K::NotFound => (ErrorKind::NotFound, false),
            K::PermissionDenied => (ErrorKind::PermissionDenied, false),
            K::AlreadyExists => (ErrorKind::AlreadyExists, false),
            K::NotADirectory => (ErrorKind::NotADirectory, false),
            K::DirectoryNotEmpty => (ErrorKind::DirectoryNotEmpty, false),
            K::ConnectionRefused | K::HostUnreachable | K::NetworkUnreachable => {
                (ErrorKind::ConnectionFailed, false)
            }
            K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::TimedOut
            | K::UnexpectedEof
            | K::Interrupted
            | K::WouldBlock => (ErrorKind::Unexpected, true),
            _ => (ErrorKind::Unexpected, false),
        };
        let msg = e.to_string();
        Error::new(kind, msg)
            .set_temporary(temporary)
            .with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_carries_op_and_path() {
        let e = Error::new(ErrorKind::NotFound, "550 No such file")
            .with_op("delete", "a/b.txt")
            .with_op("ignored", "x");
        assert_eq!(e.to_string(), "delete a/b.txt: 550 No such file");
        let t = Error::new(ErrorKind::Unexpected, "reset").temporary();
        assert!(t.is_temporary());
        assert_eq!(t.to_string(), "reset (temporary)");
    }

    #[test]
    fn io_reset_is_temporary() {
        let e: Error = std::io::Error::from(std::io::ErrorKind::ConnectionReset).into();
        assert!(e.is_temporary());
        let e: Error = std::io::Error::from(std::io::ErrorKind::NotFound).into();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(!e.is_temporary());
    }
}
