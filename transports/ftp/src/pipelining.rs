//! How far a server lets commands be pipelined: a profile per server, not a constant.
//!
//! Three levels, from the fastest:
//!
//! - [`Level::Full`]: a listing's `MLSD` carries the next transfer's `EPSV` in the same
//!   write, and on a slow link an upload's next `EPSV` goes right after its data, before
//!   the `226`; commands that finish earlier files ride in front of a `STOR`; `MKD`s go in
//!   batches. proftpd takes all of it (it answers an `EPSV` that arrives during a transfer
//!   with `450`, after the transfer, or at once, and keeps the pending transfer).
//! - [`Level::Safe`]: pipelined, with two rules kept: nothing is sent between a
//!   transfer's command and its final reply (Pure-FTPd reads the control connection during
//!   `STOR`/`RETR` and answers anything but `ABOR`/`QUIT` with `500`, throwing it away),
//!   and never a second passive request while one is pending (FileZilla Server 0.9 closes
//!   the pending passive listener when a second `EPSV`/`PASV` arrives). Commands before a
//!   transfer's command, and batches without a transfer (`MKD`s, renames), still go in one
//!   write.
//! - [`Level::Lockstep`]: one command, one reply.
//!
//! The level a connection starts at is the one its server settled on earlier in this
//! process (every connection of a run shares what the others learnt), else the one its
//! greeting suggests ([`from_greeting`]); the `pipelining` option forces one. On an anomaly
//! — a data connection reset while a passive request followed its command, a `500` to a
//! pipelined command, a reply that does not fit the command it answers — the wire drops
//! the connection (a temporary error: the pool reconnects and the work in flight is
//! redone) and the server's level goes one step down, for good.

use peex_core::{Error, ErrorKind, Result};
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// How far commands are pipelined (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// One command, one reply.
    Lockstep,
    /// Pipelined, but nothing between a transfer's command and its final reply and never a
    /// second passive request while one is pending.
    Safe,
    /// Everything pipelined that proftpd takes.
    Full,
}

impl Level {
    /// The option value and the name `peex check` prints.
    pub fn name(self) -> &'static str {
        match self {
            Level::Lockstep => "lockstep",
            Level::Safe => "safe",
            Level::Full => "full",
        }
    }

    /// Parses the `pipelining` option: `lockstep`, `safe`, `full`, or `auto` (`None`).
    pub fn parse_option(v: &str) -> Result<Option<Level>> {
        match v.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(None),
            "lockstep" | "lock-step" | "none" => Ok(Some(Level::Lockstep)),
            "safe" => Ok(Some(Level::Safe)),
            "full" => Ok(Some(Level::Full)),
            _ => Err(Error::new(
                ErrorKind::ConfigInvalid,
                format!("option pipelining: expected auto, lockstep, safe or full, got {v:?}"),
            )),
        }
    }

    /// The next safer level (lock-step stays lock-step).
    pub fn safer(self) -> Level {
        match self {
            Level::Full => Level::Safe,
            Level::Safe | Level::Lockstep => Level::Lockstep,
        }
    }
}

/// The level a server's greeting suggests, and why: full for proftpd (proven by this
/// project's tests and benchmarks) and for servers that do not say what they are (a
/// misbehaviour shows as an anomaly, which lowers the level); safe for the servers known
/// to break one of its rules or not proven to keep them (Pure-FTPd, FileZilla Server,
/// vsftpd, IIS, Serv-U).
pub fn from_greeting(greeting: &str) -> (Level, String) {
    let g = greeting.to_ascii_lowercase();
    const SAFE: &[(&str, &str)] = &[
        ("pure-ftpd", "Pure-FTPd"),
        ("filezilla", "FileZilla Server"),
        ("vsftpd", "vsftpd"),
        ("microsoft ftp", "IIS"),
        ("serv-u", "Serv-U"),
    ];
    if g.contains("proftpd") {
        return (Level::Full, "proftpd".to_owned());
    }
    for (needle, name) in SAFE {
        if g.contains(needle) {
            return (Level::Safe, (*name).to_owned());
        }
    }
    (Level::Full, "server not named in its greeting".to_owned())
}

/// The level each server (`host:port`) settled on in this process.
static SETTLED: Mutex<BTreeMap<String, Level>> = Mutex::new(BTreeMap::new());

/// One connection's pipelining: its level, whether the option forced it, and why it is
/// what it is (for `peex check`).
#[derive(Debug, Clone)]
pub struct Policy {
    level: Level,
    forced: bool,
    server: String,
    why: String,
}

impl Default for Policy {
    /// Before the greeting: safe (nothing is pipelined before the greeting is read anyway).
    fn default() -> Self {
        Policy {
            level: Level::Safe,
            forced: false,
            server: String::new(),
            why: "before the greeting".to_owned(),
        }
    }
}

impl Policy {
    /// The policy of a new connection to `server` (`host:port`) that greeted with
    /// `greeting`; `forced` is the `pipelining` option.
    pub fn new(server: &str, greeting: &str, forced: Option<Level>) -> Policy {
        if let Some(level) = forced {
            return Policy {
                level,
                forced: true,
                server: server.to_owned(),
                why: "forced by the pipelining option".to_owned(),
            };
        }
        let (level, why) = from_greeting(greeting);
        let settled = SETTLED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(server)
            .copied();
        let (level, why) = match settled {
            Some(s) if s < level => (s, "lowered after an anomaly earlier in this run".to_owned()),
            _ => (level, why),
        };
        Policy {
            level,
            forced: false,
            server: server.to_owned(),
            why,
        }
    }

    /// The current level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// An anomaly (`what`) was seen: the level goes one step down, for this connection's
    /// server for the rest of the process — unless the option forced it.
    pub fn lower(&mut self, what: &str) {
        if self.forced || self.level == Level::Lockstep {
            return;
        }
        self.level = self.level.safer();
        self.why = format!("lowered after: {what}");
        if !self.server.is_empty() {
            let mut map = SETTLED.lock().unwrap_or_else(PoisonError::into_inner);
            let e = map.entry(self.server.clone()).or_insert(self.level);
            *e = (*e).min(self.level);
        }
    }

    /// `full (proftpd)`, `safe (lowered after: …)`: for `peex check`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.level.name(), self.why)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_greeting_chooses_the_level() {
        let l = |g: &str| from_greeting(g).0;
        assert_eq!(
            l("220 ProFTPD Server (Debian) [::ffff:10.0.0.1]"),
            Level::Full
        );
        assert_eq!(
            l("220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------"),
            Level::Safe
        );
        assert_eq!(l("220-FileZilla Server version 0.9.60 beta"), Level::Safe);
        assert_eq!(l("220 (vsFTPd 3.0.3)"), Level::Safe);
        assert_eq!(l("220 Microsoft FTP Service"), Level::Safe);
        assert_eq!(l("220 Welcome to example.org"), Level::Full);
    }

    #[test]
    fn an_anomaly_lowers_the_level_for_every_later_connection_to_that_server() {
        let mut p = Policy::new("test-a:21", "220 ProFTPD", None);
        assert_eq!(p.level(), Level::Full);
        p.lower("a reset");
        assert_eq!(p.level(), Level::Safe);
        let q = Policy::new("test-a:21", "220 ProFTPD", None);
        assert_eq!(q.level(), Level::Safe, "{}", q.describe());
        assert!(q.describe().contains("lowered"), "{}", q.describe());
        // Another server is not affected.
        assert_eq!(
            Policy::new("test-b:21", "220 ProFTPD", None).level(),
            Level::Full
        );
        let mut q = q;
        q.lower("a 500");
        q.lower("again");
        assert_eq!(q.level(), Level::Lockstep);
        assert_eq!(
            Policy::new("test-a:21", "220 x", None).level(),
            Level::Lockstep
        );
    }

    #[test]
    fn a_forced_level_stays() {
        let mut p = Policy::new("test-c:21", "220 Pure-FTPd", Some(Level::Full));
        assert_eq!(p.level(), Level::Full);
        p.lower("a 500");
        assert_eq!(p.level(), Level::Full);
        assert_eq!(Policy::new("test-c:21", "220 x", None).level(), Level::Full);
        assert_eq!(Level::parse_option("Safe").unwrap(), Some(Level::Safe));
        assert_eq!(Level::parse_option("auto").unwrap(), None);
        let e = Level::parse_option("fast").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(e.message().contains("lockstep"));
    }
}
