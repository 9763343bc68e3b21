//! `peex_core::Filter` over a plugin's filter vtable.

#![deny(unsafe_op_in_unsafe_fn)]

use super::library::{pstr, ErrorSlot, Loaded, HOST_API};
use super::transport::kv_views;
use peex_core::{Entry, Error, ErrorKind, Filter, RelPath, Result, Side, Verdict};
use peex_plugin_abi::*;
use peex_plugin_bridge::entry_to_c;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A live filter instance created by a plugin.
pub(crate) struct PluginFilter {
    lib: Arc<Loaded>,
    vt: PeexFilterVTable,
    obj: *mut PeexFilter,
    name: String,
    dead: AtomicBool,
}

// SAFETY: the ABI requires a filter's decide to be callable from several threads at once;
// destroy is only called from Drop, when no decide can be running.
unsafe impl Send for PluginFilter {}
// SAFETY: as above.
unsafe impl Sync for PluginFilter {}

impl PluginFilter {
    /// Creates an instance of filter number `index` of `lib` with `options`.
    pub(crate) fn create(
        lib: Arc<Loaded>,
        index: usize,
        options: &BTreeMap<String, String>,
    ) -> Result<PluginFilter> {
        let (vt_ptr, vt) = lib.filter_vtable(index);
        let name = lib.info.filters[index].name.clone();
        let Some(create) = vt.create else {
            return Err(Error::new(
                ErrorKind::Unexpected,
                "plugin filter lacks create",
            ));
        };
        let owned: Vec<(String, String)> = options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let views = kv_views(&owned);
        let mut obj: *mut PeexFilter = std::ptr::null_mut();
        let mut slot = ErrorSlot::default();
        // SAFETY: validated function; every pointer refers to data owned by this frame and
        // live across the call.
        let status = unsafe {
            create(
                vt_ptr,
                &HOST_API,
                views.as_ptr(),
                views.len(),
                &mut obj,
                slot.as_ptr(),
            )
        };
        if status != PEEX_OK {
            return Err(slot.into_error(status, &lib.info.name, "create"));
        }
        if obj.is_null() {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("plugin {:?} returned no filter from create", lib.info.name),
            ));
        }
        Ok(PluginFilter {
            lib,
            vt,
            obj,
            name,
            dead: AtomicBool::new(false),
        })
    }
}

impl Filter for PluginFilter {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&self, path: &RelPath, entry: &Entry, side: Side) -> Result<Verdict> {
        if self.dead.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!(
                    "filter {:?} of plugin {:?} is disabled after an earlier panic or fatal error",
                    self.name, self.lib.info.name
                ),
            ));
        }
        let Some(decide) = self.vt.decide else {
            return Err(Error::new(
                ErrorKind::Unexpected,
                "plugin filter lacks decide",
            ));
        };
        let pe = entry_to_c(entry);
        let side = match side {
            Side::Local => PEEX_SIDE_LOCAL,
            Side::Remote => PEEX_SIDE_REMOTE,
        };
        let mut verdict: u32 = PEEX_VERDICT_NO_OPINION;
        let mut slot = ErrorSlot::default();
        // SAFETY: validated function; obj came from create and is destroyed only in Drop;
        // path, entry, verdict and slot outlive the call.
        let status = unsafe {
            decide(
                self.obj,
                pstr(path.as_str()),
                &pe,
                side,
                &mut verdict,
                slot.as_ptr(),
            )
        };
        if status != PEEX_OK {
            if status == PEEX_PANICKED || slot.fatal() {
                self.dead.store(true, Ordering::Release);
            }
            return Err(slot.into_error(status, &self.lib.info.name, "decide"));
        }
        match verdict {
            PEEX_VERDICT_NO_OPINION => Ok(Verdict::NoOpinion),
            PEEX_VERDICT_IGNORE => Ok(Verdict::Ignore),
            PEEX_VERDICT_PROTECT => Ok(Verdict::Protect),
            v => Err(Error::new(
                ErrorKind::Protocol,
                format!("filter {:?} returned unknown verdict {v}", self.name),
            )),
        }
    }
}

impl Drop for PluginFilter {
    fn drop(&mut self) {
        if let Some(destroy) = self.vt.destroy {
            // SAFETY: obj came from create; Drop runs once and no decide is in flight (we
            // have &mut self).
            unsafe { destroy(self.obj) };
        }
    }
}
