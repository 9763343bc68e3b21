//! # peex-plugin-abi: the stable C ABI between peex and its plugins
//!
//! A plugin is a shared library exporting one C function, [`PEEX_PLUGIN_SYMBOL`]
//! (`peex_plugin_v1`), that returns a pointer to a static [`PeexPluginDescriptor`]. Only the
//! `#[repr(C)]` types of this crate cross the boundary, so a plugin built by another compiler
//! version, or written in C against `plugins/include/peex_plugin.h`, works with any peex that
//! speaks the same ABI major version.
//!
//! Rules (DESIGN §4):
//!
//! - **Version**: the plugin's ABI major must equal the host's; its minor must not exceed the
//!   host's ([`check_version`]).
//! - **Growth**: the descriptor, the vtables and the host API start with (or carry) a
//!   `struct_size`; new fields are only ever appended. A table whose `struct_size` is smaller
//!   than the minimum for its declared minor is refused ([`min_descriptor_size`] & co.).
//! - **Strings** are UTF-8 pointer + length ([`PeexStr`]), borrowed for the duration of one
//!   call (or, in the descriptor and vtables, for the lifetime of the loaded library).
//! - **Status codes** are plain `i32` ([`PeexStatus`]); an unknown value is mapped to
//!   [`peex_core::ErrorKind::Unexpected`], never trusted as an enum.
//! - **Errors** are written into a host-owned slot through [`PeexHostApi::error_set`]: the
//!   host copies the message, so no memory allocated on one side is ever freed on the other.
//! - **Listing** pushes entries into a host callback ([`PeexEntrySink`]); **upload** pulls
//!   bytes from a host callback ([`PeexReader`]).
//!
//! The host validates a descriptor with [`check_descriptor`] before using anything else.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

use peex_core::{Capabilities, ErrorKind, MtimeMethod, RenameOver};
use std::ffi::c_void;
use std::marker::{PhantomData, PhantomPinned};
use std::mem::size_of;

/// `"PEEX"` as a big-endian `u32`: the first field of every descriptor.
pub const PEEX_MAGIC: u32 = 0x5045_4558;
/// The ABI major version this crate describes. Plugins must have exactly this major.
pub const PEEX_ABI_MAJOR: u32 = 1;
/// The ABI minor version this crate describes. Plugins may have this minor or an older one.
pub const PEEX_ABI_MINOR: u32 = 0;
/// The exported entry point: `extern "C" fn peex_plugin_v1() -> *const PeexPluginDescriptor`.
pub const PEEX_PLUGIN_SYMBOL: &str = "peex_plugin_v1";

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

/// One directory entry pushed by `list` into the host's [`PeexEntrySink`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PeexEntry {
    /// The entry's name (one component; the host refuses unsafe names).
    pub name: PeexStr,
    /// [`PEEX_KIND_FILE`], [`PEEX_KIND_DIR`] or [`PEEX_KIND_OTHER`].
    pub kind: u32,
    /// 1 if `mtime` is set (always for files), else 0.
    pub has_mtime: u32,
    /// Size in bytes (0 for directories).
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

/// Describes one option a transport or filter accepts (for `peex plugins` and checks).
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

/// What a transport's connections can do. Declared in the vtable; `connect` receives a copy
/// of the declared value and may refine it for the connection it opened.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeexCaps {
    /// 1 if `set_mtime` works.
    pub set_mtime: u32,
    /// 1 if `get_mtime` works.
    pub get_mtime: u32,
    /// [`PEEX_RENAME_ATOMIC`] or [`PEEX_RENAME_REMOVE_THEN_RENAME`].
    pub rename_over: u32,
}

impl PeexCaps {
    /// Converts core capabilities (any set-mtime method counts as supported).
    pub fn from_core(c: &Capabilities) -> PeexCaps {
        PeexCaps {
            set_mtime: u32::from(c.set_mtime != MtimeMethod::Unsupported),
            get_mtime: u32::from(c.get_mtime),
            rename_over: match c.rename_over {
                RenameOver::Atomic => PEEX_RENAME_ATOMIC,
                RenameOver::RemoveThenRename => PEEX_RENAME_REMOVE_THEN_RENAME,
            },
        }
    }

    /// Converts to core capabilities (a settable mtime is [`MtimeMethod::Plugin`]; an
    /// unknown `rename_over` is taken as the cautious `RemoveThenRename`).
    pub fn to_core(&self) -> Capabilities {
        Capabilities {
            set_mtime: if self.set_mtime != 0 {
                MtimeMethod::Plugin
            } else {
                MtimeMethod::Unsupported
            },
            get_mtime: self.get_mtime != 0,
            rename_over: if self.rename_over == PEEX_RENAME_ATOMIC {
                RenameOver::Atomic
            } else {
                RenameOver::RemoveThenRename
            },
            // Not in this ABI version: the engine gives every file its own temporary name.
            rename_dirs: false,
        }
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
/// return that status.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PeexEntrySink {
    /// Host context, passed back.
    pub ctx: *mut c_void,
    /// Receives one entry (borrowed for the call).
    pub emit: unsafe extern "C" fn(ctx: *mut c_void, entry: *const PeexEntry) -> PeexStatus,
}

/// Host callback providing upload bytes: fills up to `cap` bytes of `buf`, stores the count
/// in `*out_len`; 0 bytes with `PEEX_OK` means end of data.
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

/// Opens a connection. `params` are the site parameters as key/value pairs (see
/// [`site_keys`]); `caps` holds the declared capabilities and may be refined.
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
/// Closes (politely ends and frees) a connection; the pointer is invalid afterwards.
pub type PeexCloseFn = unsafe extern "C" fn(conn: *mut PeexConn);

/// One transport a plugin provides. Fields are only ever appended; `struct_size` tells the
/// host how many exist.
#[repr(C)]
pub struct PeexTransportVTable {
    /// `size_of` this struct as the plugin was built.
    pub struct_size: usize,
    /// URL scheme (`webdav`): lowercase ASCII letter, then letters, digits, `+`, `-`, `.`.
    pub scheme: PeexStr,
    /// One line.
    pub description: PeexStr,
    /// Options (array of `n_options`).
    pub options: *const PeexOptionSpec,
    /// Number of options.
    pub n_options: usize,
    /// Default port, 0 if none.
    pub default_port: u32,
    /// Declared capabilities.
    pub caps: PeexCaps,
    /// Required.
    pub connect: Option<PeexConnectFn>,
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
    /// Required. Replaces an existing target as `caps.rename_over` says.
    pub rename: Option<PeexRenameFn>,
    /// Optional (null = cannot set times).
    pub set_mtime: Option<PeexSetMtimeFn>,
    /// Optional (null = cannot read times).
    pub get_mtime: Option<PeexGetMtimeFn>,
    /// Required.
    pub close: Option<PeexCloseFn>,
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
pub struct PeexFilterVTable {
    /// `size_of` this struct as the plugin was built.
    pub struct_size: usize,
    /// Filter name: ASCII letters, digits, `_`, `-`, `.`.
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

/// What `peex_plugin_v1()` returns: a pointer to static data that lives as long as the
/// library is loaded.
#[repr(C)]
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
    /// Plugin version (free text, e.g. `1.2.0`).
    pub version: PeexStr,
    /// Free text for messages (`rustc 1.85, peex-plugin-sdk 0.1.0`; `gcc 12`).
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

/// The keys under which the host passes [`peex_core::SiteParams`] to `connect`.
///
/// | key | value |
/// |---|---|
/// | `host` | host name or address |
/// | `port` | decimal port; absent when the site names none |
/// | `user` | user name (may be empty) |
/// | `password` | the password; absent when none |
/// | `root` | the remote root (`dest`) |
/// | `timeout_ms` | connect/read timeout in milliseconds |
/// | `option.NAME` | each transport option |
/// | `secret.NAME` | each secret transport option |
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
    let _ = minor; // ABI 1.0 is the only minor so far: every field is required.
    size_of::<PeexPluginDescriptor>()
}

/// Minimum `struct_size` of a [`PeexTransportVTable`] in a plugin of ABI minor `minor`.
pub const fn min_transport_size(minor: u32) -> usize {
    let _ = minor;
    size_of::<PeexTransportVTable>()
}

/// Minimum `struct_size` of a [`PeexFilterVTable`] in a plugin of ABI minor `minor`.
pub const fn min_filter_size(minor: u32) -> usize {
    let _ = minor;
    size_of::<PeexFilterVTable>()
}

/// Maps a status to a core error kind; unknown values become `Unexpected`.
pub fn status_to_kind(status: PeexStatus) -> ErrorKind {
    match status {
        PEEX_NOT_FOUND => ErrorKind::NotFound,
        PEEX_PERMISSION_DENIED => ErrorKind::PermissionDenied,
        PEEX_ALREADY_EXISTS => ErrorKind::AlreadyExists,
        PEEX_NOT_A_DIR => ErrorKind::NotADirectory,
        PEEX_DIR_NOT_EMPTY => ErrorKind::DirectoryNotEmpty,
        PEEX_UNSUPPORTED => ErrorKind::Unsupported,
        PEEX_CONFIG_INVALID => ErrorKind::ConfigInvalid,
        PEEX_INVALID_NAME => ErrorKind::InvalidName,
        PEEX_PROTOCOL => ErrorKind::Protocol,
        PEEX_CONNECTION_FAILED => ErrorKind::ConnectionFailed,
        PEEX_AUTH_FAILED => ErrorKind::AuthFailed,
        PEEX_HOST_IDENTITY => ErrorKind::HostIdentity,
        PEEX_RATE_LIMITED => ErrorKind::RateLimited,
        PEEX_PANICKED => ErrorKind::Panicked,
        _ => ErrorKind::Unexpected,
    }
}

/// Maps a core error kind to a status.
pub fn kind_to_status(kind: ErrorKind) -> PeexStatus {
    match kind {
        ErrorKind::NotFound => PEEX_NOT_FOUND,
        ErrorKind::PermissionDenied => PEEX_PERMISSION_DENIED,
        ErrorKind::AlreadyExists => PEEX_ALREADY_EXISTS,
        ErrorKind::NotADirectory => PEEX_NOT_A_DIR,
        ErrorKind::DirectoryNotEmpty => PEEX_DIR_NOT_EMPTY,
        ErrorKind::Unsupported => PEEX_UNSUPPORTED,
        ErrorKind::ConfigInvalid => PEEX_CONFIG_INVALID,
        ErrorKind::InvalidName => PEEX_INVALID_NAME,
        ErrorKind::Protocol => PEEX_PROTOCOL,
        ErrorKind::ConnectionFailed => PEEX_CONNECTION_FAILED,
        ErrorKind::AuthFailed => PEEX_AUTH_FAILED,
        ErrorKind::HostIdentity => PEEX_HOST_IDENTITY,
        ErrorKind::RateLimited => PEEX_RATE_LIMITED,
        ErrorKind::Panicked => PEEX_PANICKED,
        _ => PEEX_UNEXPECTED,
    }
}

/// The version rule: `major` must equal [`PEEX_ABI_MAJOR`] and `minor` must not exceed
/// [`PEEX_ABI_MINOR`]. The error says which way the mismatch goes.
pub fn check_version(major: u32, minor: u32) -> Result<(), String> {
    if major != PEEX_ABI_MAJOR {
        let advice = if major > PEEX_ABI_MAJOR {
            "upgrade peex"
        } else {
            "rebuild the plugin against this peex"
        };
        return Err(format!(
            "built for plugin ABI {major}.{minor}, but this peex speaks ABI \
             {PEEX_ABI_MAJOR}.{PEEX_ABI_MINOR} (major versions must be equal; {advice})"
        ));
    }
    if minor > PEEX_ABI_MINOR {
        return Err(format!(
            "built for plugin ABI {major}.{minor}, newer than this peex's ABI \
             {PEEX_ABI_MAJOR}.{PEEX_ABI_MINOR} (upgrade peex)"
        ));
    }
    Ok(())
}

/// One option, as read from a validated descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionInfo {
    /// Name.
    pub name: String,
    /// Help line.
    pub help: String,
    /// Must be given.
    pub required: bool,
    /// Holds a secret.
    pub secret: bool,
}

/// One transport, as read from a validated descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportInfo {
    /// URL scheme.
    pub scheme: String,
    /// One line.
    pub description: String,
    /// Default port.
    pub default_port: Option<u16>,
    /// Declared capabilities.
    pub caps: PeexCaps,
    /// Options.
    pub options: Vec<OptionInfo>,
}

/// One filter, as read from a validated descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterInfo {
    /// Name.
    pub name: String,
    /// One line.
    pub description: String,
    /// Options.
    pub options: Vec<OptionInfo>,
}

/// A validated descriptor, copied into owned Rust data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// ABI major it was built for.
    pub abi_major: u32,
    /// ABI minor it was built for.
    pub abi_minor: u32,
    /// Free text about the toolchain.
    pub built_with: String,
    /// Transports, in descriptor order.
    pub transports: Vec<TransportInfo>,
    /// Filters, in descriptor order.
    pub filters: Vec<FilterInfo>,
}

impl PluginInfo {
    /// `"1.0"`.
    pub fn abi(&self) -> String {
        format!("{}.{}", self.abi_major, self.abi_minor)
    }
}

const MAX_STR: usize = 64 * 1024;
const MAX_ITEMS: usize = 1024;

/// True for a valid transport scheme: a lowercase ASCII letter, then lowercase letters,
/// digits, `+`, `-`, `.`.
pub fn valid_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// True for a valid filter or option name: ASCII letters, digits, `_`, `-`, `.`, non-empty.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

#[allow(unsafe_code)]
unsafe fn read_str(s: PeexStr, what: &str) -> Result<String, String> {
    if s.len > MAX_STR {
        return Err(format!("{what}: string of {} bytes is too long", s.len));
    }
    // SAFETY: the caller (check_descriptor's contract) guarantees the descriptor's strings
    // point to readable static data; null/len is checked by to_str.
    unsafe { s.to_str() }
        .map(str::to_owned)
        .map_err(|e| format!("{what}: {e}"))
}

#[allow(unsafe_code)]
unsafe fn read_options(
    ptr: *const PeexOptionSpec,
    n: usize,
    what: &str,
) -> Result<Vec<OptionInfo>, String> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if ptr.is_null() || n > MAX_ITEMS {
        return Err(format!("{what}: invalid option table ({n} options)"));
    }
    // SAFETY: non-null and, by the descriptor contract, an array of n option specs.
    let specs = unsafe { std::slice::from_raw_parts(ptr, n) };
    let mut out: Vec<OptionInfo> = Vec::with_capacity(n);
    for (i, spec) in specs.iter().enumerate() {
        // SAFETY: strings of a descriptor point to static data (contract).
        let name = unsafe { read_str(spec.name, &format!("{what} option {i} name")) }?;
        if !valid_name(&name) {
            return Err(format!("{what}: invalid option name {name:?}"));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(format!("{what}: option {name:?} declared twice"));
        }
        // SAFETY: as above.
        let help = unsafe { read_str(spec.help, &format!("{what} option {name} help")) }?;
        out.push(OptionInfo {
            name,
            help,
            required: spec.flags & PEEX_OPT_REQUIRED != 0,
            secret: spec.flags & PEEX_OPT_SECRET != 0,
        });
    }
    Ok(out)
}

/// Validates a descriptor returned by `peex_plugin_v1` and copies what it declares.
///
/// Checks, in order: non-null, magic, the version rule, `struct_size` of the descriptor and
/// of every vtable against the minimum for the declared minor, UTF-8 and non-empty names,
/// valid schemes and filter names, no duplicate within the plugin, every required function
/// present. Clashes with other plugins or built-ins are the host's business.
///
/// # Safety
/// `desc` must be null or point to memory readable for at least the header (magic, versions,
/// flags, struct_size) and, if its `struct_size` is large enough, to a descriptor whose
/// pointers reference readable data as the ABI describes, for as long as the library stays
/// loaded.
#[allow(unsafe_code)]
pub unsafe fn check_descriptor(desc: *const PeexPluginDescriptor) -> Result<PluginInfo, String> {
    if desc.is_null() {
        return Err("peex_plugin_v1 returned no descriptor (null)".to_owned());
    }
    // SAFETY: non-null; the header fields are readable per the contract above.
    let (magic, major, minor, size) = unsafe {
        (
            std::ptr::addr_of!((*desc).magic).read(),
            std::ptr::addr_of!((*desc).abi_major).read(),
            std::ptr::addr_of!((*desc).abi_minor).read(),
            std::ptr::addr_of!((*desc).struct_size).read(),
        )
    };
    if magic != PEEX_MAGIC {
        return Err(format!(
            "bad magic 0x{magic:08x} (expected 0x{PEEX_MAGIC:08x}, \"PEEX\"): not a peex plugin \
             descriptor"
        ));
    }
    check_version(major, minor)?;
    let min = min_descriptor_size(minor);
    if size < min {
        return Err(format!(
            "truncated descriptor: struct_size {size} is smaller than {min}, the minimum for ABI \
             {major}.{minor}"
        ));
    }
    // SAFETY: struct_size covers every field of this struct, so all of it is readable.
    let d = unsafe { &*desc };
    // SAFETY: descriptor strings point to static data (contract).
    let name = unsafe { read_str(d.name, "plugin name") }?;
    if name.trim().is_empty() {
        return Err("empty plugin name".to_owned());
    }
    // SAFETY: as above.
    let version = unsafe { read_str(d.version, "plugin version") }?;
    // SAFETY: as above.
    let built_with = unsafe { read_str(d.built_with, "built_with") }?;
    if d.n_transports > MAX_ITEMS || d.n_filters > MAX_ITEMS {
        return Err("too many transports or filters".to_owned());
    }
    if (d.n_transports > 0 && d.transports.is_null()) || (d.n_filters > 0 && d.filters.is_null()) {
        return Err("null transport or filter table".to_owned());
    }
    let mut transports: Vec<TransportInfo> = Vec::new();
    for i in 0..d.n_transports {
        // SAFETY: non-null array of n_transports pointers (contract).
        let vt = unsafe { *d.transports.add(i) };
        if vt.is_null() {
            return Err(format!("transport {i}: null vtable"));
        }
        // SAFETY: non-null; struct_size is the first field and always present.
        let vsize = unsafe { std::ptr::addr_of!((*vt).struct_size).read() };
        let vmin = min_transport_size(minor);
        if vsize < vmin {
            return Err(format!(
                "transport {i}: truncated table (struct_size {vsize} < {vmin}, the minimum for \
                 ABI {major}.{minor})"
            ));
        }
        // SAFETY: struct_size covers the whole struct.
        let t = unsafe { &*vt };
        // SAFETY: static strings (contract).
        let scheme = unsafe { read_str(t.scheme, &format!("transport {i} scheme")) }?;
        if scheme.is_empty() {
            return Err(format!("transport {i}: empty scheme"));
        }
        if !valid_scheme(&scheme) {
            return Err(format!("transport {i}: invalid scheme {scheme:?}"));
        }
        if transports.iter().any(|x| x.scheme == scheme) {
            return Err(format!("transport scheme {scheme:?} declared twice"));
        }
        let missing = [
            ("connect", t.connect.is_none()),
            ("list", t.list.is_none()),
            ("upload", t.upload.is_none()),
            ("delete", t.delete.is_none()),
            ("mkdir", t.mkdir.is_none()),
            ("rmdir", t.rmdir.is_none()),
            ("rename", t.rename.is_none()),
            ("close", t.close.is_none()),
        ];
        if let Some((f, _)) = missing.iter().find(|(_, m)| *m) {
            return Err(format!(
                "transport {scheme:?}: required function {f} is null"
            ));
        }
        // SAFETY: static strings and option array (contract).
        let description = unsafe { read_str(t.description, &format!("transport {scheme}")) }?;
        // SAFETY: as above.
        let options =
            unsafe { read_options(t.options, t.n_options, &format!("transport {scheme:?}")) }?;
        let mut caps = t.caps;
        if t.set_mtime.is_none() {
            caps.set_mtime = 0;
        }
        if t.get_mtime.is_none() {
            caps.get_mtime = 0;
        }
        transports.push(TransportInfo {
            scheme,
            description,
            default_port: u16::try_from(t.default_port).ok().filter(|p| *p != 0),
            caps,
            options,
        });
    }
    let mut filters: Vec<FilterInfo> = Vec::new();
    for i in 0..d.n_filters {
        // SAFETY: non-null array of n_filters pointers (contract).
        let vf = unsafe { *d.filters.add(i) };
        if vf.is_null() {
            return Err(format!("filter {i}: null vtable"));
        }
        // SAFETY: non-null; struct_size is the first field.
        let vsize = unsafe { std::ptr::addr_of!((*vf).struct_size).read() };
        let vmin = min_filter_size(minor);
        if vsize < vmin {
            return Err(format!(
                "filter {i}: truncated table (struct_size {vsize} < {vmin}, the minimum for ABI \
                 {major}.{minor})"
            ));
        }
        // SAFETY: struct_size covers the whole struct.
        let f = unsafe { &*vf };
        // SAFETY: static strings (contract).
        let fname = unsafe { read_str(f.name, &format!("filter {i} name")) }?;
        if fname.is_empty() {
            return Err(format!("filter {i}: empty name"));
        }
        if !valid_name(&fname) {
            return Err(format!("filter {i}: invalid name {fname:?}"));
        }
        if filters.iter().any(|x| x.name == fname) {
            return Err(format!("filter {fname:?} declared twice"));
        }
        if f.create.is_none() || f.decide.is_none() || f.destroy.is_none() {
            return Err(format!(
                "filter {fname:?}: a required function (create, decide, destroy) is null"
            ));
        }
        // SAFETY: static strings and option array (contract).
        let description = unsafe { read_str(f.description, &format!("filter {fname}")) }?;
        // SAFETY: as above.
        let options =
            unsafe { read_options(f.options, f.n_options, &format!("filter {fname:?}")) }?;
        filters.push(FilterInfo {
            name: fname,
            description,
            options,
        });
    }
    if transports.is_empty() && filters.is_empty() {
        return Err("provides no transport and no filter".to_owned());
    }
    Ok(PluginInfo {
        name,
        version,
        abi_major: major,
        abi_minor: minor,
        built_with,
        transports,
        filters,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn version_rule() {
        assert!(check_version(PEEX_ABI_MAJOR, PEEX_ABI_MINOR).is_ok());
        assert!(check_version(PEEX_ABI_MAJOR, PEEX_ABI_MINOR + 1)
            .unwrap_err()
            .contains("newer"));
        assert!(check_version(PEEX_ABI_MAJOR + 1, 0)
            .unwrap_err()
            .contains("major"));
        assert!(check_version(0, 0).unwrap_err().contains("major"));
    }

    #[test]
    fn unknown_status_is_unexpected() {
        assert_eq!(status_to_kind(12345), ErrorKind::Unexpected);
        assert_eq!(status_to_kind(-1), ErrorKind::Unexpected);
        for k in [
            ErrorKind::NotFound,
            ErrorKind::Panicked,
            ErrorKind::RateLimited,
        ] {
            assert_eq!(status_to_kind(kind_to_status(k)), k);
        }
    }

    #[test]
    fn layout_is_stable_on_64_bit() {
        if size_of::<usize>() == 8 {
            assert_eq!(size_of::<PeexStr>(), 16);
            assert_eq!(size_of::<PeexEntry>(), 40);
            assert_eq!(size_of::<PeexOptionSpec>(), 40);
            assert_eq!(size_of::<PeexCaps>(), 12);
            assert_eq!(size_of::<PeexTransportVTable>(), 72 + 10 * 8);
            assert_eq!(size_of::<PeexFilterVTable>(), 56 + 3 * 8);
            assert_eq!(size_of::<PeexPluginDescriptor>(), 24 + 48 + 8 + 32);
        }
    }

    #[test]
    fn null_and_bad_magic_are_refused() {
        // SAFETY: null is allowed by the contract.
        #[allow(unsafe_code)]
        let e = unsafe { check_descriptor(std::ptr::null()) }.unwrap_err();
        assert!(e.contains("null"));
        assert!(valid_scheme("webdav") && valid_scheme("s3+http") && !valid_scheme("Web"));
        assert!(!valid_scheme("") && !valid_scheme("1ftp"));
    }
}
