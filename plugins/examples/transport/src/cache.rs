//! What all connections of this process know about the server, and when it goes stale.
//!
//! Every mutation (PUT, DELETE, MKCOL, MOVE) by any connection bumps [`EPOCH`] when it
//! completes (and records it per path). A cached fact is used only if nothing could have
//! changed it since the request that produced it *started*:
//!
//! - the whole-tree listing (one `PROPFIND Depth: infinity` on the root, used by the scan)
//!   is valid while no mutation at all has completed since its request started;
//! - a file's time (filled by one `PROPFIND Depth: 1` of its directory, used by `srcutime`)
//!   is valid while no mutation *of that path* has completed since its request started.
//!
//! Each cached fact is also handed out **once** (the scan lists every directory once,
//! `srcutime` reads every file's time once) and only within [`MAX_AGE`] of its request: a
//! second listing of the same directory, or one after a pause, asks the server again, so a
//! change made by someone else is seen as soon as it would be without the cache.
//!
//! So a scan of N directories costs one round trip instead of N, and reading back the times
//! of M uploaded files costs one round trip per directory instead of M.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a cached fact may be handed out after its request.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(30);

/// Bumped after every completed mutation.
static EPOCH: AtomicU64 = AtomicU64::new(1);

/// One directory listing: `(name, is_dir, size, mtime)`.
pub(crate) type Listing = Vec<(String, bool, Option<u64>, Option<i64>)>;

#[derive(Default)]
struct Shared {
    /// `(site key, epoch at request start, when, listing per decoded directory path)`.
    tree: Option<(String, u64, Instant, HashMap<String, Listing>)>,
    /// Decoded file path → `(mtime, epoch at request start, when)`.
    mtimes: HashMap<String, (i64, u64, Instant)>,
    /// Decoded path → epoch of its last completed mutation.
    mutated: HashMap<String, u64>,
}

static SHARED: Mutex<Option<Shared>> = Mutex::new(None);

fn with<T>(f: impl FnOnce(&mut Shared) -> T) -> T {
    let mut g = SHARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(g.get_or_insert_with(Shared::default))
}

/// The epoch to record before sending a request whose answer will be cached.
pub(crate) fn start() -> u64 {
    EPOCH.load(Ordering::SeqCst)
}

/// Records a completed mutation of `paths` (decoded URL paths).
pub(crate) fn mutated(paths: &[&str]) {
    let e = EPOCH.fetch_add(1, Ordering::SeqCst) + 1;
    with(|s| {
        for p in paths {
            s.mutated.insert((*p).to_owned(), e);
            s.mtimes.remove(*p);
        }
    });
}

/// The cached listing of directory `dir` of site `key`, if still valid (handed out once).
pub(crate) fn listing(key: &str, dir: &str) -> Option<Listing> {
    let now = EPOCH.load(Ordering::SeqCst);
    with(|s| match &mut s.tree {
        Some((k, e, when, map)) if k == key && *e == now && when.elapsed() <= MAX_AGE => {
            map.remove(dir)
        }
        _ => None,
    })
}

/// Stores a whole-tree listing fetched by a request that started at `epoch` (at `when`).
pub(crate) fn store_tree(key: &str, epoch: u64, when: Instant, map: HashMap<String, Listing>) {
    with(|s| s.tree = Some((key.to_owned(), epoch, when, map)));
}

/// The cached time of file `path`, if still valid (handed out once).
pub(crate) fn mtime(path: &str) -> Option<i64> {
    with(|s| {
        let (t, at, when) = s.mtimes.remove(path)?;
        let changed = s.mutated.get(path).copied().unwrap_or(0);
        (at >= changed && when.elapsed() <= MAX_AGE).then_some(t)
    })
}

/// Stores file times from a listing whose request started at `epoch` (at `when`).
pub(crate) fn store_mtimes(
    epoch: u64,
    when: Instant,
    times: impl IntoIterator<Item = (String, i64)>,
) {
    with(|s| {
        for (p, t) in times {
            if s.mutated.get(&p).copied().unwrap_or(0) <= epoch {
                s.mtimes.insert(p, (t, epoch, when));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache is one per process: tests that mutate it run one at a time (a `mutated`
    /// of one test between another's `store_tree` and `listing` made that one stale).
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    fn alone() -> std::sync::MutexGuard<'static, ()> {
        ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[test]
    fn a_time_read_before_a_later_upload_is_not_used_and_each_is_handed_out_once() {
        let _alone = alone();
        let e = start();
        mutated(&["/t/a"]);
        let t0 = Instant::now();
        store_mtimes(e, t0, [("/t/a".to_owned(), 5), ("/t/b".to_owned(), 6)]);
        assert_eq!(
            mtime("/t/a"),
            None,
            "its upload completed after the listing started"
        );
        assert_eq!(mtime("/t/b"), Some(6));
        assert_eq!(mtime("/t/b"), None, "handed out once");
        let e = start();
        store_mtimes(
            e,
            Instant::now(),
            [("/t/a".to_owned(), 7), ("/t/c".to_owned(), 8)],
        );
        assert_eq!(mtime("/t/a"), Some(7));
        mutated(&["/t/c"]);
        assert_eq!(mtime("/t/c"), None);
    }

    #[test]
    fn the_tree_listing_dies_with_any_mutation_and_is_handed_out_once() {
        let _alone = alone();
        let mut m = HashMap::new();
        m.insert("/x".to_owned(), Vec::new());
        m.insert("/y".to_owned(), Vec::new());
        store_tree("k", start(), Instant::now(), m.clone());
        assert!(listing("other", "/x").is_none());
        assert!(listing("k", "/x").is_some());
        assert!(listing("k", "/x").is_none(), "handed out once");
        store_tree("k", start(), Instant::now(), m);
        mutated(&["/elsewhere"]);
        assert!(listing("k", "/y").is_none());
    }
}
