//! SFTP version 3 packets (draft-ietf-secsh-filexfer-02 §3–§7, OpenSSH's PROTOCOL §4):
//! the requests this backend sends, built as bytes, and the replies it reads, parsed.
//!
//! Every packet is `uint32 length, byte type, …`; every request after `INIT` carries a
//! `uint32 id` that its reply repeats. Strings are `uint32 length` + bytes; attributes are
//! a flag word followed by the fields it announces.

use peex_core::{Error, ErrorKind, Result};

pub(crate) const FXP_INIT: u8 = 1;
pub(crate) const FXP_VERSION: u8 = 2;
pub(crate) const FXP_OPEN: u8 = 3;
pub(crate) const FXP_CLOSE: u8 = 4;
pub(crate) const FXP_WRITE: u8 = 6;
pub(crate) const FXP_LSTAT: u8 = 7;
pub(crate) const FXP_FSETSTAT: u8 = 10;
pub(crate) const FXP_SETSTAT: u8 = 9;
pub(crate) const FXP_OPENDIR: u8 = 11;
pub(crate) const FXP_READDIR: u8 = 12;
pub(crate) const FXP_REMOVE: u8 = 13;
pub(crate) const FXP_MKDIR: u8 = 14;
pub(crate) const FXP_RMDIR: u8 = 15;
pub(crate) const FXP_REALPATH: u8 = 16;
pub(crate) const FXP_STAT: u8 = 17;
pub(crate) const FXP_RENAME: u8 = 18;
pub(crate) const FXP_STATUS: u8 = 101;
pub(crate) const FXP_HANDLE: u8 = 102;
pub(crate) const FXP_DATA: u8 = 103;
pub(crate) const FXP_NAME: u8 = 104;
pub(crate) const FXP_ATTRS: u8 = 105;
pub(crate) const FXP_EXTENDED: u8 = 200;
pub(crate) const FXP_EXTENDED_REPLY: u8 = 201;

const ATTR_SIZE: u32 = 0x1;
const ATTR_UIDGID: u32 = 0x2;
const ATTR_PERMISSIONS: u32 = 0x4;
const ATTR_ACMODTIME: u32 = 0x8;
const ATTR_EXTENDED: u32 = 0x8000_0000;

/// `SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC`.
pub(crate) const OPEN_WRITE_CREATE_TRUNCATE: u32 = 0x02 | 0x08 | 0x10;

/// The extension that renames over an existing file atomically (POSIX `rename(2)`).
pub(crate) const EXT_POSIX_RENAME: &str = "posix-rename@openssh.com";
/// The extension that tells the server's packet, read and write size limits.
pub(crate) const EXT_LIMITS: &str = "limits@openssh.com";

/// File attributes (`ATTRS`): only what the fields' flags announce is `Some`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Attrs {
    pub size: Option<u64>,
    pub perm: Option<u32>,
    pub atime: Option<u32>,
    pub mtime: Option<u32>,
}

impl Attrs {
    /// Only the times, access = modification.
    pub(crate) fn times(t: u32) -> Attrs {
        Attrs {
            atime: Some(t),
            mtime: Some(t),
            ..Attrs::default()
        }
    }

    /// Only the permission bits.
    pub(crate) fn perm(p: u32) -> Attrs {
        Attrs {
            perm: Some(p),
            ..Attrs::default()
        }
    }

    /// True when the type bits say directory.
    pub(crate) fn is_dir(&self) -> bool {
        self.perm.is_some_and(|p| p & 0o170000 == 0o040000)
    }

    /// True when the type bits say regular file.
    pub(crate) fn is_file(&self) -> bool {
        self.perm.is_some_and(|p| p & 0o170000 == 0o100000)
    }
}

/// One request, built field by field, with its type; the id and length are added when it
/// is sent.
pub(crate) struct Request {
    pub kind: u8,
    pub body: Vec<u8>,
}

impl Request {
    pub(crate) fn new(kind: u8) -> Request {
        Request {
            kind,
            body: Vec::with_capacity(64),
        }
    }

    /// A request of `kind` with one path argument (STAT, LSTAT, OPENDIR, REMOVE, RMDIR,
    /// REALPATH).
    pub(crate) fn path(kind: u8, path: &[u8]) -> Request {
        Request::new(kind).string(path)
    }

    pub(crate) fn u32(mut self, v: u32) -> Request {
        self.body.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn u64(mut self, v: u64) -> Request {
        self.body.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A string. Lengths are bounded by the caller (paths, handles, chunks ≤ 256 KiB).
    pub(crate) fn string(mut self, s: &[u8]) -> Request {
        let n = u32::try_from(s.len()).unwrap_or(u32::MAX);
        self.body.extend_from_slice(&n.to_be_bytes());
        self.body.extend_from_slice(s);
        self
    }

    pub(crate) fn attrs(self, a: &Attrs) -> Request {
        let mut flags = 0;
        if a.size.is_some() {
            flags |= ATTR_SIZE;
        }
        if a.perm.is_some() {
            flags |= ATTR_PERMISSIONS;
        }
        if a.atime.is_some() || a.mtime.is_some() {
            flags |= ATTR_ACMODTIME;
        }
        let mut r = self.u32(flags);
        if let Some(s) = a.size {
            r = r.u64(s);
        }
        if let Some(p) = a.perm {
            r = r.u32(p);
        }
        if flags & ATTR_ACMODTIME != 0 {
            let m = a.mtime.or(a.atime).unwrap_or(0);
            r = r.u32(a.atime.unwrap_or(m)).u32(m);
        }
        r
    }

    /// The bytes on the wire: length, type, id, body.
    pub(crate) fn encode(&self, id: u32, out: &mut Vec<u8>) {
        let len = u32::try_from(self.body.len() + 5).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.push(self.kind);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&self.body);
    }
}

/// One entry of a `NAME` reply.
#[derive(Debug, Clone)]
pub(crate) struct Name {
    pub name: Vec<u8>,
    pub attrs: Attrs,
}

/// A reply, matched to its request by id.
#[derive(Debug)]
pub(crate) enum Reply {
    /// `STATUS`: code and the server's message.
    Status { code: u32, msg: String },
    /// `HANDLE`: an open file or directory.
    Handle(Vec<u8>),
    /// `DATA` (not read by this backend, parsed for completeness).
    Data,
    /// `NAME`: directory entries or a resolved path.
    Name(Vec<Name>),
    /// `ATTRS`.
    Attrs(Attrs),
    /// `EXTENDED_REPLY`: the extension's own data.
    Extended(Vec<u8>),
}

/// A cursor over a packet body.
pub(crate) struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*head))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_be_bytes(*head))
    }

    pub(crate) fn string(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        if n > self.0.len() {
            return None;
        }
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(s)
    }

    fn attrs(&mut self) -> Option<Attrs> {
        let flags = self.u32()?;
        let mut a = Attrs::default();
        if flags & ATTR_SIZE != 0 {
            a.size = Some(self.u64()?);
        }
        if flags & ATTR_UIDGID != 0 {
            self.u32()?;
            self.u32()?;
        }
        if flags & ATTR_PERMISSIONS != 0 {
            a.perm = Some(self.u32()?);
        }
        if flags & ATTR_ACMODTIME != 0 {
            a.atime = Some(self.u32()?);
            a.mtime = Some(self.u32()?);
        }
        if flags & ATTR_EXTENDED != 0 {
            let n = self.u32()?;
            for _ in 0..n {
                self.string()?;
                self.string()?;
            }
        }
        Some(a)
    }
}

fn protocol(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Protocol, msg.into())
}

/// Parses a reply packet (type and body after the length): its request id and content.
pub(crate) fn parse_reply(kind: u8, body: &[u8]) -> Result<(u32, Reply)> {
    let mut r = Reader(body);
    let short = || protocol(format!("short or malformed SFTP reply of type {kind}"));
    let id = r.u32().ok_or_else(short)?;
    let reply = match kind {
        FXP_STATUS => {
            let code = r.u32().ok_or_else(short)?;
            // The message and language tag are optional in practice (some servers omit them).
            let msg = r
                .string()
                .map(|m| String::from_utf8_lossy(m).into_owned())
                .unwrap_or_default();
            Reply::Status { code, msg }
        }
        FXP_HANDLE => Reply::Handle(r.string().ok_or_else(short)?.to_vec()),
        FXP_DATA => Reply::Data,
        FXP_NAME => {
            let n = r.u32().ok_or_else(short)?;
            // Each entry takes at least 12 bytes: never trust the count for the allocation.
            let mut names = Vec::with_capacity((n as usize).min(body.len() / 12));
            for _ in 0..n {
                let name = r.string().ok_or_else(short)?.to_vec();
                r.string().ok_or_else(short)?; // longname: for humans
                let attrs = r.attrs().ok_or_else(short)?;
                names.push(Name { name, attrs });
            }
            Reply::Name(names)
        }
        FXP_ATTRS => Reply::Attrs(r.attrs().ok_or_else(short)?),
        FXP_EXTENDED_REPLY => Reply::Extended(r.0.to_vec()),
        other => return Err(protocol(format!("unknown SFTP reply type {other}"))),
    };
    Ok((id, reply))
}

/// The server's `VERSION`: its protocol version and the extensions it offers.
pub(crate) fn parse_version(body: &[u8]) -> Result<(u32, Vec<(String, String)>)> {
    let mut r = Reader(body);
    let version = r
        .u32()
        .ok_or_else(|| protocol("short SFTP VERSION reply"))?;
    let mut ext = Vec::new();
    while !r.0.is_empty() {
        let (Some(name), Some(data)) = (r.string(), r.string()) else {
            return Err(protocol("malformed extension list in SFTP VERSION"));
        };
        ext.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(data).into_owned(),
        ));
    }
    Ok((version, ext))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_encode_length_type_id_and_fields() {
        let mut out = Vec::new();
        Request::path(FXP_STAT, b"/a").encode(7, &mut out);
        assert_eq!(
            out,
            [0, 0, 0, 11, FXP_STAT, 0, 0, 0, 7, 0, 0, 0, 2, b'/', b'a']
        );
        let mut out = Vec::new();
        Request::new(FXP_SETSTAT)
            .string(b"f")
            .attrs(&Attrs::times(5))
            .encode(1, &mut out);
        assert_eq!(
            &out[4..],
            [
                FXP_SETSTAT,
                0,
                0,
                0,
                1,
                0,
                0,
                0,
                1,
                b'f',
                0,
                0,
                0,
                8,
                0,
                0,
                0,
                5,
                0,
                0,
                0,
                5
            ]
        );
    }

    #[test]
    fn replies_parse_and_short_ones_are_protocol_errors() {
        let mut body = vec![0, 0, 0, 9, 0, 0, 0, 2];
        body.extend_from_slice(&[0, 0, 0, 2, b'n', b'o']);
        let (id, r) = parse_reply(FXP_STATUS, &body).unwrap();
        assert_eq!(id, 9);
        assert!(matches!(r, Reply::Status { code: 2, ref msg } if msg == "no"));
        // a NAME that claims more entries than it holds
        let e = parse_reply(FXP_NAME, &[0, 0, 0, 1, 0, 0, 0, 200]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
        let e = parse_reply(77, &[0, 0, 0, 1]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
    }

    #[test]
    fn attributes_round_trip_through_a_name_reply() {
        let a = Attrs {
            size: Some(3),
            perm: Some(0o100644),
            atime: Some(9),
            mtime: Some(10),
        };
        let req = Request::new(0)
            .u32(4) // id
            .u32(1)
            .string(b"x")
            .string(b"-rw-r--r-- x")
            .attrs(&a);
        let (id, r) = parse_reply(FXP_NAME, &req.body).unwrap();
        assert_eq!(id, 4);
        let Reply::Name(n) = r else { panic!() };
        assert_eq!(n[0].name, b"x");
        assert_eq!(n[0].attrs, a);
        assert!(n[0].attrs.is_file() && !n[0].attrs.is_dir());
    }

    #[test]
    fn version_lists_extensions() {
        let req = Request::new(0)
            .u32(3)
            .string(EXT_POSIX_RENAME.as_bytes())
            .string(b"1");
        let (v, ext) = parse_version(&req.body).unwrap();
        assert_eq!(v, 3);
        assert_eq!(ext, vec![(EXT_POSIX_RENAME.to_owned(), "1".to_owned())]);
        assert!(parse_version(&[0, 0, 0, 3, 0, 0, 0, 9]).is_err());
    }
}
