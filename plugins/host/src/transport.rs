//! `peex_core::Transport` and `RemoteFs` over a plugin's transport vtable.

#![deny(unsafe_op_in_unsafe_fn)]

use super::library::{pstr, ErrorSlot, Loaded, HOST_API};
use super::stream;
use peex_core::{
    Capabilities, Entry, Error, ErrorKind, RelPath, RemoteFs, ReplaceJob, Result, SiteParams,
    Transport,
};
use peex_plugin_abi::*;
use peex_plugin_bridge::{caps_to_core, check_options, entry_from_c, site_to_kv};
use std::ffi::c_void;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// A transport provided by a plugin.
pub(crate) struct PluginTransport {
    lib: Arc<Loaded>,
    /// The vtable as published (passed back to `connect` as `this`).
    vt_ptr: *const PeexTransportVTable,
    /// A copy read by the plugin's `struct_size`: slots it lacks are NULL.
    vt: PeexTransportVTable,
    info: TransportInfo,
}

// SAFETY: the vtable is immutable static data of a never-unloaded library; the plugin
// contract makes `connect` callable from any thread.
unsafe impl Send for PluginTransport {}
// SAFETY: as above.
unsafe impl Sync for PluginTransport {}

impl PluginTransport {
    pub(crate) fn new(lib: Arc<Loaded>, index: usize) -> Self {
        let (vt_ptr, vt) = lib.transport_vtable(index);
        let info = lib.info.transports[index].clone();
        PluginTransport {
            lib,
            vt_ptr,
            vt,
            info,
        }
    }

    /// What the plugin declared for this transport.
    pub(crate) fn info(&self) -> &TransportInfo {
        &self.info
    }

    /// Checks a site against what the transport declares, before connecting: only declared
    /// options (naming the closest declared one otherwise), every required one, and a host
    /// unless the transport says it needs none.
    pub(crate) fn check_site(&self, site: &SiteParams) -> Result<()> {
        let what = format!("transport {:?}", self.info.scheme);
        check_options(
            &what,
            &self.info.options,
            site.options
                .keys()
                .chain(site.secret_options.keys())
                .map(String::as_str),
            &[],
        )
        .map_err(|e| Error::new(ErrorKind::ConfigInvalid, e))?;
        if site.host.trim().is_empty() && self.info.flags & PEEX_TRANSPORT_NO_HOST == 0 {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                format!(
                    "host is required ({what} of plugin {:?})",
                    self.lib.info.name
                ),
            ));
        }
        Ok(())
    }
}

/// Borrowed C views of owned pairs (valid while `kv` is).
pub(crate) fn kv_views(kv: &[(String, String)]) -> Vec<PeexKv> {
    kv.iter()
        .map(|(k, v)| PeexKv {
            key: pstr(k),
            value: pstr(v),
        })
        .collect()
}

impl Transport for PluginTransport {
    fn scheme(&self) -> &str {
        &self.info.scheme
    }

    fn description(&self) -> &str {
        &self.info.description
    }

    fn default_port(&self) -> Option<u16> {
        self.info.default_port
    }

    fn options(&self) -> Vec<peex_core::OptionSpec> {
        super::option_specs(&self.info.options)
    }

    fn connect(&self, site: &SiteParams) -> Result<Box<dyn RemoteFs>> {
        self.check_site(site)?;
        let Some(connect) = self.vt.connect else {
            return Err(Error::new(ErrorKind::Unexpected, "plugin has no connect"));
        };
        let owned = site_to_kv(site);
        let views = kv_views(&owned);
        let mut caps = self.info.caps;
        caps.struct_size = std::mem::size_of::<PeexCaps>();
        let mut conn: *mut PeexConn = std::ptr::null_mut();
        let mut slot = ErrorSlot::default();
        // SAFETY: connect is a validated vtable function; every pointer argument points to
        // live data owned by this frame (views borrow `owned`), valid for the call.
        let status = unsafe {
            connect(
                self.vt_ptr,
                &HOST_API,
                views.as_ptr(),
                views.len(),
                &mut caps,
                &mut conn,
                slot.as_ptr(),
            )
        };
        if status != PEEX_OK {
            return Err(slot.into_error(status, &self.lib.info.name, "connect"));
        }
        if conn.is_null() {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!(
                    "plugin {:?} returned no connection from connect",
                    self.lib.info.name
                ),
            ));
        }
        caps.struct_size = std::mem::size_of::<PeexCaps>();
        Ok(Box::new(PluginConn {
            lib: Arc::clone(&self.lib),
            vt: self.vt,
            conn,
            caps: caps_to_core(&effective_caps(&self.vt, caps)),
        }))
    }
}

/// One plugin connection. `conn` is null once closed (after `quit`, a panic or a fatal error).
pub(crate) struct PluginConn {
    lib: Arc<Loaded>,
    vt: PeexTransportVTable,
    conn: *mut PeexConn,
    caps: Capabilities,
}

// SAFETY: the ABI says a connection is used by one thread at a time, which `&mut self`
// guarantees; moving it between threads is allowed.
unsafe impl Send for PluginConn {}

/// What a sink callback collects.
struct ListCtx {
    entries: Vec<Entry>,
    error: Option<Error>,
}

unsafe extern "C" fn sink_emit(ctx: *mut c_void, entry: *const PeexEntry) -> PeexStatus {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the &mut ListCtx passed with this sink, live for the list call.
        let ctx = unsafe { &mut *ctx.cast::<ListCtx>() };
        if entry.is_null() {
            ctx.error = Some(Error::new(
                ErrorKind::Protocol,
                "plugin emitted a null entry",
            ));
            return PEEX_CANCELLED;
        }
        // SAFETY: non-null entry valid for this call.
        let e = unsafe { *entry };
        // SAFETY: its name is valid for this call; it is copied here.
        let name = match unsafe { e.name.to_str() } {
            Ok(n) => n.to_owned(),
            Err(why) => {
                ctx.error = Some(Error::new(
                    ErrorKind::InvalidName,
                    format!("plugin listed a bad name: {why}"),
                ));
                return PEEX_CANCELLED;
            }
        };
        match entry_from_c(&e, name) {
            Ok(entry) => {
                ctx.entries.push(entry);
                PEEX_OK
            }
            Err(err) => {
                ctx.error = Some(err);
                PEEX_CANCELLED
            }
        }
    }));
    r.unwrap_or(PEEX_CANCELLED)
}

/// What a reader callback reads from.
pub(crate) struct ReadCtx<'a> {
    pub src: &'a mut dyn Read,
    pub error: Option<std::io::Error>,
}

pub(crate) unsafe extern "C" fn reader_read(
    ctx: *mut c_void,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PeexStatus {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the &mut ReadCtx passed with this reader, live for the upload call.
        let ctx = unsafe { &mut *ctx.cast::<ReadCtx<'_>>() };
        // SAFETY: forwarded: buf/cap/out_len come from the plugin for this call.
        unsafe { read_into(ctx.src, &mut ctx.error, buf, cap, out_len) }
    }));
    r.unwrap_or(PEEX_CANCELLED)
}

/// Fills the plugin's buffer from `src`; a failure is kept in `error` (the host's own error
/// is the one reported) and returned as `PEEX_CANCELLED`.
///
/// # Safety
/// `buf` must be null or writable for `cap` bytes, `out_len` null or writable, for this call.
pub(crate) unsafe fn read_into(
    src: &mut dyn Read,
    error: &mut Option<std::io::Error>,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PeexStatus {
    if out_len.is_null() || (buf.is_null() && cap > 0) {
        *error = Some(std::io::Error::other("plugin passed a null buffer"));
        return PEEX_CANCELLED;
    }
    let slice: &mut [u8] = if cap == 0 {
        &mut []
    } else {
        // SAFETY: the plugin provides a writable buffer of `cap` bytes for this call.
        unsafe { std::slice::from_raw_parts_mut(buf, cap) }
    };
    loop {
        match src.read(slice) {
            Ok(n) => {
                // SAFETY: non-null out-parameter.
                unsafe { *out_len = n };
                return PEEX_OK;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                *error = Some(e);
                return PEEX_CANCELLED;
            }
        }
    }
}

impl PluginConn {
    fn live(&self, op: &str) -> Result<*mut PeexConn> {
        if self.conn.is_null() {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!(
                    "plugin {:?}: {op} on a closed connection (an earlier call panicked or \
                     failed fatally)",
                    self.lib.info.name
                ),
            ));
        }
        Ok(self.conn)
    }

    /// The plugin's name (for messages).
    pub(crate) fn plugin_name(&self) -> &str {
        &self.lib.info.name
    }

    /// Turns a call's outcome into a result; closes the connection after a panic or a
    /// fatal error. `host_error` (from a callback) explains a cancelled call best.
    pub(crate) fn finish(
        &mut self,
        status: PeexStatus,
        slot: ErrorSlot,
        op: &str,
        host_error: Option<Error>,
    ) -> Result<()> {
        if status == PEEX_OK {
            return Ok(());
        }
        let close = status == PEEX_PANICKED || slot.fatal();
        let err = match host_error {
            Some(e) if status != PEEX_PANICKED => e,
            _ => slot.into_error(status, &self.lib.info.name, op),
        };
        if close {
            self.close();
        }
        Err(err)
    }

    fn close(&mut self) {
        if self.conn.is_null() {
            return;
        }
        let conn = std::mem::replace(&mut self.conn, std::ptr::null_mut());
        if let Some(close) = self.vt.close {
            // SAFETY: conn came from this vtable's connect and is closed exactly once (the
            // field is nulled first).
            unsafe { close(conn) };
        }
    }

    fn path_op(&mut self, op: &str, f: Option<PeexPathFn>, path: &RelPath) -> Result<()> {
        let conn = self.live(op)?;
        let Some(f) = f else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("plugin lacks {op}"),
            ));
        };
        let mut slot = ErrorSlot::default();
        // SAFETY: validated function of this connection's vtable; the path string and the
        // slot live across the call.
        let status = unsafe { f(conn, pstr(path.as_str()), slot.as_ptr()) };
        self.finish(status, slot, op, None)
    }
}

impl RemoteFs for PluginConn {
    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn list(&mut self, dir: &RelPath) -> Result<Vec<Entry>> {
        let conn = self.live("list")?;
        let Some(list) = self.vt.list else {
            return Err(Error::new(ErrorKind::Unsupported, "plugin lacks list"));
        };
        let mut ctx = ListCtx {
            entries: Vec::new(),
            error: None,
        };
        let sink = PeexEntrySink {
            ctx: (&mut ctx as *mut ListCtx).cast(),
            emit: sink_emit,
        };
        let mut slot = ErrorSlot::default();
        // SAFETY: validated function; conn is live; dir, sink (and ctx behind it) and the
        // slot all outlive the call.
        let status = unsafe { list(conn, pstr(dir.as_str()), &sink, slot.as_ptr()) };
        let host_error = ctx.error.take();
        if status == PEEX_OK {
            if let Some(e) = host_error {
                // The plugin ignored a refusal from the sink: the listing is still bad.
                return Err(e);
            }
        }
        self.finish(status, slot, "list", host_error)?;
        Ok(ctx.entries)
    }

    fn upload(&mut self, path: &RelPath, src: &mut dyn Read, size: u64) -> Result<()> {
        let conn = self.live("upload")?;
        let Some(upload) = self.vt.upload else {
            return Err(Error::new(ErrorKind::Unsupported, "plugin lacks upload"));
        };
        let mut ctx = ReadCtx { src, error: None };
        let reader = PeexReader {
            ctx: (&mut ctx as *mut ReadCtx<'_>).cast(),
            read: reader_read,
        };
        let mut slot = ErrorSlot::default();
        // SAFETY: validated function; conn is live; path, reader (and ctx) and slot outlive
        // the call.
        let status = unsafe { upload(conn, pstr(path.as_str()), &reader, size, slot.as_ptr()) };
        let host_error = ctx.error.take().map(Error::from);
        self.finish(status, slot, "upload", host_error)
    }

    fn upload_stream<'a>(
        &mut self,
        next: &mut dyn FnMut() -> Option<ReplaceJob<'a>>,
        done: &mut dyn FnMut(usize, Result<()>),
    ) -> Result<()> {
        let Some(f) = self.vt.upload_stream else {
            return peex_core::upload_stream_one_by_one(self, next, done);
        };
        let conn = self.live("upload_stream")?;
        stream::run(self, f, conn, next, done)
    }

    fn delete(&mut self, path: &RelPath) -> Result<()> {
        let f = self.vt.delete;
        self.path_op("delete", f, path)
    }

    fn mkdir(&mut self, path: &RelPath) -> Result<()> {
        let f = self.vt.mkdir;
        self.path_op("mkdir", f, path)
    }

    fn mkdir_batch(&mut self, paths: &[RelPath]) -> Vec<Result<()>> {
        let Some(f) = self.vt.mkdir_batch else {
            return peex_core::mkdir_one_by_one(self, paths);
        };
        let conn = match self.live("mkdir_batch") {
            Ok(c) => c,
            Err(e) => return vec![Err(e)],
        };
        let views: Vec<PeexStr> = paths.iter().map(|p| pstr(p.as_str())).collect();
        let mut results: Vec<PeexStatus> = vec![PEEX_UNEXPECTED; paths.len()];
        let mut n_done: usize = 0;
        let mut slot = ErrorSlot::default();
        // SAFETY: validated optional function; conn live; views, results (n entries each),
        // n_done and slot outlive the call.
        let status = unsafe {
            f(
                conn,
                views.as_ptr(),
                views.len(),
                results.as_mut_ptr(),
                &mut n_done,
                slot.as_ptr(),
            )
        };
        let n_done = n_done.min(paths.len());
        let flags_temporary = slot.temporary();
        let mut first = Some(slot);
        let mut out = Vec::with_capacity(n_done.max(1));
        for st in &results[..n_done] {
            if *st == PEEX_OK {
                out.push(Ok(()));
            } else {
                let e = match first.take() {
                    Some(s) => s.into_error(*st, self.plugin_name(), "mkdir_batch"),
                    None => Error::new(
                        peex_plugin_bridge::status_to_kind(*st),
                        format!("mkdir failed with status {st}"),
                    ),
                };
                out.push(Err(e));
            }
        }
        if status != PEEX_OK && out.iter().all(Result::is_ok) && n_done < paths.len() {
            // The call failed before or between directories: report it on the next one.
            let slot = first.take().unwrap_or_default();
            let e = slot.into_error(status, self.plugin_name(), "mkdir_batch");
            out.push(Err(
                e.set_temporary(flags_temporary || status == PEEX_PANICKED)
            ));
        }
        if status == PEEX_PANICKED {
            self.close();
        }
        out
    }

    fn rmdir(&mut self, path: &RelPath) -> Result<()> {
        let f = self.vt.rmdir;
        self.path_op("rmdir", f, path)
    }

    fn rename(&mut self, from: &RelPath, to: &RelPath) -> Result<()> {
        let conn = self.live("rename")?;
        let Some(rename) = self.vt.rename else {
            return Err(Error::new(ErrorKind::Unsupported, "plugin lacks rename"));
        };
        let mut slot = ErrorSlot::default();
        // SAFETY: validated function; conn live; strings and slot outlive the call.
        let status = unsafe { rename(conn, pstr(from.as_str()), pstr(to.as_str()), slot.as_ptr()) };
        self.finish(status, slot, "rename", None)
    }

    fn set_mtime(&mut self, path: &RelPath, mtime: i64) -> Result<()> {
        let conn = self.live("set_mtime")?;
        let Some(set) = self.vt.set_mtime else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "this plugin transport cannot set modification times",
            ));
        };
        let mut slot = ErrorSlot::default();
        // SAFETY: validated optional function; conn live; path and slot outlive the call.
        let status = unsafe { set(conn, pstr(path.as_str()), mtime, slot.as_ptr()) };
        self.finish(status, slot, "set_mtime", None)
    }

    fn get_mtime(&mut self, path: &RelPath) -> Result<i64> {
        let conn = self.live("get_mtime")?;
        let Some(get) = self.vt.get_mtime else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "this plugin transport cannot read modification times",
            ));
        };
        let mut out: i64 = 0;
        let mut slot = ErrorSlot::default();
        // SAFETY: validated optional function; conn live; path, out and slot outlive the call.
        let status = unsafe { get(conn, pstr(path.as_str()), &mut out, slot.as_ptr()) };
        self.finish(status, slot, "get_mtime", None)?;
        Ok(out)
    }

    fn quit(&mut self) -> Result<()> {
        self.close();
        Ok(())
    }
}

impl Drop for PluginConn {
    fn drop(&mut self) {
        self.close();
    }
}
