//! `RemoteFs`, `Transport` and the plain data they exchange.

use crate::error::{Error, ErrorKind, Result};
use crate::path::RelPath;
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::time::Duration;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// Anything else the server reports (symlink, device, …). peex never uploads one; a
    /// remote one with no local counterpart is removed with [`RemoteFs::delete`].
    Other,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name within its directory; always passes [`crate::validate_name`].
    pub name: String,
    /// File, directory or other.
    pub kind: EntryKind,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Modification time, whole seconds since the Unix epoch, UTC. Always `Some` for files;
    /// a backend that cannot tell a file's time fails the listing instead of guessing.
    pub mtime: Option<i64>,
}

/// How a backend sets modification times (reported by `peex check` and `-vv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MtimeMethod {
    /// The backend cannot set modification times.
    #[default]
    Unsupported,
    /// A native call (`utime`, SFTP setstat).
    Native,
    /// FTP `MFMT YYYYMMDDhhmmss path`.
    Mfmt,
    /// FTP `SITE UTIME YYYYMMDDhhmmss path` (proftpd mod_site_misc).
    SiteUtime,
    /// FTP `SITE UTIME path atime mtime ctime UTC` (the 5-argument form).
    SiteUtime5,
    /// FTP `MFF modify=YYYYMMDDhhmmss; path` (draft-somers-ftp-mfxx).
    Mff,
    /// FTP `MDTM YYYYMMDDhhmmss path`, the two-argument form vsftpd takes with
    /// `mdtm_write` (its default).
    MdtmWrite,
    /// Provided by a plugin transport.
    Plugin,
}

impl MtimeMethod {
    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self {
            MtimeMethod::Unsupported => "none",
            MtimeMethod::Native => "native",
            MtimeMethod::Mfmt => "MFMT",
            MtimeMethod::SiteUtime => "SITE UTIME (2 arguments)",
            MtimeMethod::SiteUtime5 => "SITE UTIME (5 arguments)",
            MtimeMethod::Mff => "MFF",
            MtimeMethod::MdtmWrite => "MDTM (2 arguments)",
            MtimeMethod::Plugin => "plugin",
        }
    }
}

/// A content hash a server can compute for [`RemoteFs::hash`] (`compare = checksum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashAlgo {
    /// SHA-256.
    Sha256,
    /// SHA-1.
    Sha1,
    /// MD5.
    Md5,
}

impl HashAlgo {
    /// The name used by FTP's `HASH` (`SHA-256`, `SHA-1`, `MD5`).
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Sha256 => "SHA-256",
            HashAlgo::Sha1 => "SHA-1",
            HashAlgo::Md5 => "MD5",
        }
    }

    /// The length of the digest in hex digits.
    pub fn hex_len(self) -> usize {
        match self {
            HashAlgo::Sha256 => 64,
            HashAlgo::Sha1 => 40,
            HashAlgo::Md5 => 32,
        }
    }
}

/// How [`RemoteFs::rename`] treats an existing target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RenameOver {
    /// The server replaces the target atomically (POSIX rename semantics).
    #[default]
    Atomic,
    /// The backend removes the target first, then renames: a short window exists in which
    /// the target is missing, but never half-written.
    RemoveThenRename,
}

/// What a connection can do, probed once at connect time. Plain data: the engine checks it
/// in one place before planning (e.g. a backend that cannot set times stops the run unless
/// `srcutime` is on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// How modification times are set; [`MtimeMethod::Unsupported`] if they cannot be.
    pub set_mtime: MtimeMethod,
    /// True if [`RemoteFs::get_mtime`] works (FTP MDTM); needed for `srcutime`.
    pub get_mtime: bool,
    /// How [`RemoteFs::rename`] replaces an existing file.
    pub rename_over: RenameOver,
    /// True if [`RemoteFs::rename`] also moves directories (with everything in them). The
    /// engine then builds each new directory tree under a temporary name and renames it into
    /// place whole once its content is complete, writing the files inside it directly (no
    /// temporary name and rename per file). False: every file goes through its own
    /// temporary name.
    pub rename_dirs: bool,
}

/// The network timeout of a site that sets none (the one place this default is written).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The connection parameters of one site, as resolved from its configuration.
///
/// `Debug` never shows the password or any secret option.
#[derive(Clone, Default)]
pub struct SiteParams {
    /// Host name or address.
    pub host: String,
    /// Port; `None` means the transport's default.
    pub port: Option<u16>,
    /// User name (may be empty for transports that need none).
    pub user: String,
    /// Password, if any.
    pub password: Option<Secret>,
    /// The remote root (`dest`): every [`RelPath`] is resolved below it. The transport must
    /// never touch anything outside it.
    pub root: String,
    /// Connect and read timeout for one network operation (the application fills it in;
    /// [`DEFAULT_TIMEOUT`] when the site sets none).
    pub timeout: Duration,
    /// Transport-specific options (`tls_verify`, `ca_file`, `known_hosts`, …).
    pub options: BTreeMap<String, String>,
    /// Transport-specific secret options (key passphrases, tokens).
    pub secret_options: BTreeMap<String, Secret>,
}

impl SiteParams {
    /// A transport option as a string.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// A boolean transport option (`true/false/yes/no/on/off/1/0`), `default` when absent.
    /// Transports with declared options read them through [`crate::options::OptionValues`]
    /// instead, whose defaults come from the declarations.
    pub fn bool_option(&self, key: &str, default: bool) -> Result<bool> {
        match self.option(key) {
            None => Ok(default),
            Some(v) => crate::options::parse_bool(v).ok_or_else(|| {
                Error::new(
                    ErrorKind::ConfigInvalid,
                    format!("option {key}: expected true or false, got {v:?}"),
                )
            }),
        }
    }
}

impl fmt::Debug for SiteParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SiteParams")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("root", &self.root)
            .field("timeout", &self.timeout)
            .field("options", &self.options)
            .field(
                "secret_options",
                &self.secret_options.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// One file for [`RemoteFs::upload_stream`]: the arguments of
/// [`RemoteFs::upload_replace`], and the caller's name for it.
pub struct ReplaceJob<'a> {
    /// The caller's identifier, handed back with the job's outcome.
    pub id: usize,
    /// The temporary name, in the same directory as `path`, used by no one else; the file is
    /// written there, checked, timed and renamed over `path`.
    ///
    /// `None`: `path` is written directly (checked and timed, not renamed). The engine does
    /// this only for a new file inside a directory tree it is building under a temporary
    /// name ([`Capabilities::rename_dirs`]): no visitor can reach `path` until that tree is
    /// renamed into place, after every file in it was reported `Ok`.
    pub tmp: Option<RelPath>,
    /// The final name (or, when `tmp` is `None`, the name written to).
    pub path: RelPath,
    /// The content: exactly `size` bytes.
    pub src: Box<dyn Read + 'a>,
    /// The number of bytes `src` yields.
    pub size: u64,
    /// The modification time to set (whole seconds since the epoch, UTC), if any.
    pub mtime: Option<i64>,
}

impl ReplaceJob<'_> {
    /// Where the data goes: the temporary name, or `path` for a direct job.
    pub fn write_path(&self) -> &RelPath {
        self.tmp.as_ref().unwrap_or(&self.path)
    }
}

/// One open connection to a remote tree, rooted at [`SiteParams::root`].
///
/// This trait *is* the contract between the engine and every backend, built-in or plugin.
/// All paths are [`RelPath`]s relative to the root; the root itself is [`RelPath::root`].
/// A connection is used by one thread at a time (the engine pools them); it must be `Send`.
///
/// Errors carry a kind and say whether they are temporary: a temporary error (connection
/// reset or closed, timeout, FTP 421/425/426/450) means the engine may drop this connection,
/// open a new one, and retry the operation. Backends map native errors to kinds in one
/// function. Operations need not add the path to errors; the engine does.
pub trait RemoteFs: Send {
    /// What this connection can do. Probed at connect; must not do I/O.
    fn capabilities(&self) -> Capabilities;

    /// Lists the entries of directory `dir`.
    ///
    /// - `.` and `..` (and any self/parent pseudo-entries) are never returned.
    /// - Every name passes [`crate::validate_name`]; a server name that does not is an error
    ///   of kind [`ErrorKind::InvalidName`] for the whole listing (never silently skipped,
    ///   never followed).
    /// - Every file carries its size and its modification time in whole seconds UTC. A
    ///   listing line the backend cannot fully parse is an error of kind
    ///   [`ErrorKind::Protocol`] naming the line.
    /// - Listing a missing directory is an error of kind [`ErrorKind::NotFound`].
    /// - Order is unspecified; no name appears twice.
    ///
    /// The engine holds every listing to these rules in one place, [`crate::Checked`], which
    /// wraps every connection: a backend need not repeat the checks, and must never "repair"
    /// a listing by dropping entries (a directory planned from a listing that lost entries
    /// could delete what it did not see).
    fn list(&mut self, dir: &RelPath) -> Result<Vec<Entry>>;

    /// Lists `dir` as [`RemoteFs::list`] does, told the size of each local file of the same
    /// name (`local_size(name)`, `None` where the local side has no such file).
    ///
    /// For a backend whose listing shows times too coarse to compare with (FTP's `LIST`:
    /// minutes at best, the year only for older files), which must read each exact time with
    /// a command of its own: it reads only those of the files whose size equals the local
    /// one's — the only files whose time decides anything, since a file of another size is
    /// uploaded and a file with no local counterpart deleted whatever its time. The other
    /// files may carry the listing's coarse time (still a time, still whole seconds UTC).
    ///
    /// The default calls [`RemoteFs::list`]: exact times for every file.
    fn list_for(
        &mut self,
        dir: &RelPath,
        local_size: &dyn Fn(&str) -> Option<u64>,
    ) -> Result<Vec<Entry>> {
        let _ = local_size;
        self.list(dir)
    }

    /// Lists the directories `dirs` as [`RemoteFs::list`] would, one result per directory
    /// attempted, in order. The list is shorter than `dirs` only after a temporary error
    /// (the connection may be unusable, so the transport stops there). A transport may read
    /// them all at once (SFTP has many directories' OPENDIR and READDIR in flight).
    ///
    /// The default calls [`RemoteFs::list`] for each in turn.
    fn list_many(&mut self, dirs: &[RelPath]) -> Vec<Result<Vec<Entry>>> {
        let mut results = Vec::with_capacity(dirs.len());
        for d in dirs {
            let r = self.list(d);
            let stop = matches!(&r, Err(e) if e.is_temporary());
            results.push(r);
            if stop {
                break;
            }
        }
        results
    }

    /// How many directories [`RemoteFs::list_many`] reads for about the time of one
    /// listing; 1 (the default) when it lists one after the other. Above 1, the engine lists
    /// a directory's subdirectories together on the connection that listed it instead of
    /// spreading them over the pool. No I/O.
    fn list_batch(&self) -> usize {
        1
    }

    /// Writes `size` bytes read from `src` to the file `path`, creating it or truncating an
    /// existing one. The parent directory exists (the engine creates it first). Data is
    /// stored byte for byte (FTP: binary mode). If `src` yields fewer or more bytes than
    /// `size`, or fails, the upload fails. The engine uploads to a temporary name and renames;
    /// the backend need not be atomic itself.
    fn upload(&mut self, path: &RelPath, src: &mut dyn Read, size: u64) -> Result<()>;

    /// Removes the file (or other non-directory entry) `path`.
    /// Deleting a missing path succeeds.
    fn delete(&mut self, path: &RelPath) -> Result<()>;

    /// Creates directory `path`; its parent exists.
    /// Creating an existing directory succeeds.
    fn mkdir(&mut self, path: &RelPath) -> Result<()>;

    /// Creates the directories `paths`, in order (a parent comes before its children), as
    /// [`RemoteFs::mkdir`] would, and returns one result per directory attempted, in order.
    /// The list is shorter than `paths` only after a temporary error: the connection may
    /// be unusable, so the transport stops there. A transport may send them all before reading
    /// any reply (FTP pipelines `MKD`): a directory whose parent failed then fails too.
    ///
    /// The default calls [`RemoteFs::mkdir`] for each in turn.
    fn mkdir_batch(&mut self, paths: &[RelPath]) -> Vec<Result<()>> {
        mkdir_one_by_one(self, paths)
    }

    /// Removes the empty directory `path`.
    /// Removing a missing directory succeeds; removing a non-empty one is an error (kind
    /// [`ErrorKind::DirectoryNotEmpty`] where the server says so).
    fn rmdir(&mut self, path: &RelPath) -> Result<()>;

    /// Renames the file `from` to `to` (same directory in practice). An existing file at
    /// `to` is replaced, as [`Capabilities::rename_over`] says: atomically, or by removing
    /// it first where the server refuses to rename onto an existing file.
    ///
    /// Where [`Capabilities::rename_dirs`] is true, `from` may also be a directory: it moves
    /// with everything in it. The engine renames a directory only onto a name where nothing
    /// exists.
    fn rename(&mut self, from: &RelPath, to: &RelPath) -> Result<()>;

    /// Uploads atomically: writes `size` bytes from `src` to the temporary file `tmp` (same
    /// directory as `path`, a name no one else uses), sets its modification time to `mtime`
    /// when given, then renames it over `path`. A visitor never sees a half-written `path`.
    ///
    /// On error nothing is promised about `tmp` (the engine removes it, or the next run
    /// does); `path` is either untouched or complete. The default runs [`RemoteFs::upload`],
    /// [`RemoteFs::set_mtime`] and [`RemoteFs::rename`] one after the other; a backend may do
    /// the same in fewer round trips (FTP pipelines MFMT, RNFR and RNTO).
    fn upload_replace(
        &mut self,
        tmp: &RelPath,
        path: &RelPath,
        src: &mut dyn Read,
        size: u64,
        mtime: Option<i64>,
    ) -> Result<()> {
        upload_timed(self, tmp, path, src, size, mtime)?;
        self.rename(tmp, path)
            .map_err(|e| e.with_op("rename into place", path))
    }

    /// Uploads files one after the other, each as [`RemoteFs::upload_replace`] would: takes
    /// the next job from `next` until it returns `None`, and reports each job's outcome
    /// through `done` (with the job's `id`) exactly once.
    ///
    /// - A job reported `Ok` is complete: in place under its final name, with its time set.
    ///   A job's error promises what [`RemoteFs::upload_replace`]'s does: `path` untouched
    ///   or complete.
    /// - A transport may overlap the jobs to save round trips (FTP sends a file's size check
    ///   and the previous file's rename in front of the next file's transfer), so outcomes
    ///   may be reported a job or two late, and in any order.
    /// - After a temporary error the connection may be unusable: the transport reports every
    ///   job it has taken (those whose outcome is unknown with a temporary error), takes no
    ///   more, and returns that error. `Ok` means `next` ran dry and everything taken was
    ///   reported. After a permanent error (a refused name, say) it goes on.
    /// - The jobs name different files whose directories exist.
    /// - A job without a temporary name ([`ReplaceJob::tmp`] `None`) is written to its `path`
    ///   directly, its size checked and its time set as for the others, and not renamed.
    ///
    /// The default calls [`RemoteFs::upload_replace`] for each job in turn (for a direct job:
    /// [`RemoteFs::upload`] and [`RemoteFs::set_mtime`]).
    fn upload_stream<'a>(
        &mut self,
        next: &mut dyn FnMut() -> Option<ReplaceJob<'a>>,
        done: &mut dyn FnMut(usize, Result<()>),
    ) -> Result<()> {
        upload_stream_one_by_one(self, next, done)
    }

    /// Sets the modification time of `path` to `mtime` (whole seconds since the epoch, UTC).
    /// Fails with [`ErrorKind::Unsupported`] when [`Capabilities::set_mtime`] is
    /// `Unsupported`. Reading it back through [`RemoteFs::list`] gives the same second.
    fn set_mtime(&mut self, path: &RelPath, mtime: i64) -> Result<()>;

    /// Checks, before the run changes anything, that modification times can really be set,
    /// and returns the method that works ([`MtimeMethod::Unsupported`] if none does).
    ///
    /// Servers may advertise a command they then refuse (proftpd lists MFMT in FEAT even
    /// when a `<Limit MFMT>` denies it), so a backend whose capabilities come from
    /// advertisements should try it for real on something that exists — e.g. set the root
    /// directory's time to the value it already has — leaving everything as it was. The
    /// engine calls this once per run, never in a dry run. The default trusts
    /// [`RemoteFs::capabilities`].
    fn verify_set_mtime(&mut self) -> Result<MtimeMethod> {
        Ok(self.capabilities().set_mtime)
    }

    /// Reads the modification time of the file `path` (FTP MDTM). Used by `srcutime`.
    /// Fails with [`ErrorKind::Unsupported`] unless [`Capabilities::get_mtime`].
    fn get_mtime(&mut self, path: &RelPath) -> Result<i64> {
        let _ = path;
        Err(Error::new(
            ErrorKind::Unsupported,
            "reading modification times is not supported",
        ))
    }

    /// The content hashes the server can compute for [`RemoteFs::hash`], best first, each
    /// with how (`HASH`, `XSHA256`, …, for `peex check`). No I/O. The default: none.
    fn hashes(&self) -> Vec<(HashAlgo, String)> {
        Vec::new()
    }

    /// The digest of the remote file `path` computed by the server with `algo` (one of
    /// [`RemoteFs::hashes`]), as lower-case hex of [`HashAlgo::hex_len`] digits; it does
    /// not change the file. Fails with [`ErrorKind::Unsupported`] for an algorithm the
    /// server does not offer (the default, for every algorithm).
    fn hash(&mut self, path: &RelPath, algo: HashAlgo) -> Result<String> {
        let _ = path;
        Err(Error::new(
            ErrorKind::Unsupported,
            format!("the server does not compute {} digests", algo.name()),
        ))
    }

    /// What the connection learned about the server, as `(what, value)` lines for
    /// `peex check` (FTP: greeting, FEAT, passive mode, TLS version). No I/O.
    fn server_info(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Politely ends the session (FTP QUIT). Dropping the connection without calling it must
    /// also be safe.
    fn quit(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The default [`RemoteFs::mkdir_batch`]: [`RemoteFs::mkdir`] for each directory in turn,
/// stopping after a temporary error (for wrappers that fall back to it).
pub fn mkdir_one_by_one<F: RemoteFs + ?Sized>(fs: &mut F, paths: &[RelPath]) -> Vec<Result<()>> {
    let mut results = Vec::with_capacity(paths.len());
    for p in paths {
        let r = fs.mkdir(p);
        let stop = matches!(&r, Err(e) if e.is_temporary());
        results.push(r);
        if stop {
            break;
        }
    }
    results
}

/// Runs one job through a backend's upload stream (`stream(next, done)`, the arguments of
/// [`RemoteFs::upload_stream`]) and returns that job's result: how a backend whose stream is
/// its fast path implements [`RemoteFs::upload_replace`] and [`RemoteFs::upload`] with it.
pub fn stream_of_one<'a>(
    job: ReplaceJob<'a>,
    stream: impl FnOnce(
        &mut dyn FnMut() -> Option<ReplaceJob<'a>>,
        &mut dyn FnMut(usize, Result<()>),
    ) -> Result<()>,
) -> Result<()> {
    let mut job = Some(job);
    let mut result = None;
    let streamed = stream(&mut || job.take(), &mut |_, r| result = Some(r));
    match (result, streamed) {
        (Some(r), _) => r,
        (None, Err(e)) => Err(e),
        (None, Ok(())) => Err(Error::new(
            ErrorKind::Unexpected,
            "the upload stream reported no result",
        )),
    }
}

/// The default [`RemoteFs::upload_stream`]: [`RemoteFs::upload_replace`] (or, for a direct
/// job, upload and set_mtime) for each job in turn (for wrappers that fall back to it).
pub fn upload_stream_one_by_one<'a, F: RemoteFs + ?Sized>(
    fs: &mut F,
    next: &mut dyn FnMut() -> Option<ReplaceJob<'a>>,
    done: &mut dyn FnMut(usize, Result<()>),
) -> Result<()> {
    while let Some(mut j) = next() {
        let r = match &j.tmp {
            Some(tmp) => fs.upload_replace(tmp, &j.path, &mut j.src, j.size, j.mtime),
            None => upload_timed(fs, &j.path, &j.path, &mut j.src, j.size, j.mtime),
        };
        let stop = match &r {
            Err(e) if e.is_temporary() => {
                Some(Error::new(e.kind(), e.message().to_owned()).temporary())
            }
            _ => None,
        };
        done(j.id, r);
        if let Some(e) = stop {
            return Err(e);
        }
    }
    Ok(())
}

/// Writes `size` bytes from `src` to `at` and sets its time to `mtime` when given (errors of
/// the latter name `path`, the file the caller means): the part of the default uploads that
/// comes before any rename.
fn upload_timed<F: RemoteFs + ?Sized>(
    fs: &mut F,
    at: &RelPath,
    path: &RelPath,
    src: &mut dyn Read,
    size: u64,
    mtime: Option<i64>,
) -> Result<()> {
    fs.upload(at, src, size)?;
    if let Some(t) = mtime {
        fs.set_mtime(at, t)
            .map_err(|e| e.with_op("set mtime", path))?;
    }
    Ok(())
}

/// A factory of [`RemoteFs`] connections for one URL scheme (`ftp`, `sftp`, `local`, …).
pub trait Transport: Send + Sync {
    /// The scheme used in configurations (`"ftp"`).
    fn scheme(&self) -> &str;

    /// One line saying what it is.
    fn description(&self) -> &str;

    /// The port used when the site names none.
    fn default_port(&self) -> Option<u16>;

    /// The options this transport understands ([`SiteParams::options`] and
    /// [`SiteParams::secret_options`]), each with its type, default and help. The
    /// application refuses a site that sets anything else (naming the closest known option)
    /// or a value of the wrong type, before [`Transport::connect`] is called; `peex
    /// transports` prints them. The default declares none.
    fn options(&self) -> Vec<crate::options::OptionSpec> {
        Vec::new()
    }

    /// Opens, logs in and probes one connection rooted at `site.root`. The root must exist
    /// and be a directory; otherwise the error has kind [`ErrorKind::NotFound`] or
    /// [`ErrorKind::NotADirectory`]. Errors: [`ErrorKind::ConnectionFailed`] (unreachable),
    /// [`ErrorKind::AuthFailed`] (login refused), [`ErrorKind::HostIdentity`] (certificate or
    /// host key), [`ErrorKind::Unsupported`] (the server lacks what the backend needs, e.g.
    /// MLSD), [`ErrorKind::RateLimited`] (too many connections; temporary).
    fn connect(&self, site: &SiteParams) -> Result<Box<dyn RemoteFs>>;
}

/// A built-in transport's registration, collected with `inventory`.
///
/// ```ignore
/// peex_core::inventory::submit! { peex_core::TransportRegistration { transport: &MyTransport } }
/// ```
/// The binary must name the registering crate (`use peex_ftp as _;`) or the linker drops it.
pub struct TransportRegistration {
    /// The transport.
    pub transport: &'static dyn Transport,
}

inventory::collect!(TransportRegistration);

/// Every built-in transport linked into this binary.
pub fn transports() -> impl Iterator<Item = &'static dyn Transport> {
    inventory::iter::<TransportRegistration>
        .into_iter()
        .map(|r| r.transport)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn job() -> ReplaceJob<'static> {
        ReplaceJob {
            id: 7,
            tmp: None,
            path: RelPath::parse("a").unwrap(),
            src: Box::new(std::io::empty()),
            size: 0,
            mtime: None,
        }
    }

    #[test]
    fn a_stream_of_one_returns_the_jobs_result_else_the_streams_error() {
        let ok = stream_of_one(job(), |next, done| {
            let j = next().unwrap();
            assert!(next().is_none(), "one job only");
            done(j.id, Ok(()));
            Ok(())
        });
        assert!(ok.is_ok());
        let refused = stream_of_one(job(), |next, done| {
            let j = next().unwrap();
            done(j.id, Err(Error::new(ErrorKind::PermissionDenied, "550")));
            Err(Error::new(ErrorKind::ConnectionFailed, "later").temporary())
        });
        assert_eq!(refused.unwrap_err().kind(), ErrorKind::PermissionDenied);
        let lost = stream_of_one(job(), |_, _| {
            Err(Error::new(ErrorKind::ConnectionFailed, "reset").temporary())
        });
        assert!(lost.unwrap_err().is_temporary());
        let silent = stream_of_one(job(), |_, _| Ok(()));
        assert_eq!(silent.unwrap_err().kind(), ErrorKind::Unexpected);
    }
}
