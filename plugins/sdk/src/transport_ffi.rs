//! The transport trampolines: the C entry points of a transport's vtable (`connect`,
//! `list`, `upload`, `upload_stream`, `mkdir_batch`, …), each calling the plugin's
//! [`peex_core::RemoteFs`] inside [`guard`].

use super::guard::*;
use super::*;

pub(crate) struct Conn {
    fs: Option<Box<dyn RemoteFs>>,
    host: *const PeexHostApi,
    plugin_scheme: String,
}

pub(crate) fn closed(conn: &Conn) -> Fail {
    Fail::Core(Error::new(
        ErrorKind::Unexpected,
        format!(
            "{} connection is closed (an earlier call panicked or failed fatally)",
            conn.plugin_scheme
        ),
    ))
}

pub(crate) unsafe extern "C" fn t_connect(
    this: *const PeexTransportVTable,
    host: *const PeexHostApi,
    params: *const PeexKv,
    n_params: usize,
    caps: *mut PeexCaps,
    out_conn: *mut *mut PeexConn,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = || {
        if this.is_null() || out_conn.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null argument to connect").into());
        }
        // SAFETY: `this` is the vtable the host found in our descriptor, which is the
        // first field of a #[repr(C)] SdkTransport, so the cast recovers the whole struct.
        let sdk = unsafe { &*(this as *const SdkTransport) };
        // SAFETY: params valid for this call.
        let kv = unsafe { read_kv(params, n_params) }?;
        let site = bridge::site_from_kv(&kv)?;
        check_required(
            &sdk.spec.options,
            |n| site.options.contains_key(n) || site.secret_options.contains_key(n),
            sdk.spec.transport.scheme(),
        )?;
        let fs = sdk.spec.transport.connect(&site)?;
        let c = caps_from_core(&fs.capabilities());
        if !caps.is_null() {
            // SAFETY: non-null host table; every 2.0 field lies within its struct_size (the
            // host speaks major 2), and struct_size itself is the host's to set.
            unsafe {
                (*caps).flags = c.flags;
                (*caps).rename_over = c.rename_over;
            }
        }
        let conn = Box::new(Conn {
            fs: Some(fs),
            host,
            plugin_scheme: sdk.spec.transport.scheme().to_owned(),
        });
        // SAFETY: non-null out-parameter provided by the host.
        unsafe { *out_conn = Box::into_raw(conn).cast::<PeexConn>() };
        Ok(())
    };
    // SAFETY: host/err come from the host for this call.
    unsafe { guard(host, err, body) }.0
}

/// Runs one operation on a connection; a panic drops the connection's `RemoteFs`.
///
/// # Safety
/// `conn` must be a pointer returned by `t_connect` and not yet closed, used by one thread.
pub(crate) unsafe fn with_conn(
    conn: *mut PeexConn,
    err: *mut PeexErrorSlot,
    f: impl FnOnce(&mut dyn RemoteFs) -> Result<(), Fail>,
) -> PeexStatus {
    if conn.is_null() {
        return PEEX_UNEXPECTED;
    }
    // SAFETY: conn came from Box::into_raw in t_connect and is used by one thread at a time.
    let c = unsafe { &mut *conn.cast::<Conn>() };
    let host = c.host;
    let (status, panicked) = {
        let c2: &mut Conn = c;
        // SAFETY: host is the API passed to connect; err is this call's slot.
        unsafe {
            guard(host, err, || match c2.fs.as_deref_mut() {
                Some(fs) => f(fs),
                None => Err(closed(c2)),
            })
        }
    };
    if panicked {
        // The connection is closed after a panic; dropping it may panic too.
        let fs = c.fs.take();
        let _ = catch_unwind(AssertUnwindSafe(move || drop(fs)));
    }
    status
}

pub(crate) unsafe extern "C" fn t_list(
    conn: *mut PeexConn,
    dir: PeexStr,
    sink: *const PeexEntrySink,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = |fs: &mut dyn RemoteFs| {
        // SAFETY: dir valid for this call.
        let dir = unsafe { arg_path(dir) }?;
        if sink.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null sink").into());
        }
        // SAFETY: non-null sink valid for this call.
        let sink = unsafe { *sink };
        for e in fs.list(&dir)? {
            let pe = entry_to_c(&e);
            // SAFETY: the host's sink callback; `pe` and its name outlive the call.
            let st = unsafe { (sink.emit)(sink.ctx, &pe) };
            if st != PEEX_OK {
                return Err(Fail::Status(st));
            }
        }
        Ok(())
    };
    // SAFETY: conn comes from connect and is used by one thread; err is this call's slot.
    unsafe { with_conn(conn, err, body) }
}

pub(crate) struct HostReader {
    r: PeexReader,
}

impl Read for HostReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0usize;
        // SAFETY: the host's reader callback, valid for the upload call; buf is writable for
        // buf.len() bytes.
        let st = unsafe { (self.r.read)(self.r.ctx, buf.as_mut_ptr(), buf.len(), &mut n) };
        if st != PEEX_OK {
            return Err(std::io::Error::other(format!(
                "the host's reader failed (status {st})"
            )));
        }
        if n > buf.len() {
            return Err(std::io::Error::other(
                "the host's reader overran the buffer",
            ));
        }
        Ok(n)
    }
}

pub(crate) unsafe extern "C" fn t_upload(
    conn: *mut PeexConn,
    path: PeexStr,
    reader: *const PeexReader,
    size: u64,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = |fs: &mut dyn RemoteFs| {
        // SAFETY: valid for this call.
        let path = unsafe { arg_path(path) }?;
        if reader.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null reader").into());
        }
        // SAFETY: non-null reader valid for this call.
        let mut r = HostReader {
            r: unsafe { *reader },
        };
        fs.upload(&path, &mut r, size)?;
        Ok(())
    };
    // SAFETY: conn comes from connect and is used by one thread; err is this call's slot.
    unsafe { with_conn(conn, err, body) }
}

pub(crate) unsafe extern "C" fn t_delete(
    conn: *mut PeexConn,
    path: PeexStr,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    // SAFETY: forwarded ABI contract.
    unsafe { with_conn(conn, err, |fs| Ok(fs.delete(&arg_path(path)?)?)) }
}

pub(crate) unsafe extern "C" fn t_mkdir(
    conn: *mut PeexConn,
    path: PeexStr,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    // SAFETY: forwarded ABI contract.
    unsafe { with_conn(conn, err, |fs| Ok(fs.mkdir(&arg_path(path)?)?)) }
}

pub(crate) unsafe extern "C" fn t_rmdir(
    conn: *mut PeexConn,
    path: PeexStr,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    // SAFETY: forwarded ABI contract.
    unsafe { with_conn(conn, err, |fs| Ok(fs.rmdir(&arg_path(path)?)?)) }
}

pub(crate) unsafe extern "C" fn t_rename(
    conn: *mut PeexConn,
    from: PeexStr,
    to: PeexStr,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    // SAFETY: forwarded ABI contract.
    unsafe {
        with_conn(conn, err, |fs| {
            Ok(fs.rename(&arg_path(from)?, &arg_path(to)?)?)
        })
    }
}

pub(crate) unsafe extern "C" fn t_set_mtime(
    conn: *mut PeexConn,
    path: PeexStr,
    mtime: i64,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    // SAFETY: forwarded ABI contract.
    unsafe { with_conn(conn, err, |fs| Ok(fs.set_mtime(&arg_path(path)?, mtime)?)) }
}

pub(crate) unsafe extern "C" fn t_get_mtime(
    conn: *mut PeexConn,
    path: PeexStr,
    out: *mut i64,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = |fs: &mut dyn RemoteFs| {
        // SAFETY: path valid for this call.
        let t = fs.get_mtime(&unsafe { arg_path(path) }?)?;
        if out.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null out-parameter").into());
        }
        // SAFETY: non-null out-parameter provided by the host.
        unsafe { *out = t };
        Ok(())
    };
    // SAFETY: conn comes from connect and is used by one thread; err is this call's slot.
    unsafe { with_conn(conn, err, body) }
}

/// The reader of a job table before the host fills it.
pub(crate) unsafe extern "C" fn no_reader(
    _ctx: *mut std::ffi::c_void,
    _buf: *mut u8,
    _cap: usize,
    _out_len: *mut usize,
) -> PeexStatus {
    PEEX_UNEXPECTED
}

/// A host upload job's reader, valid until the job is reported.
pub(crate) struct JobReader(HostReader);

impl Read for JobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

pub(crate) unsafe extern "C" fn t_upload_stream(
    conn: *mut PeexConn,
    queue: *const PeexUploadQueue,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = |fs: &mut dyn RemoteFs| {
        if queue.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null upload queue").into());
        }
        // SAFETY: non-null queue valid for this call.
        let q = unsafe { *queue };
        let mut bad: Option<Error> = None;
        let mut next = || -> Option<ReplaceJob<'static>> {
            if bad.is_some() {
                return None;
            }
            let mut job = PeexUploadJob {
                struct_size: std::mem::size_of::<PeexUploadJob>(),
                id: 0,
                tmp: PeexStr::EMPTY,
                path: PeexStr::EMPTY,
                reader: PeexReader {
                    ctx: std::ptr::null_mut(),
                    read: no_reader,
                },
                size: 0,
                has_mtime: 0,
                reserved: 0,
                mtime: 0,
            };
            // SAFETY: the host's queue callback with a writable job table of our size.
            if unsafe { (q.next)(q.ctx, &mut job) } == 0 {
                return None;
            }
            // SAFETY: the job's strings are valid until done is called for it; copied here.
            let parsed = unsafe {
                let tmp = if job.tmp.len == 0 {
                    None
                } else {
                    Some(arg_path(job.tmp))
                };
                (tmp, arg_path(job.path))
            };
            let (tmp, path) = match parsed {
                (Some(Err(_)), _) | (_, Err(_)) => {
                    bad = Some(Error::new(ErrorKind::InvalidName, "bad path in upload job"));
                    let m = "bad path in upload job";
                    // SAFETY: the host's done callback for a job it gave us.
                    unsafe {
                        (q.done)(q.ctx, job.id, PEEX_INVALID_NAME, 0, PeexStr::new(m));
                    }
                    return None;
                }
                (tmp, Ok(path)) => (tmp.and_then(Result::ok), path),
            };
            Some(ReplaceJob {
                id: usize::try_from(job.id).unwrap_or(usize::MAX),
                tmp,
                path,
                src: Box::new(JobReader(HostReader { r: job.reader })),
                size: job.size,
                mtime: (job.has_mtime != 0).then_some(job.mtime),
            })
        };
        let mut done = |id: usize, r: peex_core::Result<()>| {
            let (status, flags, msg) = match &r {
                Ok(()) => (PEEX_OK, 0, String::new()),
                Err(e) => (kind_to_status(e.kind()), error_flags(e), error_text(e)),
            };
            // SAFETY: the host's done callback; msg is borrowed for the call.
            unsafe { (q.done)(q.ctx, id as u64, status, flags, PeexStr::new(&msg)) };
        };
        fs.upload_stream(&mut next, &mut done)?;
        Ok(())
    };
    // SAFETY: conn comes from connect and is used by one thread; err is this call's slot.
    unsafe { with_conn(conn, err, body) }
}

pub(crate) unsafe extern "C" fn t_mkdir_batch(
    conn: *mut PeexConn,
    paths: *const PeexStr,
    n: usize,
    results: *mut PeexStatus,
    n_done: *mut usize,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = |fs: &mut dyn RemoteFs| {
        if (n > 0 && (paths.is_null() || results.is_null())) || n_done.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null argument to mkdir_batch").into());
        }
        // SAFETY: non-null array of n strings valid for this call (checked above).
        let views = if n == 0 {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(paths, n) }
        };
        let mut rel = Vec::with_capacity(n);
        for v in views {
            // SAFETY: valid for this call.
            rel.push(unsafe { arg_path(*v) }?);
        }
        let out = fs.mkdir_batch(&rel);
        let mut first: Option<Error> = None;
        for (i, r) in out.iter().enumerate().take(n) {
            let st = match r {
                Ok(()) => PEEX_OK,
                Err(e) => {
                    if first.is_none() {
                        first = Some(
                            Error::new(e.kind(), error_text(e)).set_temporary(e.is_temporary()),
                        );
                    }
                    kind_to_status(e.kind())
                }
            };
            // SAFETY: results has n writable entries; i < n.
            unsafe { *results.add(i) = st };
        }
        // SAFETY: non-null out-parameter.
        unsafe { *n_done = out.len().min(n) };
        match first {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    };
    // SAFETY: conn comes from connect and is used by one thread; err is this call's slot.
    unsafe { with_conn(conn, err, body) }
}

pub(crate) unsafe extern "C" fn t_close(conn: *mut PeexConn) {
    if conn.is_null() {
        return;
    }
    // SAFETY: conn came from Box::into_raw in t_connect; the host closes it exactly once.
    let mut c = unsafe { Box::from_raw(conn.cast::<Conn>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || {
        if let Some(fs) = c.fs.as_deref_mut() {
            let _ = fs.quit();
        }
        drop(c);
    }));
}
