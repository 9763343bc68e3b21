//! # peex-plugin-abi: the stable C ABI between peex and its plugins (version 2.1)
//!
//! A plugin is a shared library exporting one C function, [`PEEX_PLUGIN_SYMBOL`]
//! (`peex_plugin_v2`), that returns a pointer to a static [`PeexPluginDescriptor`]. Only the
//! `#[repr(C)]` types of this crate cross the boundary, so a plugin built by another compiler
//! version, or written in C against `plugins/include/peex_plugin.h`, works with any peex that
//! speaks the same ABI major version. This crate depends on `std` only; the conversions to
//! and from the `peex-core` contract live in `peex-plugin-bridge`.
//!
//! Rules (the same as SQLite's versioned method tables, with GStreamer's major rule):
//!
//! - **Major** must equal the host's ([`check_version`]). A 1.x plugin (it exports
//!   `peex_plugin_v1`) is refused with a message saying how to rebuild.
//! - **Minor**: any minor of the same major loads. Every table carries a `struct_size`
//!   and only ever grows at the end; the host reads `min(struct_size, its own size)` bytes
//!   of each table and treats fields beyond the plugin's `struct_size` as absent (NULL / 0)
//!   ([`read_table`]). So a plugin built against an **older** minor simply lacks the newer
//!   optional slots, and a plugin built against a **newer** minor works on an older host,
//!   which ignores the slots it does not know (a plugin can read `host->abi_minor`). A table
//!   smaller than its declared minor requires is refused as truncated
//!   ([`min_transport_size`] & co.). Unknown flag bits are ignored.
//! - **Strings** are UTF-8 pointer + length ([`PeexStr`]), borrowed for the duration of one
//!   call (or, in the descriptor and vtables, for the lifetime of the loaded library; or, in
//!   an upload job, until that job's `done` is called).
//! - **Status codes** are plain `i32` ([`PeexStatus`]); an unknown value is treated as
//!   [`PEEX_UNEXPECTED`], never trusted as an enum.
//! - **Errors** are written into a host-owned slot through [`PeexHostApi::error_set`]: the
//!   host copies the message, so no memory allocated on one side is ever freed on the other.
//! - **Capabilities** are a size-tagged [`PeexCaps`] the host allocates and `connect` fills.
//! - **Listing** pushes entries into a host callback ([`PeexEntrySink`]); **upload** pulls
//!   bytes from a host callback ([`PeexReader`]); the optional **upload stream** pulls jobs
//!   from a host queue ([`PeexUploadQueue`]) so a plugin may overlap them.
//!
//! The host validates a descriptor with [`check_descriptor`] before using anything else.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod validate;

pub use validate::*;

use std::ffi::c_void;
use std::marker::{PhantomData, PhantomPinned};
use std::mem::{offset_of, size_of};

/// `"PEEX"` as a big-endian `u32`: the first field of every descriptor.
pub const PEEX_MAGIC: u32 = 0x5045_4558;
/// The ABI major version this crate describes. Plugins must have exactly this major.
pub const PEEX_ABI_MAJOR: u32 = 2;
/// The ABI minor version this crate describes (2.0: the base tables; 2.1: `mkdir_batch`).
pub const PEEX_ABI_MINOR: u32 = 1;
/// The exported entry point: `extern "C" fn peex_plugin_v2() -> *const PeexPluginDescriptor`.
pub const PEEX_PLUGIN_SYMBOL: &str = "peex_plugin_v2";
/// The entry point of ABI 1.x plugins, looked up only to refuse them with advice.
pub const PEEX_PLUGIN_SYMBOL_V1: &str = "peex_plugin_v1";

/// A status code returned by every plugin call. `PEEX_OK` (0) is success; unknown values are
/// treated as [`PEEX_UNEXPECTED`].
pub type PeexStatus = i32;
/// Success.
pub const PEEX_OK: PeexStatus = 0;
/// The path does not exist.
pub const PEEX_NOT_FOUND: PeexStatus = 1;
/// Permission denied.
pub const PEEX_PERMISSION_DENIED: PeexStatus = 2;
/// The target exists.
pub const PEEX_ALREADY_EXISTS: PeexStatus = 3;
/// A path component is not a directory.
pub const PEEX_NOT_A_DIR: PeexStatus = 4;
/// `rmdir` of a non-empty directory.
pub const PEEX_DIR_NOT_EMPTY: PeexStatus = 5;
/// Not supported by this transport or server.
pub const PEEX_UNSUPPORTED: PeexStatus = 6;
/// Invalid options or configuration.
pub const PEEX_CONFIG_INVALID: PeexStatus = 7;
/// An unsafe name (`/`, `\`, NUL, `.`, `..`).
pub const PEEX_INVALID_NAME: PeexStatus = 8;
/// The server broke its protocol.
pub const PEEX_PROTOCOL: PeexStatus = 9;
/// The server could not be reached.
pub const PEEX_CONNECTION_FAILED: PeexStatus = 10;
/// Credentials refused.
pub const PEEX_AUTH_FAILED: PeexStatus = 11;
/// TLS certificate or SSH host key not verified.
pub const PEEX_HOST_IDENTITY: PeexStatus = 12;
/// The server is rate limiting.
pub const PEEX_RATE_LIMITED: PeexStatus = 13;
/// The host asked to stop (a sink or reader callback returned a non-OK status). The plugin
/// returns it (or the callback's status) as is.
pub const PEEX_CANCELLED: PeexStatus = 14;
/// Anything else.
pub const PEEX_UNEXPECTED: PeexStatus = 15;
/// The plugin panicked (set by the Rust SDK); the connection or filter is dead afterwards.
pub const PEEX_PANICKED: PeexStatus = 16;

/// Error flag: retrying on a fresh connection may succeed.
pub const PEEX_ERR_TEMPORARY: u32 = 1;
/// Error flag: the connection or filter is unusable; the host closes it and stops using it.
pub const PEEX_ERR_FATAL: u32 = 2;

/// Option flag: the option must be given.
pub const PEEX_OPT_REQUIRED: u32 = 1;
/// Option flag: the value is a secret (never printed; passed from `SiteParams` secrets).
pub const PEEX_OPT_SECRET: u32 = 2;

/// [`PeexEntry::kind`]: a regular file.
pub const PEEX_KIND_FILE: u32 = 1;
/// [`PeexEntry::kind`]: a directory.
pub const PEEX_KIND_DIR: u32 = 2;
/// [`PeexEntry::kind`]: anything else (symlink, device…).
pub const PEEX_KIND_OTHER: u32 = 3;

/// Filter side: the local source tree.
pub const PEEX_SIDE_LOCAL: u32 = 1;
/// Filter side: the remote destination tree.
pub const PEEX_SIDE_REMOTE: u32 = 2;

/// Verdict: no opinion.
pub const PEEX_VERDICT_NO_OPINION: u32 = 0;
/// Verdict: ignore (local entry treated as absent, remote counterpart left alone).
pub const PEEX_VERDICT_IGNORE: u32 = 1;
/// Verdict: protect (remote entry never overwritten or deleted).
pub const PEEX_VERDICT_PROTECT: u32 = 2;

/// [`PeexCaps::rename_over`]: rename replaces the target atomically.
pub const PEEX_RENAME_ATOMIC: u32 = 0;
/// [`PeexCaps::rename_over`]: the transport removes the target first.
pub const PEEX_RENAME_REMOVE_THEN_RENAME: u32 = 1;

/// Log level for [`PeexHostApi::log`]: error.
pub const PEEX_LOG_ERROR: u32 = 1;
/// Log level: warning.
pub const PEEX_LOG_WARN: u32 = 2;
/// Log level: information.
pub const PEEX_LOG_INFO: u32 = 3;
/// Log level: debug.
pub const PEEX_LOG_DEBUG: u32 = 4;

/// A UTF-8 string: pointer + length in bytes, no NUL terminator required. Borrowed for one
/// call, or for the library's lifetime when it sits in a descriptor. `ptr` may be null only
/// when `len` is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PeexStr {
    /// First byte.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

// SAFETY: a PeexStr is a read-only view; the ABI only ever points it at immutable data
// (static descriptor strings, or buffers that outlive the one call they are passed to).
#[allow(unsafe_code)]
unsafe impl Send for PeexStr {}
// SAFETY: as above: the pointed-to bytes are never mutated while a PeexStr refers to them.
#[allow(unsafe_code)]
unsafe impl Sync for PeexStr {}

impl PeexStr {
    /// The empty string.
    pub const EMPTY: PeexStr = PeexStr {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Borrows a Rust string (the result must not outlive `s`).
    pub const fn new(s: &str) -> PeexStr {
        PeexStr {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// Reads the string.
    ///
    /// # Safety
    /// `ptr` must be null with `len == 0`, or point to `len` readable bytes that stay valid and
    /// unchanged for `'a`.
    #[allow(unsafe_code)]
    pub unsafe fn to_str<'a>(self) -> Result<&'a str, String> {
        if self.len == 0 {
            return Ok("");
        }
        if self.ptr.is_null() {
            return Err(format!("null string pointer with length {}", self.len));
        }
        if self.len > isize::MAX as usize {
            return Err("string length out of range".to_owned());
        }
        // SAFETY: the caller guarantees ptr..ptr+len is readable for 'a; checked non-null.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        std::str::from_utf8(bytes).map_err(|e| format!("string is not UTF-8: {e}"))
    }
}

/// [`PeexTransportVTable::flags`]: the transport needs no `host` (a local or
/// self-addressed store); the host then accepts a site without one.
pub const PEEX_TRANSPORT_NO_HOST: u32 = 1;

/// [`PeexCaps::flags`]: `set_mtime` works (cleared by the host if the slot is NULL).
pub const PEEX_CAP_SET_MTIME: u32 = 1;
/// [`PeexCaps::flags`]: `get_mtime` works (cleared by the host if the slot is NULL).
pub const PEEX_CAP_GET_MTIME: u32 = 2;
/// [`PeexCaps::flags`]: `rename` also moves a directory with everything in it, onto a name
/// where nothing exists. The host then builds each new directory tree under a temporary
/// name, writes its files directly (no temporary name per file) and renames it into place.
pub const PEEX_CAP_RENAME_DIRS: u32 = 4;

/// One directory entry pushed by `list` into the host's [`PeexEntrySink`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PeexEntry {
    /// The entry's name (one component; the host refuses unsafe names). Borrowed for the
    /// `emit` call only: the host copies it.
    pub name: PeexStr,
    /// [`PEEX_KIND_FILE`], [`PEEX_KIND_DIR`] or [`PEEX_KIND_OTHER`].
    pub kind: u32,
    /// 1 if `mtime` is set (required for files; ignored for directories), else 0.
    pub has_mtime: u32,
    /// Size in bytes (files; the host takes 0 for directories whatever is given).
    pub size: u64,
    /// Modification time, whole seconds since the Unix epoch, UTC.
    pub mtime: i64,
}

/// A key/value pair (connection parameters, filter options).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PeexKv {
    /// Key.
    pub key: PeexStr,
    /// Value.
    pub value: PeexStr,
}

/// Describes one option a transport or filter accepts. The host refuses a site or filter
/// giving an option that is not declared (naming the closest declared one).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PeexOptionSpec {
    /// Option name.
    pub name: PeexStr,
    /// One line of help.
    pub help: PeexStr,
    /// [`PEEX_OPT_REQUIRED`] | [`PEEX_OPT_SECRET`].
    pub flags: u32,
}

/// What a connection can do: a size-tagged table that grows at the end. The host allocates
/// it, sets `struct_size` to its own size, fills it with the transport's declared value
/// ([`PeexTransportVTable::caps`], or zeros) and passes it to `connect`, which may change
/// any field that lies within `struct_size` (every 2.0 field always does).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeexCaps {
    /// Size of this table as allocated (by the host) or declared (by the plugin).
    pub struct_size: usize,
    /// `PEEX_CAP_*` bits.
    pub flags: u32,
    /// [`PEEX_RENAME_ATOMIC`] or [`PEEX_RENAME_REMOVE_THEN_RENAME`].
    pub rename_over: u32,
}

impl PeexCaps {
    /// A table of this crate's size with `flags` and `rename_over`.
    pub const fn new(flags: u32, rename_over: u32) -> PeexCaps {
        PeexCaps {
            struct_size: size_of::<PeexCaps>(),
            flags,
            rename_over,
        }
    }

    /// True if every bit of `flag` is set.
    pub const fn has(&self, flag: u32) -> bool {
        self.flags & flag == flag
    }
}

/// The host's error slot (opaque to plugins; written only through
/// [`PeexHostApi::error_set`]). May be null, in which case `error_set` does nothing.
#[repr(C)]
pub struct PeexErrorSlot {
    _private: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// A plugin connection (opaque to the host).
#[repr(C)]
pub struct PeexConn {
    _private: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// A plugin filter instance (opaque to the host).
#[repr(C)]
pub struct PeexFilter {
    _private: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `error_set(slot, status, flags, message)`: the host copies `message`.
pub type PeexErrorSetFn =
    unsafe extern "C" fn(slot: *mut PeexErrorSlot, status: PeexStatus, flags: u32, msg: PeexStr);
/// `log(level, message)`.
pub type PeexLogFn = unsafe extern "C" fn(level: u32, msg: PeexStr);

/// Functions and facts the host gives the plugin (passed to `init`, `connect` and `create`;
/// valid for the whole life of the process).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PeexHostApi {
    /// `size_of::<PeexHostApi>()` of the host; fields beyond it are absent.
    pub struct_size: usize,
    /// The host's ABI major.
    pub abi_major: u32,
    /// The host's ABI minor.
    pub abi_minor: u32,
    /// The host program's version.
    pub host_version: PeexStr,
    /// Fills an error slot (copying the message).
    pub error_set: PeexErrorSetFn,
    /// Writes a log line through the host.
    pub log: PeexLogFn,
}

/// Host callback receiving listing entries; a non-OK return asks the plugin to stop and
/// return that status (without calling `error_set`: the host knows why).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PeexEntrySink {
    /// Host context, passed back.
    pub ctx: *mut c_void,
    /// Receives one entry (borrowed for the call: the host copies the name).
    pub emit: unsafe extern "C" fn(ctx: *mut c_void, entry: *const PeexEntry) -> PeexStatus,
}

/// Host callback providing upload bytes: fills up to `cap` bytes of `buf`, stores the count
/// in `*out_len`; 0 bytes with `PEEX_OK` means end of data. A non-OK return means the local
/// file could not be read: the plugin stops and returns that status as is (no `error_set`:
/// the host already knows why, and its own error is the one reported).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PeexReader {
    /// Host context, passed back.
    pub ctx: *mut c_void,
    /// Reads the next bytes.
    pub read: unsafe extern "C" fn(
        ctx: *mut c_void,
        buf: *mut u8,
        cap: usize,
        out_len: *mut usize,
    ) -> PeexStatus,
}

/// One file of an upload stream (see [`PeexUploadQueue`]); filled by the host's `next`.
/// Its strings and reader stay valid until the host's `done` is called for its `id`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PeexUploadJob {
    /// Size of this table as the host filled it.
    pub struct_size: usize,
    /// The host's name for the job, passed back to `done`.
    pub id: u64,
    /// The temporary name (same directory as `path`) to write, time and rename over `path`;
    /// empty (`len == 0`): write `path` directly, time it, do not rename.
    pub tmp: PeexStr,
    /// The final name.
    pub path: PeexStr,
    /// The content: exactly `size` bytes.
    pub reader: PeexReader,
    /// Number of bytes.
    pub size: u64,
    /// 1 if `mtime` is to be set.
    pub has_mtime: u32,
    /// Reserved, 0.
    pub reserved: u32,
    /// Modification time to set, whole seconds since the epoch, UTC.
    pub mtime: i64,
}

/// The host's queue of files for `upload_stream`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PeexUploadQueue {
    /// Host context, passed back.
    pub ctx: *mut c_void,
    /// Fills `*job` with the next job and returns 1, or returns 0 when there is none.
    pub next: unsafe extern "C" fn(ctx: *mut c_void, job: *mut PeexUploadJob) -> i32,
    /// Reports a job's outcome, exactly once per job taken: `PEEX_OK` means complete (in
    /// place under its final name, time set); otherwise `flags` (`PEEX_ERR_*`) and `msg`
    /// (borrowed for the call) describe the error. After it the job's strings are invalid.
    pub done: unsafe extern "C" fn(
        ctx: *mut c_void,
        id: u64,
        status: PeexStatus,
        flags: u32,
        msg: PeexStr,
    ),
}

/// Opens a connection. `params` are the site parameters as key/value pairs (see
/// [`site_keys`]); `caps` is the host's table to fill (see [`PeexCaps`]).
pub type PeexConnectFn = unsafe extern "C" fn(
    this: *const PeexTransportVTable,
    host: *const PeexHostApi,
    params: *const PeexKv,
    n_params: usize,
    caps: *mut PeexCaps,
    out_conn: *mut *mut PeexConn,
    err: *mut PeexErrorSlot,
) -> PeexStatus;
/// Lists directory `dir` (relative path, `""` = root) into `sink`.
pub type PeexListFn = unsafe extern "C" fn(
    conn: *mut PeexConn,
    dir: PeexStr,
    sink: *const PeexEntrySink,
    err: *mut PeexErrorSlot,
) -> PeexStatus;
/// Uploads `size` bytes pulled from `reader` to `path`.
pub type PeexUploadFn = unsafe extern "C" fn(
    conn: *mut PeexConn,
    path: PeexStr,
    reader: *const PeexReader,
    size: u64,
    err: *mut PeexErrorSlot,
) -> PeexStatus;
/// An operation on one path (`delete`, `mkdir`, `rmdir`).
pub type PeexPathFn =
    unsafe extern "C" fn(conn: *mut PeexConn, path: PeexStr, err: *mut PeexErrorSlot) -> PeexStatus;
/// Renames `from` to `to`.
pub type PeexRenameFn = unsafe extern "C" fn(
    conn: *mut PeexConn,
    from: PeexStr,
    to: PeexStr,
    err: *mut PeexErrorSlot,
) -> PeexStatus;
/// Sets the modification time of `path`.
pub type PeexSetMtimeFn = unsafe extern "C" fn(
    conn: *mut PeexConn,
    path: PeexStr,
    mtime: i64,
    err: *mut PeexErrorSlot,
) -> PeexStatus;
/// Reads the modification time of `path` into `*out`.
pub type PeexGetMtimeFn = unsafe extern "C" fn(
    conn: *mut PeexConn,
    path: PeexStr,
    out: *mut i64,
    err: *mut PeexErrorSlot,
) -> PeexStatus;
/// Uploads the queue's jobs (see [`PeexUploadQueue`]); returns `PEEX_OK` when `next`
/// returned 0 and every job taken was reported, or the temporary error that stopped it.
pub type PeexUploadStreamFn = unsafe extern "C" fn(
    conn: *mut PeexConn,
    queue: *const PeexUploadQueue,
    err: *mut PeexErrorSlot,
) -> PeexStatus;
/// Creates `n` directories in order (parents first), writing one status per directory
/// attempted into `results` and their number into `*n_done` (fewer than `n` only after a
/// temporary error). `err` describes the first failure.
pub type PeexMkdirBatchFn = unsafe extern "C" fn(
    conn: *mut PeexConn,
    paths: *const PeexStr,
    n: usize,
    results: *mut PeexStatus,
    n_done: *mut usize,
    err: *mut PeexErrorSlot,
) -> PeexStatus;
/// Closes (politely ends and frees) a connection; the pointer is invalid afterwards.
pub type PeexCloseFn = unsafe extern "C" fn(conn: *mut PeexConn);

/// One transport a plugin provides. Fields are only ever appended; `struct_size` tells the
/// host which ones the plugin knows.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PeexTransportVTable {
    /// `size_of` this struct as the plugin was built.
    pub struct_size: usize,
    /// URL scheme (`webdav`): see [`valid_scheme`].
    pub scheme: PeexStr,
    /// One line.
    pub description: PeexStr,
    /// Options (array of `n_options`): the only `option.NAME`/`secret.NAME` keys accepted.
    pub options: *const PeexOptionSpec,
    /// Number of options.
    pub n_options: usize,
    /// Default port, 0 if none.
    pub default_port: u32,
    /// `PEEX_TRANSPORT_*` bits.
    pub flags: u32,
    /// Declared capabilities (shown by `peex plugins`, the initial value `connect` gets);
    /// NULL = none declared.
    pub caps: *const PeexCaps,
    /// Required.
    pub connect: Option<PeexConnectFn>,
    /// Required.
    pub close: Option<PeexCloseFn>,
    /// Required.
    pub list: Option<PeexListFn>,
    /// Required.
    pub upload: Option<PeexUploadFn>,
    /// Required. Deleting a missing path succeeds.
    pub delete: Option<PeexPathFn>,
    /// Required. Creating an existing directory succeeds.
    pub mkdir: Option<PeexPathFn>,
    /// Required. Removing a missing directory succeeds.
    pub rmdir: Option<PeexPathFn>,
    /// Required. Replaces an existing file as `caps.rename_over` says.
    pub rename: Option<PeexRenameFn>,
    /// Optional (NULL = cannot set times).
    pub set_mtime: Option<PeexSetMtimeFn>,
    /// Optional (NULL = cannot read times).
    pub get_mtime: Option<PeexGetMtimeFn>,
    /// Optional (NULL = the host runs upload, set_mtime, rename per file).
    pub upload_stream: Option<PeexUploadStreamFn>,
    /// Optional, ABI 2.1 (NULL or absent = the host calls mkdir per directory).
    pub mkdir_batch: Option<PeexMkdirBatchFn>,
}

/// Creates a filter instance from options.
pub type PeexFilterCreateFn = unsafe extern "C" fn(
    this: *const PeexFilterVTable,
    host: *const PeexHostApi,
    options: *const PeexKv,
    n_options: usize,
    out_filter: *mut *mut PeexFilter,
    err: *mut PeexErrorSlot,
) -> PeexStatus;
/// Decides about one entry: `path` is relative to the sync root; writes a `PEEX_VERDICT_*`.
/// Called from several threads at once: must be thread-safe.
pub type PeexFilterDecideFn = unsafe extern "C" fn(
    filter: *mut PeexFilter,
    path: PeexStr,
    entry: *const PeexEntry,
    side: u32,
    out_verdict: *mut u32,
    err: *mut PeexErrorSlot,
) -> PeexStatus;
/// Frees a filter instance.
pub type PeexFilterDestroyFn = unsafe extern "C" fn(filter: *mut PeexFilter);

/// One filter a plugin provides. Fields are only ever appended.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PeexFilterVTable {
    /// `size_of` this struct as the plugin was built.
    pub struct_size: usize,
    /// Filter name: see [`valid_name`].
    pub name: PeexStr,
    /// One line.
    pub description: PeexStr,
    /// Options (array of `n_options`).
    pub options: *const PeexOptionSpec,
    /// Number of options.
    pub n_options: usize,
    /// Required.
    pub create: Option<PeexFilterCreateFn>,
    /// Required.
    pub decide: Option<PeexFilterDecideFn>,
    /// Required.
    pub destroy: Option<PeexFilterDestroyFn>,
}

/// Optional one-time initialisation, called once after the descriptor was accepted.
pub type PeexInitFn =
    unsafe extern "C" fn(host: *const PeexHostApi, err: *mut PeexErrorSlot) -> PeexStatus;

/// What `peex_plugin_v2()` returns: a pointer to static data that lives as long as the
/// library is loaded.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PeexPluginDescriptor {
    /// [`PEEX_MAGIC`].
    pub magic: u32,
    /// [`PEEX_ABI_MAJOR`] the plugin was built for.
    pub abi_major: u32,
    /// [`PEEX_ABI_MINOR`] the plugin was built for.
    pub abi_minor: u32,
    /// Reserved, 0.
    pub flags: u32,
    /// `size_of` this struct as the plugin was built.
    pub struct_size: usize,
    /// Plugin name (non-empty).
    pub name: PeexStr,
    /// Plugin version: free text shown as is; [semver](https://semver.org) (`1.2.0`)
    /// recommended.
    pub version: PeexStr,
    /// Free text for messages: compiler and SDK (`rustc 1.85, peex-plugin-sdk 0.1.0`;
    /// `gcc 12.2`).
    pub built_with: PeexStr,
    /// Optional.
    pub init: Option<PeexInitFn>,
    /// Array of `n_transports` pointers to transport vtables.
    pub transports: *const *const PeexTransportVTable,
    /// Number of transports.
    pub n_transports: usize,
    /// Array of `n_filters` pointers to filter vtables.
    pub filters: *const *const PeexFilterVTable,
    /// Number of filters.
    pub n_filters: usize,
}

// SAFETY: vtables and descriptors are immutable static tables once published; the raw
// pointers inside only point to other immutable static data of the same library.
#[allow(unsafe_code)]
unsafe impl Sync for PeexTransportVTable {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl Send for PeexTransportVTable {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl Sync for PeexFilterVTable {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl Send for PeexFilterVTable {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl Sync for PeexPluginDescriptor {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl Send for PeexPluginDescriptor {}
// SAFETY: option specs only hold PeexStr views of immutable static strings.
#[allow(unsafe_code)]
unsafe impl Sync for PeexOptionSpec {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl Send for PeexOptionSpec {}
// SAFETY: the host API is an immutable static table of functions.
#[allow(unsafe_code)]
unsafe impl Sync for PeexHostApi {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl Send for PeexHostApi {}

/// The keys under which the host passes the site parameters to `connect`.
///
/// | key | value |
/// |---|---|
/// | `host` | host name or address (empty when the site gives none: [`PEEX_TRANSPORT_NO_HOST`]) |
/// | `port` | decimal port; absent when the site names none |
/// | `user` | user name (may be empty) |
/// | `password` | the password; absent when none |
/// | `root` | the remote root (`dest`) exactly as written in the config: not resolved, not normalised; the transport resolves it (against the login directory, a base URL…) |
/// | `timeout_ms` | connect/read timeout in milliseconds |
/// | `option.NAME` | each transport option (only declared names reach the plugin) |
/// | `secret.NAME` | each secret transport option |
///
/// Keys a plugin does not know must be ignored (a newer host may add some).
pub mod site_keys {
    /// Host name.
    pub const HOST: &str = "host";
    /// Port (decimal).
    pub const PORT: &str = "port";
    /// User name.
    pub const USER: &str = "user";
    /// Password.
    pub const PASSWORD: &str = "password";
    /// Remote root.
    pub const ROOT: &str = "root";
    /// Timeout in milliseconds.
    pub const TIMEOUT_MS: &str = "timeout_ms";
    /// Prefix of transport options.
    pub const OPTION_PREFIX: &str = "option.";
    /// Prefix of secret transport options.
    pub const SECRET_PREFIX: &str = "secret.";
}

/// The option the host passes to every filter's `create`: the local source directory.
pub const FILTER_SOURCE_ROOT: &str = "source_root";

/// Minimum `struct_size` of a [`PeexPluginDescriptor`] declaring ABI minor `minor`.
pub const fn min_descriptor_size(minor: u32) -> usize {
    let _ = minor; // unchanged since 2.0
    size_of::<PeexPluginDescriptor>()
}

/// Minimum `struct_size` of a [`PeexTransportVTable`] in a plugin of ABI minor `minor`:
/// 2.0 ends before `mkdir_batch`; 2.1 and later include it.
pub const fn min_transport_size(minor: u32) -> usize {
    if minor == 0 {
        offset_of!(PeexTransportVTable, mkdir_batch)
    } else {
        size_of::<PeexTransportVTable>()
    }
}

/// Minimum `struct_size` of a [`PeexFilterVTable`] in a plugin of ABI minor `minor`.
pub const fn min_filter_size(minor: u32) -> usize {
    let _ = minor; // unchanged since 2.0
    size_of::<PeexFilterVTable>()
}

/// Minimum `struct_size` of a [`PeexCaps`] (every field of 2.0).
pub const MIN_CAPS_SIZE: usize = size_of::<PeexCaps>();

/// Copies a table the plugin declared with `struct_size` bytes into one of this crate's
/// size: the bytes beyond `struct_size` stay zero (absent: NULL slots, zero fields), the
/// plugin's bytes beyond this crate's size are ignored.
///
/// # Safety
/// `T` must be one of this crate's tables, for which all-zero bytes are a valid value
/// (integers, raw pointers, `Option` of function pointers, [`PeexStr`]); `src` must point
/// to at least `min(struct_size, size_of::<T>())` readable bytes.
#[allow(unsafe_code)]
pub unsafe fn read_table<T: Copy>(src: *const T, struct_size: usize) -> T {
    let mut out = std::mem::MaybeUninit::<T>::zeroed();
    let n = struct_size.min(size_of::<T>());
    // SAFETY: src has n readable bytes (contract); out has size_of::<T>() >= n writable
    // bytes; they do not overlap (out is a fresh local).
    unsafe {
        std::ptr::copy_nonoverlapping(src.cast::<u8>(), out.as_mut_ptr().cast::<u8>(), n);
        // SAFETY: zero bytes are a valid T (contract), the copied prefix came from a valid T.
        out.assume_init()
    }
}
