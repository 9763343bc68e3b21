//! Uploads: `STOR` streaming from a reader, with the byte count checked.

use crate::core::Session;
use peex_core::Result;
use std::io::Read;

/// Stores exactly `size` bytes from `src` at the absolute path `abs`.
///
/// If `src` fails, ends early or has more than `size` bytes, the upload fails and the partial
/// file is removed (best effort; it is the engine's temporary file anyway).
pub fn upload(s: &mut Session, abs: &str, src: &mut dyn Read, size: u64) -> Result<()> {
    let r = s.wire.store(abs, src, size);
    if let Err(e) = &r {
        if !e.is_temporary() {
            let _ = s.command(&format!("DELE {abs}"));
        }
    }
    r
}
