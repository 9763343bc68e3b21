#![allow(clippy::unwrap_used)]
//! Property tests of the site-config parsers (`peex::config::parse_str`): no text panics in
//! either format (errors are `Err`), and valid `[exceptions]` lines keep their pattern
//! exactly, whatever `=`, `:`, `#`, `[`, `]` and spaces it holds.
//!
//! The deeper search is the `ini_config` and `ron_config` cargo-fuzz targets
//! (`fuzz/README.md`).

use peex::config::ini::SITE_KEYS;
use peex::config::{parse_str, Action, Format};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use std::path::Path;

/// Cases per property: enough to cover the generators, small enough for a fast `cargo test`.
const CASES: u32 = 384;

const FULL_RON: &str = include_str!("fixtures/config/full.ron");

fn origin(format: Format) -> &'static Path {
    Path::new(match format {
        Format::Ini => "/sites/site.peex",
        Format::Ron => "/sites/site.ron",
    })
}

/// Parses `text`; an error must render without panicking.
fn parse_never_panics(text: &str, format: Format) {
    if let Err(e) = parse_str(text, origin(format), format) {
        let _ = e.to_string();
    }
}

/// One line of INI-looking text: headers, `[site]` keys with odd values, rule lines,
/// comments and junk.
fn ini_like_line() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        "[a-z0-9/~. ]{0,10}",
        select(vec!["yes", "No", "on", "OFF", "1", "0", "true", "maybe"]).prop_map(str::to_owned),
        "[0-9]{1,21}",
        Just(String::new()),
    ];
    prop_oneof![
        select(vec![
            "[site]",
            "[exceptions]",
            "[Site]",
            " [EXCEPTIONS] ",
            "[site",
            "[]"
        ])
        .prop_map(str::to_owned),
        "[a-z_]{0,6}".prop_map(|n| format!("[{n}]")),
        (
            prop_oneof![
                select(SITE_KEYS.to_vec()).prop_map(str::to_owned),
                "[a-zA-Z_]{0,8}"
            ],
            select(vec!["=", ":", " = ", " : ", ""]),
            value,
        )
            .prop_map(|(k, s, v)| format!("{k}{s}{v}")),
        (
            "[a-z=:#;\\[\\]()*+?.^$\\\\{}| \t]{0,12}",
            select(vec!["=", ":", " = "]),
            select(vec!["ignore", "PROTECT", "", "x", "ignore=protect"]),
        )
            .prop_map(|(p, s, a)| format!("{p}{s}{a}")),
        "[#;][^\\n]{0,10}",
        Just(String::new()),
        Just("\u{feff}".to_owned()),
        "[^\\n]{0,16}",
    ]
}

fn ini_like_text() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(ini_like_line(), 0..14),
        select(vec!["\n", "\r\n", "\r"]),
    )
        .prop_map(|(lines, eol)| lines.join(eol))
}

/// Tokens RON (and the position-finding tokenizer behind its error messages) must cope with.
const RON_TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ":",
    ",",
    "\"",
    "'",
    "\\",
    "/",
    "*",
    "//",
    "/*",
    "*/",
    "#",
    "#!",
    "#![enable(implicit_some)]",
    "r#\"",
    "\"#",
    "r\"",
    "b\"",
    "r",
    "b",
    "\n",
    " ",
    "host",
    "source",
    "dest",
    "port",
    "jobs",
    "timeout",
    "transport",
    "rules",
    "pattern",
    "action",
    "ignore",
    "protect",
    "scope",
    "name",
    "applies_to",
    "files",
    "tls",
    "sftp",
    "verify",
    "options",
    "secret_options",
    "password",
    "filters",
    "plugins",
    "Some",
    "None",
    "true",
    "false",
    "\"x\"",
    "\"~/k\"",
    "\"\"",
    "0",
    "21",
    "70000",
    "-1",
    "1e9",
    "0x1f",
    "18446744073709551616",
    "'c'",
    "é",
    "\u{feff}",
];

fn ron_like_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(select(RON_TOKENS.to_vec()), 0..40).prop_map(|t| t.concat())
}

/// The full RON fixture with a few tokens inserted or chars deleted at random places.
fn mutated_full_ron() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            any::<Index>(),
            proptest::option::of(select(RON_TOKENS.to_vec())),
            0..4usize,
        ),
        1..5,
    )
    .prop_map(|edits| {
        let mut chars: Vec<char> = FULL_RON.chars().collect();
        for (at, insert, delete) in edits {
            let i = at.index(chars.len() + 1);
            match insert {
                Some(tok) => {
                    chars.splice(i..i, tok.chars());
                }
                None => {
                    let end = (i + delete).min(chars.len());
                    chars.drain(i..end);
                }
            }
        }
        chars.into_iter().collect()
    })
}

/// A regular expression that is not blank at either end, does not start with a comment
/// character, and holds `=`, `:`, `#`, `[`, `]`, `;` and spaces in many places.
fn rule_pattern() -> impl Strategy<Value = String> {
    let edge_atoms = vec![
        "a", "Z", "9", "=", ":", "\\#", "\\[", "\\]", "[=# :]", "[abc]", "\\.", "^", "$", ".*",
        "(x|=)", "ü",
    ];
    let mut inner_atoms = edge_atoms.clone();
    inner_atoms.extend(["#", " ", "  ", ";", "[ \\[]", "\\;", ": ", " = "]);
    (
        select(edge_atoms.clone()),
        proptest::collection::vec(select(inner_atoms), 0..8),
        select(edge_atoms),
    )
        .prop_map(|(first, inner, last)| {
            let mut p = first.to_owned();
            p.extend(inner);
            p.push_str(last);
            p
        })
}

/// One `[exceptions]` line for `pattern`: `=` or (when the pattern has neither `=` nor `:`)
/// `:` as separator, blanks around, action in any case.
fn rule_line(pattern: &str, action: Action, colon: bool, pad: (&str, &str, &str)) -> String {
    let word = match action {
        Action::Ignore => "IgNore",
        Action::Protect => "protect",
    };
    let sep = if colon && !pattern.contains(['=', ':']) {
        ":"
    } else {
        "="
    };
    format!("{}{pattern}{}{sep}{}{word}", pad.0, pad.1, pad.2)
}

fn pad() -> impl Strategy<Value = &'static str> {
    select(vec!["", " ", "  ", "\t", " \t "])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        parse_never_panics(&text, Format::Ini);
        parse_never_panics(&text, Format::Ron);
    }

    #[test]
    fn ini_like_text_never_panics(text in ini_like_text()) {
        parse_never_panics(&text, Format::Ini);
        parse_never_panics(&text, Format::Ron);
    }

    #[test]
    fn ron_like_text_never_panics(text in ron_like_text()) {
        parse_never_panics(&text, Format::Ron);
        parse_never_panics(&text, Format::Ini);
        let wrapped = format!("(host: \"h\", source: \"s\", dest: \"/d\", {text})");
        parse_never_panics(&wrapped, Format::Ron);
    }

    #[test]
    fn mutated_full_ron_never_panics(text in mutated_full_ron()) {
        parse_never_panics(&text, Format::Ron);
    }

    #[test]
    fn exception_patterns_are_kept_exactly(
        rules in proptest::collection::vec(
            (
                rule_pattern(),
                prop_oneof![Just(Action::Ignore), Just(Action::Protect)],
                any::<bool>(),
                (pad(), pad(), pad()),
            ),
            1..8,
        ),
        crlf in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = format!("[site]{eol}host=h{eol}source=s{eol}dest=/d{eol}[exceptions]{eol}");
        for (pattern, action, colon, pads) in &rules {
            text.push_str(&rule_line(pattern, *action, *colon, *pads));
            text.push_str(eol);
        }
        let cfg = match parse_str(&text, origin(Format::Ini), Format::Ini) {
            Ok(cfg) => cfg,
            Err(e) => return Err(TestCaseError::fail(format!("{text:?}: {e}"))),
        };
        let got: Vec<(&str, Action)> =
            cfg.rules.iter().map(|r| (r.pattern.as_str(), r.action)).collect();
        let want: Vec<(&str, Action)> =
            rules.iter().map(|(p, a, _, _)| (p.as_str(), *a)).collect();
        prop_assert_eq!(got, want, "{:?}", text);
        for (i, r) in cfg.rules.iter().enumerate() {
            prop_assert_eq!(&r.origin, &format!("/sites/site.peex:{}", i + 6));
        }
    }
}
