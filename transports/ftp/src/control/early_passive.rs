//! Early passive requests: when an upload's next `EPSV` goes out right after its data,
//! before the transfer's `226` ([`Wire::store_round`]), and how the delay adapts to the
//! server's answers.

use super::Wire;
use std::time::Duration;

/// After this many early `EPSV`s in a row refused, a connection stops sending them for
/// [`EARLY_PAUSE`] uploads.
const EARLY_PAUSE_AFTER: u32 = 8;
/// How many uploads a connection waits for the `226` before it tries early `EPSV`s again.
const EARLY_PAUSE: u32 = 32;

/// When an upload's next `EPSV` goes out right after its data ([`Wire::store_round`]): the
/// delay after the data, which adapts to what the server says, and a pause after too many
/// refusals.
pub(super) struct EarlyPassive {
    /// How long after the data (and its slow-start flights) the `EPSV` goes out.
    pub(super) delay: Duration,
    /// Sent, and refused because they arrived during the transfer (for `peex check` and
    /// the tests).
    pub(super) sent: u64,
    refused: u64,
    /// Refused since the last one that was not.
    refused_in_a_row: u32,
    /// Uploads left before early `EPSV`s are tried again.
    pause: u32,
}

impl EarlyPassive {
    pub(super) fn new() -> Self {
        EarlyPassive {
            delay: Duration::from_millis(1),
            sent: 0,
            refused: 0,
            refused_in_a_row: 0,
            pause: 0,
        }
    }

    /// One upload's turn: false while paused (the pause counts down).
    pub(super) fn turn(&mut self) -> bool {
        let paused = self.pause > 0;
        self.pause = self.pause.saturating_sub(1);
        !paused
    }

    /// The server refused one (it arrived during the transfer): wait longer next time, up
    /// to `max`; after [`EARLY_PAUSE_AFTER`] in a row, pause for [`EARLY_PAUSE`] uploads
    /// (transfers outlast any reasonable delay just now: a busy link, say).
    pub(super) fn refused(&mut self, max: Duration) {
        self.refused += 1;
        self.refused_in_a_row += 1;
        if self.refused_in_a_row >= EARLY_PAUSE_AFTER {
            self.pause = EARLY_PAUSE;
            self.refused_in_a_row = EARLY_PAUSE_AFTER / 2;
        }
        self.delay = (self.delay * 2).min(max);
    }

    /// The server answered one after the transfer: shorten the delay, slowly.
    pub(super) fn accepted(&mut self) {
        self.refused_in_a_row = 0;
        self.delay = (self.delay - self.delay / 64).max(Duration::from_micros(200));
    }
}

impl Wire {
    /// The longest wait before an early `EPSV` ([`Wire::store_round`]): half a round trip,
    /// at most 10 ms.
    pub(super) fn max_early_delay(&self) -> Duration {
        self.rtt_min
            .map_or(Duration::from_millis(10), |r| r / 2)
            .min(Duration::from_millis(10))
    }

    /// Early `EPSV`s sent after an upload's data, and how many the server refused because
    /// they arrived during the transfer ([`Wire::store_round`]).
    pub fn early_passive_counts(&self) -> (u64, u64) {
        (self.early.sent, self.early.refused)
    }
}
