//! End-to-end: peex against a real proftpd through a fault-injecting proxy
//! (`peex_tests::faultproxy`) that cuts control and data connections at random points, or
//! stops answering.
//!
//! - `random_cuts_never_break_the_invariants`: a short seeded series in the normal test
//!   run. Each round mutates a tree of about 60 files in 8 directories, syncs it through the
//!   cutting proxy (`--retries 0..=2 -j 4`), and checks: no file at its final name holds content
//!   the source never had for that path (no partial uploads), nothing vanished that the plan
//!   did not delete (and nothing at all when the run reported errors before the deletes),
//!   protected files never vanish; then one clean run (no proxy) makes the tree equal to the
//!   source (names, bytes, mtimes; no temporary files left).
//! - `sftp_random_cuts_never_break_the_invariants`: the same over SFTP against a real
//!   OpenSSH sshd, the proxy forwarding the SSH byte stream and cutting it anywhere within a
//!   connection's first 40 KiB.
//! - `soak`: the same with `PEEX_SOAK_RUNS` rounds (e.g. 200), printing the figures, over
//!   FTP and then over SFTP (`PEEX_SOAK_PROTO=ftp` or `sftp` for one); it does nothing unless
//!   that variable is set.
//! - `stall_*`: the server stops answering (the proxy freezes without closing); with
//!   `timeout=2` peex must exit non-zero within a bounded time, delete nothing, and a re-run
//!   must converge.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use peex_tests::faultproxy::{FaultConfig, FaultProxy, XorShift};
use peex_tests::ftpd::{chown_tree, Proftpd};
use peex_tests::sshd::Sshd;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::Path;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PROTECT_SUFFIX: &str = ".keep";
const DIRS: [&str; 8] = ["a", "b", "c", "a/x", "a/y", "b/z", "c/deep/er", "d"];

/// Result of one run, with how long it took.
struct Timed {
    run: Run,
    elapsed: Duration,
}

/// Runs peex with a hard deadline: a run that outlives it is killed and the test fails.
fn peex_deadline(args: &[&str], deadline: Duration) -> Timed {
    let start = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (out_p, err_p) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(peex_bin())
        .args(args)
        .env_remove("PEEX_PASSWORD")
        .env_remove("NETRC")
        .env_remove("PEEX_PLUGIN_PATH")
        .env("HOME", "/nonexistent-peex-test-home")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_p).unwrap())
        .stderr(fs::File::create(&err_p).unwrap())
        .spawn()
        .unwrap();
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code().unwrap_or(-1);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "peex {args:?} still running after {deadline:?}: it hangs\n--- stdout ---\n{}\n--- stderr ---\n{}",
                fs::read_to_string(&out_p).unwrap_or_default(),
                fs::read_to_string(&err_p).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Timed {
        run: Run {
            code,
            stdout: fs::read_to_string(&out_p).unwrap_or_default(),
            stderr: fs::read_to_string(&err_p).unwrap_or_default(),
        },
        elapsed: start.elapsed(),
    }
}

/// The server a world syncs to.
enum Server {
    Ftp(Proftpd),
    /// OpenSSH, with a known_hosts file that trusts it.
    Sftp(Sshd, PathBuf),
}

impl Server {
    fn host(&self) -> &str {
        match self {
            Server::Ftp(s) => s.host(),
            Server::Sftp(s, _) => s.host(),
        }
    }
    fn port(&self) -> u16 {
        match self {
            Server::Ftp(s) => s.port(),
            Server::Sftp(s, _) => s.port(),
        }
    }
    fn root(&self) -> &Path {
        match self {
            Server::Ftp(s) => s.root(),
            Server::Sftp(s, _) => s.root(),
        }
    }
    /// Gives `path` and everything below it to the user the server writes as.
    fn give(&self, path: &Path) {
        match self {
            Server::Ftp(_) => chown_tree(path),
            Server::Sftp(s, _) => {
                use std::os::unix::fs::MetadataExt;
                let m = fs::metadata(s.root()).unwrap();
                fn walk(p: &Path, uid: u32, gid: u32) {
                    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
                    if p.is_dir() && !p.is_symlink() {
                        for e in fs::read_dir(p).unwrap() {
                            walk(&e.unwrap().path(), uid, gid);
                        }
                    }
                }
                walk(path, m.uid(), m.gid());
            }
        }
    }
}

/// Which protocol a world uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Ftp,
    Sftp,
}

/// A server, a source tree, and everything the source ever held.
struct World {
    srv: Server,
    tmp: tempfile::TempDir,
    src: PathBuf,
    /// Current source files: path -> (content, mtime).
    files: BTreeMap<String, (Vec<u8>, i64)>,
    /// Every content each path ever had in the source.
    history: HashMap<String, Vec<Vec<u8>>>,
    /// The protected remote-only files and their content.
    protected: BTreeMap<String, Vec<u8>>,
    rng: XorShift,
    round: u64,
}

impl World {
    fn new(seed: u64) -> World {
        World::with(Proto::Ftp, seed)
    }

    fn with(proto: Proto, seed: u64) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let srv = match proto {
            Proto::Ftp => Server::Ftp(Proftpd::start()),
            Proto::Sftp => {
                let s = Sshd::start();
                let kh = tmp.path().join("known_hosts");
                fs::write(&kh, s.known_hosts_line() + "\n").unwrap();
                Server::Sftp(s, kh)
            }
        };
        let src = tmp.path().join("src");
        fs::create_dir_all(&src).unwrap();
        let dest = srv.root().join("www");
        fs::create_dir_all(&dest).unwrap();
        let mut w = World {
            srv,
            tmp,
            src,
            files: BTreeMap::new(),
            history: HashMap::new(),
            protected: BTreeMap::new(),
            rng: XorShift::new(seed),
            round: 0,
        };
        for d in DIRS {
            fs::create_dir_all(w.src.join(d)).unwrap();
        }
        for i in 0..60 {
            let dir = DIRS[i % DIRS.len()];
            let p = format!("{dir}/f{i}.dat");
            w.write(&p);
        }
        for i in 0..4 {
            w.write(&format!("top{i}.html"));
        }
        // Protected files exist only on the server (some in directories that will be
        // removed locally: their ancestors must stay).
        for p in ["a/x/notes.keep", "d/log.keep", "gone/only.keep", "top.keep"] {
            let content = format!("protected {p}\n").into_bytes();
            put(&dest, p, &content, 1_500_000_000);
            w.protected.insert(p.to_owned(), content);
        }
        w.srv.give(&dest);
        w
    }

    fn dest(&self) -> PathBuf {
        self.srv.root().join("www")
    }

    fn content(&mut self) -> Vec<u8> {
        let r = self.rng.below(100);
        let len = if r < 10 {
            0
        } else if r < 70 {
            self.rng.below(4096)
        } else if r < 95 {
            4096 + self.rng.below(60 * 1024)
        } else {
            64 * 1024 + self.rng.below(256 * 1024)
        } as usize;
        let mut v = Vec::with_capacity(len);
        let mut x = self.rng.next_u64();
        while v.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.truncate(len);
        // Mark the round so that equal random lengths still differ in content.
        if len >= 8 {
            v[..8].copy_from_slice(&self.round.to_le_bytes());
        }
        v
    }

    /// Writes a new version of `p` in the source.
    fn write(&mut self, p: &str) {
        let content = self.content();
        let mtime = 1_600_000_000 + self.round as i64 * 1000 + self.rng.below(900) as i64;
        put(&self.src, p, &content, mtime);
        self.history
            .entry(p.to_owned())
            .or_default()
            .push(content.clone());
        self.files.insert(p.to_owned(), (content, mtime));
    }

    /// A seeded mutation: change, add and delete a few files; now and then remove a whole
    /// directory or create a new one.
    fn mutate(&mut self) {
        self.round += 1;
        let paths: Vec<String> = self.files.keys().cloned().collect();
        if paths.is_empty() {
            return;
        }
        for _ in 0..1 + self.rng.below(6) {
            let p = paths[self.rng.below(paths.len() as u64) as usize].clone();
            if self.files.contains_key(&p) {
                self.write(&p);
            }
        }
        for _ in 0..self.rng.below(4) {
            let dir = DIRS[self.rng.below(DIRS.len() as u64) as usize];
            if self.src.join(dir).is_dir() {
                let p = format!("{dir}/n{}-{}.dat", self.round, self.rng.below(1000));
                self.write(&p);
            }
        }
        for _ in 0..self.rng.below(4) {
            let p = paths[self.rng.below(paths.len() as u64) as usize].clone();
            if self.files.remove(&p).is_some() {
                let _ = fs::remove_file(self.src.join(&p));
            }
        }
        match self.rng.below(10) {
            0 => {
                // Remove a whole directory (with what is below it).
                let dir = ["b/z", "c/deep", "d"][self.rng.below(3) as usize];
                if self.src.join(dir).is_dir() {
                    fs::remove_dir_all(self.src.join(dir)).unwrap();
                    let prefix = format!("{dir}/");
                    self.files.retain(|k, _| !k.starts_with(&prefix));
                }
            }
            1 => {
                // (Re)create the removable directories with a few files.
                for dir in ["b/z", "c/deep/er", "d"] {
                    if !self.src.join(dir).is_dir() {
                        fs::create_dir_all(self.src.join(dir)).unwrap();
                        for i in 0..3 {
                            let p = format!("{dir}/r{}-{i}.dat", self.round);
                            self.write(&p);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// A PEEX config for `port`, with `extra` `[site]` lines.
    fn config(&self, name: &str, port: u16, extra: &str) -> PathBuf {
        let site = match &self.srv {
            Server::Ftp(s) => format!("user={}\npass={}\ndest=/www/", s.user(), s.password()),
            Server::Sftp(s, kh) => {
                // The host key, under the port the client connects to (the proxy's).
                let line = format!("[127.0.0.1]:{port} {}\n", s.host_public_key());
                let kh = kh.with_extension(port.to_string());
                fs::write(&kh, line).unwrap();
                format!(
                    "transport=sftp\nuser={}\npass={}\ndest={}/\nknown_hosts={}",
                    s.user(),
                    s.password(),
                    self.dest().display(),
                    kh.display()
                )
            }
        };
        let text = format!(
            "[site]\nhost=127.0.0.1\nport={port}\n{site}\nsource={}/\n{extra}\n\n[exceptions]\n\\{PROTECT_SUFFIX}$=protect\n",
            self.src.display(),
        );
        write_config(self.tmp.path(), name, &text)
    }

    /// Regular files and directories in the server's dest (relative paths).
    fn remote(&self) -> (BTreeMap<String, Vec<u8>>, BTreeSet<String>) {
        let mut files = BTreeMap::new();
        let mut dirs = BTreeSet::new();
        for (k, v) in snapshot(&self.dest(), &none) {
            match v {
                Node::File { content, .. } => {
                    files.insert(k, content);
                }
                Node::Dir => {
                    dirs.insert(k);
                }
            }
        }
        (files, dirs)
    }

    /// What the tree comparison leaves out: protected files, and the directories kept on
    /// the server only because they hold one.
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

    fn local_dirs(&self) -> BTreeSet<String> {
        snapshot(&self.src, &none)
            .into_iter()
            .filter(|(_, v)| *v == Node::Dir)
            .map(|(k, _)| k)
            .collect()
    }
}

/// Checks the invariants after a faulty run; returns the violations found.
fn violations(
    w: &World,
    before: &(BTreeMap<String, Vec<u8>>, BTreeSet<String>),
    r: &Run,
) -> Vec<String> {
    let mut v = Vec::new();
    let (files, dirs) = w.remote();
    // 1. No partial or foreign content at a final name.
    for (p, content) in &files {
        if is_temp(p) {
            continue;
        }
        if let Some(want) = w.protected.get(p) {
            if content != want {
                v.push(format!("protected {p} was changed"));
            }
            continue;
        }
        let ok = w
            .history
            .get(p)
            .is_some_and(|h| h.iter().any(|c| c == content));
        if !ok {
            v.push(format!(
                "{p}: {} bytes at the final name that the source never had (partial upload?)",
                content.len()
            ));
        }
    }
    // 2. Nothing vanished that the plan did not delete; protected files never vanish.
    let local_dirs = w.local_dirs();
    let aborted_deletes = r.stderr.contains("not deleted because of the errors above");
    for p in before.0.keys() {
        if files.contains_key(p) || is_temp(p) {
            continue;
        }
        if w.protected.contains_key(p) {
            v.push(format!("protected {p} vanished"));
        } else if w.files.contains_key(p) {
            v.push(format!("{p} exists locally but vanished from the server"));
        } else if aborted_deletes {
            v.push(format!("{p} was deleted although the run had errors"));
        }
    }
    for d in &before.1 {
        if dirs.contains(d) {
            continue;
        }
        if local_dirs.contains(d) {
            v.push(format!("directory {d} exists locally but vanished"));
        } else if aborted_deletes {
            v.push(format!("directory {d} removed although the run had errors"));
        }
    }
    for p in w.protected.keys() {
        if !files.contains_key(p) {
            v.push(format!("protected {p} is missing"));
        }
    }
    v
}

#[derive(Debug, Default)]
struct Figures {
    rounds: u64,
    faulty_runs: u64,
    cuts: u64,
    faulty_connections: u64,
    connections: u64,
    nonzero: u64,
    /// Exit code -> runs.
    codes: BTreeMap<i32, u64>,
    retries: u64,
    /// Temporary files found on the server right after a faulty run (interrupted uploads).
    temps_left: u64,
    violations: Vec<String>,
    slowest: Duration,
}

fn retries_in(stderr: &str) -> u64 {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.split("peex: warning: ").nth(1)?;
            let (n, tail) = rest.split_once(' ')?;
            tail.starts_with("operations retried")
                .then(|| n.parse::<u64>().ok())
                .flatten()
        })
        .sum()
}

/// Runs `rounds` rounds of mutate → faulty run(s) → checks → clean run → equal trees.
fn random_rounds(proto: Proto, seed: u64, rounds: u64, verbose: bool) -> Figures {
    let mut w = World::with(proto, seed);
    let mut fig = Figures::default();
    let clean_cfg = w.config("clean.peex", w.srv.port(), "timeout=10");
    // A first clean upload, so that later rounds also update and delete.
    let t = peex_deadline(&[clean_cfg.to_str().unwrap()], Duration::from_secs(120));
    assert_eq!(t.run.code, 0, "initial sync\n{}", t.run.all());
    for round in 0..rounds {
        fig.rounds += 1;
        let faulty_runs = 1 + w.rng.below(2);
        for k in 0..faulty_runs {
            w.mutate();
            let before = w.remote();
            let proxy_seed = seed
                .wrapping_mul(1_000_003)
                .wrapping_add(round * 10 + k)
                .wrapping_add(1);
            // Every other proxy also delays each chunk by 2 ms each way: a round trip of
            // 2 ms or more puts the FTP uploads in their slow-link mode (the next EPSV sent
            // right after the data, before the 226), which must hold up under cuts too.
            let delay = Duration::from_millis(2 * (proxy_seed % 2));
            let faults = match proto {
                Proto::Ftp => FaultConfig {
                    control_max_bytes: 2048,
                    data_max_bytes: 16 * 1024,
                    control_delay: delay,
                    data_delay: delay,
                    ..FaultConfig::cutting(proxy_seed, 0.35, 0.15)
                },
                // One SSH connection carries everything: the handshake and login take
                // about 5 KiB, a round's listings and uploads some tens of KiB more.
                Proto::Sftp => FaultConfig {
                    control_delay: delay,
                    ..FaultConfig::raw(proxy_seed, 0.5, 40 * 1024)
                },
            };
            let proxy = FaultProxy::start(w.srv.host(), w.srv.port(), faults);
            let cfg = w.config("faulty.peex", proxy.port(), "timeout=10");
            // 0 to 2 retries: with none, a cut usually fails the run, which must then
            // delete nothing.
            let retries = w.rng.below(3).to_string();
            let t = peex_deadline(
                &["--retries", &retries, "-j", "4", cfg.to_str().unwrap()],
                Duration::from_secs(300),
            );
            let stats = proxy.stats();
            drop(proxy);
            fig.faulty_runs += 1;
            fig.cuts += stats.cuts;
            fig.faulty_connections += stats.faulty;
            fig.connections += stats.control_connections + stats.data_connections;
            fig.retries += retries_in(&t.run.stderr);
            fig.slowest = fig.slowest.max(t.elapsed);
            assert_ne!(t.run.code, 101, "peex panicked\n{}", t.run.all());
            assert!(
                !t.run.stderr.contains("panicked"),
                "peex panicked\n{}",
                t.run.all()
            );
            if t.run.code != 0 {
                fig.nonzero += 1;
            }
            *fig.codes.entry(t.run.code).or_default() += 1;
            fig.temps_left += w.remote().0.keys().filter(|p| is_temp(p)).count() as u64;
            let bad = violations(&w, &before, &t.run);
            if verbose || !bad.is_empty() {
                eprintln!(
                    "round {round}.{k}: exit {} in {:?}, {stats:?}, retries {}{}",
                    t.run.code,
                    t.elapsed,
                    retries_in(&t.run.stderr),
                    if bad.is_empty() { "" } else { " -- VIOLATIONS" }
                );
            }
            if !bad.is_empty() {
                eprintln!("{bad:#?}\n{}", t.run.all());
                fig.violations
                    .extend(bad.into_iter().map(|b| format!("round {round}.{k}: {b}")));
            }
        }
        // One clean run converges.
        let t = peex_deadline(&[clean_cfg.to_str().unwrap()], Duration::from_secs(120));
        assert_eq!(t.run.code, 0, "round {round}: clean run\n{}", t.run.all());
        assert_same_tree(&w.src, &w.dest(), &w.skip());
        for p in w.protected.keys() {
            assert!(w.dest().join(p).is_file(), "protected {p} is gone");
        }
    }
    fig
}

#[test]
fn random_cuts_never_break_the_invariants() {
    let fig = random_rounds(Proto::Ftp, 20_260_001, 18, false);
    eprintln!("{fig:#?}");
    assert!(fig.violations.is_empty(), "{:#?}", fig.violations);
    assert!(fig.cuts > 0, "the proxy never cut anything: {fig:?}");
}

#[test]
fn sftp_random_cuts_never_break_the_invariants() {
    let fig = random_rounds(Proto::Sftp, 20_260_016, 12, false);
    eprintln!("{fig:#?}");
    assert!(fig.violations.is_empty(), "{:#?}", fig.violations);
    assert!(fig.cuts > 0, "the proxy never cut anything: {fig:?}");
}

#[test]
fn soak() {
    let Some(n) = std::env::var("PEEX_SOAK_RUNS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    let seed = std::env::var("PEEX_SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(77);
    let protos: &[Proto] = match std::env::var("PEEX_SOAK_PROTO").as_deref() {
        Ok("ftp") => &[Proto::Ftp],
        Ok("sftp") => &[Proto::Sftp],
        _ => &[Proto::Ftp, Proto::Sftp],
    };
    for &proto in protos {
        soak_one(proto, seed, n);
    }
}

fn soak_one(proto: Proto, seed: u64, n: u64) {
    let started = Instant::now();
    let fig = random_rounds(
        proto,
        seed,
        n,
        std::env::var_os("PEEX_SOAK_VERBOSE").is_some(),
    );
    println!(
        "SOAK {proto:?} seed {seed}: {} rounds, {} faulty runs, {} proxied connections, {} faulty, {} cuts, \
         {} non-zero exits (exit code: runs {:?}), {} retries seen, {} temp files left by faulty runs, \
         {} invariant violations, slowest run {:?}, total {:?}",
        fig.rounds,
        fig.faulty_runs,
        fig.connections,
        fig.faulty_connections,
        fig.cuts,
        fig.nonzero,
        fig.codes,
        fig.retries,
        fig.temps_left,
        fig.violations.len(),
        fig.slowest,
        started.elapsed()
    );
    assert!(fig.violations.is_empty(), "{:#?}", fig.violations);
}

// ---- the server stops answering ----

/// A site with a few larger files to upload, one remote file the plan deletes, and a
/// protected one.
fn stall_world(seed: u64) -> World {
    let mut w = World::new(seed);
    let clean = w.config("clean.peex", w.srv.port(), "timeout=10");
    let t = peex_deadline(&[clean.to_str().unwrap()], Duration::from_secs(120));
    assert_eq!(t.run.code, 0, "{}", t.run.all());
    // Now: new big files to upload, and a remote-only file the plan would delete.
    for i in 0..12 {
        let p = format!("big/b{i}.bin");
        let content: Vec<u8> = (0..200 * 1024u32).map(|x| (x * 7 + i) as u8).collect();
        put(&w.src, &p, &content, 1_700_000_000 + i as i64);
        w.history
            .entry(p.clone())
            .or_default()
            .push(content.clone());
        w.files.insert(p, (content, 1_700_000_000 + i as i64));
    }
    put(&w.dest(), "obsolete.txt", b"old\n", 1_500_000_000);
    w.history
        .entry("obsolete.txt".to_owned())
        .or_default()
        .push(b"old\n".to_vec());
    w.srv.give(&w.dest());
    w
}

/// Runs peex through `proxy` with `timeout=2 --retries 1 -j 2`; checks it fails within
/// `bound`, deleted nothing and left no partial file; then a clean run converges.
fn assert_stall_is_bounded(w: &World, proxy: &FaultProxy, bound: Duration, what: &str) {
    let before = w.remote();
    let cfg = w.config("stall.peex", proxy.port(), "timeout=2");
    let t = peex_deadline(
        &["--retries", "1", "-j", "2", cfg.to_str().unwrap()],
        Duration::from_secs(300),
    );
    eprintln!(
        "{what}: exit {} after {:?} ({:?})\n{}",
        t.run.code,
        t.elapsed,
        proxy.stats(),
        t.run.stderr
    );
    assert_ne!(
        t.run.code,
        0,
        "{what}: a stalled server cannot succeed\n{}",
        t.run.all()
    );
    assert_ne!(t.run.code, 101, "{what}: panicked\n{}", t.run.all());
    assert!(
        t.elapsed < bound,
        "{what}: took {:?} (bound {bound:?})\n{}",
        t.elapsed,
        t.run.all()
    );
    assert!(
        w.dest().join("obsolete.txt").is_file(),
        "{what}: a delete ran although the run failed\n{}",
        t.run.all()
    );
    let bad = violations(w, &before, &t.run);
    assert!(bad.is_empty(), "{what}: {bad:#?}\n{}", t.run.all());
    let clean = w.config("clean.peex", w.srv.port(), "timeout=10");
    let t = peex_deadline(&[clean.to_str().unwrap()], Duration::from_secs(120));
    assert_eq!(t.run.code, 0, "{what}: re-run\n{}", t.run.all());
    assert_same_tree(&w.src, &w.dest(), &w.skip());
}

#[test]
fn stall_mid_upload_fails_in_bounded_time_without_deletes() {
    let w = stall_world(5);
    let proxy = FaultProxy::pass_through(w.srv.host(), w.srv.port());
    // Let the listing and part of the uploads through, then stop answering.
    proxy.freeze_after(900 * 1024);
    assert_stall_is_bounded(&w, &proxy, Duration::from_secs(60), "freeze mid-upload");
    assert!(proxy.stats().stalls > 0, "{:?}", proxy.stats());
}

#[test]
fn stall_from_the_start_fails_in_bounded_time() {
    let w = stall_world(6);
    let proxy = FaultProxy::pass_through(w.srv.host(), w.srv.port());
    proxy.freeze();
    assert_stall_is_bounded(&w, &proxy, Duration::from_secs(30), "frozen from the start");
}

#[test]
fn stalled_data_connections_fail_in_bounded_time() {
    let w = stall_world(7);
    // Every data connection stops within its first KiB; the control connections answer.
    let cfg = FaultConfig {
        data_max_bytes: 1024,
        ..FaultConfig::stalling(7, 0.0, 1.0)
    };
    let proxy = FaultProxy::start(w.srv.host(), w.srv.port(), cfg);
    assert_stall_is_bounded(
        &w,
        &proxy,
        Duration::from_secs(90),
        "stalled data connections",
    );
}

/// Sanity check of the proxy itself with the real server: pass-through changes nothing.
#[test]
fn pass_through_proxy_syncs_normally() {
    let w = World::new(3);
    let proxy = FaultProxy::pass_through(w.srv.host(), w.srv.port());
    let cfg = w.config("p.peex", proxy.port(), "timeout=10");
    let t = peex_deadline(
        &["-j", "4", cfg.to_str().unwrap()],
        Duration::from_secs(120),
    );
    assert_eq!(t.run.code, 0, "{}", t.run.all());
    assert_same_tree(&w.src, &w.dest(), &w.skip());
    let s = proxy.stats();
    assert!(s.data_connections > 0 && s.cuts == 0, "{s:?}");
}

/// Permanent errors (550 on STOR) are reported with the path, not retried, and stop the
/// deletes; the rest of the tree is still uploaded.
#[test]
fn permanent_errors_are_reported_with_the_path_and_not_retried() {
    let srv = peex_tests::ftpd::ProftpdBuilder::new()
        .deny_upload_in(&["www/locked"])
        .start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    put(&src, "ok.txt", b"fine\n", 1_600_000_000);
    put(&src, "locked/no.txt", b"refused\n", 1_600_000_000);
    let dest = srv.root().join("www");
    put(&dest, "obsolete.txt", b"old\n", 1_500_000_000);
    chown_tree(srv.root());
    let text = format!(
        "[site]\nhost=127.0.0.1\nport={}\nuser={}\npass={}\nsource={}/\ndest=/www/\nretries=3\n",
        srv.port(),
        srv.user(),
        srv.password(),
        src.display()
    );
    let cfg = write_config(tmp.path(), "p.peex", &text);
    let t = peex_deadline(&[cfg.to_str().unwrap()], Duration::from_secs(60));
    assert_eq!(t.run.code, 1, "{}", t.run.all());
    assert!(
        t.run.stderr.contains("upload locked/no.txt") && t.run.stderr.contains("550"),
        "{}",
        t.run.all()
    );
    assert!(
        !t.run.stderr.contains("retried"),
        "a permanent error was retried\n{}",
        t.run.all()
    );
    let stors = srv
        .commands_settled()
        .iter()
        .filter(|c| c.command == "STOR" && c.arg.contains("locked/"))
        .count();
    assert_eq!(stors, 1, "STOR into locked/ sent {stors} times");
    assert_eq!(fs::read(dest.join("ok.txt")).unwrap(), b"fine\n");
    assert!(
        dest.join("obsolete.txt").is_file(),
        "deletes ran after an error"
    );
}
