//! Fuzzes the MLSD listing parser of the FTP transport: no input may panic, and whatever
//! it accepts must be a safe entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peex_core::{validate_name, EntryKind};

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = peex_ftp::parse_mlsd(data) {
        for e in &entries {
            assert!(validate_name(&e.name).is_ok(), "unsafe name {:?}", e.name);
            if e.kind == EntryKind::File {
                assert!(e.mtime.is_some(), "file without mtime: {e:?}");
            }
            if e.kind == EntryKind::Dir {
                assert_eq!(e.size, 0, "dir with a size: {e:?}");
            }
        }
    }
    if let Ok(line) = std::str::from_utf8(data) {
        if let Ok(Some(e)) = peex_ftp::parse_mlsd_line(line) {
            assert!(validate_name(&e.name).is_ok(), "unsafe name {:?}", e.name);
        }
    }
});
