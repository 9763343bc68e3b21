//! Uploads: `STOR` streaming from a reader, with the byte count checked.

use crate::core::{map_error, map_io, Op, Session};
use peex_core::{Error, ErrorKind, Result};
use std::io::{Read, Write};
use suppaftp::TlsStream;

/// Size of the copy buffer: large enough that each write fills TCP (or a TLS record batch).
const CHUNK: usize = 64 * 1024;

/// Stores exactly `size` bytes from `src` at the absolute path `abs`.
///
/// If `src` fails, ends early or has more than `size` bytes, the upload fails and the partial
/// file is removed (best effort; it is the engine's temporary file anyway).
pub fn upload<T: TlsStream>(
    s: &mut Session<T>,
    abs: &str,
    src: &mut dyn Read,
    size: u64,
) -> Result<()> {
    let mut stream = s
        .ftp
        .put_with_stream(abs)
        .map_err(|e| map_error(e, Op::Upload))?;
    let mut buf = vec![0u8; CHUNK];
    let mut sent: u64 = 0;
    let outcome: Result<()> = loop {
        let want = (size - sent).min(CHUNK as u64) as usize;
        if want == 0 {
            // Anything left in the source means it grew: refuse rather than store a prefix.
            match src.read(&mut buf[..1]) {
                Ok(0) => break Ok(()),
                Ok(_) => {
                    break Err(Error::new(
                        ErrorKind::Unexpected,
                        format!("the source has more than the expected {size} bytes"),
                    ))
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(Error::from(e)),
            }
        }
        let n = match src.read(&mut buf[..want]) {
            Ok(0) => {
                break Err(Error::new(
                    ErrorKind::Unexpected,
                    format!("the source ended after {sent} of {size} bytes"),
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(Error::from(e)),
        };
        if let Err(e) = stream.write_all(&buf[..n]) {
            break Err(map_io(e, Op::Upload));
        }
        sent += n as u64;
    };
    match outcome {
        Ok(()) => {
            stream.flush().map_err(|e| map_io(e, Op::Upload))?;
            stream.finish().map_err(|e| map_error(e, Op::Upload))
        }
        Err(e) => {
            // Close the data connection normally (ABOR leaves some servers' replies out of
            // step over TLS), then remove the partial file; both are best effort, the reason
            // we stopped is the error that matters.
            let _ = stream.finish();
            let _ = s.command(&format!("DELE {abs}"));
            Err(e)
        }
    }
}
