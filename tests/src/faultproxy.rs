//! A fault-injecting TCP proxy for FTP: put it between peex and a real proftpd to cut (or
//! stall) control and data connections at random, reproducible points. With
//! [`FaultConfig::raw`] it forwards any byte stream as it comes (SSH: peex's SFTP against a
//! real sshd), every connection a "control" connection cut at any byte.
//!
//! ```ignore
//! let ftpd = peex_tests::ftpd::Proftpd::start();
//! let proxy = FaultProxy::start(ftpd.host(), ftpd.port(), FaultConfig::cutting(7, 0.2, 0.05));
//! // point the client at 127.0.0.1:proxy.port() instead of ftpd.port()
//! println!("{} cuts", proxy.stats().cuts);
//! ```
//!
//! How it works:
//!
//! - It listens on a free loopback port. Each accepted client connection is a **control**
//!   connection: the proxy opens its own connection to the server and copies bytes both
//!   ways, one thread per direction.
//! - On the server-to-client side of a control connection it reads whole reply lines and
//!   rewrites the passive-mode replies: `229 Entering Extended Passive Mode (|||port|)` and
//!   `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`. For each it opens a new loopback
//!   listener, puts that listener's port in the reply, and forwards the one **data**
//!   connection the client makes to it to the server's real data port (the control
//!   connection's server address for 229, the address in the reply for 227). A listener
//!   nobody connects to within 60 s is dropped.
//! - Faults: when a connection (control or data, as [`FaultConfig`] enables) is opened, a
//!   seeded xorshift generator decides with [`FaultConfig::probability`] whether it is
//!   faulty; if so, it picks a direction (client to server or server to client) and a byte
//!   count below [`FaultConfig::control_max_bytes`] / [`FaultConfig::data_max_bytes`]. When
//!   that many bytes have gone that way, the proxy forwards exactly the bytes up to the cut
//!   point and then either **cuts** (shuts both sockets down: each peer sees the connection
//!   closed, possibly mid-line or mid-file) or **stalls** (stops forwarding in both
//!   directions without closing anything, like a server that stops answering), as
//!   [`Fault`] says. A faulty connection that carries fewer bytes is not cut. One
//!   exception: on a control connection, client-to-server bytes are cut only between
//!   lines (at the last line end before the cut point). A client writes each command, or
//!   pipelined batch, with one small write that a network delivers whole or not at all,
//!   while a server may well execute a command line cut short (proftpd runs the partial
//!   line at end of input: `STOR /www/.peex-tmp.…` cut to `STOR /www/.peex` creates
//!   `.peex`), which no client can prevent. Replies and data are cut anywhere.
//! - [`FaultProxy::freeze`] (or [`FaultProxy::freeze_after`], after that many bytes in
//!   total) stalls every connection, present and future: new connections are accepted but
//!   nothing is forwarded on them.
//! - Targeted faults: [`FaultConfig::refuse_passive`] answers a share of the passive
//!   requests with `425` in place of the server's `227`/`229` (a server out of passive
//!   ports), and [`FaultConfig::reset_after`] resets the control connection right after
//!   chosen commands (`MKD`, `STOR`, …) reach the server, so that faults fall in the phase
//!   under test.
//! - [`FaultProxy::stats`] counts connections, faulty connections, cuts, stalls, refusals
//!   and resets made.
//!
//! The decisions depend only on the seed and the order in which connections are opened;
//! with several client connections in parallel that order varies, so a run is
//! reproducible in distribution, not byte for byte. Dropping the proxy closes everything.
//! Standard library only.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A tiny xorshift64* generator: deterministic for a seed, no dependencies.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator for `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        let mut s = seed ^ 0x9E37_79B9_7F4A_7C15;
        if s == 0 {
            s = 0x2545_F491_4F6C_DD1D;
        }
        let mut g = XorShift(s);
        // Mix the seed a little so that close seeds give unrelated sequences.
        for _ in 0..4 {
            g.next_u64();
        }
        g
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True with probability `p` (clamped to 0..=1).
    pub fn chance(&mut self, p: f64) -> bool {
        let p = p.clamp(0.0, 1.0);
        // 53 random bits as a fraction in [0, 1).
        let f = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        f < p
    }
}

/// What happens to a faulty connection at its cut point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Shut both sockets down: each side sees the connection closed.
    Cut,
    /// Stop forwarding in both directions and keep the sockets open (a peer that stops
    /// answering); only timeouts get the client out.
    Stall,
}

/// Which connections get faults, how often, and where.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    /// Seed of the generator that decides every fault.
    pub seed: u64,
    /// Probability that a control connection is faulty.
    pub control_probability: f64,
    /// Probability that a data connection is faulty.
    pub data_probability: f64,
    /// A faulty control connection is cut after a byte count in `0..control_max_bytes`.
    pub control_max_bytes: u64,
    /// A faulty data connection is cut after a byte count in `0..data_max_bytes`.
    pub data_max_bytes: u64,
    /// Cut or stall.
    pub fault: Fault,
    /// Added to every chunk forwarded on a control connection, each way (a slow link).
    pub control_delay: Duration,
    /// Added to every chunk forwarded on a data connection, each way.
    pub data_delay: Duration,
    /// Probability that a passive reply (`227`/`229`) is replaced by `425 Unable to build
    /// data connection` (what proftpd answers when it is out of passive ports): the client
    /// sees its passive request refused, and no data connection is set up.
    pub refuse_passive: f64,
    /// Commands after which the control connection is reset: for each command line whose
    /// verb is listed (`"MKD"`, `"STOR"`, …), with the probability given, the proxy forwards
    /// the line (the server runs it) and then cuts both sockets before anything else goes
    /// either way, so its reply is lost (and the rest of a pipelined batch never arrives).
    pub reset_after: Vec<(String, f64)>,
    /// Not FTP: bytes are forwarded as they come (no line splitting, no passive-reply
    /// rewriting) and cut anywhere. For SSH.
    pub raw: bool,
}

impl FaultConfig {
    /// No faults at all: a plain pass-through proxy (passive replies are still rewritten).
    pub fn pass_through() -> Self {
        FaultConfig {
            seed: 0,
            control_probability: 0.0,
            data_probability: 0.0,
            control_max_bytes: 0,
            data_max_bytes: 0,
            fault: Fault::Cut,
            control_delay: Duration::ZERO,
            data_delay: Duration::ZERO,
            refuse_passive: 0.0,
            reset_after: Vec::new(),
            raw: false,
        }
    }

    /// A pass-through proxy that delays every chunk it forwards by `control` on control
    /// connections and `data` on data connections, each way: a link with a round trip of
    /// about twice that (chunks are forwarded one after the other, so it is slow as well).
    pub fn delaying(control: Duration, data: Duration) -> Self {
        FaultConfig {
            control_delay: control,
            data_delay: data,
            ..FaultConfig::pass_through()
        }
    }

    /// Cuts control connections with probability `control` (within their first 4 KiB) and
    /// data connections with probability `data` (within their first 64 KiB).
    pub fn cutting(seed: u64, control: f64, data: f64) -> Self {
        FaultConfig {
            seed,
            control_probability: control,
            data_probability: data,
            control_max_bytes: 4096,
            data_max_bytes: 64 * 1024,
            fault: Fault::Cut,
            control_delay: Duration::ZERO,
            data_delay: Duration::ZERO,
            refuse_passive: 0.0,
            reset_after: Vec::new(),
            raw: false,
        }
    }

    /// A byte-stream proxy (SSH) that cuts a connection with probability `p`, within its
    /// first `max_bytes` bytes either way.
    pub fn raw(seed: u64, p: f64, max_bytes: u64) -> Self {
        FaultConfig {
            raw: true,
            control_max_bytes: max_bytes,
            ..FaultConfig::cutting(seed, p, 0.0)
        }
    }

    /// Like [`FaultConfig::cutting`], but faulty connections stall instead of closing.
    pub fn stalling(seed: u64, control: f64, data: f64) -> Self {
        FaultConfig {
            fault: Fault::Stall,
            ..FaultConfig::cutting(seed, control, data)
        }
    }
}

/// What the proxy has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Control connections accepted.
    pub control_connections: u64,
    /// Data connections forwarded.
    pub data_connections: u64,
    /// Connections chosen to be faulty (a faulty connection that carries fewer bytes than
    /// its cut point is never cut).
    pub faulty: u64,
    /// Connections actually cut.
    pub cuts: u64,
    /// Connections actually stalled (including by a freeze).
    pub stalls: u64,
    /// Passive replies replaced by `425` ([`FaultConfig::refuse_passive`]).
    pub refusals: u64,
    /// Control connections reset after a command ([`FaultConfig::reset_after`]).
    pub resets: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Control,
    Data,
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    /// True: the cut point counts client-to-server bytes; false: server-to-client.
    upstream: bool,
    after: u64,
    fault: Fault,
}

struct Shared {
    upstream: SocketAddr,
    cfg: FaultConfig,
    rng: Mutex<XorShift>,
    stop: AtomicBool,
    frozen: AtomicBool,
    /// Freeze once this many bytes have been forwarded in total (`u64::MAX`: never).
    freeze_at: AtomicU64,
    total: AtomicU64,
    control_connections: AtomicU64,
    data_connections: AtomicU64,
    faulty: AtomicU64,
    cuts: AtomicU64,
    stalls: AtomicU64,
    refusals: AtomicU64,
    resets: AtomicU64,
    next_id: AtomicU64,
    /// Clones of every open socket, by connection, so that dropping the proxy can close them.
    sockets: Mutex<HashMap<u64, Vec<TcpStream>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running proxy; stops and closes every connection on drop.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `host:port` (the FTP control
    /// port of a server).
    pub fn start(host: &str, port: u16, cfg: FaultConfig) -> FaultProxy {
        let upstream = (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| panic!("faultproxy: cannot resolve {host}:{port}"));
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("faultproxy: cannot bind a loopback port: {e}"));
        let local = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("faultproxy: local_addr: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("faultproxy: set_nonblocking: {e}"));
        let shared = Arc::new(Shared {
            upstream,
            rng: Mutex::new(XorShift::new(cfg.seed)),
            cfg,
            stop: AtomicBool::new(false),
            frozen: AtomicBool::new(false),
            freeze_at: AtomicU64::new(u64::MAX),
            total: AtomicU64::new(0),
            control_connections: AtomicU64::new(0),
            data_connections: AtomicU64::new(0),
            faulty: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            stalls: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            sockets: Mutex::new(HashMap::new()),
        });
        let sh = shared.clone();
        let accept = std::thread::spawn(move || accept_loop(&sh, &listener, upstream, None));
        FaultProxy {
            port: local.port(),
            shared,
            accept: Some(accept),
        }
    }

    /// A proxy that forwards everything and injects nothing.
    pub fn pass_through(host: &str, port: u16) -> FaultProxy {
        FaultProxy::start(host, port, FaultConfig::pass_through())
    }

    /// The port clients connect to (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// What the proxy has done so far.
    pub fn stats(&self) -> FaultStats {
        let s = &self.shared;
        FaultStats {
            control_connections: s.control_connections.load(Ordering::SeqCst),
            data_connections: s.data_connections.load(Ordering::SeqCst),
            faulty: s.faulty.load(Ordering::SeqCst),
            cuts: s.cuts.load(Ordering::SeqCst),
            stalls: s.stalls.load(Ordering::SeqCst),
            refusals: s.refusals.load(Ordering::SeqCst),
            resets: s.resets.load(Ordering::SeqCst),
        }
    }

    /// Stops forwarding on every connection, present and future, without closing any: the
    /// server seems to stop answering.
    pub fn freeze(&self) {
        self.shared.frozen.store(true, Ordering::SeqCst);
    }

    /// Freezes (see [`FaultProxy::freeze`]) once `bytes` more bytes have been forwarded in
    /// total, both directions and all connections counted.
    pub fn freeze_after(&self, bytes: u64) {
        let now = self.shared.total.load(Ordering::SeqCst);
        self.shared
            .freeze_at
            .store(now.saturating_add(bytes), Ordering::SeqCst);
    }

    /// Total bytes forwarded so far.
    pub fn bytes_forwarded(&self) -> u64 {
        self.shared.total.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for socks in lock(&self.shared.sockets).values() {
            for s in socks {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    fn plan(&self, kind: Kind) -> Option<Plan> {
        let (p, max) = match kind {
            Kind::Control => (self.cfg.control_probability, self.cfg.control_max_bytes),
            Kind::Data => (self.cfg.data_probability, self.cfg.data_max_bytes),
        };
        let mut rng = lock(&self.rng);
        if !rng.chance(p) {
            return None;
        }
        let upstream = rng.chance(0.5);
        let after = rng.below(max);
        drop(rng);
        self.faulty.fetch_add(1, Ordering::SeqCst);
        Some(Plan {
            upstream,
            after,
            fault: self.cfg.fault,
        })
    }

    /// Counts `n` forwarded bytes; freezes when the freeze point is passed.
    /// True (with the configured probability) if the control connection is to be reset
    /// after the command `line`.
    fn reset_after(&self, line: &[u8]) -> bool {
        if self.cfg.reset_after.is_empty() {
            return false;
        }
        let text = String::from_utf8_lossy(line);
        let verb = text.split([' ', '\r', '\n']).next().unwrap_or("");
        self.cfg
            .reset_after
            .iter()
            .find(|(v, _)| v.eq_ignore_ascii_case(verb))
            .is_some_and(|(_, p)| lock(&self.rng).chance(*p))
    }

    fn count(&self, n: usize) {
        let total = self.total.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        if total >= self.freeze_at.load(Ordering::SeqCst) {
            self.frozen.store(true, Ordering::SeqCst);
        }
    }

    fn register(&self, id: u64, s: &TcpStream) {
        if let Ok(c) = s.try_clone() {
            lock(&self.sockets).entry(id).or_default().push(c);
        }
    }

    fn unregister(&self, id: u64) {
        lock(&self.sockets).remove(&id);
    }
}

/// Accepts connections until the proxy stops. `once` (data listeners) accepts one
/// connection and gives up after 60 s without one.
fn accept_loop(
    sh: &Arc<Shared>,
    listener: &TcpListener,
    upstream: SocketAddr,
    once: Option<Instant>,
) {
    loop {
        if sh.stopped() {
            return;
        }
        match listener.accept() {
            Ok((client, _)) => {
                let kind = if once.is_some() {
                    Kind::Data
                } else {
                    Kind::Control
                };
                let sh2 = sh.clone();
                std::thread::spawn(move || connection(&sh2, client, upstream, kind));
                if once.is_some() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if once.is_some_and(|deadline| Instant::now() >= deadline) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// State of one proxied connection shared by its two directions.
struct Conn {
    id: u64,
    kind: Kind,
    plan: Option<Plan>,
    /// Set when this connection stalls: both directions stop forwarding.
    stalled: AtomicBool,
    /// Set when the cut has been made (counted once).
    cut: AtomicBool,
    client: TcpStream,
    server: TcpStream,
}

fn connection(sh: &Arc<Shared>, client: TcpStream, upstream: SocketAddr, kind: Kind) {
    let _ = client.set_nonblocking(false);
    let _ = client.set_nodelay(true);
    match kind {
        Kind::Control => sh.control_connections.fetch_add(1, Ordering::SeqCst),
        Kind::Data => sh.data_connections.fetch_add(1, Ordering::SeqCst),
    };
    let id = sh.next_id.fetch_add(1, Ordering::SeqCst);
    sh.register(id, &client);
    let server = match TcpStream::connect_timeout(&upstream, Duration::from_secs(10)) {
        Ok(s) => s,
        Err(_) => {
            let _ = client.shutdown(Shutdown::Both);
            sh.unregister(id);
            return;
        }
    };
    let _ = server.set_nodelay(true);
    sh.register(id, &server);
    let plan = sh.plan(kind);
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
        sh.unregister(id);
        return;
    };
    let conn = Arc::new(Conn {
        id,
        kind,
        plan,
        stalled: AtomicBool::new(false),
        cut: AtomicBool::new(false),
        client,
        server,
    });
    let (sh_up, conn_up) = (sh.clone(), conn.clone());
    let up = std::thread::spawn(move || pump(&sh_up, &conn_up, c2, true));
    pump(sh, &conn, s2, false);
    let _ = up.join();
    let _ = conn.client.shutdown(Shutdown::Both);
    let _ = conn.server.shutdown(Shutdown::Both);
    sh.unregister(conn.id);
}

/// Copies one direction: `from` is the reading side (the client for `upstream`, else the
/// server); writes go to the other socket of `conn`.
fn pump(sh: &Arc<Shared>, conn: &Conn, mut from: TcpStream, upstream: bool) {
    let mut to = if upstream { &conn.server } else { &conn.client };
    let budget = conn
        .plan
        .filter(|p| p.upstream == upstream)
        .map(|p| (p.after, p.fault));
    // FTP control connections are forwarded line by line (server replies are rewritten).
    let lines = conn.kind == Kind::Control && !sh.cfg.raw;
    let rewrite = lines && !upstream;
    let mut sent: u64 = 0;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => 0,
            Ok(n) => n,
        };
        if park_if_stalled(sh, conn) {
            return;
        }
        let delay = match conn.kind {
            Kind::Control => sh.cfg.control_delay,
            Kind::Data => sh.cfg.data_delay,
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        if n == 0 {
            // End of this direction: pass the half-close on (and any partial line).
            if !pending.is_empty() {
                let rest = std::mem::take(&mut pending);
                if forward(sh, conn, &mut to, &rest, &mut sent, budget, false).is_err() {
                    return;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
            return;
        }
        let mut reset = false;
        let out: Vec<u8> = if lines {
            pending.extend_from_slice(&buf[..n]);
            let mut out = Vec::new();
            while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=i).collect();
                if rewrite {
                    out.extend(rewrite_passive(sh, &line));
                } else {
                    reset = upstream && sh.reset_after(&line);
                    out.extend(line);
                    if reset {
                        break;
                    }
                }
            }
            out
        } else {
            buf[..n].to_vec()
        };
        // Commands are cut only between lines: a client writes each command (or pipelined
        // batch) with one small write, which a network delivers whole or not at all, and a
        // server may execute a command line cut short (proftpd does, at end of input).
        let whole_lines = lines && upstream;
        if forward(sh, conn, &mut to, &out, &mut sent, budget, whole_lines).is_err() {
            // The peer went away (or we cut): close this direction's source too.
            let _ = from.shutdown(Shutdown::Both);
            return;
        }
        if reset {
            // Let the server read the command before the reset reaches it.
            std::thread::sleep(Duration::from_millis(20));
            if !conn.cut.swap(true, Ordering::SeqCst) {
                sh.cuts.fetch_add(1, Ordering::SeqCst);
            }
            sh.resets.fetch_add(1, Ordering::SeqCst);
            let _ = conn.client.shutdown(Shutdown::Both);
            let _ = conn.server.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Parks the calling direction while the connection (or the whole proxy) is stalled; true
/// if it was stalled (the caller returns once the proxy stops).
fn park_if_stalled(sh: &Shared, conn: &Conn) -> bool {
    if !(sh.frozen() || conn.stalled.load(Ordering::SeqCst)) {
        return false;
    }
    if !conn.stalled.swap(true, Ordering::SeqCst) {
        sh.stalls.fetch_add(1, Ordering::SeqCst);
    }
    while !sh.stopped() {
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Writes `data` unless the cut point falls inside it: then writes the part before the cut
/// and cuts or stalls. `Err` when the connection is finished (cut, or the peer is gone).
fn forward(
    sh: &Shared,
    conn: &Conn,
    to: &mut &TcpStream,
    data: &[u8],
    sent: &mut u64,
    budget: Option<(u64, Fault)>,
    whole_lines: bool,
) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    if let Some((after, fault)) = budget {
        if *sent + data.len() as u64 > after {
            let mut keep = (after.saturating_sub(*sent) as usize).min(data.len());
            if whole_lines {
                keep = data[..keep]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
            }
            if keep > 0 {
                let _ = to.write_all(&data[..keep]);
                let _ = to.flush();
                sh.count(keep);
            }
            *sent += keep as u64;
            match fault {
                Fault::Cut => {
                    if !conn.cut.swap(true, Ordering::SeqCst) {
                        sh.cuts.fetch_add(1, Ordering::SeqCst);
                    }
                    let _ = conn.client.shutdown(Shutdown::Both);
                    let _ = conn.server.shutdown(Shutdown::Both);
                }
                Fault::Stall => {
                    if !conn.stalled.swap(true, Ordering::SeqCst) {
                        sh.stalls.fetch_add(1, Ordering::SeqCst);
                    }
                    park_if_stalled(sh, conn);
                }
            }
            return Err(io::Error::other("cut"));
        }
    }
    to.write_all(data)?;
    *sent += data.len() as u64;
    sh.count(data.len());
    Ok(())
}

/// Rewrites a `227`/`229` reply line to point at a new proxy listener forwarding to the
/// server's data port; other lines are returned unchanged.
fn rewrite_passive(sh: &Arc<Shared>, line: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(line);
    let target = if text.starts_with("229 ") {
        epsv_port(&text).map(|p| SocketAddr::new(sh.upstream.ip(), p))
    } else if text.starts_with("227 ") {
        pasv_addr(&text)
    } else {
        None
    };
    let Some(target) = target else {
        return line.to_vec();
    };
    if sh.cfg.refuse_passive > 0.0 && lock(&sh.rng).chance(sh.cfg.refuse_passive) {
        sh.refusals.fetch_add(1, Ordering::SeqCst);
        return b"425 Unable to build data connection: Address already in use (fault proxy)\r\n"
            .to_vec();
    }
    let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
        return line.to_vec();
    };
    let (Ok(local), Ok(())) = (listener.local_addr(), listener.set_nonblocking(true)) else {
        return line.to_vec();
    };
    let sh2 = sh.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    std::thread::spawn(move || accept_loop(&sh2, &listener, target, Some(deadline)));
    let port = local.port();
    let new = if text.starts_with("229 ") {
        format!("229 Entering Extended Passive Mode (|||{port}|)\r\n")
    } else {
        format!(
            "227 Entering Passive Mode (127,0,0,1,{},{}).\r\n",
            port >> 8,
            port & 0xff
        )
    };
    new.into_bytes()
}

/// The port of `229 ... (|||port|)`.
fn epsv_port(text: &str) -> Option<u16> {
    let start = text.find("(|||")? + 4;
    let rest = &text[start..];
    let end = rest.find('|')?;
    rest[..end].parse().ok()
}

/// The address of `227 ... (h1,h2,h3,h4,p1,p2)`.
fn pasv_addr(text: &str) -> Option<SocketAddr> {
    let start = text.find('(')? + 1;
    let rest = &text[start..];
    let end = rest.find(')')?;
    let nums: Vec<u16> = rest[..end]
        .split(',')
        .map(|n| n.trim().parse::<u16>())
        .collect::<Result<_, _>>()
        .ok()?;
    if nums.len() != 6 || nums.iter().any(|&n| n > 255) {
        return None;
    }
    let ip = std::net::Ipv4Addr::new(nums[0] as u8, nums[1] as u8, nums[2] as u8, nums[3] as u8);
    Some(SocketAddr::new(ip.into(), (nums[4] << 8) | nums[5]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_is_deterministic_and_spread() {
        let mut a = XorShift::new(42);
        let mut b = XorShift::new(42);
        let va: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(va, vb);
        let mut c = XorShift::new(43);
        assert_ne!(va[0], c.next_u64());
        let mut g = XorShift::new(0);
        let hits = (0..10_000).filter(|_| g.chance(0.25)).count();
        assert!((2000..3000).contains(&hits), "{hits}");
        assert!((0..1000).all(|_| g.below(7) < 7));
    }

    #[test]
    fn passive_replies_parse() {
        assert_eq!(
            epsv_port("229 Entering Extended Passive Mode (|||40123|)\r\n"),
            Some(40123)
        );
        assert_eq!(
            pasv_addr("227 Entering Passive Mode (127,0,0,1,156,64).\r\n"),
            Some("127.0.0.1:40000".parse().unwrap())
        );
        assert_eq!(pasv_addr("227 Entering Passive Mode (1,2,3).\r\n"), None);
        assert_eq!(epsv_port("229 nonsense\r\n"), None);
    }

    /// An echo server behind the proxy: pass-through forwards, a cut closes after N bytes.
    #[test]
    fn forwards_and_cuts() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let mut s = s.unwrap();
                std::thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let _ = io::copy(&mut r, &mut s);
                });
            }
        });
        let p = FaultProxy::pass_through("127.0.0.1", port);
        let mut c = TcpStream::connect(("127.0.0.1", p.port())).unwrap();
        c.write_all(b"hello\r\n").unwrap();
        let mut got = [0u8; 7];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello\r\n");
        assert_eq!(p.stats().cuts, 0);

        let cfg = FaultConfig {
            control_probability: 1.0,
            control_max_bytes: 10,
            ..FaultConfig::cutting(1, 1.0, 0.0)
        };
        let p = FaultProxy::start("127.0.0.1", port, cfg);
        let mut c = TcpStream::connect(("127.0.0.1", p.port())).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = c.write_all(&b"0123456789abcdef\r\n".repeat(8));
        let mut all = Vec::new();
        let _ = c.read_to_end(&mut all);
        assert!(
            all.len() < 10,
            "{} bytes came through {:?}",
            all.len(),
            p.stats()
        );
        assert_eq!(p.stats().cuts, 1);
    }
}
