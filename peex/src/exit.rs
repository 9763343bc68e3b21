//! The exit-code policy (documented in README.md).

use std::fmt;
use std::process::ExitCode;

/// Why peex stopped; each maps to one documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 0: everything in the plan was done (or, with `-d`, planned).
    Ok,
    /// 1: the run finished but some operations failed; no deletes were run.
    Incomplete,
    /// 2: bad command line or configuration (including bad regexes, unknown transports).
    Usage,
    /// 3: could not connect, log in, verify the server's identity, or open `dest`.
    Connect,
    /// 4: stopped for safety before changing anything (missing or empty source, delete
    /// limit exceeded, server lacks MLSD or a way to set times).
    Refused,
}

impl Status {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Incomplete => 1,
            Status::Usage => 2,
            Status::Connect => 3,
            Status::Refused => 4,
        }
    }
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s.code())
    }
}

/// A run that stopped: a status and one clear line.
#[derive(Debug)]
pub struct Stop {
    /// The exit status.
    pub status: Status,
    /// What to tell the user.
    pub message: String,
}

impl Stop {
    /// A stop with `status` and `message`.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Stop {
            status,
            message: message.into(),
        }
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
