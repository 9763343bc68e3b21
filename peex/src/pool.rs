//! A pool of connections, one per worker thread, running waves of tasks.
//!
//! Each worker owns one [`RemoteFs`]. A wave starts from a list of tasks; a task may queue
//! more tasks (a directory listing queues its subdirectories, a `mkdir` queues the uploads
//! into the new directory). The wave ends when the queue is empty and no task is running.
//!
//! Temporary errors (connection reset, 421/425/426/450, timeouts) drop the worker's
//! connection, wait, reconnect and retry the task, a bounded number of times. When a worker
//! cannot (re)connect because the server limits connections, it hands its task back and
//! retires, so the pool shrinks instead of failing — but the last worker never retires, so
//! the pool cannot deadlock with work left.

use peex_core::{Error, ErrorKind, RemoteFs, Result};
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Opens one new connection.
pub type Connector<'a> = dyn Fn() -> Result<Box<dyn RemoteFs>> + Sync + 'a;

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

struct QueueState<T> {
    items: VecDeque<T>,
    in_flight: usize,
    live_workers: usize,
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
        }
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
        let workers = self.slots.len();
        let queue = Queue::new(initial, workers);
        let errors: Mutex<Vec<Error>> = Mutex::new(Vec::new());
        let retired: Mutex<usize> = Mutex::new(0);
        let connect = self.connect;
        let retry = self.retry;
        std::thread::scope(|s| {
            for slot in self.slots.iter_mut() {
                let (queue, errors, work, retired) = (&queue, &errors, &work, &retired);
                s.spawn(move || {
                    worker(slot, queue, work, connect, retry, errors, retired);
                });
            }
        });
        let retired = *lock(&retired);
        if retired > 0 {
            let live = self.slots.iter().filter(|s| s.is_some()).count();
            self.shrunk_to = Some(live.max(1));
            // Retired workers stay retired for the rest of the run: keep only live slots.
            let mut kept: Vec<Option<Box<dyn RemoteFs>>> =
                self.slots.drain(..).filter(|s| s.is_some()).collect();
            if kept.is_empty() {
                kept.push(None);
            }
            self.slots = kept;
        }
        errors.into_inner().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes every connection politely.
    pub fn quit(&mut self) {
        for c in self.slots.iter_mut().flatten() {
            let _ = c.quit();
        }
    }
}

fn worker<T, F>(
    slot: &mut Option<Box<dyn RemoteFs>>,
    queue: &Queue<T>,
    work: &F,
    connect: &Connector<'_>,
    retry: RetryPolicy,
    errors: &Mutex<Vec<Error>>,
    retired: &Mutex<usize>,
) where
    F: Fn(&mut dyn RemoteFs, &T, &Queue<T>) -> Result<()>,
{
    'tasks: while let Some(mut item) = queue.pop() {
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
                                    *lock(retired) += 1;
                                    return;
                                }
                                Some(back) => item = back,
                            }
                        }
                        if (e.is_temporary() || e.kind() == ErrorKind::RateLimited)
                            && attempt < retry.retries
                        {
                            backoff(retry, attempt);
                            attempt += 1;
                            continue;
                        }
                        lock(errors).push(e.with_op("connect", "server"));
                        queue.done();
                        continue 'tasks;
                    }
                },
            };
            match work(conn.as_mut(), &item, queue) {
                Ok(()) => break,
                Err(e) if e.is_temporary() && attempt < retry.retries => {
                    // Drop the (probably broken) connection; reconnect on the next attempt.
                    *slot = None;
                    backoff(retry, attempt);
                    attempt += 1;
                }
                Err(e) => {
                    if e.is_temporary() {
                        *slot = None;
                    }
                    lock(errors).push(e);
                    break;
                }
            }
        }
        queue.done();
    }
}

fn backoff(retry: RetryPolicy, attempt: u32) {
    let factor = 1u32 << attempt.min(6);
    std::thread::sleep(retry.base_delay * factor);
}
