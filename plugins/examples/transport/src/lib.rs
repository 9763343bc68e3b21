//! # peex-example-transport: WebDAV as a peex transport plugin (scheme `webdav`)
//!
//! | operation | WebDAV request |
//! |---|---|
//! | connect | `PROPFIND` Depth 0 on the root (must be a collection) |
//! | list | `PROPFIND` Depth 1: `resourcetype`, `getcontentlength`, `getlastmodified` |
//! | list | `PROPFIND` Depth 1; with `depth_infinity`, the first listing of the root is one `PROPFIND` Depth infinity for the whole tree, served to every connection until anything changes ([`cache`]) |
//! | upload | `PUT` with `Content-Length` |
//! | upload_stream | up to `parallel` `PUT`s (then `MOVE`s) in flight at once on keep-alive connections |
//! | mkdir_batch | `MKCOL`s of one depth level in parallel, level after level |
//! | delete | `DELETE` (404 = success) |
//! | mkdir | `MKCOL` (405 on an existing collection = success) |
//! | rmdir | `PROPFIND` Depth 1 (refuses a non-empty collection), then `DELETE` |
//! | rename | `MOVE` with `Destination` and `Overwrite: T` |
//! | get_mtime | `PROPFIND` Depth 1 of the parent, `getlastmodified` of every file in it cached ([`cache`]) |
//! | set_mtime | **not supported**: `getlastmodified` is a protected live property (RFC 4918),
//! |  | and `rclone serve webdav` (tested) ignores `X-OC-Mtime` and refuses `PROPPATCH`. |
//!
//! Because times cannot be set, a site using this transport needs `srcutime` (peex reads the
//! server's time back and sets the local file's time to it).
//!
//! Site parameters: `host`, `port`, `user`/`password` (HTTP Basic auth when `user` is not
//! empty), `root` (the URL path of the remote root, e.g. `/dav/site`). Options: `tls`
//! (default `true`: `https`, certificates verified against the Mozilla roots), `parallel`
//! (requests in flight per connection for uploads and directory creation, default 4),
//! `depth_infinity` (default `false`; `true` lists the whole tree in one request: fewer round
//! trips, but `rclone serve webdav` answers it slowly — 1.9 s for 1000 files on loopback,
//! against 25 ms per directory), `panic_in`
//! (testing aid: an operation name that panics).
//!
//! New directories are staged: `MOVE` of a collection moves it whole ([`CAPS`]
//! `rename_dirs`), so the files of a new tree are written directly, without a temporary name
//! and a `MOVE` each.
#![deny(missing_docs)]

use peex_core::{
    Capabilities, Entry, EntryKind, Error, ErrorKind, MtimeMethod, RelPath, RemoteFs, RenameOver,
    Result, SiteParams, Transport,
};
use peex_plugin_sdk::{export_plugin, OptionSpec, TransportSpec};
use std::io::Read;
use std::time::Duration;

mod cache;
mod dav;
mod parallel;
use dav::*;

/// The WebDAV transport.
pub struct WebDav;

/// The capabilities of every WebDAV connection.
pub const CAPS: Capabilities = Capabilities {
    set_mtime: MtimeMethod::Unsupported,
    get_mtime: true,
    // Overwrite: T makes the server delete the target, then move.
    rename_over: RenameOver::RemoveThenRename,
    // MOVE of a collection moves it with its members (RFC 4918 §9.9).
    rename_dirs: true,
};

impl Transport for WebDav {
    fn scheme(&self) -> &str {
        "webdav"
    }

    fn description(&self) -> &str {
        "WebDAV (PROPFIND/PUT/MKCOL/MOVE/DELETE over HTTP or HTTPS)"
    }

    fn default_port(&self) -> Option<u16> {
        None // 443 with tls (the default), 80 without
    }

    fn connect(&self, site: &SiteParams) -> Result<Box<dyn RemoteFs>> {
        Ok(Box::new(DavFs::connect(site)?))
    }
}

/// One WebDAV "connection" (an HTTP agent with its keep-alive pool).
pub struct DavFs {
    agent: ureq::Agent,
    /// `http://host:port`, no trailing slash.
    origin: String,
    /// The root's URL path, starting and not ending with `/` (empty for the server root).
    root: String,
    auth: Option<String>,
    panic_in: Option<String>,
    /// Requests in flight at once in `upload_stream` and `mkdir_batch`.
    parallel: usize,
    /// List the whole tree with one `PROPFIND Depth: infinity`.
    depth_infinity: bool,
}

impl DavFs {
    /// Opens a connection and checks that the root is a collection.
    pub fn connect(site: &SiteParams) -> Result<DavFs> {
        if site.host.is_empty() {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                "webdav: host is empty",
            ));
        }
        let tls = site.bool_option("tls", true)?;
        let port = site.port.unwrap_or(if tls { 443 } else { 80 });
        let timeout = if site.timeout.is_zero() {
            Duration::from_secs(30)
        } else {
            site.timeout
        };
        let parallel = match site.option("parallel") {
            None => 4,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=32).contains(n))
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::ConfigInvalid,
                        format!("option parallel: expected 1 to 32, got {v:?}"),
                    )
                })?,
        };
        let depth_infinity = site.bool_option("depth_infinity", false)?;
        let agent = ureq::AgentBuilder::new()
            .max_idle_connections_per_host(parallel.max(2))
            .timeout_connect(timeout)
            .timeout_read(timeout)
            .timeout_write(timeout)
            .redirects(0)
            .build();
        let host = if site.host.contains(':') && !site.host.starts_with('[') {
            format!("[{}]", site.host) // IPv6 literal
        } else {
            site.host.clone()
        };
        let origin = format!("{}://{}:{}", if tls { "https" } else { "http" }, host, port);
        let root = format!("/{}", site.root.trim_matches('/'));
        let root = if root == "/" { String::new() } else { root };
        let auth = if site.user.is_empty() {
            None
        } else {
            let pw = site.password.as_ref().map(|p| p.expose()).unwrap_or("");
            Some(format!(
                "Basic {}",
                base64(format!("{}:{}", site.user, pw).as_bytes())
            ))
        };
        let fs = DavFs {
            agent,
            origin,
            root,
            auth,
            panic_in: site.option("panic_in").map(str::to_owned),
            parallel,
            depth_infinity,
        };
        let top = fs.propfind(&RelPath::root(), "0")?;
        match top.first() {
            Some(e) if e.is_dir => Ok(fs),
            Some(_) => Err(Error::new(
                ErrorKind::NotADirectory,
                format!("webdav: root {} is not a collection", site.root),
            )),
            None => Err(Error::new(
                ErrorKind::Protocol,
                "webdav: PROPFIND on the root returned no entry",
            )),
        }
    }

    fn maybe_panic(&self, op: &str) {
        if self.panic_in.as_deref() == Some(op) {
            panic!("webdav asked to panic in {op} (option panic_in={op})");
        }
    }

    /// URL path of `p` (percent-encoded), with a trailing `/` for collections.
    fn url_path(&self, p: &RelPath, collection: bool) -> String {
        let mut s = encode_path(&self.root);
        for c in p.components() {
            s.push('/');
            s.push_str(&encode_path(c));
        }
        if collection || s.is_empty() {
            s.push('/');
        }
        s
    }

    fn url(&self, p: &RelPath, collection: bool) -> String {
        format!("{}{}", self.origin, self.url_path(p, collection))
    }

    fn request(&self, method: &str, url: &str) -> ureq::Request {
        let r = self.agent.request(method, url);
        match &self.auth {
            Some(a) => r.set("Authorization", a),
            None => r,
        }
    }

    fn propfind(&self, dir: &RelPath, depth: &str) -> Result<Vec<DavEntry>> {
        let collection = depth != "0" || dir.is_root();
        let resp = self
            .request("PROPFIND", &self.url(dir, collection))
            .set("Depth", depth)
            .set("Content-Type", "application/xml; charset=utf-8")
            .send_string(PROPFIND_BODY)
            .map_err(map_err)?;
        if resp.status() != 207 {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("PROPFIND: expected 207 Multi-Status, got {}", resp.status()),
            ));
        }
        let mut body = String::new();
        resp.into_reader()
            .take(64 << 20)
            .read_to_string(&mut body)
            .map_err(Error::from)?;
        parse_multistatus(&body)
    }

    fn expect_ok(&self, r: std::result::Result<ureq::Response, ureq::Error>) -> Result<u16> {
        r.map(|resp| resp.status()).map_err(map_err)
    }
}

impl RemoteFs for DavFs {
    fn capabilities(&self) -> Capabilities {
        CAPS
    }

    fn list(&mut self, dir: &RelPath) -> Result<Vec<Entry>> {
        self.maybe_panic("list");
        let base = self.decoded(dir)?;
        if let Some(l) = cache::listing(&self.origin, &base) {
            return to_entries(l);
        }
        if dir.is_root() && self.depth_infinity {
            let (epoch, when) = (cache::start(), std::time::Instant::now());
            if let Ok(all) = self.propfind(dir, "infinity") {
                let mut tree = group_by_parent(&base, all)?;
                let mine = tree.remove(&base).unwrap_or_default();
                cache::store_tree(&self.origin, epoch, when, tree);
                return to_entries(mine);
            }
            // A server refusing Depth infinity is listed directory by directory.
        }
        let all = self.propfind(dir, "1")?;
        let mut tree = group_by_parent(&base, all)?;
        to_entries(tree.remove(&base).unwrap_or_default())
    }

    fn upload(&mut self, path: &RelPath, src: &mut dyn Read, size: u64) -> Result<()> {
        self.maybe_panic("upload");
        let mut body = ExactReader {
            inner: src,
            remaining: size,
        };
        let r = self
            .request("PUT", &self.url(path, false))
            .set("Content-Length", &size.to_string())
            .set("Content-Type", "application/octet-stream")
            .send(&mut body);
        self.mutated(&[path]);
        match r {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(409, _)) => Err(Error::new(
                ErrorKind::NotFound,
                "PUT: 409 Conflict (the parent collection is missing)",
            )),
            Err(e) => Err(map_err(e)),
        }
    }

    fn delete(&mut self, path: &RelPath) -> Result<()> {
        self.maybe_panic("delete");
        let r = self.request("DELETE", &self.url(path, false)).call();
        self.mutated(&[path]);
        match self.expect_ok(r) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            r => r.map(|_| ()),
        }
    }

    fn upload_stream<'a>(
        &mut self,
        next: &mut dyn FnMut() -> Option<peex_core::ReplaceJob<'a>>,
        done: &mut dyn FnMut(usize, Result<()>),
    ) -> Result<()> {
        parallel::upload_stream(self, next, done)
    }

    fn mkdir_batch(&mut self, paths: &[RelPath]) -> Vec<Result<()>> {
        parallel::mkdir_batch(self, paths)
    }

    fn mkdir(&mut self, path: &RelPath) -> Result<()> {
        self.maybe_panic("mkdir");
        self.make_collection(path)
    }

    fn rmdir(&mut self, path: &RelPath) -> Result<()> {
        self.rmdir_impl(path)
    }

    fn rename(&mut self, from: &RelPath, to: &RelPath) -> Result<()> {
        self.maybe_panic("rename");
        self.move_to(from, to)
    }

    fn set_mtime(&mut self, _path: &RelPath, _mtime: i64) -> Result<()> {
        self.maybe_panic("set_mtime");
        Err(Error::new(
            ErrorKind::Unsupported,
            "webdav cannot set modification times (getlastmodified is protected); use srcutime",
        ))
    }

    fn get_mtime(&mut self, path: &RelPath) -> Result<i64> {
        self.maybe_panic("get_mtime");
        let key = self.decoded(path)?;
        if let Some(t) = cache::mtime(&key) {
            return Ok(t);
        }
        // One listing of the directory gives the times of every file in it (srcutime reads
        // them back one after the other).
        if let Some(parent) = path.parent() {
            let (epoch, when) = (cache::start(), std::time::Instant::now());
            if let Ok(all) = self.propfind(&parent, "1") {
                cache::store_mtimes(
                    epoch,
                    when,
                    all.into_iter()
                        .filter(|e| !e.is_dir)
                        .filter_map(|e| Some((e.path, e.mtime?))),
                );
                if let Some(t) = cache::mtime(&key) {
                    return Ok(t);
                }
            }
        }
        self.mtime_of(path)
    }
}

impl DavFs {
    /// The decoded URL path of `p` without a trailing slash (the cache's key).
    fn decoded(&self, p: &RelPath) -> Result<String> {
        Ok(decode_path(&self.url_path(p, false))?
            .trim_end_matches('/')
            .to_owned())
    }

    /// Records a completed mutation of `paths` (see [`cache`]).
    fn mutated(&self, paths: &[&RelPath]) {
        let keys: Vec<String> = paths.iter().filter_map(|p| self.decoded(p).ok()).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        cache::mutated(&refs);
    }

    /// `PUT` of an in-memory body.
    fn put_bytes(&self, path: &RelPath, data: &[u8]) -> Result<()> {
        let r = self
            .request("PUT", &self.url(path, false))
            .set("Content-Type", "application/octet-stream")
            .send_bytes(data);
        self.mutated(&[path]);
        match r {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(409, _)) => Err(Error::new(
                ErrorKind::NotFound,
                "PUT: 409 Conflict (the parent collection is missing)",
            )),
            Err(e) => Err(map_err(e)),
        }
    }

    /// `MOVE` with `Overwrite: T` (a file or a whole collection).
    fn move_to(&self, from: &RelPath, to: &RelPath) -> Result<()> {
        let r = self
            .request("MOVE", &self.url(from, false))
            .set("Destination", &self.url(to, false))
            .set("Overwrite", "T")
            .call();
        self.mutated(&[from, to]);
        self.expect_ok(r).map(|_| ())
    }

    fn mtime_of(&self, path: &RelPath) -> Result<i64> {
        match self.propfind(path, "0")?.first() {
            Some(DavEntry {
                mtime: Some(t),
                is_dir: false,
                ..
            }) => Ok(*t),
            Some(e) if e.is_dir => Err(Error::new(
                ErrorKind::Unsupported,
                "get_mtime of a collection",
            )),
            _ => Err(Error::new(
                ErrorKind::Protocol,
                "PROPFIND: no getlastmodified for the file",
            )),
        }
    }

    fn make_collection(&self, path: &RelPath) -> Result<()> {
        let r = self.request("MKCOL", &self.url(path, true)).call();
        self.mutated(&[path]);
        match r {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(405, _)) => {
                // Something exists there: fine if it is a collection.
                match self.propfind(path, "0")?.first() {
                    Some(e) if e.is_dir => Ok(()),
                    _ => Err(Error::new(
                        ErrorKind::AlreadyExists,
                        "MKCOL: a file of that name exists",
                    )),
                }
            }
            Err(ureq::Error::Status(409, _)) => Err(Error::new(
                ErrorKind::NotFound,
                "MKCOL: 409 Conflict (the parent collection is missing)",
            )),
            Err(e) => Err(map_err(e)),
        }
    }

    fn rmdir_impl(&self, path: &RelPath) -> Result<()> {
        self.maybe_panic("rmdir");
        // DELETE on a collection is recursive in WebDAV: check emptiness first.
        let entries = match self.propfind(path, "1") {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            r => r?,
        };
        if entries.len() > 1 {
            return Err(Error::new(
                ErrorKind::DirectoryNotEmpty,
                format!("collection has {} entries", entries.len() - 1),
            ));
        }
        let r = self.request("DELETE", &self.url(path, true)).call();
        self.mutated(&[path]);
        match self.expect_ok(r) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            r => r.map(|_| ()),
        }
    }
}

/// Groups a multistatus reply by parent directory (decoded paths, no trailing slash);
/// `base` (the listed directory) always has an entry.
fn group_by_parent(
    base: &str,
    all: Vec<DavEntry>,
) -> Result<std::collections::HashMap<String, cache::Listing>> {
    let mut map: std::collections::HashMap<String, cache::Listing> =
        std::collections::HashMap::new();
    map.entry(base.to_owned()).or_default();
    for e in all {
        if e.path == base {
            continue; // the directory itself
        }
        if !e.path.starts_with(base) || !e.path[base.len()..].starts_with('/') {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("PROPFIND listed {:?}, which is not inside {base:?}", e.path),
            ));
        }
        let (parent, name) = match e.path.rsplit_once('/') {
            Some(x) => x,
            None => continue,
        };
        if e.is_dir {
            map.entry(e.path.clone()).or_default();
        }
        map.entry(parent.to_owned()).or_default().push((
            name.to_owned(),
            e.is_dir,
            e.size,
            e.mtime,
        ));
    }
    Ok(map)
}

/// The contract's entries of one listing.
fn to_entries(l: cache::Listing) -> Result<Vec<Entry>> {
    let mut out = Vec::with_capacity(l.len());
    for (name, is_dir, size, mtime) in l {
        peex_core::validate_name(&name)?;
        if is_dir {
            out.push(Entry {
                name,
                kind: EntryKind::Dir,
                size: 0,
                mtime: None,
            });
        } else {
            let (Some(size), Some(mtime)) = (size, mtime) else {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("PROPFIND: file {name:?} lacks getcontentlength or getlastmodified"),
                ));
            };
            out.push(Entry {
                name,
                kind: EntryKind::File,
                size,
                mtime: Some(mtime),
            });
        }
    }
    Ok(out)
}

/// Feeds exactly `remaining` bytes; fails if the source yields fewer or more (so that a
/// short source aborts the request instead of leaving the server waiting).
struct ExactReader<'a> {
    inner: &'a mut dyn Read,
    remaining: u64,
}

impl Read for ExactReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(
                    "the source yielded more bytes than its announced size",
                )),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the source ended {} bytes short", self.remaining),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

export_plugin! {
    name: "webdav",
    version: env!("CARGO_PKG_VERSION"),
    transports: [
        TransportSpec::new(WebDav)
            .options(&[
                OptionSpec::new("tls", "use https (default true; false = plain http)"),
                OptionSpec::new("parallel", "requests in flight per connection for uploads and mkdir (1-32, default 4)"),
                OptionSpec::new("depth_infinity", "list the whole tree in one PROPFIND (default false)"),
                OptionSpec::new("panic_in", "testing aid: an operation name (list, upload, …) that panics"),
            ])
            .caps(CAPS),
    ],
    filters: [],
}
