//! The filter trampolines: the C entry points of a filter's vtable (`create`, `decide`,
//! `destroy`), each calling the plugin's [`peex_core::Filter`] inside [`guard`].

use super::guard::*;
use super::*;

pub(crate) struct FilterBox {
    filter: Box<dyn Filter>,
    host: *const PeexHostApi,
    dead: AtomicBool,
}

pub(crate) unsafe extern "C" fn f_create(
    this: *const PeexFilterVTable,
    host: *const PeexHostApi,
    options: *const PeexKv,
    n_options: usize,
    out_filter: *mut *mut PeexFilter,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    let body = || {
        if this.is_null() || out_filter.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null argument to create").into());
        }
        // SAFETY: `this` is the first field of a #[repr(C)] SdkFilter from our descriptor.
        let sdk = unsafe { &*(this as *const SdkFilter) };
        // SAFETY: options valid for this call.
        let opts = FilterOptions(unsafe { read_kv(options, n_options) }?);
        check_required(&sdk.spec.options, |n| opts.0.contains_key(n), sdk.spec.name)?;
        let filter = (sdk.spec.create)(&opts)?;
        let b = Box::new(FilterBox {
            filter,
            host,
            dead: AtomicBool::new(false),
        });
        // SAFETY: non-null out-parameter provided by the host.
        unsafe { *out_filter = Box::into_raw(b).cast::<PeexFilter>() };
        Ok(())
    };
    // SAFETY: host/err come from the host for this call.
    unsafe { guard(host, err, body) }.0
}

pub(crate) unsafe extern "C" fn f_decide(
    filter: *mut PeexFilter,
    path: PeexStr,
    entry: *const PeexEntry,
    side: u32,
    out_verdict: *mut u32,
    err: *mut PeexErrorSlot,
) -> PeexStatus {
    if filter.is_null() {
        return PEEX_UNEXPECTED;
    }
    // SAFETY: filter came from Box::into_raw in f_create; decide only takes a shared
    // reference (filters are Sync), destroy is not called concurrently (host contract).
    let fb = unsafe { &*filter.cast::<FilterBox>() };
    let body = || {
        if fb.dead.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("filter {} is dead after an earlier panic", fb.filter.name()),
            )
            .into());
        }
        // SAFETY: valid for this call.
        let path = unsafe { arg_path(path) }?;
        if entry.is_null() || out_verdict.is_null() {
            return Err(Error::new(ErrorKind::Unexpected, "null argument to decide").into());
        }
        // SAFETY: non-null entry valid for this call.
        let pe = unsafe { *entry };
        // SAFETY: its name is valid for this call.
        let name = unsafe { arg_str(pe.name) }?.to_owned();
        let e = entry_from_c(&pe, name)?;
        let side = if side == PEEX_SIDE_REMOTE {
            Side::Remote
        } else {
            Side::Local
        };
        let v = fb.filter.decide(&path, &e, side)?;
        // SAFETY: non-null out-parameter.
        unsafe {
            *out_verdict = match v {
                Verdict::NoOpinion => PEEX_VERDICT_NO_OPINION,
                Verdict::Ignore => PEEX_VERDICT_IGNORE,
                Verdict::Protect => PEEX_VERDICT_PROTECT,
            }
        };
        Ok(())
    };
    // SAFETY: host/err come from the host.
    let (status, panicked) = unsafe { guard(fb.host, err, body) };
    if panicked {
        fb.dead.store(true, Ordering::Release);
    }
    status
}

pub(crate) unsafe extern "C" fn f_destroy(filter: *mut PeexFilter) {
    if filter.is_null() {
        return;
    }
    // SAFETY: filter came from Box::into_raw in f_create; the host destroys it exactly once,
    // after every decide call has returned.
    let b = unsafe { Box::from_raw(filter.cast::<FilterBox>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(b)));
}
