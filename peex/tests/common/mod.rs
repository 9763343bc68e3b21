//! Helpers shared by the end-to-end tests: run the real `peex` binary, build trees with
//! fixed mtimes, and compare a local tree with the server's directory on disk.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

/// The `peex` binary under test.
pub fn peex_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_peex"))
}

/// Result of one `peex` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Runs peex with `args`; `PEEX_PASSWORD`, `HOME` and `NETRC` are cleared so the test's
/// config alone decides.
pub fn peex(args: &[&str]) -> Run {
    peex_env(args, &[])
}

/// Runs peex with `args` and extra environment variables.
pub fn peex_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(peex_bin());
    // The suites run again with PEEX_E2E_JOBS=1 and =8 (scripts/test): same assertions,
    // one connection or eight, unless the test chose its own.
    if let Ok(jobs) = std::env::var("PEEX_E2E_JOBS") {
        let sync = args
            .first()
            .is_some_and(|a| !["check", "plugins", "transports"].contains(a));
        if sync && !args.iter().any(|a| *a == "-j" || a.starts_with("--jobs")) {
            c.args(["-j", jobs.as_str()]);
        }
    }
    c.args(args)
        .env_remove("PEEX_PASSWORD")
        .env_remove("NETRC")
        .env_remove("PEEX_PLUGIN_PATH")
        .env("HOME", "/nonexistent-peex-test-home")
        .env("NO_COLOR_TEST", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    let out: Output = c.output().expect("run peex binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes `content` to `root/rel` (creating parents) with mtime `mtime` (epoch seconds).
pub fn put(root: &Path, rel: &str, content: &[u8], mtime: i64) {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&p, content).unwrap();
    set_mtime(&p, mtime);
}

/// Sets a file's mtime.
pub fn set_mtime(p: &Path, mtime: i64) {
    let t = UNIX_EPOCH + Duration::from_secs(mtime as u64);
    let f = fs::File::options().write(true).open(p).unwrap();
    f.set_modified(t).unwrap();
}

/// mtime of a path in whole seconds.
pub fn mtime_of(p: &Path) -> i64 {
    fs::metadata(p)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One entry of a tree snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    File { content: Vec<u8>, mtime: i64 },
}

/// Snapshot of every entry below `root` (relative '/' paths), skipping names for which
/// `skip(rel)` is true (and what is below them).
pub fn snapshot(root: &Path, skip: &dyn Fn(&str) -> bool) -> BTreeMap<String, Node> {
    fn walk(
        root: &Path,
        dir: &Path,
        skip: &dyn Fn(&str) -> bool,
        out: &mut BTreeMap<String, Node>,
    ) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if skip(&rel) {
                continue;
            }
            let m = fs::metadata(&p).unwrap();
            if m.is_dir() {
                out.insert(rel, Node::Dir);
                walk(root, &p, skip, out);
            } else {
                out.insert(
                    rel,
                    Node::File {
                        content: fs::read(&p).unwrap(),
                        mtime: mtime_of(&p),
                    },
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, skip, &mut out);
    out
}

/// Asserts that `remote` holds exactly what `local` holds (names, kinds, bytes, mtimes),
/// ignoring paths for which `skip` is true on either side.
pub fn assert_same_tree(local: &Path, remote: &Path, skip: &dyn Fn(&str) -> bool) {
    let a = snapshot(local, skip);
    let b = snapshot(remote, skip);
    let names_a: Vec<&String> = a.keys().collect();
    let names_b: Vec<&String> = b.keys().collect();
    assert_eq!(names_a, names_b, "the trees hold different names");
    for (k, va) in &a {
        let vb = &b[k];
        match (va, vb) {
            (Node::Dir, Node::Dir) => {}
            (
                Node::File {
                    content: ca,
                    mtime: ma,
                },
                Node::File {
                    content: cb,
                    mtime: mb,
                },
            ) => {
                assert!(
                    ca == cb,
                    "{k}: contents differ ({} vs {} bytes)",
                    ca.len(),
                    cb.len()
                );
                assert_eq!(ma, mb, "{k}: mtimes differ");
            }
            _ => panic!("{k}: kinds differ"),
        }
    }
}

/// Never skip anything.
pub fn none(_: &str) -> bool {
    false
}

/// Writes a config file into `dir` and returns its path (mode 0600).
pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// The prefix of peex's temporary names (files, and new directories being built).
pub const TEMP_PREFIX: &str = ".peex-tmp.";

/// True for a temporary file, or anything inside a new directory built under a temporary
/// name (a path with any component starting with [`TEMP_PREFIX`]).
pub fn is_temp(path: &str) -> bool {
    path.split('/').any(|c| c.starts_with(TEMP_PREFIX))
}
