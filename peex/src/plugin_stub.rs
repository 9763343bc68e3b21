//! TEMPORARY stub until the plugin host lands.
#![allow(missing_docs)]
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
pub struct PluginHost;
impl PluginHost {
    pub fn discover(_e: &[PathBuf], _t: &[&str], _f: &[&str]) -> Self {
        PluginHost
    }
    pub fn render_listing(&self) -> String {
        String::new()
    }
    pub fn transport(&self, _s: &str) -> Option<Arc<dyn peex_core::Transport>> {
        None
    }
    pub fn filter(
        &self,
        _n: &str,
        _o: &BTreeMap<String, String>,
    ) -> Result<Box<dyn peex_core::Filter>, peex_core::Error> {
        Err(peex_core::Error::new(
            peex_core::ErrorKind::Unsupported,
            "no plugins yet",
        ))
    }
}
