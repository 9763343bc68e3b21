//! The SFTP channel: the `sftp` subsystem on an SSH channel of the ssh2 session, and the
//! requests in flight on it.
//!
//! Requests are numbered; [`Pipe::send`] queues one (they leave in one write when a reply is
//! awaited or the queue is large), [`Pipe::wait`] reads until the reply with that id came
//! (replies to other requests are kept for their own wait), [`Pipe::recv`] returns whichever
//! reply comes next. Many requests are in flight at once; the callers bound how many (and
//! how many bytes), so neither side's SSH window can fill up with what the other has not
//! read yet.
//!
//! When the channel fails (read or write error, timeout, end of stream) the pipe is broken:
//! every request in flight, and every later one, fails with the same temporary error, each
//! reported once to whoever waits for it; nothing is sent again.

use crate::core::map_io;
use crate::packet::{
    parse_reply, parse_version, Reader, Reply, Request, EXT_LIMITS, FXP_EXTENDED, FXP_INIT,
    FXP_VERSION,
};
use peex_core::{Error, ErrorKind, Result};
use ssh2::{Channel, Session};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};

/// The largest reply this client reads (OpenSSH sends at most 256 KiB).
const MAX_REPLY: u32 = 4 * 1024 * 1024;
/// Queued request bytes that trigger a write without waiting for a reply.
const FLUSH_AT: usize = 256 * 1024;
/// The write size used when the server tells no limits (every server takes 32 KiB).
const DEFAULT_WRITE: u32 = 32 * 1024;
/// The largest write size used, whatever the server allows.
const MAX_WRITE: u32 = 256 * 1024;
/// The open handles used when the server tells no limits.
const DEFAULT_HANDLES: u64 = 64;

/// What the server allows (`limits@openssh.com`, or safe defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Bytes of data per WRITE request.
    pub write: u32,
    /// Handles that may be open at once.
    pub handles: u64,
    /// True when the server told them.
    pub told: bool,
}

/// One SFTP session on its own SSH channel.
pub(crate) struct Pipe {
    channel: Channel,
    session: Session,
    next_id: u32,
    /// Encoded requests not yet written.
    out: Vec<u8>,
    /// Ids sent whose reply has not been read.
    in_flight: HashSet<u32>,
    /// Replies read before anyone waited for them.
    stash: HashMap<u32, Reply>,
    /// Ids whose reply nobody will wait for (a directory's CLOSE, say): dropped on arrival.
    forgotten: HashSet<u32>,
    /// Ids whose reply is for a later [`Pipe::wait`], never handed out by [`Pipe::recv`].
    reserved: HashSet<u32>,
    /// Set once the channel failed: the error every request gets from then on.
    broken: Option<Error>,
    /// The extensions the server offered (name, version data).
    pub(crate) extensions: Vec<(String, String)>,
    pub(crate) limits: Limits,
}

impl Pipe {
    /// Opens a channel, starts the `sftp` subsystem, negotiates version 3 and reads the
    /// server's limits when it offers `limits@openssh.com`.
    pub(crate) fn open(session: &Session) -> Result<Pipe> {
        let channel = session.channel_session().map_err(|e| map_ssh(&e))?;
        let mut pipe = Pipe {
            channel,
            session: session.clone(),
            next_id: 1,
            out: Vec::with_capacity(FLUSH_AT + 64 * 1024),
            in_flight: HashSet::new(),
            stash: HashMap::new(),
            forgotten: HashSet::new(),
            reserved: HashSet::new(),
            broken: None,
            extensions: Vec::new(),
            limits: Limits {
                write: DEFAULT_WRITE,
                handles: DEFAULT_HANDLES,
                told: false,
            },
        };
        pipe.channel.subsystem("sftp").map_err(|e| map_ssh(&e))?;
        // INIT carries no id: length, type, version.
        pipe.out.extend_from_slice(&5u32.to_be_bytes());
        pipe.out.push(FXP_INIT);
        pipe.out.extend_from_slice(&3u32.to_be_bytes());
        pipe.flush()?;
        let (kind, body) = pipe.read_packet()?;
        if kind != FXP_VERSION {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("the server answered SFTP INIT with packet type {kind}"),
            ));
        }
        let (version, extensions) = parse_version(&body)?;
        if version < 3 {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("the server speaks SFTP version {version}; peex needs version 3"),
            ));
        }
        pipe.extensions = extensions;
        Ok(pipe)
    }

    /// Asks for the server's limits when it offers `limits@openssh.com`, without waiting:
    /// [`Pipe::take_limits`] reads the answer (so it can share a round trip with others).
    pub(crate) fn ask_limits(&mut self) -> Result<Option<u32>> {
        if !self.offers(EXT_LIMITS, "1") {
            return Ok(None);
        }
        let id = self.send(Request::new(FXP_EXTENDED).string(EXT_LIMITS.as_bytes()))?;
        self.reserve(id);
        Ok(Some(id))
    }

    /// Reads the answer to [`Pipe::ask_limits`] and uses the limits from now on.
    pub(crate) fn take_limits(&mut self, id: Option<u32>) -> Result<()> {
        if let Some(id) = id {
            let reply = self.wait(id)?;
            self.limits = parse_limits(reply)?;
        }
        Ok(())
    }

    /// True when the server offered extension `name` in version `version`.
    pub(crate) fn offers(&self, name: &str, version: &str) -> bool {
        self.extensions
            .iter()
            .any(|(n, v)| n == name && v == version)
    }

    /// Queues `req` and returns its id. Fails (temporary) only when the channel is broken.
    pub(crate) fn send(&mut self, req: Request) -> Result<u32> {
        if let Some(e) = &self.broken {
            return Err(copy(e));
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        req.encode(id, &mut self.out);
        self.in_flight.insert(id);
        if self.out.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(id)
    }

    /// Sends `req` and waits for its reply.
    pub(crate) fn call(&mut self, req: Request) -> Result<Reply> {
        let id = self.send(req)?;
        self.wait(id)
    }

    /// Nobody will wait for the reply to `id`: it is read and dropped when it comes.
    pub(crate) fn forget(&mut self, id: u32) {
        if self.stash.remove(&id).is_none() && self.in_flight.contains(&id) {
            self.forgotten.insert(id);
        }
    }

    /// Requests sent whose reply is still to be read.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Writes what is queued.
    pub(crate) fn flush(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        if let Some(e) = &self.broken {
            return Err(copy(e));
        }
        // (Not Channel::flush: libssh2's channel flush discards data received, i.e. replies.)
        let r = self.channel.write_all(&self.out);
        self.out.clear();
        r.map_err(|e| {
            let err = map_io(&e, &self.session);
            self.fail(err)
        })
    }

    /// The reply to `id` is for [`Pipe::wait`] only: [`Pipe::recv`] keeps it aside.
    pub(crate) fn reserve(&mut self, id: u32) {
        self.reserved.insert(id);
    }

    /// Waits for the reply to `id`.
    pub(crate) fn wait(&mut self, id: u32) -> Result<Reply> {
        self.reserved.remove(&id);
        loop {
            if let Some(r) = self.stash.remove(&id) {
                return Ok(r);
            }
            if !self.in_flight.contains(&id) {
                return Err(self.broken.as_ref().map(copy).unwrap_or_else(|| {
                    Error::new(ErrorKind::Unexpected, format!("no SFTP request {id}"))
                }));
            }
            let (rid, reply) = self.read_reply()?;
            if rid == id {
                return Ok(reply);
            }
            self.stash.insert(rid, reply);
        }
    }

    /// The next reply to come (or one read earlier that nobody waited for).
    pub(crate) fn recv(&mut self) -> Result<(u32, Reply)> {
        let early = self
            .stash
            .keys()
            .copied()
            .find(|id| !self.reserved.contains(id));
        if let Some(id) = early {
            if let Some(r) = self.stash.remove(&id) {
                return Ok((id, r));
            }
        }
        loop {
            if self.in_flight.iter().all(|id| self.reserved.contains(id)) {
                return Err(Error::new(
                    ErrorKind::Unexpected,
                    "waiting for an SFTP reply with no request in flight",
                ));
            }
            let (id, reply) = self.read_reply()?;
            if !self.reserved.contains(&id) {
                return Ok((id, reply));
            }
            self.stash.insert(id, reply);
        }
    }

    /// Reads replies until one for a request someone waits for comes.
    fn read_reply(&mut self) -> Result<(u32, Reply)> {
        loop {
            let (kind, body) = self.read_packet()?;
            let (id, reply) = parse_reply(kind, &body).map_err(|e| self.fail(e))?;
            if !self.in_flight.remove(&id) {
                let e = Error::new(
                    ErrorKind::Protocol,
                    format!("the server answered SFTP request {id}, which is not in flight"),
                );
                return Err(self.fail(e));
            }
            if self.forgotten.remove(&id) {
                continue;
            }
            return Ok((id, reply));
        }
    }

    /// Reads one packet: its type and the rest of its body. Flushes first.
    fn read_packet(&mut self) -> Result<(u8, Vec<u8>)> {
        self.flush()?;
        if let Some(e) = &self.broken {
            return Err(copy(e));
        }
        let mut len = [0u8; 4];
        if let Err(e) = self.channel.read_exact(&mut len) {
            let err = self.read_error(&e);
            return Err(self.fail(err));
        }
        let len = u32::from_be_bytes(len);
        if len == 0 || len > MAX_REPLY {
            let e = Error::new(ErrorKind::Protocol, format!("SFTP packet of length {len}"));
            return Err(self.fail(e));
        }
        let mut body = vec![0u8; len as usize];
        if let Err(e) = self.channel.read_exact(&mut body) {
            let err = self.read_error(&e);
            return Err(self.fail(err));
        }
        let kind = body[0];
        body.remove(0);
        Ok((kind, body))
    }

    fn read_error(&self, e: &std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::new(ErrorKind::Unexpected, "the SFTP channel was closed").temporary()
        } else {
            map_io(e, &self.session)
        }
    }

    /// Marks the pipe broken: from now on every request fails with a temporary copy of `e`.
    /// Returns that copy for the caller at hand.
    fn fail(&mut self, e: Error) -> Error {
        let e = Error::new(
            e.kind(),
            format!("{} (the SFTP connection was lost)", e.message()),
        )
        .temporary();
        self.in_flight.clear();
        self.forgotten.clear();
        self.out.clear();
        let copy_e = copy(&e);
        self.broken = Some(e);
        copy_e
    }
}

/// The reply to `limits@openssh.com`: max packet, read, write lengths and open handles
/// (0 = no limit).
fn parse_limits(reply: Reply) -> Result<Limits> {
    let Reply::Extended(data) = reply else {
        return Err(Error::new(
            ErrorKind::Protocol,
            "unexpected reply to limits@openssh.com",
        ));
    };
    let mut r = Reader(&data);
    let (Some(packet), Some(_read), Some(write), Some(handles)) =
        (r.u64(), r.u64(), r.u64(), r.u64())
    else {
        return Err(Error::new(
            ErrorKind::Protocol,
            "short reply to limits@openssh.com",
        ));
    };
    // A write request is its data plus at most a few hundred bytes of header and handle.
    let by_packet = packet.saturating_sub(1024);
    let mut write_len = u64::from(MAX_WRITE);
    for limit in [write, by_packet] {
        if limit > 0 {
            write_len = write_len.min(limit);
        }
    }
    Ok(Limits {
        write: u32::try_from(write_len.max(1024)).unwrap_or(DEFAULT_WRITE),
        handles: if handles == 0 {
            DEFAULT_HANDLES
        } else {
            handles
        },
        told: true,
    })
}

/// A copy of an error (kind, message, temporary) for the next one who needs it.
pub(crate) fn copy(e: &Error) -> Error {
    Error::new(e.kind(), e.message().to_owned()).set_temporary(e.is_temporary())
}

fn map_ssh(e: &ssh2::Error) -> Error {
    let m = crate::core::map_err(e);
    Error::new(
        m.kind(),
        format!("cannot start the SFTP subsystem: {}", m.message()),
    )
    .set_temporary(m.is_temporary())
}
