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

mod filter_ffi;
mod guard;
mod transport_ffi;
use filter_ffi::*;
use transport_ffi::*;

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
