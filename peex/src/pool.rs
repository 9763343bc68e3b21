//! A pool of connections, one per worker thread, running waves of tasks.
//!
//! Each worker owns one [`RemoteFs`]. A wave starts from a list of tasks; a task may queue
//! more tasks (a directory listing queues its subdirectories and the remote trees to scan
//! for removal, see [`crate::walk`]). The wave ends when the queue is empty and no task is
//! running. The run's phases are waves of their own, one after the other: the walk, the
//! mkdirs (one task), the upload streams (one task per connection), the deletes (one wave
//! per directory depth).
//!
//! Temporary errors (connection reset, 421/425/426/450, timeouts) drop the worker's
//! connection, wait, reconnect and retry the task, as the one [`RetryPolicy`] says
//! ([`crate::retry`]); permanent errors (550, 553, …) fail the task at once. When a worker
//! cannot (re)connect because the server limits connections, it hands its task back and
//! retires, so the pool shrinks instead of failing — but the last worker never retires, so
//! the pool cannot deadlock with work left.
//!
//! When the last worker cannot connect even after its retries, or when `jobs + 1` tasks in
//! a row have failed for good with temporary errors (a server whose data connections all
//! time out, say), the server is taken to be down: the remaining tasks of the wave (and
//! every later wave) fail at once with one error instead of each waiting through its own
//! timeouts. So a server that stops answering ends the run after a few rounds of
//! `(retries + 1)` timeouts, never after one round per queued task.

use crate::retry::RetryPolicy;
use peex_core::{Error, ErrorKind, RemoteFs, Result};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Opens one new connection.
pub type Connector<'a> = dyn Fn() -> Result<Box<dyn RemoteFs>> + Sync + 'a;

/// Opens one new connection from a background thread (owns what it needs).
pub type OwnedConnector = dyn Fn() -> Result<Box<dyn RemoteFs>> + Send + Sync + 'static;

/// Connections opened in the background by [`Pool::warm_up`]: how many are still on their
/// way, and those that arrived and no worker has taken yet.
#[derive(Default)]
struct Arrivals {
    state: Mutex<ArrivalState>,
    cv: Condvar,
}

#[derive(Default)]
struct ArrivalState {
    pending: usize,
    ready: Vec<Box<dyn RemoteFs>>,
    /// Background connects that failed (the server limits connections, say).
    refused: usize,
}

impl Arrivals {
    fn deliver(&self, c: Result<Box<dyn RemoteFs>>) {
        let mut st = lock(&self.state);
        st.pending -= 1;
        // A failed background connect is counted and dropped: a worker that still needs
        // a connection connects itself, and meets the error (a limit, say) where the pool
        // knows what to do.
        match c {
            Ok(c) => st.ready.push(c),
            Err(_) => st.refused += 1,
        }
        self.cv.notify_all();
    }

    fn try_take(&self) -> Option<Box<dyn RemoteFs>> {
        lock(&self.state).ready.pop()
    }

    /// For a worker without a connection: waits for a background connection while one is
    /// on its way. `None` when none is (connect yourself) or when `wave_over` says the wave
    /// has no work left, so a slow connect never holds up the end of a wave.
    fn wait(&self, wave_over: impl Fn() -> bool) -> Option<Box<dyn RemoteFs>> {
        let mut st = lock(&self.state);
        loop {
            if let Some(c) = st.ready.pop() {
                return Some(c);
            }
            if st.pending == 0 || wave_over() {
                return None;
            }
            st = self
                .cv
                .wait_timeout(st, Duration::from_millis(5))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    fn pending(&self) -> usize {
        lock(&self.state).pending
    }
}

struct QueueState<T> {
    items: VecDeque<T>,
    in_flight: usize,
    live_workers: usize,
    /// Workers whose running task reported progress ([`Queue::progress`]).
    progressed: Vec<std::thread::ThreadId>,
}

/// The task queue of one wave; tasks push follow-up tasks through it.
pub struct Queue<T> {
    state: Mutex<QueueState<T>>,
    cv: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a worker is a bug; the data behind the lock is still consistent because
    // every critical section below is a few field updates.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T> Queue<T> {
    fn new(items: Vec<T>, workers: usize) -> Self {
        Queue {
            state: Mutex::new(QueueState {
                items: items.into(),
                in_flight: 0,
                live_workers: workers,
                progressed: Vec::new(),
            }),
            cv: Condvar::new(),
        }
    }

    /// Queues a follow-up task.
    pub fn push(&self, item: T) {
        lock(&self.state).items.push_back(item);
        self.cv.notify_one();
    }

    /// Takes the next task, waiting while others run (they may queue more). `None` when
    /// the wave is over.
    fn pop(&self) -> Option<T> {
        let mut st = lock(&self.state);
        loop {
            if let Some(item) = st.items.pop_front() {
                st.in_flight += 1;
                return Some(item);
            }
            if st.in_flight == 0 {
                self.cv.notify_all();
                return None;
            }
            st = self.cv.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn done(&self) {
        let mut st = lock(&self.state);
        st.in_flight -= 1;
        if st.in_flight == 0 {
            self.cv.notify_all();
        }
    }

    /// Called by a long task (a stream of uploads) that got something done: if it then
    /// fails with a temporary error, its retry budget starts afresh, so a connection that
    /// breaks now and then does not end a task that keeps making progress.
    pub fn progress(&self) {
        let me = std::thread::current().id();
        let mut st = lock(&self.state);
        if !st.progressed.contains(&me) {
            st.progressed.push(me);
        }
    }

    /// True (once) if the calling worker's task reported progress.
    fn take_progress(&self) -> bool {
        let me = std::thread::current().id();
        let mut st = lock(&self.state);
        let before = st.progressed.len();
        st.progressed.retain(|t| *t != me);
        st.progressed.len() != before
    }

    /// True when no task is queued or running: the wave is over.
    fn finished(&self) -> bool {
        let st = lock(&self.state);
        st.items.is_empty() && st.in_flight == 0
    }

    /// Gives a task back and retires the calling worker, unless it is the last one.
    /// Returns the task when the worker must keep it (it is the last).
    fn retire(&self, item: T) -> Option<T> {
        let mut st = lock(&self.state);
        if st.live_workers <= 1 {
            return Some(item);
        }
        st.live_workers -= 1;
        st.items.push_front(item);
        st.in_flight -= 1;
        self.cv.notify_all();
        None
    }
}

/// The connection pool.
pub struct Pool<'a> {
    slots: Vec<Option<Box<dyn RemoteFs>>>,
    connect: &'a Connector<'a>,
    retry: RetryPolicy,
    /// Connections the server refused because of a limit (reported once).
    pub shrunk_to: Option<usize>,
    /// Set when the server could not be reached even after retries.
    down: AtomicBool,
    /// Retries made so far (all waves).
    retried: AtomicU64,
    /// Connections being opened in the background ([`Pool::warm_up`]).
    arrivals: Arc<Arrivals>,
}

/// Shared state of the workers of one wave.
struct Shared<'s> {
    errors: Mutex<Vec<Error>>,
    retired: Mutex<usize>,
    /// Tasks not attempted because the server is down.
    skipped: AtomicU64,
    /// Tasks that failed for good with a temporary error since the last success.
    failed_in_a_row: AtomicU64,
    /// How many such failures in a row mean the server is down.
    down_after: u64,
    down: &'s AtomicBool,
    retried: &'s AtomicU64,
}

impl<'a> Pool<'a> {
    /// A pool of `jobs` workers; `first` is an already open connection (used to probe
    /// capabilities), the others are opened on demand.
    pub fn new(
        first: Box<dyn RemoteFs>,
        jobs: usize,
        connect: &'a Connector<'a>,
        retry: RetryPolicy,
    ) -> Self {
        let mut slots: Vec<Option<Box<dyn RemoteFs>>> = Vec::with_capacity(jobs.max(1));
        slots.push(Some(first));
        for _ in 1..jobs.max(1) {
            slots.push(None);
        }
        Pool {
            slots,
            connect,
            retry,
            shrunk_to: None,
            down: AtomicBool::new(false),
            retried: AtomicU64::new(0),
            arrivals: Arc::default(),
        }
    }

    /// Starts opening every missing connection now, each in a thread of its own, instead
    /// of when a worker first has a task (a listing wave soon needs them all). Workers of
    /// later waves take them as they arrive; a wave whose work is done ends without waiting
    /// for one still on its way (a server may take a moment to accept a connection).
    pub fn warm_up(&mut self, connect: Arc<OwnedConnector>) {
        let missing = self.slots.iter().filter(|s| s.is_none()).count();
        if missing == 0 {
            return;
        }
        lock(&self.arrivals.state).pending += missing;
        for _ in 0..missing {
            let (connect, arrivals) = (connect.clone(), self.arrivals.clone());
            let spawned = std::thread::Builder::new()
                .name("peex-connect".into())
                .spawn(move || arrivals.deliver(connect()));
            if spawned.is_err() {
                // No thread: the worker connects itself when it needs to.
                self.arrivals
                    .deliver(Err(Error::new(ErrorKind::Unexpected, "no thread")));
            }
        }
    }

    /// How many times an operation was retried after a temporary error (all waves).
    pub fn retries_used(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }

    /// True once the server could not be reached even after retries: every later wave
    /// fails at once.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Runs one wave: `work` is called for every task (initial and queued) on some worker's
    /// connection. Returns the errors of the tasks that failed for good.
    pub fn run<T, F>(&mut self, initial: Vec<T>, work: F) -> Vec<Error>
    where
        T: Send,
        F: Fn(&mut dyn RemoteFs, &T, &Queue<T>) -> Result<()> + Sync,
    {
        if initial.is_empty() {
            return Vec::new();
        }
        // Do not start more workers than there are tasks at first when the wave cannot
        // grow; a growing wave (listing) uses them all.
        if self.is_down() {
            return vec![not_attempted(initial.len() as u64)];
        }
        let workers = self.slots.len();
        let queue = Queue::new(initial, workers);
        let shared = Shared {
            errors: Mutex::new(Vec::new()),
            retired: Mutex::new(0),
            skipped: AtomicU64::new(0),
            failed_in_a_row: AtomicU64::new(0),
            down_after: workers as u64 + 1,
            down: &self.down,
            retried: &self.retried,
        };
        let connect = self.connect;
        let retry = self.retry;
        for slot in self.slots.iter_mut().filter(|s| s.is_none()) {
            match self.arrivals.try_take() {
                Some(c) => *slot = Some(c),
                None => break,
            }
        }
        let arrivals = &*self.arrivals;
        std::thread::scope(|s| {
            for slot in self.slots.iter_mut() {
                let (queue, shared, work) = (&queue, &shared, &work);
                s.spawn(move || {
                    if slot.is_none() && arrivals.pending() > 0 {
                        match arrivals.wait(|| queue.finished()) {
                            Some(c) => *slot = Some(c),
                            // The wave is over, and no task can come any more.
                            None if queue.finished() => return,
                            None => {}
                        }
                    }
                    worker(slot, queue, work, connect, retry, shared);
                });
            }
        });
        let retired = *lock(&shared.retired);
        // A limit met by a worker (it retired) or by a background connect.
        if retired > 0 || lock(&self.arrivals.state).refused > 0 {
            let live = self.slots.iter().filter(|s| s.is_some()).count();
            self.shrunk_to = Some(live.max(1));
        }
        if retired > 0 {
            // Retired workers stay retired for the rest of the run: keep only live slots.
            let mut kept: Vec<Option<Box<dyn RemoteFs>>> =
                self.slots.drain(..).filter(|s| s.is_some()).collect();
            if kept.is_empty() {
                kept.push(None);
            }
            self.slots = kept;
        }
        let mut errors = shared
            .errors
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let skipped = shared.skipped.load(Ordering::Relaxed);
        if skipped > 0 {
            errors.push(not_attempted(skipped));
        }
        errors
    }

    /// Runs `f` on one open connection (opening one if none is). A temporary error drops
    /// that connection and retries `f` on a new one, as the [`RetryPolicy`] says.
    pub fn with_first<T>(
        &mut self,
        mut f: impl FnMut(&mut dyn RemoteFs) -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0u32;
        loop {
            let slot = match self.slots.iter().position(Option::is_some) {
                Some(i) => i,
                None => {
                    let c = self.retry.connect(self.connect)?;
                    let Some(first) = self.slots.first_mut() else {
                        return Err(Error::new(ErrorKind::Unexpected, "the pool has no slots"));
                    };
                    *first = Some(c);
                    0
                }
            };
            let Some(c) = self.slots[slot].as_mut() else {
                return Err(Error::new(
                    ErrorKind::Unexpected,
                    "the pool lost a connection",
                ));
            };
            match f(c.as_mut()) {
                Err(e) if e.is_temporary() && self.retry.allows(attempt + 1) => {
                    self.slots[slot] = None;
                    self.retry.wait(attempt);
                    attempt += 1;
                    self.retried.fetch_add(1, Ordering::Relaxed);
                }
                r => return r,
            }
        }
    }

    /// Closes every connection politely, all at once: one round trip in all, not one per
    /// connection (FTP's `QUIT` waits for its `221`). Those still being opened are dropped
    /// when they arrive, or when the process ends.
    pub fn quit(&mut self) {
        let mut open: Vec<Box<dyn RemoteFs>> =
            self.slots.iter_mut().filter_map(Option::take).collect();
        while let Some(c) = self.arrivals.try_take() {
            open.push(c);
        }
        std::thread::scope(|s| {
            for mut c in open {
                s.spawn(move || {
                    let _ = c.quit();
                });
            }
        });
    }
}

fn worker<T, F>(
    slot: &mut Option<Box<dyn RemoteFs>>,
    queue: &Queue<T>,
    work: &F,
    connect: &Connector<'_>,
    retry: RetryPolicy,
    shared: &Shared<'_>,
) where
    F: Fn(&mut dyn RemoteFs, &T, &Queue<T>) -> Result<()>,
{
    let retried = || {
        shared.retried.fetch_add(1, Ordering::Relaxed);
    };
    'tasks: while let Some(mut item) = queue.pop() {
        if shared.down.load(Ordering::Relaxed) {
            shared.skipped.fetch_add(1, Ordering::Relaxed);
            queue.done();
            continue;
        }
        let mut attempt = 0u32;
        loop {
            let conn = match slot {
                Some(c) => c,
                None => match connect() {
                    Ok(c) => slot.insert(c),
                    Err(e) => {
                        let limited = e.kind() == ErrorKind::RateLimited
                            || e.kind() == ErrorKind::ConnectionFailed;
                        if limited || e.is_temporary() {
                            match queue.retire(item) {
                                None => {
                                    *lock(&shared.retired) += 1;
                                    return;
                                }
                                Some(back) => item = back,
                            }
                        }
                        if RetryPolicy::retries_connect(&e) && retry.allows(attempt + 1) {
                            retry.wait(attempt);
                            attempt += 1;
                            retried();
                            continue;
                        }
                        // The last worker cannot connect even after retries: the server is
                        // down for this run; the other tasks fail without waiting.
                        shared.down.store(true, Ordering::Relaxed);
                        lock(&shared.errors).push(e.with_op("connect", "server"));
                        queue.done();
                        continue 'tasks;
                    }
                },
            };
            let result = work(conn.as_mut(), &item, queue);
            if queue.take_progress() {
                attempt = 0;
            }
            match result {
                Ok(()) => {
                    shared.failed_in_a_row.store(0, Ordering::Relaxed);
                    break;
                }
                Err(e) if e.is_temporary() && retry.allows(attempt + 1) => {
                    // Drop the (probably broken) connection; reconnect on the next attempt.
                    *slot = None;
                    retry.wait(attempt);
                    attempt += 1;
                    retried();
                }
                Err(e) => {
                    if e.is_temporary() {
                        *slot = None;
                        let n = shared.failed_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                        if n >= shared.down_after {
                            shared.down.store(true, Ordering::Relaxed);
                        }
                    }
                    lock(&shared.errors).push(e);
                    break;
                }
            }
        }
        queue.done();
    }
}

/// The one error for the tasks skipped because the server is down.
fn not_attempted(n: u64) -> Error {
    Error::new(
        ErrorKind::ConnectionFailed,
        format!(
            "{n} operation{} not attempted: the server could not be reached",
            if n == 1 { "" } else { "s" }
        ),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use peex_core::{Capabilities, Entry, RelPath};
    use std::io::Read;
    use std::sync::atomic::AtomicU32;
    use std::sync::Arc;

    type FailFn = dyn Fn(u32) -> Option<Error> + Send + Sync;

    /// A connection whose `delete` fails as `fail` says (by call number, shared by all).
    struct Fake {
        calls: Arc<AtomicU32>,
        fail: Arc<FailFn>,
        quits: Option<Arc<QuitGate>>,
    }

    /// Where quitting connections meet: each `quit` waits (5 s at most) until `expected`
    /// have arrived, and counts in `met` if they all did.
    #[derive(Default)]
    struct QuitGate {
        expected: AtomicU32,
        arrived: Mutex<u32>,
        cv: std::sync::Condvar,
        met: AtomicU32,
    }

    impl RemoteFs for Fake {
        fn capabilities(&self) -> Capabilities {
            Capabilities::default()
        }
        fn list(&mut self, _: &RelPath) -> Result<Vec<Entry>> {
            Ok(Vec::new())
        }
        fn upload(&mut self, _: &RelPath, _: &mut dyn Read, _: u64) -> Result<()> {
            Ok(())
        }
        fn delete(&mut self, _: &RelPath) -> Result<()> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            match (self.fail)(n) {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
        fn mkdir(&mut self, _: &RelPath) -> Result<()> {
            Ok(())
        }
        fn rmdir(&mut self, _: &RelPath) -> Result<()> {
            Ok(())
        }
        fn rename(&mut self, _: &RelPath, _: &RelPath) -> Result<()> {
            Ok(())
        }
        fn set_mtime(&mut self, _: &RelPath, _: i64) -> Result<()> {
            Ok(())
        }
        fn quit(&mut self) -> Result<()> {
            if let Some(g) = &self.quits {
                let mut arrived = g.arrived.lock().unwrap();
                *arrived += 1;
                g.cv.notify_all();
                let expected = g.expected.load(Ordering::SeqCst);
                let (arrived, _) =
                    g.cv.wait_timeout_while(arrived, Duration::from_secs(5), |a| *a < expected)
                        .unwrap();
                if *arrived >= expected {
                    g.met.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(())
        }
    }

    #[test]
    fn every_connection_quits_at_once_not_one_after_the_other() {
        let gate = Arc::new(QuitGate::default());
        let calls = Arc::new(AtomicU32::new(0));
        let slow: Arc<FailFn> = Arc::new(|_| {
            std::thread::sleep(Duration::from_millis(20));
            None
        });
        let fake = || -> Box<dyn RemoteFs> {
            Box::new(Fake {
                calls: calls.clone(),
                fail: slow.clone(),
                quits: Some(gate.clone()),
            })
        };
        let connects = AtomicU32::new(0);
        let connector = || -> Result<Box<dyn RemoteFs>> {
            connects.fetch_add(1, Ordering::SeqCst);
            Ok(fake())
        };
        let mut pool = Pool::new(fake(), 4, &connector, RetryPolicy::default());
        let items: Vec<RelPath> = (0..40)
            .map(|i| RelPath::parse(&format!("f{i}")).unwrap())
            .collect();
        assert!(pool.run(items, |fs, p, _| fs.delete(p)).is_empty());
        let open = connects.load(Ordering::SeqCst) + 1;
        assert!(open > 1, "the pool opened more connections");
        gate.expected.store(open, Ordering::SeqCst);
        pool.quit();
        // One after the other, the first would wait alone for the others and give up.
        assert_eq!(gate.met.load(Ordering::SeqCst), open);
    }

    struct Outcome {
        errors: Vec<Error>,
        calls: u32,
        connects: u32,
        retried: u64,
    }

    /// Runs `tasks` deletes over `jobs` connections; the first connection always opens, the
    /// later ones (numbered from 0) when `connect_ok` says so.
    fn run(
        tasks: usize,
        jobs: usize,
        retries: u32,
        fail: Arc<FailFn>,
        connect_ok: impl Fn(u32) -> bool + Sync,
    ) -> Outcome {
        let calls = Arc::new(AtomicU32::new(0));
        let connects = AtomicU32::new(0);
        let fake = || -> Box<dyn RemoteFs> {
            Box::new(Fake {
                calls: calls.clone(),
                fail: fail.clone(),
                quits: None,
            })
        };
        let connector = || -> Result<Box<dyn RemoteFs>> {
            let n = connects.fetch_add(1, Ordering::SeqCst);
            if connect_ok(n) {
                Ok(fake())
            } else {
                Err(Error::new(ErrorKind::ConnectionFailed, "timed out").temporary())
            }
        };
        let policy = RetryPolicy {
            retries,
            base_delay: Duration::from_millis(1),
        };
        let mut pool = Pool::new(fake(), jobs, &connector, policy);
        let items: Vec<RelPath> = (0..tasks)
            .map(|i| RelPath::parse(&format!("f{i}")).unwrap())
            .collect();
        let errors = pool.run(items, |fs, p, _| fs.delete(p));
        Outcome {
            errors,
            calls: calls.load(Ordering::SeqCst),
            connects: connects.load(Ordering::SeqCst),
            retried: pool.retries_used(),
        }
    }

    fn reset() -> Error {
        Error::new(ErrorKind::Unexpected, "connection reset").temporary()
    }

    #[test]
    fn temporary_error_reconnects_and_retries() {
        let o = run(1, 1, 3, Arc::new(|n| (n < 2).then(reset)), |_| true);
        assert!(o.errors.is_empty(), "{:?}", o.errors);
        assert_eq!(o.calls, 3);
        assert_eq!(o.connects, 2, "each retry runs on a fresh connection");
        assert_eq!(o.retried, 2);
    }

    #[test]
    fn permanent_error_is_not_retried() {
        let fail: Arc<FailFn> = Arc::new(|_| {
            Some(Error::new(
                ErrorKind::PermissionDenied,
                "550 Permission denied",
            ))
        });
        let o = run(1, 1, 3, fail, |_| true);
        assert_eq!(o.errors.len(), 1);
        assert_eq!(o.errors[0].kind(), ErrorKind::PermissionDenied);
        assert_eq!((o.calls, o.connects, o.retried), (1, 0, 0));
    }

    #[test]
    fn retries_are_bounded() {
        let o = run(1, 1, 2, Arc::new(|_| Some(reset())), |_| true);
        assert_eq!(o.errors.len(), 1);
        assert!(o.errors[0].is_temporary());
        assert_eq!(o.calls, 3, "one try and two retries");
        assert_eq!(o.retried, 2);
    }

    #[test]
    fn first_connection_and_probe_are_retried() {
        let connects = AtomicU32::new(0);
        let calls = Arc::new(AtomicU32::new(0));
        let fail: Arc<FailFn> = Arc::new(|n| (n == 0).then(reset));
        let connector = || -> Result<Box<dyn RemoteFs>> {
            if connects.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err(Error::new(ErrorKind::ConnectionFailed, "reset").temporary());
            }
            Ok(Box::new(Fake {
                calls: calls.clone(),
                fail: fail.clone(),
                quits: None,
            }))
        };
        let policy = RetryPolicy {
            retries: 2,
            base_delay: Duration::from_millis(1),
        };
        let first = policy.connect(connector).unwrap();
        assert_eq!(connects.load(Ordering::SeqCst), 3);
        let mut pool = Pool::new(first, 2, &connector, policy);
        let p = RelPath::parse("x").unwrap();
        pool.with_first(|fs| fs.delete(&p)).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "probe retried once");
        assert_eq!(connects.load(Ordering::SeqCst), 4, "on a fresh connection");
        let refused = || -> Result<Box<dyn RemoteFs>> {
            Err(Error::new(ErrorKind::AuthFailed, "530 Login incorrect"))
        };
        assert!(policy.connect(refused).is_err());
    }

    #[test]
    fn tasks_failing_in_a_row_stop_the_wave() {
        // Connections open, but every operation times out: after jobs + 1 tasks failed for
        // good, the rest is not attempted.
        let timeout: Arc<FailFn> =
            Arc::new(|_| Some(Error::new(ErrorKind::Unexpected, "timed out").temporary()));
        let o = run(40, 2, 1, timeout, |_| true);
        assert!(o.calls <= 2 * 4, "{} calls", o.calls);
        let text: Vec<String> = o.errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.contains("operations not attempted")),
            "{text:?}"
        );
        // A success in between resets the count.
        let o = run(40, 1, 0, Arc::new(|n| (n % 2 == 0).then(reset)), |_| true);
        assert_eq!(o.errors.len(), 20);
        assert_eq!(o.calls, 40);
    }

    #[test]
    fn unreachable_server_fails_the_rest_at_once() {
        // The first connection breaks on its first task; no new connection can be opened.
        let o = run(50, 3, 2, Arc::new(|n| (n == 0).then(reset)), |_| false);
        assert!(o.connects <= 2 + 3 + 1, "{} connects", o.connects);
        assert_eq!(o.calls, 1);
        let text: Vec<String> = o.errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("49 operations not attempted")),
            "{text:?}"
        );
    }

    fn never_fails() -> Arc<FailFn> {
        Arc::new(|_| None)
    }

    #[test]
    fn a_wave_does_not_wait_for_a_slow_background_connect() {
        let calls = Arc::new(AtomicU32::new(0));
        let fake = {
            let calls = calls.clone();
            move || -> Box<dyn RemoteFs> {
                Box::new(Fake {
                    calls: calls.clone(),
                    fail: never_fails(),
                    quits: None,
                })
            }
        };
        let first = fake();
        let slow = {
            let fake = fake.clone();
            Arc::new(move || -> Result<Box<dyn RemoteFs>> {
                std::thread::sleep(Duration::from_secs(3));
                Ok(fake())
            })
        };
        let connector = || -> Result<Box<dyn RemoteFs>> { Ok(fake()) };
        let mut pool = Pool::new(first, 4, &connector, RetryPolicy::default());
        pool.warm_up(slow);
        let started = std::time::Instant::now();
        let items: Vec<RelPath> = (0..20)
            .map(|i| RelPath::parse(&format!("f{i}")).unwrap())
            .collect();
        let errors = pool.run(items, |fs, p, _| fs.delete(p));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 20);
        // The first connection did the work; the three still connecting were not waited for.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the wave waited for the slow connects: {:?}",
            started.elapsed()
        );
    }

    /// Runs one task over a single connection with two retries; `fail_first` of its
    /// attempts fail with a temporary error, each after reporting progress if `progress`.
    /// Returns the wave's errors and how many attempts were made.
    fn one_long_task(fail_first: u32, progress: bool) -> (Vec<Error>, u32) {
        let connector = || -> Result<Box<dyn RemoteFs>> {
            Ok(Box::new(Fake {
                calls: Arc::new(AtomicU32::new(0)),
                fail: never_fails(),
                quits: None,
            }))
        };
        let first = connector().unwrap();
        let policy = RetryPolicy {
            retries: 2,
            base_delay: Duration::from_millis(1),
        };
        let mut pool = Pool::new(first, 1, &connector, policy);
        let attempts = AtomicU32::new(0);
        let errors = pool.run(vec![()], |_, _, queue| {
            if progress {
                queue.progress();
            }
            if attempts.fetch_add(1, Ordering::SeqCst) < fail_first {
                Err(reset())
            } else {
                Ok(())
            }
        });
        (errors, attempts.load(Ordering::SeqCst))
    }

    #[test]
    fn a_task_that_makes_progress_gets_a_fresh_retry_budget() {
        // A long task that breaks its connection five times, getting something done each
        // time: with two retries per task it would fail without the progress rule.
        let (errors, attempts) = one_long_task(5, true);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(attempts, 6, "five failures, then success");
    }

    #[test]
    fn a_task_without_progress_still_runs_out_of_retries() {
        let (errors, attempts) = one_long_task(5, false);
        assert_eq!(errors.len(), 1);
        assert_eq!(attempts, 3, "one try and two retries");
    }
}
