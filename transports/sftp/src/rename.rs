//! Atomic rename over an existing file with the `posix-rename@openssh.com` extension.
//!
//! SFTP v3's RENAME refuses an existing target on OpenSSH, and libssh2 sends its rename flags
//! only to SFTP v5+ servers. libssh2 does implement the extension
//! (`libssh2_sftp_posix_rename_ex`), but the `ssh2` crate does not expose it, and this crate
//! has no `unsafe`. So this module speaks the few SFTP packets it needs itself, on a second
//! `sftp` subsystem channel of the same SSH session: INIT/VERSION (whose extension list also
//! tells whether the server offers the extension at all) and the EXTENDED request.
//! The packet layout is draft-ietf-secsh-filexfer-02 §3/§8 and OpenSSH's PROTOCOL §4.3.

use crate::core::{map_err, map_io, FX_OK};
use peex_core::{Error, ErrorKind, Result};
use ssh2::{Channel, ErrorCode, Session};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const SSH_FXP_INIT: u8 = 1;
const SSH_FXP_VERSION: u8 = 2;
const SSH_FXP_STATUS: u8 = 101;
const SSH_FXP_EXTENDED: u8 = 200;
const EXTENSION: &str = "posix-rename@openssh.com";
/// Replies we expect are tiny; anything bigger is a protocol error.
const MAX_PACKET: u32 = 256 * 1024;

/// A second SFTP channel used only for `posix-rename@openssh.com`.
pub(crate) struct PosixRename {
    channel: Channel,
    next_id: u32,
}

impl PosixRename {
    /// Opens the channel and returns it if the server offers the extension (version "1");
    /// `None` if not, or if the channel cannot be opened (then plain rename is used).
    pub(crate) fn open(session: &Session) -> Option<PosixRename> {
        let mut channel = session.channel_session().ok()?;
        channel.subsystem("sftp").ok()?;
        let mut init = Vec::with_capacity(9);
        put_u32(&mut init, 5);
        init.push(SSH_FXP_INIT);
        put_u32(&mut init, 3);
        channel.write_all(&init).ok()?;
        channel.flush().ok()?;
        let (kind, body) = read_packet(&mut channel, session).ok()?;
        if kind != SSH_FXP_VERSION {
            return None;
        }
        let mut r = Reader(&body);
        let _version = r.u32()?;
        let mut offered = false;
        while !r.0.is_empty() {
            let name = r.string()?;
            let data = r.string()?;
            if name == EXTENSION.as_bytes() && data == b"1" {
                offered = true;
            }
        }
        if !offered {
            let _ = channel.close();
            return None;
        }
        Some(PosixRename {
            channel,
            next_id: 1,
        })
    }

    /// Checks that the server really performs the request (a server can advertise it and
    /// still refuse it, e.g. OpenSSH's `sftp-server -P posix-rename`), without changing
    /// anything: renaming a name that does not exist must answer "no such file".
    pub(crate) fn works(&mut self, session: &Session, dir: &str) -> bool {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let base = format!(
            "{}/.peex-probe-{}-{nonce}",
            dir.trim_end_matches('/'),
            std::process::id()
        );
        let from = format!("{base}.missing");
        let to = format!("{base}.never");
        match self.rename(session, Path::new(&from), Path::new(&to)) {
            Err(e) => e.kind() == ErrorKind::NotFound,
            // Cannot happen unless someone created that very name; the rename worked.
            Ok(()) => true,
        }
    }

    /// Renames `src` to `dst`, atomically replacing an existing `dst` (POSIX rename(2)).
    pub(crate) fn rename(&mut self, session: &Session, src: &Path, dst: &Path) -> Result<()> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let src = src.as_os_str().as_bytes();
        let dst = dst.as_os_str().as_bytes();
        let mut body = Vec::with_capacity(64 + src.len() + dst.len());
        body.push(SSH_FXP_EXTENDED);
        put_u32(&mut body, id);
        put_string(&mut body, EXTENSION.as_bytes())?;
        put_string(&mut body, src)?;
        put_string(&mut body, dst)?;
        let mut packet = Vec::with_capacity(body.len() + 4);
        put_u32(&mut packet, len32(body.len())?);
        packet.extend_from_slice(&body);
        self.channel
            .write_all(&packet)
            .and_then(|()| self.channel.flush())
            .map_err(|e| map_io(&e, session))?;
        let (kind, reply) = read_packet(&mut self.channel, session)?;
        if kind != SSH_FXP_STATUS {
            return Err(protocol(format!(
                "unexpected reply type {kind} to posix-rename"
            )));
        }
        let mut r = Reader(&reply);
        let (rid, code) = match (r.u32(), r.u32()) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err(protocol("short STATUS reply to posix-rename".into())),
        };
        if rid != id {
            return Err(protocol(format!(
                "STATUS reply for request {rid}, expected {id}"
            )));
        }
        if code == FX_OK {
            return Ok(());
        }
        let server_msg = r
            .string()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .unwrap_or_default();
        let code = i32::try_from(code).unwrap_or(i32::MAX);
        let mapped = map_err(&ssh2::Error::from_errno(ErrorCode::SFTP(code)));
        if server_msg.is_empty() {
            Err(mapped)
        } else {
            Err(Error::new(
                mapped.kind(),
                format!("{server_msg} ({})", mapped.message()),
            )
            .set_temporary(mapped.is_temporary()))
        }
    }
}

impl Drop for PosixRename {
    fn drop(&mut self) {
        let _ = self.channel.close();
    }
}

fn protocol(msg: String) -> Error {
    Error::new(ErrorKind::Protocol, msg)
}

fn len32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::new(ErrorKind::Unexpected, "path too long"))
}

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_be_bytes());
}

fn put_string(buf: &mut Vec<u8>, s: &[u8]) -> Result<()> {
    put_u32(buf, len32(s.len())?);
    buf.extend_from_slice(s);
    Ok(())
}

/// Reads one SFTP packet: its type and the rest of its body.
fn read_packet(channel: &mut Channel, session: &Session) -> Result<(u8, Vec<u8>)> {
    let mut len = [0u8; 4];
    channel
        .read_exact(&mut len)
        .map_err(|e| map_io(&e, session))?;
    let len = u32::from_be_bytes(len);
    if len == 0 || len > MAX_PACKET {
        return Err(protocol(format!("SFTP packet of length {len}")));
    }
    let mut body = vec![0u8; len as usize];
    channel
        .read_exact(&mut body)
        .map_err(|e| map_io(&e, session))?;
    let kind = body[0];
    body.remove(0);
    Ok((kind, body))
}

/// A cursor over a packet body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*head))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        if n > self.0.len() {
            return None;
        }
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_parses_and_refuses_short_input() {
        let mut buf = Vec::new();
        put_u32(&mut buf, 3);
        put_string(&mut buf, b"posix-rename@openssh.com").ok();
        put_string(&mut buf, b"1").ok();
        let mut r = Reader(&buf);
        assert_eq!(r.u32(), Some(3));
        assert_eq!(r.string(), Some(&b"posix-rename@openssh.com"[..]));
        assert_eq!(r.string(), Some(&b"1"[..]));
        assert!(r.0.is_empty());
        let mut short = Reader(&[0, 0, 0, 9, b'a']);
        assert_eq!(short.string(), None);
    }
}
