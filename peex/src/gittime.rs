//! `mtime_from = git`: the local time of a tracked file is the committer time of the last
//! commit that changed it, so that two fresh clones of the same commit agree on every time
//! and a deploy from CI uploads only what the new commits changed.
//!
//! One pass over the history: a single `git log --name-only -z` read as a stream, newest
//! commit first; the first time a path shows up is its last change. The pass stops as soon
//! as every tracked file has its time. Files that are not tracked (`git ls-files`), or that
//! differ from `HEAD` in the work tree or the index (`git diff HEAD`), keep their file
//! system time. A shallow clone is refused: most of its files' last commits are missing, so
//! they would all take the clone's newest commit time and be uploaded again.

use peex_core::{Entry, EntryKind, RelPath};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Why the times could not be read from git.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitTimesError {
    /// The source is not usable with git (no git, not a work tree, a git failure).
    Unusable(String),
    /// The clone is shallow: the fix is to fetch the whole history.
    Shallow(String),
}

impl std::fmt::Display for GitTimesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitTimesError::Unusable(m) | GitTimesError::Shallow(m) => f.write_str(m),
        }
    }
}

/// Commit times of the tracked, unmodified files below the source, by path relative to it.
#[derive(Debug, Default, Clone)]
pub struct GitTimes {
    times: HashMap<String, i64>,
    /// Commits read by the pass (for `-v` and the benchmark).
    pub commits_read: u64,
}

impl GitTimes {
    /// Reads the times for the work tree that holds `source` (`source` may be a
    /// subdirectory of it; paths are relative to `source`).
    pub fn read(source: &Path) -> Result<GitTimes, GitTimesError> {
        let inside = git(source, &["rev-parse", "--is-inside-work-tree"])?;
        if inside.trim() != "true" {
            return Err(GitTimesError::Unusable(format!(
                "mtime_from = git: {} is not inside a git work tree",
                source.display()
            )));
        }
        if git(source, &["rev-parse", "--is-shallow-repository"])?.trim() == "true" {
            return Err(GitTimesError::Shallow(format!(
                "mtime_from = git: {} is a shallow clone, so the last commit of most files is \
                 not in it and every file would look changed. Fetch the whole history: in \
                 GitHub Actions give actions/checkout `fetch-depth: 0`; in GitLab CI set \
                 `GIT_DEPTH: 0`; elsewhere run `git fetch --unshallow`. Nothing was changed",
                source.display()
            )));
        }
        if git(source, &["rev-parse", "--verify", "-q", "HEAD"]).is_err() {
            // No commit yet: no file has a commit time.
            return Ok(GitTimes::default());
        }
        let mut wanted: HashSet<String> = split_z(&git(source, &["ls-files", "-z"])?)
            .map(str::to_owned)
            .collect();
        for changed in split_z(&git(
            source,
            &[
                "diff",
                "--name-only",
                "-z",
                "--relative",
                "--no-renames",
                "HEAD",
            ],
        )?) {
            wanted.remove(changed);
        }
        let mut out = GitTimes::default();
        if wanted.is_empty() {
            return Ok(out);
        }
        let mut child = Command::new("git")
            .arg("-C")
            .arg(source)
            .args([
                "log",
                "-z",
                "--name-only",
                "--no-renames",
                "--relative",
                // Whatever the user's configuration says: nothing but names and times.
                "--no-color",
                "--no-show-signature",
                "--no-ext-diff",
                "--format=%x00%ct",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                GitTimesError::Unusable(format!("mtime_from = git: cannot run git: {e}"))
            })?;
        let Some(stdout) = child.stdout.take() else {
            return Err(GitTimesError::Unusable(
                "mtime_from = git: no output from git log".into(),
            ));
        };
        let mut reader = BufReader::with_capacity(1 << 16, stdout);
        let mut token = Vec::new();
        let mut time: Option<i64> = None;
        let mut header_next = false;
        let mut complete = false;
        loop {
            token.clear();
            let n = reader
                .read_until(0, &mut token)
                .map_err(|e| GitTimesError::Unusable(format!("mtime_from = git: git log: {e}")))?;
            if n == 0 {
                break;
            }
            if token.last() == Some(&0) {
                token.pop();
            }
            if token.is_empty() {
                // A file name is never empty: this starts a commit, its time comes next.
                header_next = true;
                continue;
            }
            if header_next {
                header_next = false;
                out.commits_read += 1;
                time = std::str::from_utf8(&token)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                continue;
            }
            let name = token.strip_prefix(b"\n").unwrap_or(&token);
            let (Some(t), Ok(name)) = (time, std::str::from_utf8(name)) else {
                continue;
            };
            if wanted.remove(name) {
                out.times.insert(name.to_owned(), t);
                if wanted.is_empty() {
                    complete = true;
                    break;
                }
            }
        }
        drop(reader);
        if complete {
            // The rest of the history is not needed.
            let _ = child.kill();
        }
        let status = child
            .wait()
            .map_err(|e| GitTimesError::Unusable(format!("mtime_from = git: git log: {e}")))?;
        if !complete && !status.success() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            return Err(GitTimesError::Unusable(format!(
                "mtime_from = git: git log failed: {}",
                err.trim()
            )));
        }
        Ok(out)
    }

    /// The commit time of `path` (relative to the source), if it is tracked and unmodified.
    pub fn get(&self, path: &str) -> Option<i64> {
        self.times.get(path).copied()
    }

    /// How many files have a time from git.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// True if no file has a time from git.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Gives the files of local directory `dir` their commit times.
    pub fn apply(&self, dir: &RelPath, entries: &mut [Entry]) {
        for e in entries.iter_mut().filter(|e| e.kind == EntryKind::File) {
            let t = match dir.join(&e.name) {
                Ok(p) => self.get(p.as_str()),
                Err(_) => None,
            };
            if let Some(t) = t {
                e.mtime = Some(t);
            }
        }
    }
}

fn split_z(s: &str) -> impl Iterator<Item = &str> {
    s.split('\0').filter(|p| !p.is_empty())
}

/// Runs a git command in `dir` and returns its standard output.
fn git(dir: &Path, args: &[&str]) -> Result<String, GitTimesError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            GitTimesError::Unusable(format!(
                "mtime_from = git needs the `git` program: {e} (install git, e.g. `apt-get \
                 install git`)"
            ))
        })?;
    if !out.status.success() {
        return Err(GitTimesError::Unusable(format!(
            "mtime_from = git: `git {}` in {} failed: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8(out.stdout).map_err(|_| {
        GitTimesError::Unusable("mtime_from = git: git printed a name that is not UTF-8".into())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::fs;

    fn run(dir: &Path, args: &[&str], date: Option<&str>) {
        let mut c = Command::new("git");
        c.arg("-C").arg(dir).args(args);
        c.env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid");
        if let Some(d) = date {
            c.env("GIT_COMMITTER_DATE", d).env("GIT_AUTHOR_DATE", d);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    #[test]
    fn tracked_files_take_their_last_commit_time_others_keep_the_file_system_time() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path();
        run(repo, &["init", "-q"], None);
        fs::create_dir_all(repo.join("site/sub")).unwrap();
        fs::write(repo.join("site/a.html"), "a").unwrap();
        fs::write(repo.join("site/sub/b c.css"), "b").unwrap();
        fs::write(repo.join("site/edited"), "1").unwrap();
        fs::write(repo.join("outside"), "o").unwrap();
        run(repo, &["add", "."], None);
        run(repo, &["commit", "-qm", "one"], Some("@1000000000 +0000"));
        fs::write(repo.join("site/sub/b c.css"), "bb").unwrap();
        run(repo, &["commit", "-qam", "two"], Some("@1000000500 +0000"));
        fs::write(repo.join("site/edited"), "2").unwrap();
        fs::write(repo.join("site/untracked"), "u").unwrap();

        let t = GitTimes::read(&repo.join("site")).unwrap();
        assert_eq!(t.get("a.html"), Some(1_000_000_000));
        assert_eq!(t.get("sub/b c.css"), Some(1_000_000_500));
        assert_eq!(t.get("edited"), None, "modified in the work tree");
        assert_eq!(t.get("untracked"), None);
        assert_eq!(t.get("outside"), None);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_shallow_clone_is_refused_with_the_fetch_depth_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("r");
        fs::create_dir_all(&repo).unwrap();
        run(&repo, &["init", "-q"], None);
        for i in 0..3 {
            fs::write(repo.join("f"), i.to_string()).unwrap();
            run(&repo, &["add", "."], None);
            run(&repo, &["commit", "-qm", "c"], None);
        }
        let url = format!("file://{}", repo.display());
        let clone = tmp.path().join("c");
        run(
            tmp.path(),
            &["clone", "-q", "--depth", "1", &url, clone.to_str().unwrap()],
            None,
        );
        match GitTimes::read(&clone) {
            Err(GitTimesError::Shallow(m)) => assert!(m.contains("fetch-depth: 0"), "{m}"),
            other => panic!("expected a shallow-clone refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_repository_without_commits_gives_no_times() {
        let tmp = tempfile::tempdir().unwrap();
        run(tmp.path(), &["init", "-q"], None);
        fs::write(tmp.path().join("a"), "a").unwrap();
        run(tmp.path(), &["add", "."], None);
        assert!(GitTimes::read(tmp.path()).unwrap().is_empty());
    }

    #[test]
    fn a_folder_outside_git_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let e = GitTimes::read(tmp.path()).unwrap_err();
        assert!(e.to_string().contains("mtime_from = git"), "{e}");
    }
}
