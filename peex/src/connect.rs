//! Opening a connection the way the engine uses it: the listing contract held by
//! [`peex_core::Checked`] for every backend (built-in or plugin), and, in a dry run, the
//! [`ReadOnly`] guard that refuses every modifying call.

use crate::readonly::ReadOnly;
use peex_core::{Checked, RemoteFs, Result, SiteParams, Transport};

/// Connects with `transport` to `params` and wraps the connection: always in
/// [`Checked`], and in [`ReadOnly`] when `dry_run`.
pub fn open(
    transport: &dyn Transport,
    params: &SiteParams,
    dry_run: bool,
) -> Result<Box<dyn RemoteFs>> {
    let fs: Box<dyn RemoteFs> = Box::new(Checked(transport.connect(params)?));
    Ok(if dry_run { Box::new(ReadOnly(fs)) } else { fs })
}
