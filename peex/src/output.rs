//! PEEX's output: one line per entry in PEEX's colours, and the summary that ends every run.
//!
//! green = added/updated on the destination, red = removed from the destination, blue =
//! local entry ignored, yellow = remote entry protected, pink = directory being traversed.

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

/// Errors shown in full per run (with `-v`, all); the others are counted.
pub const ERRORS_SHOWN: u64 = 10;

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
    /// Local symbolic links not followed.
    pub links_skipped: AtomicU64,
    /// Local FIFOs, sockets and device files skipped.
    pub special_skipped: AtomicU64,
}

/// Adds one to a counter.
pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Writes the run's lines to stdout (and errors to stderr), serialised across workers.
pub struct Reporter {
    colour: bool,
    verbosity: u8,
    quiet: bool,
    dry_run: bool,
    out: Mutex<()>,
    /// The transfer progress bar, when one is shown.
    progress: OnceLock<indicatif::ProgressBar>,
    files_total: AtomicU64,
    files_done: AtomicU64,
    /// Errors counted but not shown (see [`Reporter::error`]).
    errors_hidden: AtomicU64,
    /// The summary counters.
    pub counters: Counters,
}

impl Reporter {
    /// A reporter. `verbosity` counts `-v`; `quiet` keeps only errors and the summary.
    pub fn new(colour: bool, verbosity: u8, quiet: bool, dry_run: bool) -> Self {
        Reporter {
            colour,
            verbosity,
            quiet,
            dry_run,
            out: Mutex::new(()),
            progress: OnceLock::new(),
            files_total: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            errors_hidden: AtomicU64::new(0),
            counters: Counters::default(),
        }
    }

    fn paint(&self, c: Colour, s: &str) -> String {
        if self.colour {
            format!("{}{}\x1b[0m", c.code(), s)
        } else {
            s.to_owned()
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
        let write = || {
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        };
        match self.progress.get() {
            Some(pb) => pb.suspend(write),
            None => write(),
        }
    }

    /// Shows a progress bar for `files` uploads of `bytes` in all, on stderr when it is a
    /// terminal (never with `-q`, never in a dry run). Costs nothing when there is no
    /// transfer: the bar is created only for a transfer phase.
    pub fn start_progress(&self, files: u64, bytes: u64) {
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

    /// Counts bytes sent (for the progress bar).
    pub fn progress_bytes(&self, n: u64) {
        if let Some(pb) = self.progress.get() {
            pb.inc(n);
        }
    }

    /// Counts one finished file (for the progress bar).
    pub fn progress_file(&self) {
        if let Some(pb) = self.progress.get() {
            let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
            pb.set_message(format!(
                "{done}/{} files",
                self.files_total.load(Ordering::Relaxed)
            ));
        }
    }

    /// Removes the progress bar.
    pub fn finish_progress(&self) {
        if let Some(pb) = self.progress.get() {
            pb.finish_and_clear();
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

    /// A file uploaded (or planned, in a dry run).
    pub fn uploaded(&self, path: &RelPath, new: bool, size: u64, detail: &str) {
        bump(if new {
            &self.counters.files_created
        } else {
            &self.counters.files_updated
        });
        if !self.dry_run {
            self.counters.bytes.fetch_add(size, Ordering::Relaxed);
        }
        let mark = if new { "+" } else { "*" };
        self.entry(0, Colour::Green, mark, path, false, detail);
    }

    /// A directory created.
    pub fn dir_created(&self, path: &RelPath) {
        bump(&self.counters.dirs_created);
        self.entry(0, Colour::Green, "+", path, true, "new directory");
    }

    /// A remote file removed.
    pub fn file_removed(&self, path: &RelPath, detail: &str) {
        bump(&self.counters.files_removed);
        self.entry(0, Colour::Red, "-", path, false, detail);
    }

    /// A remote directory removed.
    pub fn dir_removed(&self, path: &RelPath) {
        bump(&self.counters.dirs_removed);
        self.entry(0, Colour::Red, "-", path, true, "");
    }

    /// A local entry ignored by a rule.
    pub fn ignored(&self, path: &RelPath, kind: EntryKind) {
        bump(&self.counters.ignored);
        self.entry(
            0,
            Colour::Blue,
            "i",
            path,
            kind == EntryKind::Dir,
            "ignored",
        );
    }

    /// A remote entry protected by a rule.
    pub fn protected(&self, path: &RelPath, kind: EntryKind) {
        bump(&self.counters.protected);
        self.entry(
            0,
            Colour::Yellow,
            "p",
            path,
            kind == EntryKind::Dir,
            "protected",
        );
    }

    /// A remote entry left alone because an ignore rule matches it (`-v`).
    pub fn left_alone(&self, path: &RelPath) {
        self.entry(1, Colour::Blue, "=", path, false, "ignored, left alone");
    }

    /// A directory being traversed (`-v`).
    pub fn traverse(&self, dir: &RelPath) {
        let name = if dir.is_root() {
            ".".to_owned()
        } else {
            sanitize(dir.as_str())
        };
        let s = self.paint(Colour::Pink, &format!("> {name}/"));
        self.line(1, &s);
    }

    /// A file already up to date (`-vv`).
    pub fn unchanged(&self, count: u64) {
        self.counters.unchanged.fetch_add(count, Ordering::Relaxed);
    }

    /// A detail line shown from verbosity `level`.
    pub fn detail(&self, level: u8, text: &str) {
        self.line(level, text);
    }

    /// An error, on stderr. The first [`ERRORS_SHOWN`] of a run are shown (all of them
    /// with `-v`); the others are counted, and [`Reporter::summary`] says how many were not
    /// shown, so that a run where thousands of operations fail alike stays readable.
    pub fn error(&self, text: &str) {
        let n = self.counters.errors.fetch_add(1, Ordering::Relaxed) + 1;
        if n > ERRORS_SHOWN && self.verbosity == 0 {
            self.errors_hidden.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let _g = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = self.paint(Colour::BoldRed, &format!("peex: error: {}", sanitize(text)));
        let _ = writeln!(std::io::stderr().lock(), "{s}");
    }

    /// `n` more errors that were only counted, not kept (the engine keeps the first ones of
    /// a phase in full).
    pub fn errors_not_shown(&self, n: u64) {
        self.counters.errors.fetch_add(n, Ordering::Relaxed);
        self.errors_hidden.fetch_add(n, Ordering::Relaxed);
    }

    /// A warning: always shown, on stderr.
    pub fn warn(&self, text: &str) {
        let _g = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = self.paint(
            Colour::Yellow,
            &format!("peex: warning: {}", sanitize(text)),
        );
        let _ = writeln!(std::io::stderr().lock(), "{s}");
    }

    /// The summary that ends every run.
    pub fn summary(&self, elapsed: Duration) {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let created = g(&c.files_created) + g(&c.files_updated);
        let mut s =
            format!(
            "{}{} file{} created ({} new, {} updated), {} director{} created, {} file{} removed, \
             {} director{} removed, {} protected, {} ignored, {} uploaded in {:.2} s",
            if self.dry_run { "dry run, nothing changed: " } else { "" },
            created,
            plural(created, "", "s"),
            g(&c.files_created),
            g(&c.files_updated),
            g(&c.dirs_created),
            plural(g(&c.dirs_created), "y", "ies"),
            g(&c.files_removed),
            plural(g(&c.files_removed), "", "s"),
            g(&c.dirs_removed),
            plural(g(&c.dirs_removed), "y", "ies"),
            g(&c.protected),
            g(&c.ignored),
            human_bytes(g(&c.bytes)),
            elapsed.as_secs_f64(),
        );
        if g(&c.unchanged) > 0 {
            s.push_str(&format!(", {} unchanged", g(&c.unchanged)));
        }
        let links = g(&c.links_skipped);
        if links > 0 {
            s.push_str(&format!(
                ", {links} symbolic link{} skipped",
                plural(links, "", "s")
            ));
        }
        let special = g(&c.special_skipped);
        if special > 0 {
            s.push_str(&format!(
                ", {special} special file{} skipped",
                plural(special, "", "s")
            ));
        }
        let errs = g(&c.errors);
        if errs > 0 {
            s.push_str(&format!(", {errs} error{}", plural(errs, "", "s")));
        }
        let hidden = g(&self.errors_hidden);
        let _g = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
            let e = self.paint(Colour::BoldRed, &text);
            let _ = writeln!(std::io::stderr().lock(), "{e}");
        }
        let _ = writeln!(std::io::stdout().lock(), "{s}");
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
