//! `peex_core::Transport` and `RemoteFs` over a plugin's transport vtable.

#![deny(unsafe_op_in_unsafe_fn)]

use super::library::{pstr, ErrorSlot, Loaded, HOST_API};
use peex_core::{
    validate_name, Capabilities, Entry, EntryKind, Error, ErrorKind, RelPath, RemoteFs, Result,
    SiteParams, Transport,
};
use peex_plugin_abi::*;
use std::ffi::c_void;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// A transport provided by a plugin.
pub(crate) struct PluginTransport {
    lib: Arc<Loaded>,
    vt: *const PeexTransportVTable,
    info: TransportInfo,
}

// SAFETY: the vtable is immutable static data of a never-unloaded library; the plugin
// contract makes `connect` callable from any thread.
unsafe impl Send for PluginTransport {}
// SAFETY: as above.
unsafe impl Sync for PluginTransport {}

impl PluginTransport {
    pub(crate) fn new(lib: Arc<Loaded>, index: usize) -> Self {
        let vt = lib.transport_vtable(index);
        let info = lib.info.transports[index].clone();
        PluginTransport { lib, vt, info }
    }

    fn vt(&self) -> &PeexTransportVTable {
        // SAFETY: validated by check_descriptor (non-null, struct_size covers the struct);
        // the library is never unloaded.
        unsafe { &*self.vt }
    }
}

/// The key/value pairs `connect` receives (keys documented in `peex_plugin_abi::site_keys`).
pub(crate) fn site_to_kv(site: &SiteParams) -> Vec<(String, String)> {
    let mut kv = vec![
        (site_keys::HOST.to_owned(), site.host.clone()),
        (site_keys::USER.to_owned(), site.user.clone()),
        (site_keys::ROOT.to_owned(), site.root.clone()),
        (
            site_keys::TIMEOUT_MS.to_owned(),
            site.timeout.as_millis().to_string(),
        ),
    ];
    if let Some(p) = site.port {
        kv.push((site_keys::PORT.to_owned(), p.to_string()));
    }
    if let Some(pw) = &site.password {
        kv.push((site_keys::PASSWORD.to_owned(), pw.expose().to_owned()));
    }
    for (k, v) in &site.options {
        kv.push((format!("{}{k}", site_keys::OPTION_PREFIX), v.clone()));
    }
    for (k, v) in &site.secret_options {
        kv.push((
            format!("{}{k}", site_keys::SECRET_PREFIX),
            v.expose().to_owned(),
        ));
    }
    kv
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
        let vt = self.vt();
        let Some(connect) = vt.connect else {
            return Err(Error::new(ErrorKind::Unexpected, "plugin has no connect"));
        };
        let owned = site_to_kv(site);
        let views = kv_views(&owned);
        let mut caps = self.info.caps;
        let mut conn: *mut PeexConn = std::ptr::null_mut();
        let mut slot = ErrorSlot::default();
        // SAFETY: connect is a validated vtable function; every pointer argument points to
        // live data owned by this frame (views borrow `owned`), valid for the call.
        let status = unsafe {
            connect(
                self.vt,
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
        // A plugin cannot claim what its vtable lacks.
        if vt.set_mtime.is_none() {
            caps.set_mtime = 0;
        }
        if vt.get_mtime.is_none() {
            caps.get_mtime = 0;
        }
        Ok(Box::new(PluginConn {
            lib: Arc::clone(&self.lib),
            vt: self.vt,
            conn,
            caps: caps.to_core(),
        }))
    }
}

/// One plugin connection. `conn` is null once closed (after `quit`, a panic or a fatal error).
pub(crate) struct PluginConn {
    lib: Arc<Loaded>,
    vt: *const PeexTransportVTable,
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
        // SAFETY: its name is valid for this call.
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
        if let Err(err) = validate_name(&name) {
            ctx.error = Some(err);
            return PEEX_CANCELLED;
        }
        let kind = match e.kind {
            PEEX_KIND_FILE => EntryKind::File,
            PEEX_KIND_DIR => EntryKind::Dir,
            PEEX_KIND_OTHER => EntryKind::Other,
            k => {
                ctx.error = Some(Error::new(
                    ErrorKind::Protocol,
                    format!("plugin listed {name:?} with unknown kind {k}"),
                ));
                return PEEX_CANCELLED;
            }
        };
        if kind == EntryKind::File && e.has_mtime == 0 {
            ctx.error = Some(Error::new(
                ErrorKind::Protocol,
                format!("plugin listed file {name:?} without a modification time"),
            ));
            return PEEX_CANCELLED;
        }
        ctx.entries.push(Entry {
            name,
            kind,
            size: if kind == EntryKind::Dir { 0 } else { e.size },
            mtime: (e.has_mtime != 0).then_some(e.mtime),
        });
        PEEX_OK
    }));
    r.unwrap_or(PEEX_CANCELLED)
}

/// What a reader callback reads from.
struct ReadCtx<'a> {
    src: &'a mut dyn Read,
    error: Option<std::io::Error>,
}

unsafe extern "C" fn reader_read(
    ctx: *mut c_void,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PeexStatus {
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the &mut ReadCtx passed with this reader, live for the upload call.
        let ctx = unsafe { &mut *ctx.cast::<ReadCtx<'_>>() };
        if out_len.is_null() || (buf.is_null() && cap > 0) {
            ctx.error = Some(std::io::Error::other("plugin passed a null buffer"));
            return PEEX_CANCELLED;
        }
        let slice: &mut [u8] = if cap == 0 {
            &mut []
        } else {
            // SAFETY: the plugin provides a writable buffer of `cap` bytes for this call.
            unsafe { std::slice::from_raw_parts_mut(buf, cap) }
        };
        loop {
            match ctx.src.read(slice) {
                Ok(n) => {
                    // SAFETY: non-null out-parameter.
                    unsafe { *out_len = n };
                    return PEEX_OK;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    ctx.error = Some(e);
                    return PEEX_CANCELLED;
                }
            }
        }
    }));
    r.unwrap_or(PEEX_CANCELLED)
}

impl PluginConn {
    fn vt(&self) -> &PeexTransportVTable {
        // SAFETY: validated vtable of a never-unloaded library.
        unsafe { &*self.vt }
    }

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

    /// Turns a call's outcome into a result; closes the connection after a panic or a
    /// fatal error. `host_error` (from a callback) explains a cancelled call best.
    fn finish(
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
        if let Some(close) = self.vt().close {
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
        let Some(list) = self.vt().list else {
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
        let Some(upload) = self.vt().upload else {
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

    fn delete(&mut self, path: &RelPath) -> Result<()> {
        let f = self.vt().delete;
        self.path_op("delete", f, path)
    }

    fn mkdir(&mut self, path: &RelPath) -> Result<()> {
        let f = self.vt().mkdir;
        self.path_op("mkdir", f, path)
    }

    fn rmdir(&mut self, path: &RelPath) -> Result<()> {
        let f = self.vt().rmdir;
        self.path_op("rmdir", f, path)
    }

    fn rename(&mut self, from: &RelPath, to: &RelPath) -> Result<()> {
        let conn = self.live("rename")?;
        let Some(rename) = self.vt().rename else {
            return Err(Error::new(ErrorKind::Unsupported, "plugin lacks rename"));
        };
        let mut slot = ErrorSlot::default();
        // SAFETY: validated function; conn live; strings and slot outlive the call.
        let status = unsafe { rename(conn, pstr(from.as_str()), pstr(to.as_str()), slot.as_ptr()) };
        self.finish(status, slot, "rename", None)
    }

    fn set_mtime(&mut self, path: &RelPath, mtime: i64) -> Result<()> {
        let conn = self.live("set_mtime")?;
        let Some(set) = self.vt().set_mtime else {
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
        let Some(get) = self.vt().get_mtime else {
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
