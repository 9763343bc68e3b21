//! A small scripted fake FTP server, for the faults a real proftpd cannot be made to show:
//! hostile MLSD listings, PASV replies naming another host, replies split across many TCP
//! writes, connections closed in the middle of a transfer.
//!
//! It speaks just enough FTP for peex: greeting, `USER`/`PASS`, `FEAT` (MLST, MFMT, EPSV,
//! UTF8), `TYPE`, `OPTS`, `PWD`, `CWD`, `NOOP`, `EPSV`/`PASV`, `MLST`, `MLSD`, `STOR`,
//! `MFMT`, `MDTM`, `RNFR`/`RNTO`, `DELE`, `MKD`, `RMD`, `QUIT`. Behind it is a virtual
//! tree in memory (absolute paths → files and directories), so a well-behaved server lists
//! what was uploaded and a second run can converge. Every command line received is logged
//! ([`FakeFtp::commands`]) before it is answered.
//!
//! ```ignore
//! let srv = FakeFtp::builder()
//!     .dir("/www/sub")
//!     .listing("/www/sub", b"type=file;size=1;modify=20200101000000; ../escape\r\n".to_vec())
//!     .start();
//! ```
//!
//! Paths are kept as the client sent them (nothing is normalised), so a test can check that
//! every path named stays inside `dest`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The user name the fake server accepts.
pub const USER: &str = "peex";
/// The password the fake server accepts.
pub const PASSWORD: &str = "fake-secret";
/// The `modify` fact of directories, and of files no `MFMT` has touched.
pub const DEFAULT_MODIFY: &str = "20200101000000";

/// How long the server waits for a client (data connection, next command).
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The scripted misbehaviour.
#[derive(Debug, Clone, Default)]
struct Script {
    /// Raw MLSD bytes per absolute directory; other directories are listed from the tree.
    listings: BTreeMap<String, Vec<u8>>,
    /// The host named in `227` replies (EPSV is then left out of FEAT so PASV is used).
    pasv_host: Option<[u8; 4]>,
    /// Replies are written in pieces of this many bytes, with a short pause between them.
    split: Option<usize>,
    /// `MLSD` of this directory sends half its data, then closes both connections.
    close_in_mlsd: Option<String>,
    /// `STOR` reads a little data, then closes both connections.
    close_in_stor: bool,
    /// `STOR` reads all the data, then answers this line (e.g. `552 Quota exceeded`).
    stor_reply: Option<String>,
    /// The first `MKD` answered is followed by a line that is no reply (see
    /// [`FakeFtpBuilder::stray_line_after_first_mkd`]).
    stray_after_mkd: bool,
    /// The greeting line (default `220 fake FTP server ready`).
    greeting: Option<String>,
    /// Pure-FTPd: commands that arrive during a transfer get `500` and are thrown away.
    refuses_during_transfer: bool,
    /// The Windows server whose behaviour the session imitates.
    profile: Profile,
}

/// How a client pipelined its commands, as the server saw it ([`FakeFtp::pipelining_seen`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipeliningSeen {
    /// Commands that were already there when the one before them was read (sent before
    /// its reply).
    pub pipelined: u64,
    /// Commands that arrived between a transfer's command and its final reply.
    pub during_transfer: u64,
    /// `EPSV`/`PASV` received while an earlier passive listener was still pending.
    pub second_passive: u64,
}

/// Behaviours of FTP servers that cannot run here, each named after a server that has them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Profile {
    /// The fake server's own behaviour (MLSD, MFMT on anything, rename over a file).
    #[default]
    Generic,
    /// FileZilla Server 0.9: greets as `FileZilla Server version 0.9.60 beta`; `MFMT` on a
    /// file only (on a directory: `550 /path is not retrievable`); `RNTO` onto an existing
    /// file refused (`553 file exists`); a second `EPSV`/`PASV` while a passive listener is
    /// pending closes that listener.
    FileZilla09,
    /// FileZilla Server 1.x: greets as `FileZilla Server 1.8.1`; `MFMT` on files and
    /// directories; `RNTO` onto an existing file refused (`553 Target already exists`).
    FileZilla1,
    /// IIS with its default "MS-DOS" directory listing style: greets as `Microsoft FTP
    /// Service`; FEAT lists no MLST (`MLST`/`MLSD` answer `500`); `LIST` in MS-DOS format
    /// (`12-01-20  10:30AM  <DIR>  name`), `LIST -a` taken as the name `-a` (`550 The
    /// system cannot find the file specified.`); `MDTM`, `SIZE`, `MFMT`.
    Iis,
}

/// One file of the virtual tree.
#[derive(Debug, Clone)]
struct File {
    data: Vec<u8>,
    modify: String,
}

#[derive(Debug, Default)]
struct State {
    script: Script,
    dirs: BTreeSet<String>,
    files: BTreeMap<String, File>,
    log: Vec<String>,
    /// The stray line of [`Script::stray_after_mkd`] went out (it goes out once).
    stray_sent: bool,
    seen: PipeliningSeen,
}

impl State {
    fn add_dir(&mut self, path: &str) {
        let mut p = path.trim_end_matches('/');
        while !p.is_empty() && p != "/" {
            self.dirs.insert(p.to_owned());
            p = parent(p);
        }
        self.dirs.insert("/".to_owned());
    }

    fn is_dir(&self, path: &str) -> bool {
        self.dirs.contains(path)
    }

    /// MS-DOS LIST lines (IIS) for the children of `dir`.
    fn dos_listing(&self, dir: &str) -> Vec<u8> {
        let when = |m: &str| {
            let n = |r: std::ops::Range<usize>| m.get(r).unwrap_or("00").to_owned();
            let h: u32 = n(8..10).parse().unwrap_or(0);
            let (h12, ampm) = match h {
                0 => (12, "AM"),
                1..=11 => (h, "AM"),
                12 => (12, "PM"),
                _ => (h - 12, "PM"),
            };
            format!(
                "{}-{}-{}  {h12:02}:{}{ampm}",
                n(4..6),
                n(6..8),
                n(2..4),
                n(10..12)
            )
        };
        let mut out = String::new();
        for d in self
            .dirs
            .iter()
            .filter(|d| d.as_str() != "/" && parent(d) == dir)
        {
            out += &format!(
                "{}       <DIR>          {}\r\n",
                when(DEFAULT_MODIFY),
                name(d)
            );
        }
        for (p, f) in self.files.iter().filter(|(p, _)| parent(p) == dir) {
            out += &format!("{} {:>20} {}\r\n", when(&f.modify), f.data.len(), name(p));
        }
        out.into_bytes()
    }

    /// MLSD lines for the children of `dir`.
    fn listing(&self, dir: &str) -> Vec<u8> {
        let mut out = String::new();
        for d in self
            .dirs
            .iter()
            .filter(|d| d.as_str() != "/" && parent(d) == dir)
        {
            out += &format!("type=dir;modify={DEFAULT_MODIFY}; {}\r\n", name(d));
        }
        for (p, f) in self.files.iter().filter(|(p, _)| parent(p) == dir) {
            out += &format!(
                "type=file;size={};modify={}; {}\r\n",
                f.data.len(),
                f.modify,
                name(p)
            );
        }
        out.into_bytes()
    }
}

/// The parent of an absolute path (`/` for top-level entries).
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last component of a path.
fn name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Builds a [`FakeFtp`]: its virtual tree and what it does wrong.
#[derive(Debug, Default)]
pub struct FakeFtpBuilder {
    state: State,
}

impl FakeFtpBuilder {
    /// Adds directory `path` (absolute) and its ancestors.
    pub fn dir(mut self, path: &str) -> Self {
        self.state.add_dir(path);
        self
    }

    /// Adds file `path` (absolute) with `data` and MLSD `modify` fact (`YYYYMMDDhhmmss`).
    pub fn file(mut self, path: &str, data: &[u8], modify: &str) -> Self {
        self.state.add_dir(parent(path));
        self.state.files.insert(
            path.to_owned(),
            File {
                data: data.to_vec(),
                modify: modify.to_owned(),
            },
        );
        self
    }

    /// `MLSD dir` sends exactly `raw` (the directory is added to the tree so MLST finds it).
    pub fn listing(mut self, dir: &str, raw: impl Into<Vec<u8>>) -> Self {
        self.state.add_dir(dir);
        self.state
            .script
            .listings
            .insert(dir.to_owned(), raw.into());
        self
    }

    /// Answers `PASV` with `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` naming `host`
    /// while listening on 127.0.0.1, and leaves EPSV out of FEAT so that PASV is used.
    pub fn pasv_host(mut self, host: [u8; 4]) -> Self {
        self.state.script.pasv_host = Some(host);
        self
    }

    /// Writes every reply in pieces of `chunk` bytes (at least 1) with a pause between them.
    pub fn split_replies(mut self, chunk: usize) -> Self {
        self.state.script.split = Some(chunk.max(1));
        self
    }

    /// `MLSD dir` sends half of its listing, then closes the data and control connections.
    pub fn close_in_mlsd(mut self, dir: &str) -> Self {
        self.state.script.close_in_mlsd = Some(dir.to_owned());
        self
    }

    /// Every `STOR` reads a little data (kept as a partial file, as a real server would),
    /// then closes the data and control connections.
    pub fn close_in_stor(mut self) -> Self {
        self.state.script.close_in_stor = true;
        self
    }

    /// Every `STOR` reads all the data, stores nothing and answers `reply` (a full reply
    /// line without CRLF, e.g. `552 Quota exceeded`).
    pub fn stor_fails(mut self, reply: &str) -> Self {
        self.state.script.stor_reply = Some(reply.to_owned());
        self
    }

    /// The first `MKD` the server answers (on any connection) is followed by the line
    /// `MKD <path>: No such file or directory`, which is no reply at all: what the proftpd
    /// of a large first deploy sent in the middle of a pipelined `MKD` batch. Once only,
    /// so that the batch redone on a fresh connection goes through.
    pub fn stray_line_after_first_mkd(mut self) -> Self {
        self.state.script.stray_after_mkd = true;
        self
    }

    /// Greets with `line` (a full reply line without CRLF, e.g.
    /// `220-FileZilla Server version 0.9.60 beta`) instead of the default.
    pub fn greeting(mut self, line: &str) -> Self {
        self.state.script.greeting = Some(line.to_owned());
        self
    }

    /// Pure-FTPd: during `STOR` and `MLSD` the server reads the control connection and
    /// answers every command that arrives with `500 Unknown command`, throwing it away,
    /// before the transfer's own final reply.
    pub fn refuses_commands_during_transfers(mut self) -> Self {
        self.state.script.refuses_during_transfer = true;
        self
    }

    /// Imitates `profile` (see [`Profile`]).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.state.script.profile = profile;
        self
    }

    /// Starts the server on a free loopback port.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub fn start(self) -> FakeFtp {
        let listener = match TcpListener::bind("127.0.0.1:0") {
            Ok(l) => l,
            Err(e) => panic!("fake FTP server: cannot bind a loopback port: {e}"),
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        if let Err(e) = listener.set_nonblocking(true) {
            panic!("fake FTP server: {e}");
        }
        let mut state = self.state;
        state.add_dir("/");
        let state = Arc::new(Mutex::new(state));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (Arc::clone(&state), Arc::clone(&stop));
        let acceptor = std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let st = Arc::clone(&st);
                        std::thread::spawn(move || {
                            let _ = Session::new(stream, st).and_then(|mut s| s.serve());
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FakeFtp {
            port,
            state,
            stop,
            acceptor: Some(acceptor),
        }
    }
}

/// A running fake FTP server; stops accepting connections when dropped.
#[derive(Debug)]
pub struct FakeFtp {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeFtp {
    /// How the clients pipelined their commands so far.
    pub fn pipelining_seen(&self) -> PipeliningSeen {
        lock(&self.state).seen
    }

    /// A builder with an empty tree (just `/`) and no misbehaviour.
    pub fn builder() -> FakeFtpBuilder {
        FakeFtpBuilder::default()
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every command line received so far, in order, CRLF removed (bytes that are not UTF-8
    /// shown as U+FFFD).
    pub fn commands(&self) -> Vec<String> {
        lock(&self.state).log.clone()
    }

    /// The files of the virtual tree now (absolute path → bytes): what was stored and renamed
    /// into place, plus the initial files not deleted.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        lock(&self.state)
            .files
            .iter()
            .map(|(p, f)| (p.clone(), f.data.clone()))
            .collect()
    }

    /// The `modify` fact of file `path`, if it exists.
    pub fn modify_of(&self, path: &str) -> Option<String> {
        lock(&self.state).files.get(path).map(|f| f.modify.clone())
    }

    /// The directories of the virtual tree now.
    pub fn dirs(&self) -> BTreeSet<String> {
        lock(&self.state).dirs.clone()
    }

    /// Drops every scripted fault and raw listing: from now on the server behaves.
    pub fn heal(&self) {
        lock(&self.state).script = Script::default();
    }
}

impl Drop for FakeFtp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// Whether the session goes on after a command.
enum Next {
    Continue,
    Close,
}

/// One control connection.
struct Session {
    reader: BufReader<TcpStream>,
    out: TcpStream,
    state: Arc<Mutex<State>>,
    data: Option<TcpListener>,
    rename_from: Option<String>,
    cwd: String,
}

impl Session {
    fn new(stream: TcpStream, state: Arc<Mutex<State>>) -> io::Result<Session> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Session {
            reader: BufReader::new(stream.try_clone()?),
            out: stream,
            state,
            data: None,
            rename_from: None,
            cwd: "/".to_owned(),
        })
    }

    fn script(&self) -> Script {
        lock(&self.state).script.clone()
    }

    /// Writes one reply (`text` may hold several CRLF-terminated lines), split as scripted.
    fn reply(&mut self, text: &str) -> io::Result<()> {
        let mut bytes = text.as_bytes().to_vec();
        if !text.ends_with("\r\n") {
            bytes.extend_from_slice(b"\r\n");
        }
        match self.script().split {
            None => self.out.write_all(&bytes),
            Some(n) => {
                for piece in bytes.chunks(n) {
                    self.out.write_all(piece)?;
                    self.out.flush()?;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok(())
            }
        }
    }

    /// Closes the control connection (and so ends the session) abruptly.
    fn hang_up(&mut self) -> io::Result<Next> {
        let _ = self.out.shutdown(Shutdown::Both);
        Ok(Next::Close)
    }

    /// The next command line if one has arrived (waiting up to `wait` for it), without
    /// consuming it.
    fn pending_line(&mut self, wait: Duration) -> Option<String> {
        if self.reader.buffer().is_empty() && !wait.is_zero() {
            let _ = self.reader.get_ref().set_read_timeout(Some(wait));
            let _ = self.reader.fill_buf();
            let _ = self.reader.get_ref().set_read_timeout(Some(IO_TIMEOUT));
        }
        let buf = self.reader.buffer();
        (!buf.is_empty()).then(|| String::from_utf8_lossy(buf).into_owned())
    }

    /// Reads one command line (CRLF removed); `None` at the end of the connection.
    fn read_command(&mut self) -> io::Result<Option<String>> {
        let mut raw = Vec::new();
        if self.reader.read_until(b'\n', &mut raw)? == 0 {
            return Ok(None);
        }
        let line = String::from_utf8_lossy(&raw)
            .trim_end_matches(['\r', '\n'])
            .to_owned();
        let mut st = lock(&self.state);
        st.log.push(line.clone());
        if !self.reader.buffer().is_empty() {
            st.seen.pipelined += 1;
        }
        Ok(Some(line))
    }

    /// Called between a transfer's command and its final reply: counts the commands that
    /// arrived meanwhile and, for [`Script::refuses_during_transfer`], answers each with
    /// `500` and throws it away.
    fn during_transfer(&mut self, script: &Script) -> io::Result<()> {
        let wait = if script.refuses_during_transfer {
            Duration::from_millis(20)
        } else {
            Duration::ZERO
        };
        while let Some(pending) = self.pending_line(wait) {
            lock(&self.state).seen.during_transfer += pending.matches('\n').count().max(1) as u64;
            if !script.refuses_during_transfer {
                return Ok(());
            }
            if self.read_command()?.is_none() {
                return Ok(());
            }
            self.reply("500 Unknown command")?;
        }
        Ok(())
    }

    fn serve(&mut self) -> io::Result<()> {
        let script = self.script();
        let greeting = script.greeting.as_deref().unwrap_or(match script.profile {
            Profile::Generic => "220 fake FTP server ready",
            Profile::FileZilla09 => {
                "220-FileZilla Server version 0.9.60 beta\r\n220 written by Tim Kosse (tim.kosse@filezilla-project.org)"
            }
            Profile::FileZilla1 => "220-FileZilla Server 1.8.1\r\n220 Please visit https://filezilla-project.org/",
            Profile::Iis => "220 Microsoft FTP Service",
        });
        self.reply(greeting)?;
        loop {
            let Some(line) = self.read_command()? else {
                return Ok(());
            };
            let (verb, arg) = match line.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.to_owned()),
                None => (line.to_ascii_uppercase(), String::new()),
            };
            if let Next::Close = self.command(&verb, &arg)? {
                return Ok(());
            }
        }
    }

    fn command(&mut self, verb: &str, arg: &str) -> io::Result<Next> {
        let script = self.script();
        let (profile, iis) = (script.profile, script.profile == Profile::Iis);
        let r = match verb {
            "FEAT" if iis => "211-Extended features supported:\r\n LANG EN*\r\n UTF8\r\n MDTM\r\n MFMT\r\n SIZE\r\n EPSV\r\n211 END".to_owned(),
            "MLST" | "MLSD" if iis => format!("500 '{verb} {arg}': command not understood."),
            "LIST" => return self.list(arg),
            "MFMT" if profile == Profile::FileZilla09 && {
                let path = arg.split_once(' ').map_or("", |(_, p)| p);
                lock(&self.state).is_dir(path)
            } =>
            {
                format!("550 {} is not retrievable", arg.split_once(' ').map_or("", |(_, p)| p))
            }
            "RNTO" if matches!(profile, Profile::FileZilla09 | Profile::FileZilla1)
                && lock(&self.state).files.contains_key(arg) =>
            {
                self.rename_from = None;
                if profile == Profile::FileZilla09 {
                    "553 file exists".to_owned()
                } else {
                    "553 Target already exists".to_owned()
                }
            }
            "CWD" if lock(&self.state).is_dir(arg) => {
                self.cwd = arg.to_owned();
                "250 CWD command successful".to_owned()
            }
            "SIZE" => match lock(&self.state).files.get(arg) {
                Some(f) => format!("213 {}", f.data.len()),
                None => format!("550 {arg}: No such file or directory"),
            },
            "USER" => "331 Password required".to_owned(),
            "PASS" if arg == PASSWORD => "230 Logged in".to_owned(),
            "PASS" => "530 Login incorrect.".to_owned(),
            "TYPE" | "OPTS" | "NOOP" => "200 OK".to_owned(),
            "SYST" => "215 UNIX Type: L8".to_owned(),
            "PWD" => "257 \"/\" is the current directory".to_owned(),
            "FEAT" => {
                let epsv = if script.pasv_host.is_some() {
                    ""
                } else {
                    " EPSV\r\n"
                };
                format!(
                    "211-Features:\r\n MDTM\r\n MFMT\r\n MLST modify*;size*;type*;\r\n{epsv} UTF8\r\n211 End\r\n"
                )
            }
            "CWD" if lock(&self.state).is_dir(arg) => "250 CWD command successful".to_owned(),
            "MLST" => self.mlst(arg),
            "EPSV" | "PASV" => {
                if self.data.is_some() {
                    lock(&self.state).seen.second_passive += 1;
                }
                let l = TcpListener::bind("127.0.0.1:0")?;
                let port = l.local_addr()?.port();
                self.data = Some(l);
                if verb == "EPSV" {
                    format!("229 Entering Extended Passive Mode (|||{port}|)")
                } else {
                    let [a, b, c, d] = script.pasv_host.unwrap_or([127, 0, 0, 1]);
                    let (p1, p2) = (port >> 8, port & 0xff);
                    format!("227 Entering Passive Mode ({a},{b},{c},{d},{p1},{p2}).")
                }
            }
            "MLSD" => return self.mlsd(arg, &script),
            "STOR" => return self.stor(arg, &script),
            "MFMT" => {
                let (ts, path) = arg.split_once(' ').unwrap_or((arg, ""));
                let mut st = lock(&self.state);
                let is_dir = st.is_dir(path);
                match st.files.get_mut(path) {
                    Some(f) => {
                        f.modify = ts.to_owned();
                        format!("213 Modify={ts}; {path}")
                    }
                    None if is_dir => format!("213 Modify={ts}; {path}"),
                    None => format!("550 {path}: No such file or directory"),
                }
            }
            "MDTM" => match lock(&self.state).files.get(arg) {
                Some(f) => format!("213 {}", f.modify),
                None => format!("550 {arg}: No such file or directory"),
            },
            "RNFR" => {
                let st = lock(&self.state);
                if st.files.contains_key(arg) || st.is_dir(arg) {
                    drop(st);
                    self.rename_from = Some(arg.to_owned());
                    "350 File or directory exists, ready for destination name".to_owned()
                } else {
                    format!("550 {arg}: No such file or directory")
                }
            }
            "RNTO" => match self.rename_from.take() {
                Some(from) => {
                    let mut st = lock(&self.state);
                    if let Some(f) = st.files.remove(&from) {
                        st.files.insert(arg.to_owned(), f);
                    } else if st.dirs.remove(&from) {
                        // A directory moves with everything below it.
                        let below = format!("{from}/");
                        let moved = |p: &str| format!("{arg}/{}", &p[below.len()..]);
                        let inside = |p: &&String| p.starts_with(&below);
                        let dirs: Vec<String> = st.dirs.iter().filter(inside).cloned().collect();
                        let files: Vec<String> = st.files.keys().filter(inside).cloned().collect();
                        for d in dirs {
                            st.dirs.remove(&d);
                            st.dirs.insert(moved(&d));
                        }
                        for f in files {
                            if let Some(v) = st.files.remove(&f) {
                                st.files.insert(moved(&f), v);
                            }
                        }
                        st.dirs.insert(arg.to_owned());
                    }
                    "250 Rename successful".to_owned()
                }
                None => "503 Bad sequence of commands".to_owned(),
            },
            "DELE" => match lock(&self.state).files.remove(arg) {
                Some(_) => "250 DELE command successful".to_owned(),
                None => format!("550 {arg}: No such file or directory"),
            },
            "MKD" => {
                let mut st = lock(&self.state);
                let r = if st.is_dir(arg) || st.files.contains_key(arg) {
                    format!("550 {arg}: File exists")
                } else if !st.is_dir(parent(arg)) {
                    format!("550 {arg}: No such file or directory")
                } else {
                    st.dirs.insert(arg.to_owned());
                    format!("257 \"{arg}\" - Directory successfully created")
                };
                if script.stray_after_mkd && !st.stray_sent {
                    st.stray_sent = true;
                    format!("{r}\r\nMKD {arg}: No such file or directory")
                } else {
                    r
                }
            }
            "RMD" => {
                let mut st = lock(&self.state);
                let busy = st.dirs.iter().any(|d| d != arg && parent(d) == arg)
                    || st.files.keys().any(|f| parent(f) == arg);
                if !st.is_dir(arg) {
                    format!("550 {arg}: No such file or directory")
                } else if busy {
                    format!("550 {arg}: Directory not empty")
                } else {
                    st.dirs.remove(arg);
                    "250 RMD command successful".to_owned()
                }
            }
            "QUIT" => {
                self.reply("221 Goodbye.")?;
                return Ok(Next::Close);
            }
            _ => format!("502 {verb} not implemented"),
        };
        self.reply(&r)?;
        Ok(Next::Continue)
    }

    fn mlst(&self, path: &str) -> String {
        let st = lock(&self.state);
        let facts = if st.is_dir(path) {
            format!("type=dir;modify={DEFAULT_MODIFY};")
        } else if let Some(f) = st.files.get(path) {
            format!("type=file;size={};modify={};", f.data.len(), f.modify)
        } else {
            return format!("550 {path}: No such file or directory");
        };
        format!("250-Start of list for {path}\r\n {facts} {path}\r\n250 End of list\r\n")
    }

    /// Accepts the data connection the client opened after EPSV/PASV.
    fn accept_data(&mut self) -> io::Result<Option<TcpStream>> {
        let Some(l) = self.data.take() else {
            self.reply("425 Use PASV or EPSV first")?;
            return Ok(None);
        };
        let script = self.script();
        // FileZilla Server 0.9: an EPSV or PASV that arrives while the passive listener of a
        // transfer command still waits for its connection closes that listener (the
        // client's data connection is reset or refused, the transfer answered 425); the
        // new request is answered as usual.
        let closes = script.profile == Profile::FileZilla09;
        let wait = if closes {
            Duration::from_millis(20)
        } else {
            Duration::ZERO
        };
        let next = self.pending_line(wait).unwrap_or_default();
        let verb = next.get(..4).unwrap_or("").to_ascii_uppercase();
        if verb == "EPSV" || verb == "PASV" {
            // Already here while this listener is pending.
            lock(&self.state).seen.second_passive += 1;
            if closes {
                // The second request closes the pending listener: a connection already
                // in its backlog is reset, a later one refused.
                drop(l);
                self.reply("425 Can't open data connection.")?;
                return Ok(None);
            }
        }
        l.set_nonblocking(true)?;
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            match l.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false)?;
                    s.set_read_timeout(Some(IO_TIMEOUT))?;
                    return Ok(Some(s));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    self.reply("425 Cannot open data connection")?;
                    return Err(e);
                }
            }
        }
    }

    /// `LIST [dir]` of the current directory (or `dir`): MS-DOS lines.
    fn list(&mut self, arg: &str) -> io::Result<Next> {
        let dir = if arg.is_empty() {
            self.cwd.clone()
        } else {
            arg.to_owned()
        };
        let listing = {
            let st = lock(&self.state);
            st.is_dir(&dir).then(|| st.dos_listing(&dir))
        };
        let Some(listing) = listing else {
            self.data = None;
            self.reply("550 The system cannot find the file specified.")?;
            return Ok(Next::Continue);
        };
        self.reply("125 Data connection already open; Transfer starting.")?;
        let Some(mut data) = self.accept_data()? else {
            return Ok(Next::Continue);
        };
        data.write_all(&listing)?;
        data.shutdown(Shutdown::Both)?;
        drop(data);
        self.reply("226 Transfer complete.")?;
        Ok(Next::Continue)
    }

    fn mlsd(&mut self, dir: &str, script: &Script) -> io::Result<Next> {
        let listing = match script.listings.get(dir) {
            Some(raw) => Some(raw.clone()),
            None => {
                let st = lock(&self.state);
                st.is_dir(dir).then(|| st.listing(dir))
            }
        };
        let Some(listing) = listing else {
            self.data = None;
            self.reply(&format!("550 {dir}: No such file or directory"))?;
            return Ok(Next::Continue);
        };
        self.reply("150 Opening ASCII mode data connection for MLSD")?;
        let Some(mut data) = self.accept_data()? else {
            return Ok(Next::Continue);
        };
        if script.close_in_mlsd.as_deref() == Some(dir) {
            data.write_all(&listing[..listing.len() / 2])?;
            let _ = data.shutdown(Shutdown::Both);
            return self.hang_up();
        }
        data.write_all(&listing)?;
        data.shutdown(Shutdown::Both)?;
        drop(data);
        self.during_transfer(script)?;
        self.reply("226 Transfer complete")?;
        Ok(Next::Continue)
    }

    fn stor(&mut self, path: &str, script: &Script) -> io::Result<Next> {
        if !lock(&self.state).is_dir(parent(path)) {
            self.data = None;
            self.reply(&format!("553 {path}: No such file or directory"))?;
            return Ok(Next::Continue);
        }
        self.reply("150 Opening BINARY mode data connection")?;
        let Some(mut data) = self.accept_data()? else {
            return Ok(Next::Continue);
        };
        if script.close_in_stor {
            let mut buf = [0u8; 16];
            let n = data.read(&mut buf).unwrap_or(0);
            lock(&self.state).files.insert(
                path.to_owned(),
                File {
                    data: buf[..n].to_vec(),
                    modify: DEFAULT_MODIFY.to_owned(),
                },
            );
            let _ = data.shutdown(Shutdown::Both);
            return self.hang_up();
        }
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)?;
        drop(data);
        self.during_transfer(script)?;
        if let Some(r) = &script.stor_reply {
            self.reply(r)?;
            return Ok(Next::Continue);
        }
        lock(&self.state).files.insert(
            path.to_owned(),
            File {
                data: bytes,
                modify: DEFAULT_MODIFY.to_owned(),
            },
        );
        self.reply("226 Transfer complete")?;
        Ok(Next::Continue)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn talk(port: u16) -> (BufReader<TcpStream>, TcpStream) {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        (BufReader::new(s.try_clone().unwrap()), s)
    }

    fn reply(r: &mut BufReader<TcpStream>) -> String {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            all += &l;
            if l.len() >= 4 && l.as_bytes()[3] == b' ' {
                return all;
            }
        }
    }

    #[test]
    fn paths_and_tree() {
        assert_eq!(parent("/www/a"), "/www");
        assert_eq!(parent("/www"), "/");
        assert_eq!(name("/www/a"), "a");
        let srv = FakeFtp::builder()
            .file("/www/d/f", b"abc", "20210101000000")
            .start();
        assert!(srv.dirs().contains("/www/d"));
        let st = lock(&srv.state);
        assert_eq!(
            String::from_utf8(st.listing("/www")).unwrap(),
            "type=dir;modify=20200101000000; d\r\n"
        );
        assert_eq!(
            String::from_utf8(st.listing("/www/d")).unwrap(),
            "type=file;size=3;modify=20210101000000; f\r\n"
        );
    }

    #[test]
    fn split_multiline_replies_and_log() {
        let srv = FakeFtp::builder().split_replies(3).dir("/www").start();
        let (mut r, mut w) = talk(srv.port());
        assert!(reply(&mut r).starts_with("220 "));
        w.write_all(b"FEAT\r\n").unwrap();
        let feat = reply(&mut r);
        assert!(
            feat.starts_with("211-") && feat.contains(" EPSV\r\n"),
            "{feat}"
        );
        w.write_all(b"MLST /www\r\n").unwrap();
        assert!(reply(&mut r).contains(" type=dir;"));
        w.write_all(b"QUIT\r\n").unwrap();
        assert!(reply(&mut r).starts_with("221 "));
        assert_eq!(srv.commands(), ["FEAT", "MLST /www", "QUIT"]);
    }
}
