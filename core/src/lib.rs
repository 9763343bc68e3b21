//! # peex-core: the contract between the peex engine and its transports
//!
//! peex keeps a remote directory (`dest`) in step with a local one (`source`). Everything
//! the engine does on the remote side goes through [`RemoteFs`], opened by a [`Transport`].
//! Built-in transports (`ftp`, `ftps`, `local`, `sftp`) implement these traits directly and
//! register with [`inventory`]; the plugin SDK wraps the same traits behind a C ABI.
//!
//! The crate is deliberately small: no `unsafe`, one dependency.
//!
//! ```
//! use peex_core::{RelPath, EntryKind};
//! let p = RelPath::root().join("css").unwrap().join("site.css").unwrap();
//! assert_eq!(p.as_str(), "css/site.css");
//! assert_eq!(p.name(), "site.css");
//! assert!(RelPath::root().join("..").is_err());
//! # let _ = EntryKind::File;
//! ```
#![deny(missing_docs)]

mod checked;
mod error;
mod filter;
mod fs;
pub mod net;
pub mod options;
mod path;
mod secret;

pub use checked::{check_listing, Checked};
pub use error::{Error, ErrorKind, Result};
pub use filter::{Filter, Side, Verdict};
pub use fs::{
    mkdir_one_by_one, stream_of_one, transports, upload_stream_one_by_one, Capabilities, Entry,
    EntryKind, HashAlgo, MtimeMethod, RemoteFs, RenameOver, ReplaceJob, SiteParams, Transport,
    TransportRegistration, DEFAULT_TIMEOUT,
};
pub use options::{OptionSpec, OptionType};
pub use path::{validate_name, RelPath};
pub use secret::Secret;

pub use inventory;
