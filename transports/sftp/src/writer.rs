//! `upload`: create or truncate the remote file and stream the reader into it.

use crate::core::{map_err, map_io, SftpFs};
use peex_core::{Error, ErrorKind, RelPath, Result};
use ssh2::{OpenFlags, OpenType};
use std::io::{Read, Write};

/// Bytes handed to libssh2 per write; it splits them into pipelined SFTP WRITE requests.
const CHUNK: usize = 256 * 1024;

impl SftpFs {
    pub(crate) fn upload(&mut self, p: &RelPath, src: &mut dyn Read, size: u64) -> Result<()> {
        let path = self.path(p);
        let mut file = self
            .sftp
            .open_mode(
                &path,
                OpenFlags::WRITE | OpenFlags::TRUNCATE,
                0o644,
                OpenType::File,
            )
            .map_err(|e| map_err(&e))?;
        let mut buf = vec![0u8; CHUNK];
        let mut sent: u64 = 0;
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Unexpected,
                        format!("reading the local file failed: {e}"),
                    )
                    .with_source(e))
                }
            };
            sent += n as u64;
            if sent > size {
                return Err(Error::new(
                    ErrorKind::Unexpected,
                    format!("the local file grew while uploading: more than {size} bytes"),
                ));
            }
            file.write_all(&buf[..n])
                .map_err(|e| map_io(&e, &self.session))?;
        }
        if sent != size {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("the local file yielded {sent} bytes, expected {size}"),
            ));
        }
        file.close().map_err(|e| map_err(&e))
    }
}
