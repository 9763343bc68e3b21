//! The retry policy: which errors are tried again, how often, and how long to wait first.
//! Every retry of the engine is this policy's:
//!
//! - a task of a wave ([`crate::pool`]): a temporary error drops the connection, waits
//!   ([`RetryPolicy::wait`]) and runs the task again on a new one, while
//!   [`RetryPolicy::allows`] says so (a task that reports progress starts afresh);
//! - one operation on the first connection ([`crate::pool::Pool::with_first`]): the same;
//! - opening a connection ([`RetryPolicy::connect`]): a temporary failure or a connection
//!   limit ([`RetryPolicy::retries_connect`]) is tried again;
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
}
