//! Fuzzes the PEEX INI site-config parser: no input may panic (errors are `Err`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use peex::config::{parse_str, Format, MAX_JOBS};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_str(text, Path::new("/fuzz/site.peex"), Format::Ini) {
        Ok(cfg) => {
            assert!(cfg.transport == "local" || !cfg.host.is_empty());
            assert!(cfg
                .jobs
                .is_none_or(|j| (1..=MAX_JOBS as usize).contains(&j)));
            assert!(cfg.port != Some(0));
            let _ = format!("{cfg:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
