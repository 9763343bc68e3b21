//! # peex-gitignore-filter: `.gitignore` and `.peexignore` as a peex filter plugin
//!
//! A filter named `gitignore` that applies the ignore files found in the local source tree,
//! with git's rules: nested files (a deeper file overrides a shallower one), negations
//! (`!keep.log`), directory patterns (`build/`), anchored patterns (`/top-only`), `**`.
//! Parsing and matching are the `ignore` crate's (`ignore::gitignore`, ripgrep's own).
//!
//! Options:
//! - `root`: the local source directory; defaults to `source_root`, which peex passes to
//!   every filter.
//! - `files`: comma-separated ignore-file names, default `.gitignore,.peexignore` (later
//!   names take precedence within a directory).
//!
//! Verdicts: a matching entry is `Ignore` on the local side, and also on the remote side for
//! the same path, so that an ignored local entry's remote counterpart is left alone (PEEX
//! semantics). A negated match or no match is `NoOpinion`.
//!
//! Ignore files are read lazily, once per directory, when the first entry of that directory
//! is decided.
#![deny(missing_docs)]

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;
use peex_core::{Entry, EntryKind, Error, ErrorKind, Filter, RelPath, Result, Side, Verdict};
use peex_plugin_sdk::{export_plugin, FilterOptions, FilterSpec, OptionSpec};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The default ignore-file names.
pub const DEFAULT_FILES: &str = ".gitignore,.peexignore";

/// The `gitignore` filter.
pub struct GitignoreFilter {
    root: PathBuf,
    files: Vec<String>,
    panic_in_decide: bool,
    /// Per directory (relative, `""` = root): its matcher, or `None` if it has no ignore file.
    cache: Mutex<HashMap<String, Option<Arc<Gitignore>>>>,
}

impl GitignoreFilter {
    /// A filter over the source tree at `root`, reading the ignore files named `files`.
    pub fn new(root: impl Into<PathBuf>, files: &[&str]) -> Result<Self> {
        let root = root.into();
        if !root.is_dir() {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                format!("gitignore: root {} is not a directory", root.display()),
            ));
        }
        let files: Vec<String> = files
            .iter()
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect();
        if let Some(bad) = files.iter().find(|f| peex_core::validate_name(f).is_err()) {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                format!("gitignore: invalid ignore-file name {bad:?} in option files"),
            ));
        }
        Ok(GitignoreFilter {
            root,
            files,
            panic_in_decide: false,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Builds the filter from plugin options (`root` or `source_root`, `files`, `panic_in`).
    pub fn from_options(opts: &FilterOptions) -> Result<Self> {
        let root = opts.get("root").or(opts.source_root()).ok_or_else(|| {
            Error::new(
                ErrorKind::ConfigInvalid,
                "gitignore: option root (or source_root) is required",
            )
        })?;
        let files: Vec<&str> = opts
            .get("files")
            .unwrap_or(DEFAULT_FILES)
            .split(',')
            .collect();
        let mut f = GitignoreFilter::new(root, &files)?;
        match opts.get("panic_in") {
            None | Some("") => {}
            Some("decide") => f.panic_in_decide = true,
            Some(other) => {
                return Err(Error::new(
                    ErrorKind::ConfigInvalid,
                    format!("gitignore: panic_in must be \"decide\", not {other:?}"),
                ))
            }
        }
        Ok(f)
    }

    /// The matcher of directory `dir` (relative), read once.
    fn matcher(&self, dir: &str) -> Result<Option<Arc<Gitignore>>> {
        if let Some(m) = self.lock().get(dir) {
            return Ok(m.clone());
        }
        let abs: PathBuf = if dir.is_empty() {
            self.root.clone()
        } else {
            self.root.join(dir)
        };
        let mut builder = GitignoreBuilder::new(&abs);
        let mut any = false;
        for name in &self.files {
            let path = abs.join(name);
            if !path.is_file() {
                continue;
            }
            any = true;
            if let Some(e) = builder.add(&path) {
                return Err(Error::new(
                    ErrorKind::ConfigInvalid,
                    format!("gitignore: {}: {e}", path.display()),
                ));
            }
        }
        let m = if any {
            Some(Arc::new(builder.build().map_err(|e| {
                Error::new(
                    ErrorKind::ConfigInvalid,
                    format!("gitignore: {}: {e}", abs.display()),
                )
            })?))
        } else {
            None
        };
        self.lock().insert(dir.to_owned(), m.clone());
        Ok(m)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Arc<Gitignore>>>> {
        // A poisoned cache only means another decide panicked; the map itself is consistent.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The git decision for `path`: `Some(true)` ignored, `Some(false)` re-included by a
    /// negation, `None` no rule matched. The deepest ignore file with a match wins.
    pub fn matched(&self, path: &RelPath, is_dir: bool) -> Result<Option<bool>> {
        let comps: Vec<&str> = path.components().collect();
        // Directories that may hold applicable ignore files: root, a, a/b, … (the parents).
        for depth in (0..comps.len()).rev() {
            let dir = comps[..depth].join("/");
            let Some(m) = self.matcher(&dir)? else {
                continue;
            };
            let rel: PathBuf = comps[depth..].iter().collect();
            match m.matched_path_or_any_parents(Path::new(&rel), is_dir) {
                Match::Ignore(_) => return Ok(Some(true)),
                Match::Whitelist(_) => return Ok(Some(false)),
                Match::None => {}
            }
        }
        Ok(None)
    }
}

impl Filter for GitignoreFilter {
    fn name(&self) -> &str {
        "gitignore"
    }

    fn decide(&self, path: &RelPath, entry: &Entry, side: Side) -> Result<Verdict> {
        if self.panic_in_decide {
            panic!("gitignore asked to panic in decide (option panic_in=decide)");
        }
        let _ = side; // the same path is ignored on both sides: its remote copy is left alone
        let is_dir = entry.kind == EntryKind::Dir;
        Ok(match self.matched(path, is_dir)? {
            Some(true) => Verdict::Ignore,
            _ => Verdict::NoOpinion,
        })
    }
}

export_plugin! {
    name: "gitignore",
    version: env!("CARGO_PKG_VERSION"),
    transports: [],
    filters: [
        FilterSpec::new(
            "gitignore",
            "ignores what the .gitignore/.peexignore files of the source tree ignore",
            |opts| Ok(Box::new(GitignoreFilter::from_options(opts)?)),
        )
        .options(&[
            OptionSpec::new("root", "local source directory (default: source_root, set by peex)"),
            OptionSpec::new("files", "comma-separated ignore-file names (default .gitignore,.peexignore)"),
            OptionSpec::new("panic_in", "testing aid: \"decide\" makes decide panic"),
        ]),
    ],
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::fs;

    fn entry(name: &str, kind: EntryKind) -> Entry {
        Entry {
            name: name.to_owned(),
            kind,
            size: 0,
            mtime: Some(0),
        }
    }

    fn decide(f: &GitignoreFilter, p: &str, kind: EntryKind, side: Side) -> Verdict {
        let path = RelPath::parse(p).unwrap();
        f.decide(&path, &entry(path.name(), kind), side).unwrap()
    }

    #[test]
    fn nested_files_negations_and_directory_patterns() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::write(r.join(".gitignore"), "*.log\nbuild/\n/top.txt\n").unwrap();
        fs::create_dir_all(r.join("sub/deep")).unwrap();
        fs::write(r.join("sub/.gitignore"), "!keep.log\nsecret*\n").unwrap();
        fs::write(r.join("sub/deep/.peexignore"), "*.bak\n").unwrap();
        let f = GitignoreFilter::new(r, &[".gitignore", ".peexignore"]).unwrap();
        use EntryKind::{Dir, File};
        use Verdict::{Ignore, NoOpinion};
        assert_eq!(decide(&f, "a.log", File, Side::Local), Ignore);
        assert_eq!(decide(&f, "a.log", File, Side::Remote), Ignore);
        assert_eq!(decide(&f, "sub/x.log", File, Side::Local), Ignore);
        assert_eq!(decide(&f, "sub/keep.log", File, Side::Local), NoOpinion);
        assert_eq!(decide(&f, "sub/secret.txt", File, Side::Local), Ignore);
        assert_eq!(decide(&f, "secret.txt", File, Side::Local), NoOpinion);
        assert_eq!(decide(&f, "build", Dir, Side::Local), Ignore);
        assert_eq!(decide(&f, "build", File, Side::Local), NoOpinion);
        assert_eq!(decide(&f, "sub/build/x.html", File, Side::Local), Ignore);
        assert_eq!(decide(&f, "top.txt", File, Side::Local), Ignore);
        assert_eq!(decide(&f, "sub/top.txt", File, Side::Local), NoOpinion);
        assert_eq!(decide(&f, "sub/deep/old.bak", File, Side::Local), Ignore);
        assert_eq!(decide(&f, "old.bak", File, Side::Local), NoOpinion);
        assert_eq!(decide(&f, "index.html", File, Side::Local), NoOpinion);
    }

    #[test]
    fn options_root_and_files() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join(".myignore"), "*.tmp\n").unwrap();
        fs::write(t.path().join(".gitignore"), "*.html\n").unwrap();
        let mut m = std::collections::BTreeMap::new();
        m.insert("source_root".to_owned(), t.path().display().to_string());
        m.insert("files".to_owned(), ".myignore".to_owned());
        let f = GitignoreFilter::from_options(&FilterOptions::new(m)).unwrap();
        assert_eq!(
            decide(&f, "a.tmp", EntryKind::File, Side::Local),
            Verdict::Ignore
        );
        assert_eq!(
            decide(&f, "a.html", EntryKind::File, Side::Local),
            Verdict::NoOpinion
        );
        let e = GitignoreFilter::from_options(&FilterOptions::default())
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    }
}
