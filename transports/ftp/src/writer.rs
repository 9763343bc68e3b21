//! Uploads: `STOR` streaming from a reader, with the byte count checked.

use crate::errors::Op;
use crate::reply::Reply;
use crate::session::{mlst_fact, Session};
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
        if remove_after(e) {
            let _ = s.command(&format!("DELE {abs}"));
        }
    }
    r
}

/// Compares the size the server reports for `abs` with `size`. A server that cannot say
/// (no `size` fact, `SIZE` refused) cannot be checked (the upload is accepted).
fn check_stored_size(s: &mut Session, abs: &str, size: u64) -> Result<()> {
    let line = size_command(s, abs);
    let reply = s.command(&line)?;
    size_verdict(stored_size(s, &reply, abs), size)
}

/// The command that reads back the stored size of `abs`: `SIZE` where the server offers it
/// (the cheapest for the server: no facts to gather), else `MLST`.
pub fn size_command(s: &Session, abs: &str) -> String {
    if s.features.has("SIZE") {
        format!("SIZE {abs}")
    } else {
        format!("MLST {abs}")
    }
}

/// The size in the reply to [`size_command`]: `None` if the file does not exist (550).
pub fn stored_size(s: &Session, reply: &Reply, abs: &str) -> Result<Option<String>> {
    if !s.features.has("SIZE") {
        return mlst_fact(reply, abs, "size");
    }
    match reply.code {
        213 => Ok(Some(reply.text.get(4..).unwrap_or("").trim().to_owned())),
        550 => Ok(None),
        500 | 501 | 502 | 504 => Err(Error::new(
            ErrorKind::Protocol,
            format!("SIZE {abs} refused: {}", reply.one_line()),
        )),
        _ => Err(reply.error(Op::Upload)),
    }
}

/// The verdict on an upload of `size` bytes from the stored size read back
/// ([`stored_size`]).
pub fn size_verdict(fact: Result<Option<String>>, size: u64) -> Result<()> {
    let got = match fact {
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

/// True if a failed upload's file should be removed now: a refusal or a bad size (not a
/// lost connection, where the next run removes it).
pub fn remove_after(e: &Error) -> bool {
    !e.is_temporary() || e.kind() == ErrorKind::Protocol
}
