//! # peex-plugin-sdk: write peex plugins in Rust
//!
//! Implement [`peex_core::Transport`] (and its [`peex_core::RemoteFs`]) or
//! [`peex_core::Filter`] exactly as a built-in would, then export them with one
//! [`export_plugin!`] in a `cdylib` crate:
//!
//! ```ignore
//! use peex_core::{Entry, Filter, RelPath, Result, Side, Verdict};
//! use peex_plugin_sdk::{export_plugin, FilterSpec, OptionSpec};
//!
//! struct NoTmp;
//! impl Filter for NoTmp {
//!     fn name(&self) -> &str { "no-tmp" }
//!     fn decide(&self, _path: &RelPath, entry: &Entry, _side: Side) -> Result<Verdict> {
//!         Ok(if entry.name.ends_with(".tmp") { Verdict::Ignore } else { Verdict::NoOpinion })
//!     }
//! }
//!
//! export_plugin! {
//!     name: "no-tmp",
//!     version: env!("CARGO_PKG_VERSION"),
//!     transports: [],
//!     filters: [FilterSpec::new("no-tmp", "ignores *.tmp files", |_opts| Ok(Box::new(NoTmp)))],
//! }
//! ```
//!
//! The SDK builds the C descriptor ([`peex_plugin_abi`]), converts every argument, and wraps
//! **every** exported function in `catch_unwind`: a panic becomes status `PEEX_PANICKED` with
//! the panic message, and the connection is closed (a filter is marked dead). Build plugins
//! with the default `panic = "unwind"`; with `panic = "abort"` a panic aborts the host.
#![deny(missing_docs)]
// The whole purpose of this crate is to implement the C side of the ABI; every unsafe block
// carries a SAFETY comment.
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

pub use peex_core;
pub use peex_plugin_abi as abi;
pub use peex_plugin_bridge as bridge;

use abi::*;
use bridge::{caps_from_core, entry_from_c, entry_to_c, error_flags, error_text, kind_to_status};
use peex_core::{
    Capabilities, Error, ErrorKind, Filter, RelPath, RemoteFs, ReplaceJob, Side, Transport, Verdict,
};
use std::any::Any;
use std::collections::BTreeMap;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

pub use bridge::site_from_kv;

/// One option a transport or filter accepts, shown by `peex plugins`.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    name: &'static str,
    help: &'static str,
    flags: u32,
}

impl OptionSpec {
    /// An optional, non-secret option.
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        OptionSpec {
            name,
            help,
            flags: 0,
        }
    }

    /// Marks the option as required (the SDK refuses `connect`/`create` without it).
    pub const fn required(mut self) -> Self {
        self.flags |= PEEX_OPT_REQUIRED;
        self
    }

    /// Marks the option as secret (for transports: read it from `SiteParams::secret_options`).
    pub const fn secret(mut self) -> Self {
        self.flags |= PEEX_OPT_SECRET;
        self
    }
}

/// A transport to export: any [`Transport`], its options and declared capabilities.
pub struct TransportSpec {
    transport: Box<dyn Transport>,
    options: Vec<OptionSpec>,
    caps: Capabilities,
    flags: u32,
}

impl TransportSpec {
    /// Wraps a transport (scheme, description and default port come from it).
    pub fn new(transport: impl Transport + 'static) -> Self {
        TransportSpec {
            transport: Box::new(transport),
            options: Vec::new(),
            caps: Capabilities::default(),
            flags: 0,
        }
    }

    /// Declares that sites of this transport need no `host` (`PEEX_TRANSPORT_NO_HOST`).
    pub fn no_host(mut self) -> Self {
        self.flags |= PEEX_TRANSPORT_NO_HOST;
        self
    }

    /// Declares the options (`SiteParams::options` / `secret_options` keys): the host
    /// refuses a site giving any other.
    pub fn options(mut self, options: &[OptionSpec]) -> Self {
        self.options = options.to_vec();
        self
    }

    /// Declares the capabilities shown by `peex plugins` (each connection still reports its
    /// own through [`RemoteFs::capabilities`]).
    pub fn caps(mut self, caps: Capabilities) -> Self {
        self.caps = caps;
        self
    }
}

/// The options a filter is created with (from the config, plus `source_root`).
#[derive(Debug, Clone, Default)]
pub struct FilterOptions(BTreeMap<String, String>);

impl FilterOptions {
    /// Wraps a map (for tests).
    pub fn new(map: BTreeMap<String, String>) -> Self {
        FilterOptions(map)
    }

    /// An option's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// An option's value, or a `ConfigInvalid` error naming it.
    pub fn require(&self, key: &str) -> peex_core::Result<&str> {
        self.get(key).ok_or_else(|| {
            Error::new(
                ErrorKind::ConfigInvalid,
                format!("missing required option {key:?}"),
            )
        })
    }

    /// The local source directory the host passes to every filter (`source_root`).
    pub fn source_root(&self) -> Option<&str> {
        self.get(FILTER_SOURCE_ROOT)
    }

    /// All options.
    pub fn map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

type FilterCtor =
    Box<dyn Fn(&FilterOptions) -> peex_core::Result<Box<dyn Filter>> + Send + Sync + 'static>;

/// A filter to export: a name, a description, options and a constructor.
pub struct FilterSpec {
    name: &'static str,
    description: &'static str,
    options: Vec<OptionSpec>,
    create: FilterCtor,
}

impl FilterSpec {
    /// A filter named `name`, built by `create` from its options.
    pub fn new(
        name: &'static str,
        description: &'static str,
        create: impl Fn(&FilterOptions) -> peex_core::Result<Box<dyn Filter>> + Send + Sync + 'static,
    ) -> Self {
        FilterSpec {
            name,
            description,
            options: Vec::new(),
            create: Box::new(create),
        }
    }

    /// Declares the options.
    pub fn options(mut self, options: &[OptionSpec]) -> Self {
        self.options = options.to_vec();
        self
    }
}

fn c_options(specs: &[OptionSpec]) -> Vec<PeexOptionSpec> {
    specs
        .iter()
        .map(|o| PeexOptionSpec {
            name: PeexStr::new(o.name),
            help: PeexStr::new(o.help),
            flags: o.flags,
        })
        .collect()
}

/// A transport vtable followed by what the trampolines need. `vt` must stay the first field:
/// `connect` receives a pointer to it and casts back to the whole struct.
#[repr(C)]
struct SdkTransport {
    vt: PeexTransportVTable,
    spec: TransportSpec,
    c_options: Vec<PeexOptionSpec>,
    declared_caps: Box<PeexCaps>,
}

/// A filter vtable followed by its spec; `vt` first, as above.
#[repr(C)]
struct SdkFilter {
    vt: PeexFilterVTable,
    spec: FilterSpec,
    c_options: Vec<PeexOptionSpec>,
}

/// A built plugin: the descriptor and everything it points to (the vectors are never
/// modified after construction, so the addresses handed out stay valid). Created once by
/// [`export_plugin!`] and kept in a static for the life of the library.
pub struct Plugin {
    descriptor: PeexPluginDescriptor,
    _name: String,
    _version: String,
    _transports: Vec<SdkTransport>,
    _filters: Vec<SdkFilter>,
    _transport_ptrs: Vec<*const PeexTransportVTable>,
    _filter_ptrs: Vec<*const PeexFilterVTable>,
}

// SAFETY: a Plugin is immutable once built; its raw pointers point into its own heap data
// (boxes and vectors that are never modified), and the transports and filter constructors it
// holds are Send + Sync.
unsafe impl Sync for Plugin {}
// SAFETY: as above.
unsafe impl Send for Plugin {}

const BUILT_WITH: &str = concat!("Rust, peex-plugin-sdk ", env!("CARGO_PKG_VERSION"));

impl Plugin {
    /// Builds the descriptor. Used by [`export_plugin!`].
    pub fn new(
        name: &str,
        version: &str,
        transports: Vec<TransportSpec>,
        filters: Vec<FilterSpec>,
    ) -> Plugin {
        let name = name.to_owned();
        let version = version.to_owned();
        let transports: Vec<SdkTransport> = transports
            .into_iter()
            .map(|spec| {
                let c_options = c_options(&spec.options);
                let declared_caps = Box::new(caps_from_core(&spec.caps));
                let mut b = SdkTransport {
                    vt: PeexTransportVTable {
                        struct_size: std::mem::size_of::<PeexTransportVTable>(),
                        scheme: PeexStr::EMPTY,
                        description: PeexStr::EMPTY,
                        options: std::ptr::null(),
                        n_options: 0,
                        default_port: spec.transport.default_port().map_or(0, u32::from),
                        flags: spec.flags,
                        caps: std::ptr::null(),
                        connect: Some(t_connect),
                        close: Some(t_close),
                        list: Some(t_list),
                        upload: Some(t_upload),
                        delete: Some(t_delete),
                        mkdir: Some(t_mkdir),
                        rmdir: Some(t_rmdir),
                        rename: Some(t_rename),
                        set_mtime: Some(t_set_mtime),
                        get_mtime: Some(t_get_mtime),
                        upload_stream: Some(t_upload_stream),
                        mkdir_batch: Some(t_mkdir_batch),
                    },
                    spec,
                    c_options,
                    declared_caps,
                };
                // The strings live in the boxed transport, the options in a vector's heap buffer:
                // both stay put for the life of the Plugin (moving a Vec does not move them).
                b.vt.scheme = PeexStr::new(b.spec.transport.scheme());
                b.vt.description = PeexStr::new(b.spec.transport.description());
                b.vt.options = b.c_options.as_ptr();
                b.vt.n_options = b.c_options.len();
                b.vt.caps = &*b.declared_caps;
                b
            })
            .collect();
        let filters: Vec<SdkFilter> = filters
            .into_iter()
            .map(|spec| {
                let c_options = c_options(&spec.options);
                let mut b = SdkFilter {
                    vt: PeexFilterVTable {
                        struct_size: std::mem::size_of::<PeexFilterVTable>(),
                        name: PeexStr::new(spec.name),
                        description: PeexStr::new(spec.description),
                        options: std::ptr::null(),
                        n_options: 0,
                        create: Some(f_create),
                        decide: Some(f_decide),
                        destroy: Some(f_destroy),
                    },
                    spec,
                    c_options,
                };
                b.vt.options = b.c_options.as_ptr();
                b.vt.n_options = b.c_options.len();
                b
            })
            .collect();
        let transport_ptrs: Vec<*const PeexTransportVTable> =
            transports.iter().map(|t| &t.vt as *const _).collect();
        let filter_ptrs: Vec<*const PeexFilterVTable> =
            filters.iter().map(|f| &f.vt as *const _).collect();
        Plugin {
            descriptor: PeexPluginDescriptor {
                magic: PEEX_MAGIC,
                abi_major: PEEX_ABI_MAJOR,
                abi_minor: PEEX_ABI_MINOR,
                flags: 0,
                struct_size: std::mem::size_of::<PeexPluginDescriptor>(),
                name: PeexStr::new(&name),
                version: PeexStr::new(&version),
                built_with: PeexStr::new(BUILT_WITH),
                init: None,
                transports: transport_ptrs.as_ptr(),
                n_transports: transport_ptrs.len(),
                filters: filter_ptrs.as_ptr(),
                n_filters: filter_ptrs.len(),
            },
            _name: name,
            _version: version,
            _transports: transports,
            _filters: filters,
            _transport_ptrs: transport_ptrs,
            _filter_ptrs: filter_ptrs,
        }
    }

    /// The descriptor `peex_plugin_v1` returns.
    pub fn descriptor(&self) -> *const PeexPluginDescriptor {
        &self.descriptor
    }
}

/// Used by [`export_plugin!`]: builds the plugin once; a panic while building yields null
/// (the host then says the plugin returned no descriptor).
pub fn descriptor_of(
    cell: &'static OnceLock<Plugin>,
    build: impl FnOnce() -> Plugin,
) -> *const PeexPluginDescriptor {
    match catch_unwind(AssertUnwindSafe(|| cell.get_or_init(build).descriptor())) {
        Ok(p) => p,
        Err(_) => std::ptr::null(),
    }
}

/// Exports transports and filters as a peex plugin (defines `peex_plugin_v2`). Use once per
/// `cdylib` crate.
///
/// ```ignore
/// peex_plugin_sdk::export_plugin! {
///     name: "webdav",
///     version: env!("CARGO_PKG_VERSION"),
///     transports: [peex_plugin_sdk::TransportSpec::new(WebDav)],
///     filters: [],
/// }
/// ```
#[macro_export]
macro_rules! export_plugin {
    (
        name: $name:expr,
        version: $version:expr,
        transports: [$($t:expr),* $(,)?],
        filters: [$($f:expr),* $(,)?] $(,)?
    ) => {
        /// The peex plugin entry point (generated by `peex_plugin_sdk::export_plugin!`).
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn peex_plugin_v2() -> *const $crate::abi::PeexPluginDescriptor {
            static PLUGIN: ::std::sync::OnceLock<$crate::Plugin> = ::std::sync::OnceLock::new();
            $crate::descriptor_of(&PLUGIN, || {
                $crate::Plugin::new(
                    $name,
                    $version,
                    ::std::vec![$($t),*],
                    ::std::vec![$($f),*],
                )
            })
        }
    };
}

// ---------------------------------------------------------------------------------------
// Error reporting and panic containment.

/// Why a call failed: a core error to report, or a status to pass on as is (a host callback
/// refused; the host already knows why).
enum Fail {
    Core(Error),
    Status(PeexStatus),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Core(e)
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Fills the host's error slot.
///
/// # Safety
/// `host` must be null or the host API the host passed in; `err` the slot of this call.
unsafe fn report(
    host: *const PeexHostApi,
    err: *mut PeexErrorSlot,
    status: PeexStatus,
    flags: u32,
    msg: &str,
) {
    if host.is_null() || err.is_null() {
        return;
    }
    // SAFETY: host is the live, static host API table (non-null, checked above); error_set
    // copies msg before returning, so borrowing it for the call is enough.
    unsafe { ((*host).error_set)(err, status, flags, PeexStr::new(msg)) };
}

thread_local! {
    /// True while this thread runs plugin code inside [`guard`].
    static IN_GUARD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent for panics caught by [`guard`]: their
/// message reaches the host through the error slot, and the host reports it with the plugin
/// and the operation. Panics elsewhere go to the previous hook as before. (A cdylib has its
/// own copy of std, so this hook is the plugin's, not the host's.)
fn quiet_panics_in_guard() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_GUARD.with(|g| g.get()) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, catching panics, and turns the outcome into a status (filling `err`).
/// Returns `(status, panicked)`.
///
/// # Safety
/// As for [`report`].
unsafe fn guard(
    host: *const PeexHostApi,
    err: *mut PeexErrorSlot,
    f: impl FnOnce() -> Result<(), Fail>,
) -> (PeexStatus, bool) {
    quiet_panics_in_guard();
    let was = IN_GUARD.with(|g| g.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    IN_GUARD.with(|g| g.set(was));
    match outcome {
        Ok(Ok(())) => (PEEX_OK, false),
        Ok(Err(Fail::Status(s))) => (if s == PEEX_OK { PEEX_CANCELLED } else { s }, false),
        Ok(Err(Fail::Core(e))) => {
            let status = kind_to_status(e.kind());
            let flags = error_flags(&e);
            // A report that panics (it cannot, but) must not unwind into C.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: forwarded contract.
                unsafe { report(host, err, status, flags, &error_text(&e)) }
            }));
            (status, false)
        }
        Err(payload) => {
            let msg = panic_message(&*payload);
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: forwarded contract.
                unsafe { report(host, err, PEEX_PANICKED, PEEX_ERR_FATAL, &msg) }
            }));
            // Dropping the payload may itself panic; contain that too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            (PEEX_PANICKED, true)
        }
    }
}

/// Reads a borrowed string argument as UTF-8.
///
/// # Safety
/// `s` must be valid for the current call.
unsafe fn arg_str<'a>(s: PeexStr) -> Result<&'a str, Fail> {
    // SAFETY: the host passes strings valid for the duration of the call.
    unsafe { s.to_str() }.map_err(|e| Fail::Core(Error::new(ErrorKind::InvalidName, e)))
}

/// Reads a relative path argument.
///
/// # Safety
/// As for [`arg_str`].
unsafe fn arg_path(s: PeexStr) -> Result<RelPath, Fail> {
    // SAFETY: forwarded.
    let s = unsafe { arg_str(s) }?;
    Ok(RelPath::parse(s)?)
}

/// Copies key/value pairs.
///
/// # Safety
/// `kv` must point to `n` pairs valid for the call (or be null with `n == 0`).
unsafe fn read_kv(kv: *const PeexKv, n: usize) -> Result<BTreeMap<String, String>, Fail> {
    let mut map = BTreeMap::new();
    if n == 0 {
        return Ok(map);
    }
    if kv.is_null() {
        return Err(Error::new(ErrorKind::Unexpected, "null parameter array").into());
    }
    // SAFETY: non-null array of n pairs, valid for this call (contract).
    let pairs = unsafe { std::slice::from_raw_parts(kv, n) };
    for p in pairs {
        // SAFETY: strings valid for this call.
        let (k, v) = unsafe { (arg_str(p.key)?, arg_str(p.value)?) };
        map.insert(k.to_owned(), v.to_owned());
    }
    Ok(map)
}

fn check_required(
    specs: &[OptionSpec],
    has: impl Fn(&str) -> bool,
    what: &str,
) -> Result<(), Fail> {
    for o in specs {
        if o.flags & PEEX_OPT_REQUIRED != 0 && !has(o.name) {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                format!("{what}: missing required option {:?}", o.name),
            )
            .into());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Transport trampolines.

struct Conn {
    fs: Option<Box<dyn RemoteFs>>,
    host: *const PeexHostApi,
    plugin_scheme: String,
}

fn closed(conn: &Conn) -> Fail {
    Fail::Core(Error::new(
        ErrorKind::Unexpected,
        format!(
            "{} connection is closed (an earlier call panicked or failed fatally)",
            conn.plugin_scheme
        ),
    ))
}

unsafe extern "C" fn t_connect(
    this: *const PeexTransportVTable,
    host: *const PeexHostApi,
    params: *const PeexKv,
    n_params: usize,
    caps: *mut PeexCaps,
    out_conn: *mut *mut PeexConn,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = || {
        if this.is_null() || out_conn.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null argument to connect").into());
        }
        // SAFETY: `this` is the vtable the host found in our descriptor, which is the
        // first field of a #[repr(C)] SdkTransport, so the cast recovers the whole struct.
        let sdk = unsafe { &*(this as *const SdkTransport) };
        // SAFETY: params valid for this call.
        let kv = unsafe { read_kv(params, n_params) }?;
        let site = bridge::site_from_kv(&kv)?;
        check_required(
            &sdk.spec.options,
            |n| site.options.contains_key(n) || site.secret_options.contains_key(n),
            sdk.spec.transport.scheme(),
        )?;
        let fs = sdk.spec.transport.connect(&site)?;
        let c = caps_from_core(&fs.capabilities());
        if !caps.is_null() {
            // SAFETY: non-null host table; every 2.0 field lies within its struct_size (the
            // host speaks major 2), and struct_size itself is the host's to set.
            unsafe {
                (*caps).flags = c.flags;
                (*caps).rename_over = c.rename_over;
            }
        }
        let conn = Box::new(Conn {
            fs: Some(fs),
            host,
            plugin_scheme: sdk.spec.transport.scheme().to_owned(),
        });
        // SAFETY: non-null out-parameter provided by the host.
        unsafe { *out_conn = Box::into_raw(conn).cast::<PeexConn>() };
        Ok(())
    };
    // SAFETY: host/err come from the host for this call.
    unsafe { guard(host, err, body) }.0
}

/// Runs one operation on a connection; a panic drops the connection's `RemoteFs`.
///
/// # Safety
/// `conn` must be a pointer returned by `t_connect` and not yet closed, used by one thread.
unsafe fn with_conn(
    conn: *mut PeexConn,
    err: *mut PeexErrorSlot,
    f: impl FnOnce(&mut dyn RemoteFs) -> Result<(), Fail>,
) -> PeexStatus {
    if conn.is_null() {
        return PEEX_UNEXPECTED;
    }
    // SAFETY: conn came from Box::into_raw in t_connect and is used by one thread at a time.
    let c = unsafe { &mut *conn.cast::<Conn>() };
    let host = c.host;
    let (status, panicked) = {
        let c2: &mut Conn = c;
        // SAFETY: host is the API passed to connect; err is this call's slot.
        unsafe {
            guard(host, err, || match c2.fs.as_deref_mut() {
                Some(fs) => f(fs),
                None => Err(closed(c2)),
            })
        }
    };
    if panicked {
        // The connection is closed after a panic; dropping it may panic too.
        let fs = c.fs.take();
        let _ = catch_unwind(AssertUnwindSafe(move || drop(fs)));
    }
    status
}

unsafe extern "C" fn t_list(
    conn: *mut PeexConn,
    dir: PeexStr,
    sink: *const PeexEntrySink,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = |fs: &mut dyn RemoteFs| {
        // SAFETY: dir valid for this call.
        let dir = unsafe { arg_path(dir) }?;
        if sink.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null sink").into());
        }
        // SAFETY: non-null sink valid for this call.
        let sink = unsafe { *sink };
        for e in fs.list(&dir)? {
            let pe = entry_to_c(&e);
            // SAFETY: the host's sink callback; `pe` and its name outlive the call.
            let st = unsafe { (sink.emit)(sink.ctx, &pe) };
            if st != PEEX_OK {
                return Err(Fail::Status(st));
            }
        }
        Ok(())
    };
    // SAFETY: conn comes from connect and is used by one thread; err is this call's slot.
    unsafe { with_conn(conn, err, body) }
}

struct HostReader {
    r: PeexReader,
}

impl Read for HostReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0usize;
        // SAFETY: the host's reader callback, valid for the upload call; buf is writable for
        // buf.len() bytes.
        let st = unsafe { (self.r.read)(self.r.ctx, buf.as_mut_ptr(), buf.len(), &mut n) };
        if st != PEEX_OK {
            return Err(std::io::Error::other(format!(
                "the host's reader failed (status {st})"
            )));
        }
        if n > buf.len() {
            return Err(std::io::Error::other(
                "the host's reader overran the buffer",
            ));
        }
        Ok(n)
    }
}

unsafe extern "C" fn t_upload(
    conn: *mut PeexConn,
    path: PeexStr,
    reader: *const PeexReader,
    size: u64,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = |fs: &mut dyn RemoteFs| {
        // SAFETY: valid for this call.
        let path = unsafe { arg_path(path) }?;
        if reader.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null reader").into());
        }
        // SAFETY: non-null reader valid for this call.
        let mut r = HostReader {
            r: unsafe { *reader },
        };
        fs.upload(&path, &mut r, size)?;
        Ok(())
    };
    // SAFETY: conn comes from connect and is used by one thread; err is this call's slot.
    unsafe { with_conn(conn, err, body) }
}

unsafe extern "C" fn t_delete(
    conn: *mut PeexConn,
    path: PeexStr,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    // SAFETY: forwarded ABI contract.
    unsafe { with_conn(conn, err, |fs| Ok(fs.delete(&arg_path(path)?)?)) }
}

unsafe extern "C" fn t_mkdir(
    conn: *mut PeexConn,
    path: PeexStr,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    // SAFETY: forwarded ABI contract.
    unsafe { with_conn(conn, err, |fs| Ok(fs.mkdir(&arg_path(path)?)?)) }
}

unsafe extern "C" fn t_rmdir(
    conn: *mut PeexConn,
    path: PeexStr,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    // SAFETY: forwarded ABI contract.
    unsafe { with_conn(conn, err, |fs| Ok(fs.rmdir(&arg_path(path)?)?)) }
}

unsafe extern "C" fn t_rename(
    conn: *mut PeexConn,
    from: PeexStr,
    to: PeexStr,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    // SAFETY: forwarded ABI contract.
    unsafe {
        with_conn(conn, err, |fs| {
            Ok(fs.rename(&arg_path(from)?, &arg_path(to)?)?)
        })
    }
}

unsafe extern "C" fn t_set_mtime(
    conn: *mut PeexConn,
    path: PeexStr,
    mtime: i64,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    // SAFETY: forwarded ABI contract.
    unsafe { with_conn(conn, err, |fs| Ok(fs.set_mtime(&arg_path(path)?, mtime)?)) }
}

unsafe extern "C" fn t_get_mtime(
    conn: *mut PeexConn,
    path: PeexStr,
    out: *mut i64,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = |fs: &mut dyn RemoteFs| {
        // SAFETY: path valid for this call.
        let t = fs.get_mtime(&unsafe { arg_path(path) }?)?;
        if out.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null out-parameter").into());
        }
        // SAFETY: non-null out-parameter provided by the host.
        unsafe { *out = t };
        Ok(())
    };
    // SAFETY: conn comes from connect and is used by one thread; err is this call's slot.
    unsafe { with_conn(conn, err, body) }
}

/// The reader of a job table before the host fills it.
unsafe extern "C" fn no_reader(
    _ctx: *mut std::ffi::c_void,
    _buf: *mut u8,
    _cap: usize,
    _out_len: *mut usize,
) -> PeexStatus {
    PEEX_UNEXPECTED
}

/// A host upload job's reader, valid until the job is reported.
struct JobReader(HostReader);

impl Read for JobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

unsafe extern "C" fn t_upload_stream(
    conn: *mut PeexConn,
    queue: *const PeexUploadQueue,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = |fs: &mut dyn RemoteFs| {
        if queue.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null upload queue").into());
        }
        // SAFETY: non-null queue valid for this call.
        let q = unsafe { *queue };
        let mut bad: Option<Error> = None;
        let mut next = || -> Option<ReplaceJob<'static>> {
            if bad.is_some() {
                return None;
            }
            let mut job = PeexUploadJob {
                struct_size: std::mem::size_of::<PeexUploadJob>(),
                id: 0,
                tmp: PeexStr::EMPTY,
                path: PeexStr::EMPTY,
                reader: PeexReader {
                    ctx: std::ptr::null_mut(),
                    read: no_reader,
                },
                size: 0,
                has_mtime: 0,
                reserved: 0,
                mtime: 0,
            };
            // SAFETY: the host's queue callback with a writable job table of our size.
            if unsafe { (q.next)(q.ctx, &mut job) } == 0 {
                return None;
            }
            // SAFETY: the job's strings are valid until done is called for it; copied here.
            let parsed = unsafe {
                let tmp = if job.tmp.len == 0 {
                    None
                } else {
                    Some(arg_path(job.tmp))
                };
                (tmp, arg_path(job.path))
            };
            let (tmp, path) = match parsed {
                (Some(Err(_)), _) | (_, Err(_)) => {
                    bad = Some(Error::new(ErrorKind::InvalidName, "bad path in upload job"));
                    let m = "bad path in upload job";
                    // SAFETY: the host's done callback for a job it gave us.
                    unsafe {
                        (q.done)(q.ctx, job.id, PEEX_INVALID_NAME, 0, PeexStr::new(m));
                    }
                    return None;
                }
                (tmp, Ok(path)) => (tmp.and_then(Result::ok), path),
            };
            Some(ReplaceJob {
                id: usize::try_from(job.id).unwrap_or(usize::MAX),
                tmp,
                path,
                src: Box::new(JobReader(HostReader { r: job.reader })),
                size: job.size,
                mtime: (job.has_mtime != 0).then_some(job.mtime),
            })
        };
        let mut done = |id: usize, r: peex_core::Result<()>| {
            let (status, flags, msg) = match &r {
                Ok(()) => (PEEX_OK, 0, String::new()),
                Err(e) => (kind_to_status(e.kind()), error_flags(e), error_text(e)),
            };
            // SAFETY: the host's done callback; msg is borrowed for the call.
            unsafe { (q.done)(q.ctx, id as u64, status, flags, PeexStr::new(&msg)) };
        };
        fs.upload_stream(&mut next, &mut done)?;
        Ok(())
    };
    // SAFETY: conn comes from connect and is used by one thread; err is this call's slot.
    unsafe { with_conn(conn, err, body) }
}

unsafe extern "C" fn t_mkdir_batch(
    conn: *mut PeexConn,
    paths: *const PeexStr,
    n: usize,
    results: *mut PeexStatus,
    n_done: *mut usize,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = |fs: &mut dyn RemoteFs| {
        if (n > 0 && (paths.is_null() || results.is_null())) || n_done.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null argument to mkdir_batch").into());
        }
        // SAFETY: non-null array of n strings valid for this call (checked above).
        let views = if n == 0 {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(paths, n) }
        };
        let mut rel = Vec::with_capacity(n);
        for v in views {
            // SAFETY: valid for this call.
            rel.push(unsafe { arg_path(*v) }?);
        }
        let out = fs.mkdir_batch(&rel);
        let mut first: Option<Error> = None;
        for (i, r) in out.iter().enumerate().take(n) {
            let st = match r {
                Ok(()) => PEEX_OK,
                Err(e) => {
                    if first.is_none() {
                        first = Some(
                            Error::new(e.kind(), error_text(e)).set_temporary(e.is_temporary()),
                        );
                    }
                    kind_to_status(e.kind())
                }
            };
            // SAFETY: results has n writable entries; i < n.
            unsafe { *results.add(i) = st };
        }
        // SAFETY: non-null out-parameter.
        unsafe { *n_done = out.len().min(n) };
        match first {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    };
    // SAFETY: conn comes from connect and is used by one thread; err is this call's slot.
    unsafe { with_conn(conn, err, body) }
}

unsafe extern "C" fn t_close(conn: *mut PeexConn) {
    if conn.is_null() {
        return;
    }
    // SAFETY: conn came from Box::into_raw in t_connect; the host closes it exactly once.
    let mut c = unsafe { Box::from_raw(conn.cast::<Conn>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || {
        if let Some(fs) = c.fs.as_deref_mut() {
            let _ = fs.quit();
        }
        drop(c);
    }));
}

// ---------------------------------------------------------------------------------------
// Filter trampolines.

struct FilterBox {
    filter: Box<dyn Filter>,
    host: *const PeexHostApi,
    dead: AtomicBool,
}

unsafe extern "C" fn f_create(
    this: *const PeexFilterVTable,
    host: *const PeexHostApi,
    options: *const PeexKv,
    n_options: usize,
    out_filter: *mut *mut PeexFilter,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = || {
        if this.is_null() || out_filter.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null argument to create").into());
        }
        // SAFETY: `this` is the first field of a #[repr(C)] SdkFilter from our descriptor.
        let sdk = unsafe { &*(this as *const SdkFilter) };
        // SAFETY: options valid for this call.
        let opts = FilterOptions(unsafe { read_kv(options, n_options) }?);
        check_required(&sdk.spec.options, |n| opts.0.contains_key(n), sdk.spec.name)?;
        let filter = (sdk.spec.create)(&opts)?;
        let b = Box::new(FilterBox {
            filter,
            host,
            dead: AtomicBool::new(false),
        });
        // SAFETY: non-null out-parameter provided by the host.
        unsafe { *out_filter = Box::into_raw(b).cast::<PeexFilter>() };
        Ok(())
    };
    // SAFETY: host/err come from the host for this call.
    unsafe { guard(host, err, body) }.0
}

unsafe extern "C" fn f_decide(
    filter: *mut PeexFilter,
    path: PeexStr,
    entry: *const PeexEntry,
    side: u32,
    out_verdict: *mut u32,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    if filter.is_null() {
        return PEEX_UNEXPECTED;
    }
    // SAFETY: filter came from Box::into_raw in f_create; decide only takes a shared
    // reference (filters are Sync), destroy is not called concurrently (host contract).
    let fb = unsafe { &*filter.cast::<FilterBox>() };
    let body = || {
        if fb.dead.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("filter {} is dead after an earlier panic", fb.filter.name()),
            )
            .into());
        }
        // SAFETY: valid for this call.
        let path = unsafe { arg_path(path) }?;
        if entry.is_null() || out_verdict.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null argument to decide").into());
        }
        // SAFETY: non-null entry valid for this call.
        let pe = unsafe { *entry };
        // SAFETY: its name is valid for this call.
        let name = unsafe { arg_str(pe.name) }?.to_owned();
        let e = entry_from_c(&pe, name)?;
        let side = if side == PEEX_SIDE_REMOTE {
            Side::Remote
        } else {
            Side::Local
        };
        let v = fb.filter.decide(&path, &e, side)?;
        // SAFETY: non-null out-parameter.
        unsafe {
            *out_verdict = match v {
                Verdict::NoOpinion => PEEX_VERDICT_NO_OPINION,
                Verdict::Ignore => PEEX_VERDICT_IGNORE,
                Verdict::Protect => PEEX_VERDICT_PROTECT,
            }
        };
        Ok(())
    };
    // SAFETY: host/err come from the host.
    let (status, panicked) = unsafe { guard(fb.host, err, body) };
    if panicked {
        fb.dead.store(true, Ordering::Release);
    }
    status
}

unsafe extern "C" fn f_destroy(filter: *mut PeexFilter) {
    if filter.is_null() {
        return;
    }
    // SAFETY: filter came from Box::into_raw in f_create; the host destroys it exactly once,
    // after every decide call has returned.
    let b = unsafe { Box::from_raw(filter.cast::<FilterBox>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(b)));
}
