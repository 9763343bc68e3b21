//! `LIST` listings, for servers without MLSD (vsftpd): Unix `ls -l` and MS-DOS lines,
//! parsed with suppaftp's `list` parser.
//!
//! A LIST line gives a file's time to the minute at best (`Dec 02 05:14`, or the day only
//! for older files: `Sep 09  2001`), and in the server's time zone; peex compares times to
//! the second, so the backend reads with `MDTM` (UTC) the exact time of each file whose time
//! decides anything (the files whose size equals the local one's). What the
//! parser gets wrong on real output is handled here:
//!
//! - the name starts after exactly one space in `ls -l` output; suppaftp's pattern eats
//!   every space, so a name with leading spaces lost them (` x` became `x`);
//! - other entry types (`p` FIFO, `s` socket, `c`/`b` devices) do not match its pattern at
//!   all: they are parsed as a file and given [`EntryKind::Other`];
//! - `total N` lines (proftpd) are not entries.

use crate::lister::checked_name;
use peex_core::{Entry, EntryKind, Error, ErrorKind, Result};
use suppaftp::list::File;

fn bad_line(line: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("bad LIST line {line:?}: {why}"),
    )
}

/// Parses raw LIST data: one [`Entry`] per file, directory or other entry, `.` and `..`
/// left out. Files carry their size and the listing's **coarse** time (minutes at best,
/// the server's time zone): the caller reads the exact one with MDTM where it matters. A line that is not UTF-8 or that neither format parses is an error of kind
/// [`ErrorKind::Protocol`] naming the line; unsafe names are errors of kind
/// [`ErrorKind::InvalidName`].
pub fn parse_list(data: &[u8]) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for raw in data.split(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            continue;
        }
        let line = std::str::from_utf8(raw)
            .map_err(|_| bad_line(&String::from_utf8_lossy(raw), "not UTF-8"))?;
        if let Some(e) = parse_list_line(line)? {
            entries.push(e);
        }
    }
    Ok(entries)
}

/// Parses one LIST line (without its line end): `Ok(None)` for `.`, `..` and `total N`.
pub fn parse_list_line(line: &str) -> Result<Option<Entry>> {
    if line.starts_with("total ") && line[6..].trim().bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let (file, other) = match File::from_posix_line(line) {
        Ok(f) => (f, false),
        Err(_) => match special_as_file(line).map(|l| File::from_posix_line(&l)) {
            Some(Ok(f)) => (f, true),
            _ => match File::from_dos_line(line) {
                Ok(f) => (f, false),
                Err(e) => return Err(bad_line(line, &format!("neither ls -l nor MS-DOS ({e})"))),
            },
        },
    };
    let name = if line.starts_with(['-', 'd', 'l', 'p', 's', 'c', 'b']) {
        posix_name(line, &file).ok_or_else(|| bad_line(line, "cannot find the name"))?
    } else {
        file.name().to_owned()
    };
    if name == "." || name == ".." {
        return Ok(None);
    }
    checked_name(&name)?;
    let kind = if other || file.is_symlink() {
        EntryKind::Other
    } else if file.is_directory() {
        EntryKind::Dir
    } else {
        EntryKind::File
    };
    Ok(Some(Entry {
        name,
        kind,
        size: if kind == EntryKind::File {
            file.size() as u64
        } else {
            0
        },
        mtime: (kind == EntryKind::File).then(|| coarse_time(&file)),
    }))
}

/// The time the line shows, in whole seconds (to the minute or the day, in the server's
/// time zone; 0 where it cannot be read): a placeholder the caller replaces with `MDTM`'s
/// exact time wherever the time decides anything.
fn coarse_time(file: &File) -> i64 {
    file.modified()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// A FIFO, socket or device line with its type letter made `-`, so the parser takes it.
fn special_as_file(line: &str) -> Option<String> {
    let rest = line.strip_prefix(['p', 's', 'c', 'b'])?;
    // Devices show "major, minor" where the size goes: make it one number (0).
    let rest = match rest.find(',') {
        Some(i) if line.starts_with(['c', 'b']) => {
            let before = rest[..i].trim_end_matches(|c: char| c.is_ascii_digit());
            let after = rest[i + 1..].trim_start_matches(' ');
            let after = after.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("{before}0{after}")
        }
        _ => rest.to_owned(),
    };
    Some(format!("-{rest}"))
}

/// The name in an `ls -l` line: what follows the time after exactly one space (suppaftp's
/// name lost its leading spaces), without a link's ` -> target`.
fn posix_name(line: &str, file: &File) -> Option<String> {
    let token_len = match file.symlink() {
        Some(target) => file.name().len() + " -> ".len() + target.to_str()?.len(),
        None => file.name().len(),
    };
    let start = line.len().checked_sub(token_len)?;
    let before = line.get(..start)?;
    let spaces = before.len() - before.trim_end_matches(' ').len();
    let lead = spaces.checked_sub(1)?;
    Some(format!("{}{}", " ".repeat(lead), file.name()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn one(line: &str) -> Entry {
        match parse_list_line(line) {
            Ok(Some(e)) => e,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    #[test]
    fn vsftpd_lines() {
        // Real output of vsftpd 3.0.3 (`LIST -a /`).
        let data = b"drwxr-xr-x    3 1001     1001         4096 Dec 02 05:14 .\r\n\
drwxr-xr-x    3 1001     1001         4096 Dec 02 05:14 ..\r\n\
-rw-r--r--    1 1001     1001            1 Sep 09  2001 .htaccess\r\n\
-rw-r--r--    1 1001     1001            5 Dec 02 05:14 a.txt\r\n\
drwxr-xr-x    2 1001     1001         4096 Dec 02 05:14 d\r\n\
lrwxrwxrwx    1 0        0              11 Dec 02 05:14 link -> /etc/passwd\r\n";
        let v = parse_list(data).unwrap();
        let names: Vec<(&str, EntryKind, u64)> = v
            .iter()
            .map(|e| (e.name.as_str(), e.kind, e.size))
            .collect();
        assert_eq!(
            names,
            vec![
                (".htaccess", EntryKind::File, 1),
                ("a.txt", EntryKind::File, 5),
                ("d", EntryKind::Dir, 0),
                ("link", EntryKind::Other, 0),
            ]
        );
        // Files carry the line's coarse time (Sep 09 2001: the day only); others none.
        assert_eq!(v[0].mtime, Some(1_000_000_000 - 1_000_000_000 % 86_400));
        assert!(v[1].mtime.is_some());
        assert!(v[2].mtime.is_none() && v[3].mtime.is_none());
    }

    #[test]
    fn pure_ftpd_and_proftpd_lines() {
        let v = parse_list(
            b"total 8\r\n-rw-r--r--    1 2121       2121                5 Dec  2 05:13 a b.txt\r\n\
lrwxrwxrwx    1 0          0                   1 Dec  2 05:13 dlink -> d\r\n\
-rw-r--r--   1 peex     peex            0 Jan  1  1999 trailing \r\n",
        )
        .unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].name, "a b.txt");
        assert_eq!(v[1].kind, EntryKind::Other);
        assert_eq!(v[1].name, "dlink");
        assert_eq!(v[2].name, "trailing ");
    }

    #[test]
    fn leading_spaces_in_names_are_kept() {
        let e = one("-rw-r--r--    1 1001     1001            5 Dec 02 05:14   two spaces");
        assert_eq!(e.name, "  two spaces");
        let e = one("-rw-r--r--    1 1001     1001            5 Sep 09  2001  x");
        assert_eq!(e.name, " x");
    }

    #[test]
    fn iis_dos_lines() {
        let v = parse_list(
            b"12-01-20  10:30AM       <DIR>          pub\r\n04-08-14  03:09PM                  403 readme.txt\r\n",
        )
        .unwrap();
        assert_eq!(v[0].kind, EntryKind::Dir);
        assert_eq!(v[0].name, "pub");
        assert_eq!((v[1].name.as_str(), v[1].size), ("readme.txt", 403));
    }

    #[test]
    fn fifos_sockets_and_devices_are_other() {
        for l in [
            "prw-r--r--    1 1001     1001            0 Dec 02 05:14 fifo",
            "srwxr-xr-x    1 1001     1001            0 Dec 02 05:14 sock",
            "crw-rw-rw-    1 0        0          1,   3 Dec 02 05:14 null",
        ] {
            assert_eq!(one(l).kind, EntryKind::Other, "{l}");
        }
    }

    #[test]
    fn garbage_and_unsafe_names_are_errors() {
        let e = parse_list(b"hello world\r\n").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
        assert!(e.message().contains("bad LIST line"), "{e}");
        let e = parse_list(b"-rw-r--r-- 1 a a 5 Dec 02 05:14 caf\xe9\r\n").unwrap_err();
        assert!(e.message().contains("not UTF-8"), "{e}");
        let e = parse_list_line("-rw-r--r--    1 1001     1001  5 Dec 02 05:14 a\\b").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidName);
    }
}
