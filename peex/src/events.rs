//! The events interface: everything a run reports — the start, each planned operation, each
//! outcome, what the rules kept, warnings, errors, progress and the summary — goes through
//! [`Events`]. The human output ([`crate::output::Human`]) is one implementation, the JSON
//! event stream of `--json` ([`crate::json::JsonEvents`]) another, the recorder behind
//! `peex plan` ([`crate::planfile::Recorder`]) a third. The engine talks to
//! [`crate::report::Reporter`], which keeps the summary's counters and hands each event to
//! every implementation it was given.

use crate::plan::{Upload, UploadReason};
use peex_core::{Entry, EntryKind, RelPath};
use std::time::Duration;

/// The version of the JSON event schema (`"schema"` in every event; README "JSON events").
/// Raised when a field changes meaning or disappears; new fields and new event types do not
/// raise it.
pub const SCHEMA_VERSION: u32 = 1;

/// What an operation does on the remote side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Upload a file.
    Upload,
    /// Create a directory.
    Mkdir,
    /// Delete a file.
    Delete,
    /// Remove a directory.
    Rmdir,
    /// Set a file's time only (its content was found equal by checksum).
    Touch,
}

impl OpKind {
    /// The name used in JSON and plan files.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Upload => "upload",
            OpKind::Mkdir => "mkdir",
            OpKind::Delete => "delete",
            OpKind::Rmdir => "rmdir",
            OpKind::Touch => "touch",
        }
    }

    /// The kind named `s` (see [`OpKind::name`]).
    pub fn parse(s: &str) -> Option<OpKind> {
        [
            OpKind::Upload,
            OpKind::Mkdir,
            OpKind::Delete,
            OpKind::Rmdir,
            OpKind::Touch,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// Why an operation is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// An upload, for the planner's reason.
    Upload(UploadReason),
    /// A directory that does not exist remotely.
    NewDir,
    /// A remote entry in the way of a local one of the other kind.
    Replaced,
    /// A remote entry with no local counterpart.
    Gone,
    /// Same size, different time, same checksum: only the time is set.
    SameContent,
}

impl Reason {
    /// The name used in JSON and plan files.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Upload(UploadReason::New) => "new",
            Reason::Upload(UploadReason::Size { .. }) => "size",
            Reason::Upload(UploadReason::Mtime { .. }) => "mtime",
            Reason::Upload(UploadReason::ReplacesDir) => "replaces_dir",
            Reason::NewDir => "new_dir",
            Reason::Replaced => "replaced",
            Reason::Gone => "gone",
            Reason::SameContent => "same_content",
        }
    }
}

/// One remote operation, planned or done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<'a> {
    /// What it does.
    pub op: OpKind,
    /// Where, relative to the roots.
    pub path: &'a RelPath,
    /// The local file's size (uploads and touches).
    pub size: Option<u64>,
    /// The local file's time, whole seconds UTC (uploads and touches).
    pub mtime: Option<i64>,
    /// Why.
    pub reason: Reason,
}

impl<'a> Operation<'a> {
    /// The upload `u`.
    pub fn upload(u: &'a Upload) -> Self {
        Operation {
            op: OpKind::Upload,
            path: &u.path,
            size: Some(u.size),
            mtime: Some(u.mtime),
            reason: Reason::Upload(u.reason),
        }
    }

    /// Setting the time of `u`'s remote file, whose content is already the same.
    pub fn touch(u: &'a Upload) -> Self {
        Operation {
            op: OpKind::Touch,
            reason: Reason::SameContent,
            ..Operation::upload(u)
        }
    }

    /// An operation on `path` without size or time.
    pub fn at(op: OpKind, path: &'a RelPath, reason: Reason) -> Self {
        Operation {
            op,
            path,
            size: None,
            mtime: None,
            reason,
        }
    }

    /// True for an upload of a file that did not exist remotely (as a file).
    pub fn is_new(&self) -> bool {
        matches!(
            self.reason,
            Reason::Upload(UploadReason::New | UploadReason::ReplacesDir)
        )
    }

    /// The reason for people (`-v`): `new, 12 bytes`, `size 3 -> 4`, `mtime 10 -> 11`, …
    pub fn detail(&self) -> String {
        let size = self.size.unwrap_or(0);
        match self.reason {
            Reason::Upload(UploadReason::New) => format!("new, {size} bytes"),
            Reason::Upload(UploadReason::Size { remote }) => format!("size {remote} -> {size}"),
            Reason::Upload(UploadReason::Mtime { remote }) => {
                format!("mtime {remote} -> {}", self.mtime.unwrap_or(0))
            }
            Reason::Upload(UploadReason::ReplacesDir) => "replaces a remote directory".to_owned(),
            Reason::NewDir => "new directory".to_owned(),
            Reason::Replaced => "replaced".to_owned(),
            Reason::Gone => String::new(),
            Reason::SameContent => "same checksum, time set".to_owned(),
        }
    }
}

/// Why a rule kept an entry out of the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// A local entry an ignore rule matches (not uploaded).
    Ignored,
    /// A remote entry a protect rule matches (not changed or removed).
    Protected,
    /// A remote entry an ignore rule matches (left alone; shown with `-v`).
    LeftAlone,
}

impl Kept {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kept::Ignored => "ignored",
            Kept::Protected => "protected",
            Kept::LeftAlone => "left_alone",
        }
    }
}

/// The progress of the transfer phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The transfer starts: this many files and bytes.
    Start {
        /// Files to upload.
        files: u64,
        /// Bytes to upload.
        bytes: u64,
    },
    /// This many more bytes were sent.
    Bytes(u64),
    /// One more file is complete.
    File,
    /// The transfer is over.
    End,
}

/// The counts that end every run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Plan only (`-d`).
    pub dry_run: bool,
    /// Files uploaded that did not exist remotely.
    pub files_new: u64,
    /// Files uploaded over another version.
    pub files_updated: u64,
    /// Directories created.
    pub dirs_created: u64,
    /// Files removed.
    pub files_removed: u64,
    /// Directories removed.
    pub dirs_removed: u64,
    /// Remote entries protected.
    pub protected: u64,
    /// Local entries ignored.
    pub ignored: u64,
    /// Files already up to date.
    pub unchanged: u64,
    /// Remote times set on files found equal by checksum.
    pub times_set: u64,
    /// Local symbolic links not followed (policy `symlinks`).
    pub links_skipped: u64,
    /// Local FIFOs, sockets and device files skipped.
    pub special_skipped: u64,
    /// Errors counted in `errors` but not reported one by one (past the first of a phase
    /// that fail alike).
    pub errors_not_shown: u64,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Operations that failed.
    pub errors: u64,
    /// How long the run took.
    pub elapsed: Duration,
}

/// One thing a run reports.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// The run starts.
    Start {
        /// The local folder.
        source: &'a str,
        /// The destination as shown (never with the password).
        dest: &'a str,
        /// Connections.
        jobs: usize,
        /// Plan only.
        dry_run: bool,
    },
    /// Both sides of one directory were read (`remote` is `None` for a directory that does
    /// not exist remotely). Used by `peex plan` for its fingerprints; others ignore it.
    Listed {
        /// The directory.
        dir: &'a RelPath,
        /// Its local entries (times as the run uses them).
        local: &'a [Entry],
        /// Its remote entries.
        remote: Option<&'a [Entry]>,
    },
    /// An operation of the plan (before any is carried out; in a dry run, all there is).
    Planned(Operation<'a>),
    /// An operation that was carried out.
    Done(Operation<'a>),
    /// An entry a rule kept out of the sync.
    Kept {
        /// Where.
        path: &'a RelPath,
        /// Its kind, when the planner knows it (not for entries left alone).
        kind: Option<EntryKind>,
        /// Which rule.
        why: Kept,
    },
    /// A directory being traversed.
    Traverse(&'a RelPath),
    /// A line for people from verbosity `level` (connection details, reasons).
    Detail {
        /// The least `-v` count that shows it.
        level: u8,
        /// The text.
        text: &'a str,
    },
    /// A warning.
    Warning(&'a str),
    /// An operation (or a listing) that failed; the message names it.
    Error(&'a str),
    /// Transfer progress.
    Progress(Progress),
    /// The run is over.
    Summary(&'a Summary),
    /// The run stopped before or instead of finishing (exit `status`, with why).
    Stopped {
        /// The exit code.
        status: u8,
        /// Why.
        message: &'a str,
    },
}

/// Something that takes a run's events: the human output, the JSON stream, the plan
/// recorder. Called from every worker thread; each call is one whole event.
pub trait Events: Send + Sync {
    /// Takes one event.
    fn event(&self, e: &Event<'_>);
}
