//! PEEX's output: one line per entry in PEEX's colours, and the summary that ends every run
//! ([`Human`], the human implementation of [`Events`]).
//!
//! green = added/updated on the destination, red = removed from the destination, blue =
//! local entry ignored, yellow = remote entry protected, pink = directory being traversed.

use crate::events::{Event, Events, Kept, OpKind, Operation, Progress, Summary};
use peex_core::{EntryKind, RelPath};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// ANSI colours of PEEX's vocabulary.
#[derive(Debug, Clone, Copy)]
pub enum Colour {
    /// Added or updated on the destination.
    Green,
    /// Removed from the destination.
    Red,
    /// Local entry ignored.
    Blue,
    /// Remote entry protected.
    Yellow,
    /// Directory being traversed.
    Pink,
    /// Errors.
    BoldRed,
}

impl Colour {
    fn code(self) -> &'static str {
        match self {
            Colour::Green => "\x1b[32m",
            Colour::Red => "\x1b[31m",
            Colour::Blue => "\x1b[34m",
            Colour::Yellow => "\x1b[33m",
            Colour::Pink => "\x1b[35m",
            Colour::BoldRed => "\x1b[1;31m",
        }
    }
}

/// Errors shown in full per run (with `-v`, all); the others are counted, and the summary
/// says how many were not shown.
pub const ERRORS_SHOWN: u64 = 10;

/// The human output: PEEX's lines in PEEX's colours, the progress bar, the summary.
/// Entries and the summary go to stdout (to stderr with `--json`, whose events own stdout);
/// errors and warnings to stderr.
pub struct Human {
    colour: bool,
    verbosity: u8,
    quiet: bool,
    dry_run: bool,
    to_stderr: bool,
    out: Mutex<()>,
    /// The transfer progress bar, when one is shown.
    progress: OnceLock<indicatif::ProgressBar>,
    files_total: AtomicU64,
    files_done: AtomicU64,
    /// Errors shown so far, and errors counted but not shown.
    errors_shown: AtomicU64,
    errors_hidden: AtomicU64,
}

impl Human {
    /// The human output. `verbosity` counts `-v`; `quiet` keeps only errors, warnings and
    /// the summary; `to_stderr` sends every line to stderr.
    pub fn new(colour: bool, verbosity: u8, quiet: bool, dry_run: bool, to_stderr: bool) -> Self {
        Human {
            colour,
            verbosity,
            quiet,
            dry_run,
            to_stderr,
            out: Mutex::new(()),
            progress: OnceLock::new(),
            files_total: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            errors_shown: AtomicU64::new(0),
            errors_hidden: AtomicU64::new(0),
        }
    }

    fn paint(&self, c: Colour, s: &str) -> String {
        if self.colour {
            format!("{}{}\x1b[0m", c.code(), s)
        } else {
            s.to_owned()
        }
    }

    fn write_out(&self, text: &str) {
        if self.to_stderr {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        } else {
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
    }

    fn line(&self, min_verbosity: u8, text: &str) {
        if self.quiet || self.verbosity < min_verbosity {
            return;
        }
        let _g = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let write = || self.write_out(text);
        match self.progress.get() {
            Some(pb) => pb.suspend(write),
            None => write(),
        }
    }

    /// Shows a progress bar for `files` uploads of `bytes` in all, on stderr when it is a
    /// terminal (never with `-q`, never in a dry run). Costs nothing when there is no
    /// transfer: the bar is created only for a transfer phase.
    fn start_progress(&self, files: u64, bytes: u64) {
        use std::io::IsTerminal;
        if self.quiet || self.dry_run || !std::io::stderr().is_terminal() {
            return;
        }
        let pb = indicatif::ProgressBar::new(bytes);
        let style = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            pb.set_style(style);
        }
        pb.set_message(format!("0/{files} files"));
        pb.enable_steady_tick(Duration::from_millis(200));
        self.files_total.store(files, Ordering::Relaxed);
        let _ = self.progress.set(pb);
    }

    fn progress(&self, p: Progress) {
        match p {
            Progress::Start { files, bytes } => self.start_progress(files, bytes),
            Progress::Bytes(n) => {
                if let Some(pb) = self.progress.get() {
                    pb.inc(n);
                }
            }
            Progress::File => {
                if let Some(pb) = self.progress.get() {
                    let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
                    pb.set_message(format!(
                        "{done}/{} files",
                        self.files_total.load(Ordering::Relaxed)
                    ));
                }
            }
            Progress::End => {
                if let Some(pb) = self.progress.get() {
                    pb.finish_and_clear();
                }
            }
        }
    }

    fn entry(
        &self,
        min_verbosity: u8,
        c: Colour,
        mark: &str,
        path: &RelPath,
        dir: bool,
        detail: &str,
    ) {
        let slash = if dir { "/" } else { "" };
        let shown = sanitize(path.as_str());
        let mut s = self.paint(c, &format!("{mark} {shown}{slash}"));
        if self.verbosity >= 1 && !detail.is_empty() {
            s.push_str(&format!("  ({detail})"));
        }
        self.line(min_verbosity, &s);
    }

    fn operation(&self, op: &Operation<'_>) {
        let detail = op.detail();
        match op.op {
            OpKind::Upload => {
                let mark = if op.is_new() { "+" } else { "*" };
                self.entry(0, Colour::Green, mark, op.path, false, &detail);
            }
            OpKind::Touch => self.entry(0, Colour::Green, "t", op.path, false, &detail),
            OpKind::Mkdir => self.entry(0, Colour::Green, "+", op.path, true, &detail),
            OpKind::Delete => self.entry(0, Colour::Red, "-", op.path, false, &detail),
            // A directory's line never had a detail.
            OpKind::Rmdir => self.entry(0, Colour::Red, "-", op.path, true, ""),
        }
    }

    fn kept(&self, path: &RelPath, kind: Option<EntryKind>, why: Kept) {
        let dir = kind == Some(EntryKind::Dir);
        match why {
            Kept::Ignored => self.entry(0, Colour::Blue, "i", path, dir, "ignored"),
            Kept::Protected => self.entry(0, Colour::Yellow, "p", path, dir, "protected"),
            Kept::LeftAlone => self.entry(1, Colour::Blue, "=", path, false, "ignored, left alone"),
        }
    }

    fn stderr_line(&self, c: Colour, text: String) {
        let _g = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = self.paint(c, &text);
        let _ = writeln!(std::io::stderr().lock(), "{s}");
    }

    fn summary(&self, c: &Summary) {
        let created = c.files_new + c.files_updated;
        let mut s =
            format!(
            "{}{} file{} created ({} new, {} updated), {} director{} created, {} file{} removed, \
             {} director{} removed, {} protected, {} ignored, {} uploaded in {:.2} s",
            if self.dry_run { "dry run, nothing changed: " } else { "" },
            created,
            plural(created, "", "s"),
            c.files_new,
            c.files_updated,
            c.dirs_created,
            plural(c.dirs_created, "y", "ies"),
            c.files_removed,
            plural(c.files_removed, "", "s"),
            c.dirs_removed,
            plural(c.dirs_removed, "y", "ies"),
            c.protected,
            c.ignored,
            human_bytes(c.bytes),
            c.elapsed.as_secs_f64(),
        );
        if c.unchanged > 0 {
            s.push_str(&format!(", {} unchanged", c.unchanged));
        }
        if c.times_set > 0 {
            s.push_str(&format!(
                ", {} time{} set (same checksum)",
                c.times_set,
                plural(c.times_set, "", "s")
            ));
        }
        if c.links_skipped > 0 {
            s.push_str(&format!(
                ", {} symbolic link{} skipped",
                c.links_skipped,
                plural(c.links_skipped, "", "s")
            ));
        }
        if c.special_skipped > 0 {
            s.push_str(&format!(
                ", {} special file{} skipped",
                c.special_skipped,
                plural(c.special_skipped, "", "s")
            ));
        }
        if c.errors > 0 {
            s.push_str(&format!(
                ", {} error{}",
                c.errors,
                plural(c.errors, "", "s")
            ));
        }
        let hidden = self.errors_hidden.load(Ordering::Relaxed) + c.errors_not_shown;
        if hidden > 0 {
            let text = if self.verbosity == 0 {
                format!(
                    "peex: error: ... and {hidden} more error{} not shown (the first \
                     {ERRORS_SHOWN} are above; -v shows them all)",
                    plural(hidden, "", "s")
                )
            } else {
                // With -v every error kept is shown; past the first hundred of a phase
                // they are only counted.
                format!(
                    "peex: error: ... and {hidden} more error{} like those above (counted, \
                     not kept)",
                    plural(hidden, "", "s")
                )
            };
            self.stderr_line(Colour::BoldRed, text);
        }
        let _g = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.write_out(&s);
    }
}

impl Events for Human {
    fn event(&self, e: &Event<'_>) {
        match e {
            Event::Start {
                source,
                dest,
                jobs,
                dry_run,
            } => self.line(
                1,
                &format!(
                    "peex: {source} -> {dest} ({jobs} connection{}{})",
                    if *jobs == 1 { "" } else { "s" },
                    if *dry_run { ", dry run" } else { "" }
                ),
            ),
            Event::Listed { .. } | Event::Stopped { .. } => {}
            // The plan is shown as such in a dry run; otherwise each operation is shown
            // when it is done.
            Event::Planned(op) if self.dry_run => self.operation(op),
            Event::Planned(_) => {}
            Event::Done(op) => self.operation(op),
            Event::Kept { path, kind, why } => self.kept(path, *kind, *why),
            Event::Traverse(dir) => {
                let name = if dir.is_root() {
                    ".".to_owned()
                } else {
                    sanitize(dir.as_str())
                };
                let s = self.paint(Colour::Pink, &format!("> {name}/"));
                self.line(1, &s);
            }
            Event::Detail { level, text } => self.line(*level, text),
            Event::Warning(text) => {
                self.stderr_line(Colour::Yellow, format!("peex: warning: {}", sanitize(text)))
            }
            Event::Error(text) => {
                // The first ERRORS_SHOWN of a run are shown (all with -v); the others are
                // counted, so that a run where thousands of operations fail alike stays
                // readable.
                let n = self.errors_shown.fetch_add(1, Ordering::Relaxed) + 1;
                if n > ERRORS_SHOWN && self.verbosity == 0 {
                    self.errors_hidden.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.stderr_line(Colour::BoldRed, format!("peex: error: {}", sanitize(text)))
                }
            }
            Event::Progress(p) => self.progress(*p),
            Event::Summary(s) => self.summary(s),
        }
    }
}

/// Escapes control characters (ESC, BEL, CR, …) so that a name or message coming from a
/// server or a plugin cannot drive the user's terminal: `a\u{1b}[2Jb` is shown as
/// `a\u{1b}[2Jb`, not executed.
pub fn sanitize(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// Formats a byte count for people (`12.3 KiB`).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_from_servers_are_escaped() {
        assert_eq!(super::sanitize("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(super::sanitize("ok ünï"), "ok ünï");
        assert!(!super::sanitize("x\u{7}\ry").chars().any(char::is_control));
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(super::human_bytes(0), "0 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(20 * 1024 * 1024), "20.0 MiB");
    }
}
