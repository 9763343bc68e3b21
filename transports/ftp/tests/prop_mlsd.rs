#![allow(clippy::unwrap_used)]
//! Property tests of the MLSD parser (`parse_mlsd`, `parse_mlsd_line`): no input panics,
//! well-formed lines (any fact order and case, names with spaces, `;`, `=`, UTF-8) give the
//! right entry, and unsafe names never come out as entries.
//!
//! The deeper search is the `mlsd` cargo-fuzz target (`fuzz/README.md`).

use peex_core::{Entry, EntryKind, ErrorKind};
use peex_ftp::{format_ftp_time, parse_mlsd, parse_mlsd_line};
use proptest::prelude::*;

/// Cases per property: enough to cover the generators, small enough for a fast `cargo test`.
const CASES: u32 = 512;

/// The latest time FTP can write (9999-12-31 23:59:59).
const MAX_FTP_TIME: i64 = 253_402_300_799;

/// `s` with each ASCII letter's case picked at random.
fn any_case(s: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), s.len()).prop_map(move |up| {
        s.chars()
            .zip(up)
            .map(|(c, u)| {
                if u {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    })
}

/// A name the parser must accept: anything but `/`, `\`, NUL, line breaks, `.` and `..`.
fn safe_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ;=._-]{1,30}",
        "[ü日本語é ;=.a-z\u{1F600}]{1,12}",
        "[^/\\\\\\x00\\r\\n]{1,20}",
    ]
    .prop_filter("not . or ..", |n| n != "." && n != "..")
}

/// `modify` value for `secs`: `YYYYMMDDhhmmss`, sometimes with a fraction.
fn modify_value() -> impl Strategy<Value = (String, i64)> {
    (
        0..=MAX_FTP_TIME,
        proptest::option::of("[0-9]{1,3}".prop_map(|f| format!(".{f}"))),
    )
        .prop_map(|(secs, frac)| {
            let s = format_ftp_time(secs).unwrap();
            (format!("{s}{}", frac.unwrap_or_default()), secs)
        })
}

/// Facts a server may add that the parser must ignore (no space or `;` in them).
fn noise_facts() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        prop_oneof![
            "[a-z]{1,6}".prop_map(|p| format!("perm={p}")),
            "[A-Z0-9]{1,12}".prop_map(|u| format!("unique={u}")),
            "[0-7]{4}".prop_map(|m| format!("UNIX.mode={m}")),
            "[a-z]{1,8}".prop_map(|o| format!("UNIX.ownername={o}")),
            "[0-9]{1,5}".prop_map(|g| format!("unix.group={g}")),
            Just("lang=".to_owned()),
        ],
        0..4,
    )
}

/// A well-formed MLSD line (without line ending) and the entry it must give.
fn entry_line() -> impl Strategy<Value = (String, Entry)> {
    let file = (
        any_case("file"),
        any_case("size"),
        any::<u64>(),
        any_case("modify"),
        modify_value(),
    )
        .prop_map(|(t, sk, size, mk, (mv, secs))| {
            let facts = vec![
                format!("type={t}"),
                format!("{sk}={size}"),
                format!("{mk}={mv}"),
            ];
            (facts, EntryKind::File, size, Some(secs))
        });
    let dir = (
        any_case("dir"),
        any_case("modify"),
        proptest::option::of(modify_value()),
    )
        .prop_map(|(t, mk, modify)| {
            let mut facts = vec![format!("type={t}")];
            if let Some((mv, _)) = &modify {
                facts.push(format!("{mk}={mv}"));
            }
            (facts, EntryKind::Dir, 0, modify.map(|m| m.1))
        });
    let other = (
        prop_oneof![
            Just("OS.unix=slink:/etc/passwd"),
            Just("OS.unix=symlink"),
            Just("os.unix=chr-1/3"),
            Just("fifo"),
        ],
        proptest::option::of(any::<u64>()),
        proptest::option::of(modify_value()),
    )
        .prop_map(|(t, size, modify)| {
            let mut facts = vec![format!("type={t}")];
            if let Some(s) = size {
                facts.push(format!("size={s}"));
            }
            if let Some((mv, _)) = &modify {
                facts.push(format!("modify={mv}"));
            }
            (
                facts,
                EntryKind::Other,
                size.unwrap_or(0),
                modify.map(|m| m.1),
            )
        });
    (
        prop_oneof![file, dir, other],
        noise_facts(),
        any_case("type"),
        safe_name(),
        any::<bool>(),
    )
        .prop_flat_map(
            |((mut facts, kind, size, mtime), noise, type_key, name, trailing)| {
                facts[0] = facts[0].replacen("type", &type_key, 1);
                facts.extend(noise);
                (
                    Just(facts).prop_shuffle(),
                    Just((kind, size, mtime, name, trailing)),
                )
            },
        )
        .prop_map(|(facts, (kind, size, mtime, name, trailing))| {
            let sep = if trailing { ";" } else { "" };
            let line = format!("{}{sep} {name}", facts.join(";"));
            let entry = Entry {
                name,
                kind,
                size,
                mtime,
            };
            (line, entry)
        })
}

/// A `cdir` or `pdir` line (skipped by the parser).
fn dir_marker_line() -> impl Strategy<Value = String> {
    (
        prop_oneof![any_case("cdir"), any_case("pdir")],
        modify_value(),
        prop_oneof![Just("."), Just(".."), Just("/www"), Just("/")],
    )
        .prop_map(|(t, (mv, _), name)| format!("type={t};modify={mv};perm=flcdmpe; {name}"))
}

fn line_ending() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just("\r"), Just("\n"), Just("\r\n")]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_mlsd(&data);
        if let Ok(s) = std::str::from_utf8(&data) {
            let _ = parse_mlsd_line(s);
        }
    }

    #[test]
    fn mlsd_like_text_never_panics(text in "([a-zA-Z.]{0,8}=[0-9a-zA-Z.:/]{0,16};?){0,5}[ ;=]?[^\\n]{0,12}(\\r?\\n)?") {
        let _ = parse_mlsd(text.as_bytes());
        let _ = parse_mlsd_line(&text);
    }

    #[test]
    fn well_formed_line_round_trips((line, entry) in entry_line(), end in line_ending()) {
        let full = format!("{line}{end}");
        prop_assert_eq!(parse_mlsd_line(&full).unwrap(), Some(entry.clone()), "{:?}", full);
        prop_assert_eq!(parse_mlsd(full.as_bytes()).unwrap(), vec![entry], "{:?}", full);
    }

    #[test]
    fn whole_listing_round_trips(
        lines in proptest::collection::vec(
            prop_oneof![
                4 => entry_line().prop_map(|(l, e)| (l, Some(e))),
                1 => dir_marker_line().prop_map(|l| (l, None)),
                1 => Just((String::new(), None)),
            ],
            0..12,
        ),
        crlf in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let data: String = lines.iter().map(|(l, _)| format!("{l}{eol}")).collect();
        let want: Vec<Entry> = lines.into_iter().filter_map(|(_, e)| e).collect();
        prop_assert_eq!(parse_mlsd(data.as_bytes()).unwrap(), want);
    }

    #[test]
    fn names_with_separators_or_nul_are_refused(
        (line, entry) in entry_line(),
        bad in prop_oneof![Just("/"), Just("\\"), Just("\0")],
        at in any::<prop::sample::Index>(),
    ) {
        let name = &entry.name;
        let cut = name.char_indices().map(|(i, _)| i).chain([name.len()]).collect::<Vec<_>>();
        let cut = cut[at.index(cut.len())];
        let bad_name = format!("{}{bad}{}", &name[..cut], &name[cut..]);
        let facts = &line[..line.len() - name.len()];
        let bad_line = format!("{facts}{bad_name}");
        let e = parse_mlsd_line(&bad_line).unwrap_err();
        prop_assert_eq!(e.kind(), ErrorKind::InvalidName, "{:?}: {}", bad_line, e);
        let e = parse_mlsd(format!("{bad_line}\r\n").as_bytes()).unwrap_err();
        prop_assert_eq!(e.kind(), ErrorKind::InvalidName, "{:?}: {}", bad_line, e);
    }

    #[test]
    fn dot_and_dot_dot_never_become_entries(
        (line, entry) in entry_line(),
        dots in prop_oneof![Just("."), Just("..")],
    ) {
        let facts = &line[..line.len() - entry.name.len()];
        let dot_line = format!("{facts}{dots}");
        prop_assert_eq!(parse_mlsd_line(&dot_line).unwrap(), None, "{:?}", dot_line);
        prop_assert!(parse_mlsd(dot_line.as_bytes()).unwrap().is_empty());
    }

    #[test]
    fn accepted_entries_always_have_safe_names(
        text in "(type=(file|dir|x);size=1;modify=20200913122640; [./\\\\a\\x00 ]{0,4}\\r?\\n){1,4}",
    ) {
        if let Ok(entries) = parse_mlsd(text.as_bytes()) {
            for e in entries {
                prop_assert!(peex_core::validate_name(&e.name).is_ok(), "{:?}", e.name);
            }
        }
    }
}
