//! Error reporting to the host and panic containment: every call from the host runs
//! inside [`guard`], which turns an error or a panic into a status and a message in the
//! host's error slot; and reading the host's arguments (strings, option pairs).

use super::*;

/// Why a call failed: a core error to report, or a status to pass on as is (a host callback
/// refused; the host already knows why).
pub(crate) enum Fail {
    Core(Error),
    Status(PeexStatus),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Core(e)
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Fills the host's error slot.
///
/// # Safety
/// `host` must be null or the host API the host passed in; `err` the slot of this call.
pub(crate) unsafe fn report(
    host: *const PeexHostApi,
    err: *mut PeexErrorSlot,
    status: PeexStatus,
    flags: u32,
    msg: &str,
) {
    if host.is_null() || err.is_null() {
        return;
    }
    // SAFETY: host is the live, static host API table (non-null, checked above); error_set
    // copies msg before returning, so borrowing it for the call is enough.
    unsafe { ((*host).error_set)(err, status, flags, PeexStr::new(msg)) };
}

thread_local! {
    /// True while this thread runs plugin code inside [`guard`].
    static IN_GUARD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent for panics caught by [`guard`]: their
/// message reaches the host through the error slot, and the host reports it with the plugin
/// and the operation. Panics elsewhere go to the previous hook as before. (A cdylib has its
/// own copy of std, so this hook is the plugin's, not the host's.)
pub(crate) fn quiet_panics_in_guard() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_GUARD.with(|g| g.get()) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, catching panics, and turns the outcome into a status (filling `err`).
/// Returns `(status, panicked)`.
///
/// # Safety
/// As for [`report`].
pub(crate) unsafe fn guard(
    host: *const PeexHostApi,
    err: *mut PeexErrorSlot,
    f: impl FnOnce() -> Result<(), Fail>,
) -> (PeexStatus, bool) {
    quiet_panics_in_guard();
    let was = IN_GUARD.with(|g| g.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    IN_GUARD.with(|g| g.set(was));
    match outcome {
        Ok(Ok(())) => (PEEX_OK, false),
        Ok(Err(Fail::Status(s))) => (if s == PEEX_OK { PEEX_CANCELLED } else { s }, false),
        Ok(Err(Fail::Core(e))) => {
            let status = kind_to_status(e.kind());
            let flags = error_flags(&e);
            // A report that panics (it cannot, but) must not unwind into C.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: forwarded contract.
                unsafe { report(host, err, status, flags, &error_text(&e)) }
            }));
            (status, false)
        }
        Err(payload) => {
            let msg = panic_message(&*payload);
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: forwarded contract.
                unsafe { report(host, err, PEEX_PANICKED, PEEX_ERR_FATAL, &msg) }
            }));
            // Dropping the payload may itself panic; contain that too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            (PEEX_PANICKED, true)
        }
    }
}

/// Reads a borrowed string argument as UTF-8.
///
/// # Safety
/// `s` must be valid for the current call.
pub(crate) unsafe fn arg_str<'a>(s: PeexStr) -> Result<&'a str, Fail> {
    // SAFETY: the host passes strings valid for the duration of the call.
    unsafe { s.to_str() }.map_err(|e| Fail::Core(Error::new(ErrorKind::InvalidName, e)))
}

/// Reads a relative path argument.
///
/// # Safety
/// As for [`arg_str`].
pub(crate) unsafe fn arg_path(s: PeexStr) -> Result<RelPath, Fail> {
    // SAFETY: forwarded.
    let s = unsafe { arg_str(s) }?;
    Ok(RelPath::parse(s)?)
}

/// Copies key/value pairs.
///
/// # Safety
/// `kv` must point to `n` pairs valid for the call (or be null with `n == 0`).
pub(crate) unsafe fn read_kv(
    kv: *const PeexKv,
    n: usize,
) -> Result<BTreeMap<String, String>, Fail> {
    let mut map = BTreeMap::new();
    if n == 0 {
        return Ok(map);
    }
    if kv.is_null() {
        return Err(Error::new(ErrorKind::Unexpected, "null parameter array").into());
    }
    // SAFETY: non-null array of n pairs, valid for this call (contract).
    let pairs = unsafe { std::slice::from_raw_parts(kv, n) };
    for p in pairs {
        // SAFETY: strings valid for this call.
        let (k, v) = unsafe { (arg_str(p.key)?, arg_str(p.value)?) };
        map.insert(k.to_owned(), v.to_owned());
    }
    Ok(map)
}

pub(crate) fn check_required(
    specs: &[OptionSpec],
    has: impl Fn(&str) -> bool,
    what: &str,
) -> Result<(), Fail> {
    for o in specs {
        if o.flags & PEEX_OPT_REQUIRED != 0 && !has(o.name) {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                format!("{what}: missing required option {:?}", o.name),
            )
            .into());
        }
    }
    Ok(())
}
