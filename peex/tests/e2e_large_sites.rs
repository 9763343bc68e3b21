//! End-to-end, real proftpd: what a large site meets on its first deploy — a directory the
//! server will not create inside a new tree, many operations failing alike — and how the
//! run reports it: once per cause, the first errors in full and the rest counted.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use peex_tests::faultproxy::{FaultConfig, FaultProxy, XorShift};
use peex_tests::ftpd::{chown_tree, Proftpd, ProftpdBuilder};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A PEEX config for `srv` syncing `src` to `/www/`.
fn config(dir: &Path, srv: &Proftpd, src: &Path) -> PathBuf {
    let text = format!(
        "[site]\nhost=127.0.0.1\nport={}\nuser={}\npass={}\nsource={}/\ndest=/www/\nretries=1\n",
        srv.port(),
        srv.user(),
        srv.password(),
        src.display()
    );
    write_config(dir, "site.peex", &text)
}

fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("peex: error:"))
        .collect()
}

#[test]
fn a_directory_the_server_refuses_in_a_new_tree_fails_that_tree_once_and_nothing_of_it_appears() {
    // proftpd refuses to make any directory named like this (550 Forbidden filename).
    let srv = ProftpdBuilder::new()
        .config_line("PathDenyFilter \"refused-dir$\"")
        .start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    put(&src, "top.html", b"top\n", 1_600_000_000);
    put(&src, "new/index.html", b"index\n", 1_600_000_000);
    put(&src, "new/img/a.png", b"a\n", 1_600_000_000);
    for i in 0..40 {
        put(
            &src,
            &format!("new/img/refused-dir/f{i}.txt"),
            b"x\n",
            1_600_000_000,
        );
    }
    put(&src, "other/ok.txt", b"ok\n", 1_600_000_000);
    let dest = srv.root().join("www");
    put(&dest, "obsolete.txt", b"old\n", 1_500_000_000);
    chown_tree(srv.root());
    let cfg = config(tmp.path(), &srv, &src);

    let r = peex(&["-j", "4", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.all());
    let errors = error_lines(&r.stderr);
    assert_eq!(errors.len(), 1, "one error for the tree\n{}", r.all());
    let e = errors[0];
    assert!(
        e.contains("mkdir new/img/refused-dir")
            && e.contains("new directory new was not put in place")
            && e.contains("its 42 files were not uploaded"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains(", 1 error"), "{}", r.all());
    // The tree is not in place, half built or otherwise, and nothing of it is left.
    assert!(!dest.join("new").exists(), "{}", r.all());
    let left: Vec<String> = snapshot(&dest, &none)
        .into_keys()
        .filter(|p| is_temp(p))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // Not one upload was attempted into it; the rest of the site went up; no deletes.
    let cmds = srv.commands_settled();
    let stors: Vec<&str> = cmds
        .iter()
        .filter(|c| c.command == "STOR")
        .map(|c| c.arg.as_str())
        .collect();
    assert!(
        stors.iter().all(|a| !a.contains(".new/")),
        "uploads into the given-up tree: {stors:?}"
    );
    assert_eq!(fs::read(dest.join("top.html")).unwrap(), b"top\n");
    assert_eq!(fs::read(dest.join("other/ok.txt")).unwrap(), b"ok\n");
    assert!(
        dest.join("obsolete.txt").is_file(),
        "a delete ran after an error"
    );
}

#[test]
fn many_failures_alike_show_the_first_ten_and_a_count() {
    let srv = ProftpdBuilder::new()
        .deny_upload_in(&["www/locked"])
        .start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    for i in 0..25 {
        put(&src, &format!("locked/f{i:02}.txt"), b"no\n", 1_600_000_000);
    }
    put(&src, "fine.txt", b"fine\n", 1_600_000_000);
    chown_tree(srv.root());
    let cfg = config(tmp.path(), &srv, &src);

    let r = peex(&["-j", "2", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.all());
    let errors = error_lines(&r.stderr);
    assert_eq!(errors.len(), 11, "{}", r.all());
    assert!(
        errors[..10].iter().all(|l| l.contains("upload locked/f")),
        "{}",
        r.all()
    );
    assert!(
        errors[10].contains("and 15 more errors not shown"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains(", 25 errors"), "{}", r.all());
    assert_eq!(
        fs::read(srv.root().join("www/fine.txt")).unwrap(),
        b"fine\n"
    );

    // -v shows them all.
    let r = peex(&["-v", "-j", "2", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.all());
    let errors = error_lines(&r.stderr);
    assert_eq!(errors.len(), 25, "{}", r.all());
}

// ---- transient errors at scale: the fault proxy on a tree of 20 000 files ----

/// A large site: a source of `files` small files in `dirs` nested directories (depth at
/// most 4, as the benchmark's trees), and a server that already holds an older part of it,
/// files the plan deletes, and protected files.
struct Big {
    srv: Proftpd,
    tmp: tempfile::TempDir,
    src: PathBuf,
    dirs: Vec<String>,
    /// Current source files and their content.
    files: BTreeMap<String, Vec<u8>>,
    /// Every content a path ever had in the source or on the server before the run.
    history: HashMap<String, Vec<Vec<u8>>>,
    /// Protected remote-only files and their content.
    protected: BTreeMap<String, Vec<u8>>,
    rng: XorShift,
    round: u64,
}

const PROTECT: &str = ".keep";

/// Writes a file (its directory exists) with its mtime, through one open file: tens of
/// thousands of them are written per test.
fn write_file(path: &Path, content: &[u8], mtime: i64) {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        if !parent.is_dir() {
            fs::create_dir_all(parent).unwrap();
        }
    }
    let mut f = fs::File::create(path).unwrap();
    f.write_all(content).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(mtime as u64))
        .unwrap();
}

impl Big {
    fn new(seed: u64, files: usize, dirs: usize) -> Big {
        let srv = Proftpd::start();
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(&src).unwrap();
        let mut w = Big {
            srv,
            tmp,
            src,
            dirs: Vec::new(),
            files: BTreeMap::new(),
            history: HashMap::new(),
            protected: BTreeMap::new(),
            rng: XorShift::new(seed),
            round: 0,
        };
        let mut nodes: Vec<(String, u32)> = vec![(String::new(), 0)];
        for i in 0..dirs {
            let shallow: Vec<&(String, u32)> = nodes.iter().filter(|n| n.1 < 4).collect();
            let (parent, depth) = shallow[w.rng.below(shallow.len() as u64) as usize].clone();
            let rel = if parent.is_empty() {
                format!("d{i}")
            } else {
                format!("{parent}/d{i}")
            };
            fs::create_dir_all(w.src.join(&rel)).unwrap();
            nodes.push((rel.clone(), depth + 1));
            w.dirs.push(rel);
        }
        for i in 0..files {
            let dir = w.dirs[w.rng.below(w.dirs.len() as u64) as usize].clone();
            w.write(&format!("{dir}/f{i}.txt"));
        }
        // The server holds an older version of a few hundred files (their directories
        // exist there), files the plan deletes, and protected files.
        let dest = w.dest();
        fs::create_dir_all(&dest).unwrap();
        let old: Vec<String> = w.files.keys().step_by(40).cloned().collect();
        for (k, p) in old.iter().enumerate() {
            let content = format!("old {p}\n").into_bytes();
            put(&dest, p, &content, 1_500_000_000);
            w.history.entry(p.clone()).or_default().push(content);
            if k % 10 == 0 {
                let alien = format!("{p}.obsolete");
                put(&dest, &alien, b"obsolete\n", 1_500_000_000);
                w.history
                    .entry(alien)
                    .or_default()
                    .push(b"obsolete\n".to_vec());
            }
        }
        for p in ["gone/sub/a.obsolete", "gone/b.obsolete"] {
            put(&dest, p, b"obsolete\n", 1_500_000_000);
            w.history
                .entry(p.into())
                .or_default()
                .push(b"obsolete\n".to_vec());
        }
        let keep_in = format!("{}/notes{PROTECT}", w.dirs[0]);
        for p in [format!("top{PROTECT}"), format!("gone/x{PROTECT}"), keep_in] {
            let content = format!("protected {p}\n").into_bytes();
            put(&dest, &p, &content, 1_500_000_000);
            w.protected.insert(p, content);
        }
        chown_tree(&dest);
        w
    }

    fn dest(&self) -> PathBuf {
        self.srv.root().join("www")
    }

    /// Writes a new version of `p` in the source (a few hundred bytes at most).
    fn write(&mut self, p: &str) {
        let len = self.rng.below(400) as usize;
        let mut content = format!("{p} {}\n", self.round).into_bytes();
        while content.len() < len {
            content.extend_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        let mtime = 1_600_000_000 + self.round as i64 * 1000 + self.rng.below(900) as i64;
        write_file(&self.src.join(p), &content, mtime);
        self.history
            .entry(p.to_owned())
            .or_default()
            .push(content.clone());
        self.files.insert(p.to_owned(), content);
    }

    /// About 2% of the files changed, 1% deleted, 1% added, and a new directory tree.
    fn mutate(&mut self) {
        self.round += 1;
        let n = self.files.len() as u64;
        let paths: Vec<String> = self.files.keys().cloned().collect();
        for _ in 0..n / 50 {
            let p = paths[self.rng.below(n) as usize].clone();
            if self.files.contains_key(&p) {
                self.write(&p);
            }
        }
        for _ in 0..n / 100 {
            let p = paths[self.rng.below(n) as usize].clone();
            if self.files.remove(&p).is_some() {
                fs::remove_file(self.src.join(&p)).unwrap();
            }
        }
        for i in 0..n / 100 {
            let dir = self.dirs[self.rng.below(self.dirs.len() as u64) as usize].clone();
            self.write(&format!("{dir}/n{}-{i}.txt", self.round));
        }
        let base = self.dirs[self.rng.below(self.dirs.len() as u64) as usize].clone();
        for j in 0..20 {
            self.write(&format!("{base}/new{}/s{}/g{j}.txt", self.round, j % 4));
        }
    }

    fn config(&self, name: &str, port: u16) -> PathBuf {
        let text = format!(
            "[site]\nhost=127.0.0.1\nport={port}\nuser={}\npass={}\nsource={}/\ndest=/www/\n\
             timeout=10\n\n[exceptions]\n\\{PROTECT}$=protect\n",
            self.srv.user(),
            self.srv.password(),
            self.src.display(),
        );
        write_config(self.tmp.path(), name, &text)
    }

    /// The server's files (relative paths) and their content.
    fn remote(&self) -> BTreeMap<String, Vec<u8>> {
        snapshot(&self.dest(), &none)
            .into_iter()
            .filter_map(|(k, v)| match v {
                Node::File { content, .. } => Some((k, content)),
                Node::Dir => None,
            })
            .collect()
    }

    /// What the tree comparison leaves out: protected files and the directories that hold
    /// them only on the server.
    fn skip(&self) -> impl Fn(&str) -> bool + '_ {
        move |p: &str| {
            self.protected.contains_key(p)
                || (self
                    .protected
                    .keys()
                    .any(|k| k.starts_with(p) && k.as_bytes().get(p.len()) == Some(&b'/'))
                    && !self.src.join(p).is_dir())
        }
    }

    /// Checks a faulty run: no content at a final name that the path never had, nothing
    /// deleted that the source still has, nothing deleted at all when the run had errors,
    /// protected files intact.
    fn violations(&self, before: &BTreeMap<String, Vec<u8>>, r: &Run) -> Vec<String> {
        let mut v = Vec::new();
        let after = self.remote();
        for (p, content) in &after {
            if is_temp(p) {
                continue;
            }
            if let Some(want) = self.protected.get(p) {
                if content != want {
                    v.push(format!("protected {p} changed"));
                }
                continue;
            }
            let known = self
                .history
                .get(p)
                .is_some_and(|h| h.iter().any(|c| c == content));
            if !known {
                v.push(format!(
                    "{p}: {} bytes at its final name that it never had (half written?)",
                    content.len()
                ));
            }
        }
        for p in before.keys() {
            if after.contains_key(p) || is_temp(p) {
                continue;
            }
            if self.protected.contains_key(p) {
                v.push(format!("protected {p} vanished"));
            } else if self.files.contains_key(p) {
                v.push(format!("{p} is in the source but vanished from the server"));
            } else if r.code != 0 {
                v.push(format!(
                    "{p} deleted although the run failed (exit {})",
                    r.code
                ));
            }
        }
        v
    }
}

/// The proxy's faults for a run: passive requests refused with 425, the control
/// connection reset right after MKD and STOR commands, data connections cut mid-upload.
fn scale_faults(seed: u64) -> FaultConfig {
    FaultConfig {
        refuse_passive: 0.01,
        reset_after: vec![("MKD".into(), 0.004), ("STOR".into(), 0.001)],
        data_max_bytes: 300,
        ..FaultConfig::cutting(seed, 0.0, 0.002)
    }
}

#[derive(Debug, Default)]
struct ScaleFigures {
    runs: u64,
    exit_codes: BTreeMap<i32, u64>,
    refusals: u64,
    resets: u64,
    cuts: u64,
    retried: u64,
    violations: Vec<String>,
    slowest_faulty: Duration,
    slowest_clean: Duration,
}

/// One faulty run through the proxy (`retries` as `--retries`), its checks, then one clean
/// run that must converge.
fn faulty_then_clean(w: &Big, seed: u64, retries: u32, fig: &mut ScaleFigures) {
    let t0 = Instant::now();
    let before = w.remote();
    eprintln!("snapshot of the server before the run: {:?}", t0.elapsed());
    let proxy = FaultProxy::start(w.srv.host(), w.srv.port(), scale_faults(seed));
    let cfg = w.config("faulty.peex", proxy.port());
    let started = Instant::now();
    let retries = retries.to_string();
    let r = peex(&[
        "-q",
        "-j",
        "4",
        "--retries",
        &retries,
        cfg.to_str().unwrap(),
    ]);
    fig.slowest_faulty = fig.slowest_faulty.max(started.elapsed());
    let stats = proxy.stats();
    drop(proxy);
    fig.runs += 1;
    *fig.exit_codes.entry(r.code).or_default() += 1;
    fig.refusals += stats.refusals;
    fig.resets += stats.resets;
    fig.cuts += stats.cuts;
    fig.retried += r
        .stderr
        .lines()
        .filter_map(|l| l.split("peex: warning: ").nth(1))
        .filter_map(|t| t.split_once(" operations retried"))
        .filter_map(|(n, _)| n.parse::<u64>().ok())
        .sum::<u64>();
    assert_ne!(r.code, 101, "peex panicked\n{}", r.all());
    assert!(!r.stderr.contains("panicked"), "{}", r.all());
    eprintln!(
        "faulty run (seed {seed}): exit {} in {:?}, {stats:?}\n{}",
        r.code,
        started.elapsed(),
        r.stderr
    );
    let t0 = Instant::now();
    let bad = w.violations(&before, &r);
    eprintln!("checks after the run: {:?}", t0.elapsed());
    if !bad.is_empty() {
        eprintln!("{bad:#?}\n{}", r.all());
    }
    fig.violations.extend(bad);

    let clean = w.config("clean.peex", w.srv.port());
    let started = Instant::now();
    let r = peex(&["-q", "-j", "4", clean.to_str().unwrap()]);
    fig.slowest_clean = fig.slowest_clean.max(started.elapsed());
    assert_eq!(r.code, 0, "the re-run did not converge\n{}", r.all());
    let t0 = Instant::now();
    assert_same_tree(&w.src, &w.dest(), &w.skip());
    eprintln!("tree comparison: {:?}", t0.elapsed());
    for (p, c) in &w.protected {
        assert_eq!(&fs::read(w.dest().join(p)).unwrap(), c, "protected {p}");
    }
}

#[test]
fn twenty_thousand_files_under_425s_and_resets_end_clean_and_a_rerun_converges() {
    let t0 = Instant::now();
    let w = Big::new(17, 20_000, 2_000);
    eprintln!("tree made: {:?}", t0.elapsed());
    let mut fig = ScaleFigures::default();
    faulty_then_clean(&w, 1701, 3, &mut fig);
    eprintln!("{fig:#?}");
    assert!(fig.violations.is_empty(), "{:#?}", fig.violations);
    assert!(
        fig.refusals > 0 && fig.resets > 0,
        "the proxy injected nothing: {fig:?}"
    );
}

/// The long soak: `PEEX_SCALE_SOAK_RUNS` rounds, each on a new tree of 20 000 files in
/// 2 000 directories (seed `PEEX_SOAK_SEED` + round): a first deploy through the faults,
/// then 2% of the tree changed (and a new directory tree) and a second faulty run, each
/// followed by its checks and a clean re-run that must converge. Does nothing unless
/// `PEEX_SCALE_SOAK_RUNS` is set. First deploys alternate `--retries 3` and `--retries 0`;
/// the change runs use `--retries 1`.
#[test]
fn scale_soak() {
    let Some(n) = std::env::var("PEEX_SCALE_SOAK_RUNS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    let seed: u64 = std::env::var("PEEX_SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(71);
    let started = Instant::now();
    let mut fig = ScaleFigures::default();
    let mut files = 0;
    for round in 0..n {
        let mut w = Big::new(seed + round, 20_000, 2_000);
        files = w.files.len();
        // Every other first deploy without retries: it fails, and must then have deleted
        // nothing and put no half-built tree in place.
        let retries = if round % 2 == 0 { 3 } else { 0 };
        faulty_then_clean(&w, (seed + round) * 100, retries, &mut fig);
        w.mutate();
        faulty_then_clean(&w, (seed + round) * 100 + 1, 1, &mut fig);
    }
    println!(
        "SCALE SOAK seed {seed}: {n} rounds, {} faulty runs (a first deploy of {files} files \
         and a 2% change each round), exit codes {:?}, {} passive refusals, {} resets, {} \
         cuts, {} retries reported, {} invariant violations, slowest faulty run {:?}, \
         slowest clean re-run {:?}, total {:?}",
        fig.runs,
        fig.exit_codes,
        fig.refusals,
        fig.resets,
        fig.cuts,
        fig.retried,
        fig.violations.len(),
        fig.slowest_faulty,
        fig.slowest_clean,
        started.elapsed()
    );
    assert!(fig.violations.is_empty(), "{:#?}", fig.violations);
}

/// The directories of a bench-shaped tree: `n` directories `dirNNN`, each below the root or
/// below an earlier one less than 4 deep.
fn bench_shaped_dirs(seed: u64, n: usize) -> Vec<String> {
    let mut rng = XorShift::new(seed);
    let mut nodes: Vec<(String, u32)> = vec![(String::new(), 0)];
    let mut out = Vec::new();
    for i in 0..n {
        let shallow: Vec<&(String, u32)> = nodes.iter().filter(|n| n.1 < 4).collect();
        let (parent, depth) = shallow[rng.below(shallow.len() as u64) as usize].clone();
        let rel = if parent.is_empty() {
            format!("dir{i:03}")
        } else {
            format!("{parent}/dir{i:03}")
        };
        nodes.push((rel.clone(), depth + 1));
        out.push(rel);
    }
    out
}

#[test]
fn five_thousand_new_directories_are_made_in_one_run_with_one_connection_or_eight() {
    // proftpd 1.3.8 can run two lines of a long pipelined MKD batch as one command (a 550
    // and a reply line that answers nothing), and does it again, byte for byte, when the
    // batch is sent again on a new connection; the run must still make every directory.
    let dirs = bench_shaped_dirs(1, 5000);
    for jobs in ["8", "1"] {
        let srv = Proftpd::start();
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        for d in &dirs {
            fs::create_dir_all(src.join(d)).unwrap();
        }
        put(
            &src,
            &format!("{}/index.html", dirs[4999]),
            b"deep\n",
            1_600_000_000,
        );
        fs::create_dir_all(srv.root().join("www")).unwrap();
        chown_tree(srv.root());
        let cfg = config(tmp.path(), &srv, &src);
        let r = peex(&["-q", "-j", jobs, cfg.to_str().unwrap()]);
        assert_eq!(r.code, 0, "-j {jobs}\n{}", r.all());
        assert_same_tree(&src, &srv.root().join("www"), &none);
    }
}
