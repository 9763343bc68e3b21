//! Uploads: `STOR` streaming from a reader, with the byte count checked.

use crate::core::Session;
use peex_core::{Error, ErrorKind, Result};
use std::io::Read;

/// Stores exactly `size` bytes from `src` at the absolute path `abs`.
///
/// If `src` fails, ends early or has more than `size` bytes, the upload fails and the partial
/// file is removed (best effort; it is the engine's temporary file anyway).
///
/// Then the stored size is read back (`MLST`): a plain-FTP data connection that is closed
/// early looks to the server like the end of the file, so it answers `226` for a truncated
/// file. A size that differs is a temporary error (a retry may succeed) and the file is
/// removed, so the caller never renames a partial file into place.
pub fn upload(s: &mut Session, abs: &str, src: &mut dyn Read, size: u64) -> Result<()> {
    let r = s
        .wire
        .store(abs, src, size)
        .and_then(|()| check_stored_size(s, abs, size));
    if let Err(e) = &r {
        if !e.is_temporary() || e.kind() == ErrorKind::Protocol {
            let _ = s.command(&format!("DELE {abs}"));
        }
    }
    r
}

/// Compares the size the server reports for `abs` with `size`. A server whose `MLST`
/// reply carries no `size` fact cannot be checked (the upload is accepted).
fn check_stored_size(s: &mut Session, abs: &str, size: u64) -> Result<()> {
    let got = match s.fact(abs, "size") {
        Ok(Some(v)) => v.trim().parse::<u64>().ok(),
        Ok(None) => {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the uploaded file is not on the server after the transfer",
            )
            .temporary())
        }
        Err(e) if e.kind() == ErrorKind::Protocol && !e.is_temporary() => return Ok(()),
        Err(e) => return Err(e),
    };
    match got {
        Some(n) if n == size => Ok(()),
        Some(n) => Err(Error::new(
            ErrorKind::Protocol,
            format!("the server stored {n} of {size} bytes (the data connection was cut short)"),
        )
        .temporary()),
        None => Ok(()),
    }
}
