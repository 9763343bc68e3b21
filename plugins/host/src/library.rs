//! Loading a library, validating its descriptor, and the host side of the C ABI: the host
//! API table, the host-owned error slot, and turning a status into a `peex_core::Error`.
//!
//! Libraries are never unloaded: a loaded library is leaked on purpose, so nothing that came
//! from it (vtables, strings, connections, filters, thread-local destructors) can outlive its
//! code.

#![deny(unsafe_op_in_unsafe_fn)]

use peex_core::{Error, ErrorKind};
use peex_plugin_abi::*;
use peex_plugin_bridge::error_from_status;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// A validated plugin: its descriptor (static data of a library that is never unloaded),
/// a copy of it read by its `struct_size`, and what it declares.
pub(crate) struct Loaded {
    pub desc: PeexPluginDescriptor,
    pub info: PluginInfo,
}

// SAFETY: the descriptor is immutable static data of a library that is never unloaded;
// sharing a pointer to it between threads is sound.
unsafe impl Send for Loaded {}
// SAFETY: as above.
unsafe impl Sync for Loaded {}

impl Loaded {
    /// The vtable of transport number `i` as the plugin published it, and a copy read by
    /// its `struct_size` (slots the plugin lacks are NULL).
    pub fn transport_vtable(&self, i: usize) -> (*const PeexTransportVTable, PeexTransportVTable) {
        // SAFETY: check_descriptor verified the array is non-null with n_transports entries
        // and i < n_transports (the caller indexes `info.transports`, of the same length).
        let p = unsafe { *self.desc.transports.add(i) };
        // SAFETY: validated non-null vtable whose struct_size bytes are readable; zeroed is a
        // valid table.
        let copy = unsafe { read_table(p, std::ptr::addr_of!((*p).struct_size).read()) };
        (p, copy)
    }

    /// The vtable of filter number `i`, as for transports.
    pub fn filter_vtable(&self, i: usize) -> (*const PeexFilterVTable, PeexFilterVTable) {
        // SAFETY: as above, for the filter array.
        let p = unsafe { *self.desc.filters.add(i) };
        // SAFETY: as above.
        let copy = unsafe { read_table(p, std::ptr::addr_of!((*p).struct_size).read()) };
        (p, copy)
    }
}

/// Loads `path`, finds `peex_plugin_v2`, validates the descriptor and runs `init`. A library
/// exporting only `peex_plugin_v1` (ABI 1.x) is refused with how to rebuild it.
/// Every failure is a reason string; nothing here panics on bad plugin data.
pub(crate) fn load(path: &Path) -> Result<Loaded, String> {
    // SAFETY: loading a library runs its initialisers. That is inherent to plugins: the user
    // asked for this file by putting it on a plugin path.
    let lib = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("cannot load library: {e}"))?;
    type Entry = unsafe extern "C" fn() -> *const PeexPluginDescriptor;
    // SAFETY: the symbol's type is fixed by the ABI (PEEX_PLUGIN_SYMBOL).
    let entry: Result<libloading::Symbol<'_, Entry>, _> =
        unsafe { lib.get(PEEX_PLUGIN_SYMBOL.as_bytes()) };
    let entry: Entry = match entry {
        Ok(sym) => *sym,
        Err(_) => {
            // SAFETY: only looked up, never called.
            let v1: Result<libloading::Symbol<'_, Entry>, _> =
                unsafe { lib.get(PEEX_PLUGIN_SYMBOL_V1.as_bytes()) };
            return Err(match v1 {
                Ok(_) => v1_refusal(),
                Err(_) => format!("not a peex plugin (no {PEEX_PLUGIN_SYMBOL} symbol)"),
            });
        }
    };
    // Never unload (see module docs): the function pointer stays valid forever.
    std::mem::forget(lib);
    // SAFETY: calling the plugin's entry point as the ABI defines it (no arguments).
    let desc = unsafe { entry() };
    // SAFETY: desc is null or the plugin's static descriptor (ABI contract); the validator
    // reads the header first and only reads the rest when struct_size covers it.
    let info = unsafe { check_descriptor(desc) }?;
    // SAFETY: validated above: non-null, struct_size at least the minimum for its minor.
    let desc = unsafe { read_table(desc, (*desc).struct_size) };
    if let Some(init) = desc.init {
        let mut slot = ErrorSlot::default();
        // SAFETY: init takes the static host API and our live error slot.
        let status = unsafe { init(&HOST_API, slot.as_ptr()) };
        if status != PEEX_OK {
            let e = slot.into_error(status, &info.name, "init");
            return Err(format!("init failed: {}", e.message()));
        }
    }
    Ok(Loaded { desc, info })
}

/// The host API every plugin receives (`host_version` is this crate's version).
pub(crate) static HOST_API: PeexHostApi = PeexHostApi {
    struct_size: std::mem::size_of::<PeexHostApi>(),
    abi_major: PEEX_ABI_MAJOR,
    abi_minor: PEEX_ABI_MINOR,
    host_version: PeexStr::new(env!("CARGO_PKG_VERSION")),
    error_set: host_error_set,
    log: host_log,
};

const MAX_MESSAGE: usize = 4096;

/// Copies a message from the plugin (lossy UTF-8, bounded).
///
/// # Safety
/// `msg` must be valid for the current call.
unsafe fn copy_message(msg: PeexStr) -> String {
    if msg.ptr.is_null() || msg.len == 0 {
        return String::new();
    }
    let len = msg.len.min(MAX_MESSAGE);
    // SAFETY: the plugin passes a string valid for this call; we read at most its length.
    let bytes = unsafe { std::slice::from_raw_parts(msg.ptr, len) };
    String::from_utf8_lossy(bytes).into_owned()
}

unsafe extern "C" fn host_error_set(
    slot: *mut PeexErrorSlot,
    status: PeexStatus,
    flags: u32,
    msg: PeexStr,
) {
    if slot.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: slots are only ever created by ErrorSlot::as_ptr and live across the call
        // they were passed to; the plugin writes it from that call's thread.
        let s = unsafe { &mut *slot.cast::<ErrorSlot>() };
        s.status = status;
        s.flags = flags;
        // SAFETY: msg is valid for this call (ABI contract).
        s.message = Some(unsafe { copy_message(msg) });
    }));
}

unsafe extern "C" fn host_log(level: u32, msg: PeexStr) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: msg is valid for this call.
        let text = unsafe { copy_message(msg) };
        if level <= PEEX_LOG_WARN {
            eprintln!("peex: plugin: {text}");
        }
    }));
}

/// The host-owned error slot a plugin call fills through `error_set`.
#[derive(Default)]
pub(crate) struct ErrorSlot {
    status: PeexStatus,
    flags: u32,
    message: Option<String>,
}

impl ErrorSlot {
    /// The pointer passed to the plugin (valid while `self` is borrowed).
    pub fn as_ptr(&mut self) -> *mut PeexErrorSlot {
        (self as *mut ErrorSlot).cast()
    }

    /// True if the plugin flagged the error as temporary.
    pub fn temporary(&self) -> bool {
        self.flags & PEEX_ERR_TEMPORARY != 0
    }

    /// True if the plugin flagged the error as fatal.
    pub fn fatal(&self) -> bool {
        self.flags & PEEX_ERR_FATAL != 0
    }

    /// The core error for a failed call returning `status`.
    pub fn into_error(self, status: PeexStatus, plugin: &str, op: &str) -> Error {
        let msg = self.message.unwrap_or_default();
        if status == PEEX_PANICKED {
            let msg = if msg.is_empty() {
                "no message".to_owned()
            } else {
                msg
            };
            return Error::new(
                ErrorKind::Panicked,
                format!("plugin {plugin:?} panicked in {op}: {msg}"),
            );
        }
        let msg = if msg.is_empty() {
            format!("plugin {plugin:?} failed in {op} with status {status} and no message")
        } else {
            msg
        };
        let _ = self.status; // the returned status is authoritative, not the slot's copy
        error_from_status(status, self.flags, msg)
    }
}

/// Borrows a Rust string for one call.
pub(crate) fn pstr(s: &str) -> PeexStr {
    PeexStr::new(s)
}
