//! The retry policy: which errors are tried again, how often, and how long to wait first.
//! Every retry of the engine is this policy's:
//!
//! - a task of a wave ([`crate::pool`]): a temporary error drops the connection, waits
//!   ([`RetryPolicy::wait`]) and runs the task again on a new one, while
//!   [`RetryPolicy::allows`] says so (a task that reports progress starts afresh);
//! - one operation on the first connection ([`crate::pool::Pool::with_first`]): the same;
//! - opening a connection ([`RetryPolicy::connect`]): a temporary failure or a connection
//!   limit ([`RetryPolicy::retries_connect`]) is tried again;
//! - an operation of `peex check` ([`RetryPolicy::on_fresh_connection`], once, at once: a
//!   check reports what a sync would meet, it does not wait out a bad server);
//! - a file of an upload stream ([`crate::transfer::streams`]): handed back to the queue
//!   while [`RetryPolicy::allows`] says so.
//!
//! Loops elsewhere that look like retries are not: the mkdir wave sends what a batch left
//! ([`crate::transfer::mkdirs`]), and an upload whose local file changed while it was read
//! is sent once more because its first copy was refused (not because of the server).

use peex_core::{Error, ErrorKind, Result};
use std::time::Duration;

/// How often and how patiently temporary errors are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per task after the first one.
    pub retries: u32,
    /// Delay before the first retry; doubled each time.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 3,
            base_delay: Duration::from_millis(200),
        }
    }
}

impl RetryPolicy {
    /// True if something that failed `failures` times (counting the last failure) may be
    /// tried again.
    pub fn allows(&self, failures: u32) -> bool {
        failures <= self.retries
    }

    /// Waits before retry number `retry + 1` (`retry` retries made so far): the base delay,
    /// doubled for each retry before (at most 64 times).
    pub fn wait(&self, retry: u32) {
        let factor = 1u32 << retry.min(6);
        std::thread::sleep(self.base_delay * factor);
    }

    /// True if a failed connect is worth trying again: a temporary failure (reset, timeout,
    /// 421) or a connection limit.
    pub fn retries_connect(e: &Error) -> bool {
        e.is_temporary() || e.kind() == ErrorKind::RateLimited
    }

    /// Opens a connection with `connect`, retrying failures [`Self::retries_connect`]
    /// accepts with backoff as the policy says; other failures are returned at once.
    pub fn connect<C>(&self, connect: impl Fn() -> Result<C>) -> Result<C> {
        let mut retry = 0u32;
        loop {
            match connect() {
                Ok(c) => return Ok(c),
                Err(e) if Self::retries_connect(&e) && self.allows(retry + 1) => {
                    self.wait(retry);
                    retry += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs `op` on `conn`; after a temporary error (a connection the backend dropped,
    /// say), waits, replaces `conn` by a fresh connection from `reconnect` and runs `op`
    /// again, as often as the policy allows. If the fresh connection cannot be opened, the
    /// operation's error is returned.
    pub fn on_fresh_connection<C, T>(
        &self,
        conn: &mut C,
        reconnect: impl Fn() -> Result<C>,
        mut op: impl FnMut(&mut C) -> Result<T>,
    ) -> Result<T> {
        let mut retry = 0u32;
        loop {
            match op(conn) {
                Err(e) if e.is_temporary() && self.allows(retry + 1) => {
                    self.wait(retry);
                    retry += 1;
                    match reconnect() {
                        Ok(fresh) => *conn = fresh,
                        Err(_) => return Err(e),
                    }
                }
                r => return r,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_counts_the_retries_after_the_first_try() {
        let p = RetryPolicy {
            retries: 2,
            base_delay: Duration::ZERO,
        };
        assert!(p.allows(1) && p.allows(2) && !p.allows(3));
        let tries = std::cell::Cell::new(0);
        let r: Result<()> = p.connect(|| {
            tries.set(tries.get() + 1);
            Err(Error::new(ErrorKind::RateLimited, "too many connections"))
        });
        assert!(r.is_err());
        assert_eq!(tries.get(), 3, "one try and two retries");
    }

    #[test]
    fn on_fresh_connection_reconnects_after_a_temporary_error_only() {
        let p = RetryPolicy {
            retries: 1,
            base_delay: Duration::ZERO,
        };
        let reset = || Error::new(ErrorKind::Unexpected, "connection reset").temporary();
        let mut conn = 0u32;
        let r = p.on_fresh_connection(
            &mut conn,
            || Ok(7),
            |c| if *c == 0 { Err(reset()) } else { Ok(*c) },
        );
        assert_eq!(r.unwrap(), 7, "the second try runs on the fresh connection");
        let mut conn = 0u32;
        let r: Result<u32> = p.on_fresh_connection(&mut conn, || Ok(0), |_| Err(reset()));
        assert!(r.unwrap_err().is_temporary(), "bounded by the policy");
        let mut calls = 0;
        let r: Result<()> = p.on_fresh_connection(
            &mut conn,
            || Ok(0),
            |_| {
                calls += 1;
                Err(Error::new(ErrorKind::PermissionDenied, "550"))
            },
        );
        assert!(r.is_err());
        assert_eq!(calls, 1, "a permanent error is not retried");
    }
}
