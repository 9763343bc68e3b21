//! MLSD listings (RFC 3659), parsed strictly.
//!
//! Common client parsers give a file without a `modify` fact the epoch as its time and decode
//! bytes lossily; peex needs the opposite (an unparsable line is an error naming the line), so
//! the raw bytes of the data connection are parsed here.

use crate::time::parse_ftp_time;
use peex_core::{validate_name, Entry, EntryKind, Error, ErrorKind, Result};

fn bad_line(line: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("bad MLSD line {line:?}: {why}"),
    )
}

/// Splits raw MLSD data into lines and parses each with [`parse_mlsd_line`].
///
/// Lines end with CRLF (a bare LF is accepted); empty lines are skipped. A line that is not
/// UTF-8 is an error of kind [`ErrorKind::Protocol`].
pub fn parse_mlsd(data: &[u8]) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for raw in data.split(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            continue;
        }
        let line = std::str::from_utf8(raw).map_err(|_| {
            Error::new(
                ErrorKind::Protocol,
                format!(
                    "bad MLSD line {:?}: not UTF-8",
                    String::from_utf8_lossy(raw)
                ),
            )
        })?;
        // One CR was the line end; another one belongs to the name (and is refused).
        if let Some(e) = parse_line(line)? {
            entries.push(e);
        }
    }
    Ok(entries)
}

/// Refuses a listing that names the same entry twice (which of the two is real?): an error
/// of kind [`ErrorKind::Protocol`]. Used by `FtpFs::list`, so the engine never plans from an
/// ambiguous listing.
pub(crate) fn refuse_duplicates(entries: &[Entry]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    match entries.iter().find(|e| !seen.insert(e.name.as_str())) {
        Some(e) => Err(Error::new(
            ErrorKind::Protocol,
            format!("the MLSD listing names {:?} twice", e.name),
        )),
        None => Ok(()),
    }
}

/// Parses one MLSD line: `fact=value;fact=value; name`.
///
/// - Fact names are case-insensitive; the facts end at the first space and the rest of the
///   line is the name, which may contain spaces, `;` and `=`. A trailing CR is ignored.
/// - `type` is required: `file` gives [`EntryKind::File`], `dir` [`EntryKind::Dir`], `cdir`
///   and `pdir` (and the names `.` and `..`, whatever their type) give `Ok(None)`, anything
///   else (`OS.unix=slink:…`, …) [`EntryKind::Other`].
/// - Files need `size` and `modify`; `modify` (`YYYYMMDDhhmmss[.sss]`, UTC) is truncated to
///   whole seconds. A missing or malformed fact is an error of kind [`ErrorKind::Protocol`].
/// - The name must pass [`validate_name`] and hold no CR or LF, which no FTP command can
///   carry (error of kind [`ErrorKind::InvalidName`]).
pub fn parse_mlsd_line(line: &str) -> Result<Option<Entry>> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    parse_line(line)
}

/// A listed name peex can use: [`validate_name`], and no CR or LF, which no FTP command can
/// carry (error of kind [`ErrorKind::InvalidName`]).
pub(crate) fn checked_name(name: &str) -> Result<()> {
    validate_name(name)?;
    if name.contains(['\r', '\n']) {
        return Err(Error::new(
            ErrorKind::InvalidName,
            format!("refusing unsafe name {name:?}: name contains CR or LF (no FTP command can name it)"),
        ));
    }
    Ok(())
}

/// [`parse_mlsd_line`] of a line whose end (CRLF) is already removed.
fn parse_line(line: &str) -> Result<Option<Entry>> {
    let Some((facts, name)) = line.split_once(' ') else {
        return Err(bad_line(line, "no space between facts and name"));
    };
    let mut kind = None;
    let mut size = None;
    let mut modify = None;
    for fact in facts.split(';') {
        if fact.is_empty() {
            continue;
        }
        let Some((key, value)) = fact.split_once('=') else {
            return Err(bad_line(line, &format!("fact {fact:?} has no '='")));
        };
        match key.to_ascii_lowercase().as_str() {
            "type" => {
                let v = value.to_ascii_lowercase();
                kind = Some(match v.as_str() {
                    "file" => Some(EntryKind::File),
                    "dir" => Some(EntryKind::Dir),
                    "cdir" | "pdir" => None,
                    "" => return Err(bad_line(line, "empty type fact")),
                    _ => Some(EntryKind::Other),
                });
            }
            "size" => {
                size = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| bad_line(line, &format!("size {value:?} is not a number")))?,
                );
            }
            "modify" => {
                modify = Some(parse_ftp_time(value).ok_or_else(|| {
                    bad_line(
                        line,
                        &format!("modify {value:?} is not YYYYMMDDhhmmss[.sss]"),
                    )
                })?);
            }
            _ => {}
        }
    }
    let Some(kind) = kind else {
        return Err(bad_line(line, "no type fact"));
    };
    let Some(kind) = kind else {
        return Ok(None); // cdir / pdir
    };
    if name == "." || name == ".." {
        return Ok(None);
    }
    checked_name(name)?;
    let entry = match kind {
        EntryKind::File => Entry {
            name: name.to_owned(),
            kind,
            size: size.ok_or_else(|| bad_line(line, "file without size fact"))?,
            mtime: Some(modify.ok_or_else(|| bad_line(line, "file without modify fact"))?),
        },
        EntryKind::Dir => Entry {
            name: name.to_owned(),
            kind,
            size: 0,
            mtime: modify,
        },
        EntryKind::Other => Entry {
            name: name.to_owned(),
            kind,
            size: size.unwrap_or(0),
            mtime: modify,
        },
    };
    Ok(Some(entry))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64, mtime: i64) -> Option<Entry> {
        Some(Entry {
            name: name.into(),
            kind: EntryKind::File,
            size,
            mtime: Some(mtime),
        })
    }

    fn parse(line: &str) -> Option<Entry> {
        match parse_mlsd_line(line) {
            Ok(e) => e,
            Err(e) => panic!("{line:?}: {e}"),
        }
    }

    fn err(line: &str) -> Error {
        match parse_mlsd_line(line) {
            Ok(e) => panic!("{line:?} parsed as {e:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn proftpd_file_line() {
        let l = "modify=20200913122640;perm=adfrw;size=42;type=file;unique=FD01U2F;UNIX.group=2121;UNIX.groupname=peex;UNIX.mode=0644;UNIX.owner=2121;UNIX.ownername=peex; index.html";
        assert_eq!(parse(l), file("index.html", 42, 1_600_000_000));
    }

    #[test]
    fn dir_line() {
        let e = parse("modify=20200913122640;perm=flcdmpe;type=dir;unique=FD01U2E; css").unwrap();
        assert_eq!(e.kind, EntryKind::Dir);
        assert_eq!(e.name, "css");
        assert_eq!(e.size, 0);
        assert_eq!(e.mtime, Some(1_600_000_000));
        // a directory without modify is fine
        let e = parse("type=dir; d").unwrap();
        assert_eq!(e.mtime, None);
    }

    #[test]
    fn cdir_pdir_and_dot_names_are_skipped() {
        assert_eq!(parse("type=cdir;modify=20200913122640; /www"), None);
        assert_eq!(parse("type=pdir;modify=20200913122640; /"), None);
        assert_eq!(parse("type=CDIR; ."), None);
        assert_eq!(parse("type=dir; ."), None);
        assert_eq!(parse("type=dir; .."), None);
        assert_eq!(parse("type=file;size=1;modify=20200913122640; .."), None);
    }

    #[test]
    fn uppercase_facts_and_cr() {
        assert_eq!(
            parse("Type=File;Size=7;Modify=20200913122640.123; a.txt\r"),
            file("a.txt", 7, 1_600_000_000)
        );
        assert_eq!(
            parse("TYPE=FILE;SIZE=7;MODIFY=20200913122640; a.txt\r\n"),
            file("a.txt", 7, 1_600_000_000)
        );
    }

    #[test]
    fn names_with_spaces_semicolons_equals_and_utf8() {
        let t = "type=file;size=1;modify=20200913122640;";
        for name in [
            "with space.txt",
            " leading space",
            "trailing space ",
            "a;b=c; d",
            "ünï cødé.txt",
            "日本語",
            "...",
            ".htaccess",
        ] {
            assert_eq!(parse(&format!("{t} {name}")), file(name, 1, 1_600_000_000));
        }
    }

    #[test]
    fn unsafe_names_are_errors() {
        let t = "type=file;size=1;modify=20200913122640;";
        for name in ["a/b", "../etc", "a\\b", "a\0b", "/etc/passwd", "", "a\rb"] {
            let e = err(&format!("{t} {name}"));
            assert_eq!(e.kind(), ErrorKind::InvalidName, "{name:?}: {e}");
        }
    }

    #[test]
    fn missing_facts_are_errors() {
        for (line, what) in [
            ("size=1;modify=20200913122640; a", "no type"),
            ("type=file;modify=20200913122640; a", "without size"),
            ("type=file;size=1; a", "without modify"),
            ("type=file; a", "without"),
            ("type=; a", "empty type"),
            ("type=file;size=1;modify=20200913122640;a", "no space"),
            ("", "no space"),
            ("type=file;size;modify=20200913122640; a", "no '='"),
        ] {
            let e = err(line);
            assert_eq!(e.kind(), ErrorKind::Protocol, "{line:?}");
            assert!(e.message().contains(what), "{line:?}: {e}");
            assert!(e.message().contains("bad MLSD line"), "{e}");
        }
    }

    #[test]
    fn garbage_values_are_errors() {
        for line in [
            "type=file;size=1;modify=garbage; a",
            "type=file;size=1;modify=20201301000000; a",
            "type=file;size=1;modify=2020091312264; a",
            "type=file;size=1;modify=; a",
            "type=file;size=-1;modify=20200913122640; a",
            "type=file;size=1k;modify=20200913122640; a",
            "type=file;size=;modify=20200913122640; a",
            "type=dir;modify=yesterday; a",
        ] {
            assert_eq!(err(line).kind(), ErrorKind::Protocol, "{line:?}");
        }
    }

    #[test]
    fn other_types() {
        for t in [
            "OS.unix=symlink",
            "OS.unix=slink:/etc/passwd",
            "os.unix=chr-1/3",
            "fifo",
        ] {
            let e = parse(&format!("type={t};modify=20200913122640; link")).unwrap();
            assert_eq!(e.kind, EntryKind::Other, "{t}");
            assert_eq!(e.name, "link");
        }
    }

    #[test]
    fn whole_listing() {
        let data = b"type=cdir;modify=20200913122640; .\r\ntype=file;size=3;modify=20200913122640; a b\r\n\r\ntype=dir; d\n";
        let v = parse_mlsd(data).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0], file("a b", 3, 1_600_000_000).unwrap());
        assert_eq!(v[1].kind, EntryKind::Dir);
        let e = parse_mlsd(b"type=file;size=3;modify=20200913122640; caf\xe9\r\n").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
        assert!(e.message().contains("not UTF-8"));
        let e = parse_mlsd(b"type=file;size=3; x\r\n").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
        // a CR before the CRLF belongs to the name
        let e = parse_mlsd(b"type=file;size=3;modify=20200913122640; x\r\r\n").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidName, "{e}");
        let e =
            parse_mlsd(b"type=file;size=3;modify=20200913122640; x\rDELE /etc\r\n").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidName, "{e}");
        // the same name twice (even as two kinds) is ambiguous
        let v =
            parse_mlsd(b"type=file;size=3;modify=20200913122640; x\r\ntype=dir; x\r\n").unwrap();
        let e = refuse_duplicates(&v).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
        assert!(e.message().contains("twice"), "{e}");
    }
}
