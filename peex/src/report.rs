//! What the engine reports to: [`Reporter`] keeps the summary's counters and hands every
//! event to each implementation of [`Events`] it was given (the human output, the JSON
//! stream, the plan recorder); [`Failures`] holds the errors of a phase until they are
//! reported.

use crate::events::{Event, Events, Kept, OpKind, Operation, Progress, Reason, Summary};
use crate::output::Human;
use crate::plan::Upload;
use peex_core::{Entry, EntryKind, Error, RelPath};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters for the summary; updated from every worker.
#[derive(Debug, Default)]
pub struct Counters {
    /// Files uploaded that did not exist remotely.
    pub files_created: AtomicU64,
    /// Files uploaded over an older remote version.
    pub files_updated: AtomicU64,
    /// Directories created.
    pub dirs_created: AtomicU64,
    /// Files removed.
    pub files_removed: AtomicU64,
    /// Directories removed.
    pub dirs_removed: AtomicU64,
    /// Remote entries protected.
    pub protected: AtomicU64,
    /// Local entries ignored.
    pub ignored: AtomicU64,
    /// Bytes uploaded.
    pub bytes: AtomicU64,
    /// Operations that failed.
    pub errors: AtomicU64,
    /// Files already up to date.
    pub unchanged: AtomicU64,
    /// Remote times set on files found equal by checksum.
    pub times_set: AtomicU64,
    /// Local symbolic links not followed.
    pub links_skipped: AtomicU64,
    /// Local FIFOs, sockets and device files skipped.
    pub special_skipped: AtomicU64,
    /// Errors only counted by the engine, not reported one by one (see
    /// [`Reporter::errors_not_shown`]).
    pub errors_not_shown: AtomicU64,
}

/// Adds one to a counter.
pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// What the engine reports to: keeps the summary's counters and hands every event to each
/// [`Events`] implementation it was given (the human output, the JSON stream, …).
pub struct Reporter {
    dry_run: bool,
    sinks: Vec<Box<dyn Events>>,
    /// The summary counters.
    pub counters: Counters,
}

impl Reporter {
    /// A reporter with the human output only, on stdout (errors and warnings on stderr).
    /// `verbosity` counts `-v`; `quiet` keeps only errors, warnings and the summary.
    pub fn new(colour: bool, verbosity: u8, quiet: bool, dry_run: bool) -> Self {
        let human = Human::new(colour, verbosity, quiet, dry_run, false);
        Reporter::with_sinks(dry_run, vec![Box::new(human)])
    }

    /// A reporter that hands every event to each of `sinks`.
    pub fn with_sinks(dry_run: bool, sinks: Vec<Box<dyn Events>>) -> Self {
        Reporter {
            dry_run,
            sinks,
            counters: Counters::default(),
        }
    }

    fn emit(&self, e: &Event<'_>) {
        for s in &self.sinks {
            s.event(e);
        }
    }

    fn count(&self, op: &Operation<'_>) {
        let c = &self.counters;
        match op.op {
            OpKind::Upload => {
                bump(if op.is_new() {
                    &c.files_created
                } else {
                    &c.files_updated
                });
                if !self.dry_run {
                    c.bytes.fetch_add(op.size.unwrap_or(0), Ordering::Relaxed);
                }
            }
            OpKind::Mkdir => bump(&c.dirs_created),
            OpKind::Delete => bump(&c.files_removed),
            OpKind::Rmdir => bump(&c.dirs_removed),
            OpKind::Touch => bump(&c.times_set),
        }
    }

    /// The run starts.
    pub fn start(&self, source: &str, dest: &str, jobs: usize) {
        self.emit(&Event::Start {
            source,
            dest,
            jobs,
            dry_run: self.dry_run,
        });
    }

    /// Both sides of `dir` were read.
    pub fn listed(&self, dir: &RelPath, local: &[Entry], remote: Option<&[Entry]>) {
        self.emit(&Event::Listed { dir, local, remote });
    }

    /// An operation of the plan; in a dry run it is counted in the summary.
    pub fn planned(&self, op: &Operation<'_>) {
        if self.dry_run {
            self.count(op);
        }
        self.emit(&Event::Planned(op.clone()));
    }

    /// An operation carried out.
    pub fn done(&self, op: &Operation<'_>) {
        self.count(op);
        self.emit(&Event::Done(op.clone()));
    }

    /// A file uploaded.
    pub fn uploaded(&self, u: &Upload) {
        self.done(&Operation::upload(u));
    }

    /// A directory created.
    pub fn dir_created(&self, path: &RelPath) {
        self.done(&Operation::at(OpKind::Mkdir, path, Reason::NewDir));
    }

    /// A remote file removed (`replaced`: it was in the way of a local directory).
    pub fn file_removed(&self, path: &RelPath, replaced: bool) {
        let why = if replaced {
            Reason::Replaced
        } else {
            Reason::Gone
        };
        self.done(&Operation::at(OpKind::Delete, path, why));
    }

    /// A remote directory removed.
    pub fn dir_removed(&self, path: &RelPath, replaced: bool) {
        let why = if replaced {
            Reason::Replaced
        } else {
            Reason::Gone
        };
        self.done(&Operation::at(OpKind::Rmdir, path, why));
    }

    /// A local entry ignored by a rule.
    pub fn ignored(&self, path: &RelPath, kind: EntryKind) {
        bump(&self.counters.ignored);
        self.emit(&Event::Kept {
            path,
            kind: Some(kind),
            why: Kept::Ignored,
        });
    }

    /// A remote entry protected by a rule.
    pub fn protected(&self, path: &RelPath, kind: EntryKind) {
        bump(&self.counters.protected);
        self.emit(&Event::Kept {
            path,
            kind: Some(kind),
            why: Kept::Protected,
        });
    }

    /// A remote entry left alone because an ignore rule matches it (`-v`).
    pub fn left_alone(&self, path: &RelPath) {
        self.emit(&Event::Kept {
            path,
            kind: None,
            why: Kept::LeftAlone,
        });
    }

    /// A directory being traversed (`-v`).
    pub fn traverse(&self, dir: &RelPath) {
        self.emit(&Event::Traverse(dir));
    }

    /// Files already up to date.
    pub fn unchanged(&self, count: u64) {
        self.counters.unchanged.fetch_add(count, Ordering::Relaxed);
    }

    /// A detail line shown from verbosity `level`.
    pub fn detail(&self, level: u8, text: &str) {
        self.emit(&Event::Detail { level, text });
    }

    /// An error.
    pub fn error(&self, text: &str) {
        bump(&self.counters.errors);
        self.emit(&Event::Error(text));
    }

    /// `n` more errors that were only counted, not kept (the engine keeps the first ones of
    /// a phase in full); the summary says how many.
    pub fn errors_not_shown(&self, n: u64) {
        self.counters.errors.fetch_add(n, Ordering::Relaxed);
        self.counters
            .errors_not_shown
            .fetch_add(n, Ordering::Relaxed);
    }

    /// A warning.
    pub fn warn(&self, text: &str) {
        self.emit(&Event::Warning(text));
    }

    /// The run stopped with exit `status` (the caller prints the message for people).
    pub fn stopped(&self, status: u8, message: &str) {
        self.emit(&Event::Stopped { status, message });
    }

    /// Starts the progress of a transfer of `files` files, `bytes` in all.
    pub fn start_progress(&self, files: u64, bytes: u64) {
        self.emit(&Event::Progress(Progress::Start { files, bytes }));
    }

    /// Counts bytes sent.
    pub fn progress_bytes(&self, n: u64) {
        self.emit(&Event::Progress(Progress::Bytes(n)));
    }

    /// Counts one finished file.
    pub fn progress_file(&self) {
        self.emit(&Event::Progress(Progress::File));
    }

    /// Ends the progress.
    pub fn finish_progress(&self) {
        self.emit(&Event::Progress(Progress::End));
    }

    /// The summary that ends every run.
    pub fn summary(&self, elapsed: Duration) {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let s = Summary {
            dry_run: self.dry_run,
            files_new: g(&c.files_created),
            files_updated: g(&c.files_updated),
            dirs_created: g(&c.dirs_created),
            files_removed: g(&c.files_removed),
            dirs_removed: g(&c.dirs_removed),
            protected: g(&c.protected),
            ignored: g(&c.ignored),
            unchanged: g(&c.unchanged),
            times_set: g(&c.times_set),
            links_skipped: g(&c.links_skipped),
            special_skipped: g(&c.special_skipped),
            errors_not_shown: g(&c.errors_not_shown),
            bytes: g(&c.bytes),
            errors: g(&c.errors),
            elapsed,
        };
        self.emit(&Event::Summary(&s));
    }
}

/// The errors of a phase: the first ones in full, the rest only counted, so that a site
/// where every upload fails does not hold (nor print) one message per file.
#[derive(Debug, Default)]
pub struct Failures {
    /// The errors kept in full.
    pub kept: Vec<Error>,
    /// How many more there were.
    pub more: u64,
}

impl Failures {
    /// Errors kept in full; the reporter shows fewer still (see [`Reporter::error`]).
    pub const KEPT: usize = 100;

    /// Keeps `e`, or counts it once [`Failures::KEPT`] are kept.
    pub fn push(&mut self, e: Error) {
        if self.kept.len() < Self::KEPT {
            self.kept.push(e);
        } else {
            self.more += 1;
        }
    }

    /// Keeps (or counts) each of `errors`.
    pub fn extend(&mut self, errors: impl IntoIterator<Item = Error>) {
        for e in errors {
            self.push(e);
        }
    }

    /// True if there was no error.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.more == 0
    }

    /// Reports the errors kept, and how many were not shown.
    pub fn report(self, out: &Reporter) {
        for e in self.kept {
            out.error(&e.to_string());
        }
        out.errors_not_shown(self.more);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::plan::UploadReason;
    use std::sync::{Arc, Mutex};

    /// Keeps the summaries it is given.
    #[derive(Clone, Default)]
    struct Summaries(Arc<Mutex<Vec<Summary>>>);
    impl Events for Summaries {
        fn event(&self, e: &Event<'_>) {
            if let Event::Summary(s) = e {
                self.0.lock().unwrap().push(**s);
            }
        }
    }

    fn run(dry_run: bool) -> Summary {
        let got = Summaries::default();
        let r = Reporter::with_sinks(dry_run, vec![Box::new(got.clone())]);
        let u = Upload {
            path: RelPath::parse("a.html").unwrap(),
            size: 10,
            mtime: 1,
            reason: UploadReason::New,
        };
        let d = RelPath::parse("old").unwrap();
        r.planned(&Operation::upload(&u));
        r.planned(&Operation::at(OpKind::Rmdir, &d, Reason::Gone));
        if !dry_run {
            r.uploaded(&u);
            r.dir_removed(&d, false);
        }
        r.summary(Duration::ZERO);
        let s = got.0.lock().unwrap()[0];
        s
    }

    #[test]
    fn the_summary_counts_the_plan_in_a_dry_run_and_the_outcomes_otherwise_never_both() {
        for dry in [true, false] {
            let s = run(dry);
            assert_eq!((s.files_new, s.dirs_removed), (1, 1), "dry run {dry}");
            assert_eq!(s.bytes, if dry { 0 } else { 10 });
            assert_eq!(s.dry_run, dry);
        }
    }
}
