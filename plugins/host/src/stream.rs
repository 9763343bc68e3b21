//! The host side of `upload_stream`: a queue the plugin pulls jobs from and reports them to.
//!
//! Each job taken is kept (its names, its reader) in a box until the plugin reports it with
//! `done`, so the strings and the reader the plugin was given stay valid until then, however
//! many jobs it takes before reporting any.

#![deny(unsafe_op_in_unsafe_fn)]

use super::library::{pstr, ErrorSlot};
use super::transport::{read_into, PluginConn};
use peex_core::{Error, ErrorKind, ReplaceJob, Result};
use peex_plugin_abi::*;
use peex_plugin_bridge::error_from_status;
use std::collections::HashMap;
use std::ffi::c_void;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// One job the plugin took and has not reported yet.
struct Live<'a> {
    tmp: Option<String>,
    path: String,
    src: Box<dyn Read + 'a>,
    error: Option<std::io::Error>,
}

/// What the queue callbacks work on.
struct Queue<'a, 'n> {
    next: &'n mut dyn FnMut() -> Option<ReplaceJob<'a>>,
    done: &'n mut dyn FnMut(usize, Result<()>),
    live: HashMap<u64, Box<Live<'a>>>,
    dry: bool,
    /// The plugin broke the queue's rules (reported a job twice or one it never took).
    violation: Option<String>,
}

unsafe extern "C" fn job_read(
    ctx: *mut c_void,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PeexStatus {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the boxed Live of a job not yet reported (the contract: a job's
        // reader is valid until its done), used by the plugin's calling thread only.
        let live = unsafe { &mut *ctx.cast::<Live<'_>>() };
        // SAFETY: forwarded from the plugin for this call.
        unsafe { read_into(live.src.as_mut(), &mut live.error, buf, cap, out_len) }
    }));
    r.unwrap_or(PEEX_CANCELLED)
}

unsafe extern "C" fn queue_next(ctx: *mut c_void, job: *mut PeexUploadJob) -> i32 {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the &mut Queue passed with this queue, live for the stream call.
        let q = unsafe { &mut *ctx.cast::<Queue<'_, '_>>() };
        if job.is_null() || q.dry {
            return 0;
        }
        // SAFETY: non-null; struct_size is the first field the plugin set.
        let plugin_size = unsafe { std::ptr::addr_of!((*job).struct_size).read() };
        if plugin_size < std::mem::offset_of!(PeexUploadJob, mtime) + 8 {
            q.violation = Some(format!(
                "upload_stream: job table of {plugin_size} bytes is too small (set struct_size \
                 to sizeof(PeexUploadJob))"
            ));
            q.dry = true;
            return 0;
        }
        let Some(j) = (q.next)() else {
            q.dry = true;
            return 0;
        };
        let id = j.id as u64;
        let mut live = Box::new(Live {
            tmp: j.tmp.as_ref().map(|t| t.as_str().to_owned()),
            path: j.path.as_str().to_owned(),
            src: j.src,
            error: None,
        });
        let filled = PeexUploadJob {
            struct_size: plugin_size.min(std::mem::size_of::<PeexUploadJob>()),
            id,
            tmp: live.tmp.as_deref().map_or(PeexStr::EMPTY, pstr),
            path: pstr(&live.path),
            reader: PeexReader {
                ctx: (live.as_mut() as *mut Live<'_>).cast(),
                read: job_read,
            },
            size: j.size,
            has_mtime: u32::from(j.mtime.is_some()),
            reserved: 0,
            mtime: j.mtime.unwrap_or(0),
        };
        // SAFETY: the plugin's job table is writable for its struct_size bytes; we write at
        // most that many (and at most our own size).
        unsafe {
            std::ptr::copy_nonoverlapping(
                (&filled as *const PeexUploadJob).cast::<u8>(),
                job.cast::<u8>(),
                filled.struct_size,
            );
        }
        // The strings point into the boxed Live's heap buffers, which do not move.
        q.live.insert(id, live);
        1
    }));
    r.unwrap_or(0)
}

unsafe extern "C" fn queue_done(
    ctx: *mut c_void,
    id: u64,
    status: PeexStatus,
    flags: u32,
    msg: PeexStr,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the &mut Queue passed with this queue, live for the stream call.
        let q = unsafe { &mut *ctx.cast::<Queue<'_, '_>>() };
        let Some(mut live) = q.live.remove(&id) else {
            q.violation = Some(format!(
                "upload_stream: done for job {id}, which was not taken or was already reported"
            ));
            return;
        };
        let r = if status == PEEX_OK {
            Ok(())
        } else if let Some(e) = live.error.take() {
            Err(Error::from(e))
        } else {
            // SAFETY: msg is valid for this call; copied here.
            let text = unsafe { msg.to_str() }
                .map(str::to_owned)
                .unwrap_or_else(|e| format!("(message not UTF-8: {e})"));
            let text = if text.is_empty() {
                format!("upload failed with status {status} and no message")
            } else {
                text
            };
            Err(error_from_status(status, flags, text))
        };
        drop(live);
        let Ok(index) = usize::try_from(id) else {
            return;
        };
        (q.done)(index, r);
    }));
}

/// Runs the plugin's `upload_stream` over the engine's `next`/`done`.
pub(crate) fn run<'a>(
    conn: &mut PluginConn,
    f: PeexUploadStreamFn,
    raw: *mut PeexConn,
    next: &mut dyn FnMut() -> Option<ReplaceJob<'a>>,
    done: &mut dyn FnMut(usize, Result<()>),
) -> Result<()> {
    let mut q = Queue {
        next,
        done,
        live: HashMap::new(),
        dry: false,
        violation: None,
    };
    let queue = PeexUploadQueue {
        ctx: (&mut q as *mut Queue<'_, '_>).cast(),
        next: queue_next,
        done: queue_done,
    };
    let mut slot = ErrorSlot::default();
    // SAFETY: validated optional function; raw is this live connection; the queue (and q
    // behind it, with every job's box) and the slot outlive the call.
    let status = unsafe { f(raw, &queue, slot.as_ptr()) };
    let temporary = status != PEEX_OK && (slot.temporary() || status == PEEX_PANICKED);
    let result = conn.finish(status, slot, "upload_stream", None);
    // Jobs taken but never reported: unknown outcome.
    let left: Vec<u64> = q.live.keys().copied().collect();
    for id in left {
        q.live.remove(&id);
        let e = match &result {
            Err(e) => Error::new(e.kind(), e.message().to_owned()).set_temporary(temporary),
            Ok(()) => Error::new(
                ErrorKind::Unexpected,
                format!(
                    "plugin {:?} ended upload_stream without reporting this file",
                    conn.plugin_name()
                ),
            ),
        };
        if let Ok(index) = usize::try_from(id) {
            (q.done)(index, Err(e));
        }
    }
    if let Some(v) = q.violation {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!("plugin {:?}: {v}", conn.plugin_name()),
        ));
    }
    result
}
