//! The native configuration format: [RON](https://github.com/ron-rs/ron), read with serde.
//!
//! A RON file holds one parenthesised structure. Every field but `source` and `dest` is
//! optional; unknown fields are errors (so a typo does not silently drop a setting), and
//! errors name the line and column. Optional values are written plainly (`port: 21`; the
//! `implicit_some` extension is always on, `Some(21)` works too). Relative paths (`source`,
//! `dest` of the `local` transport, `ca_file`, `known_hosts`, `key_file`, `plugins`) are
//! resolved against the directory of the configuration file, and a leading `~/` stands for
//! `$HOME`. A full example:
//!
//! ```ron
//! // mysite.ron: every setting of the native format
//! (
//!     transport: "ftps",          // ftp (default) | ftps | sftp | local | a plugin's scheme
//!     host: "ftp.example.com",
//!     port: 21,                   // default: the transport's
//!     user: "deploy",
//!     password: "secret",         // better: leave out and use PEEX_PASSWORD or ~/.netrc
//!     source: "public/",          // required; relative to this file's directory
//!     dest: "/www/",              // required; the remote root
//!     srcutime: false,
//!     symlinks: inside,           // inside (default) | skip | follow
//!     mtime_from: "filesystem",   // or "git": times of tracked files from their last commit
//!     compare: "mtime",           // or "checksum" (server hashes) or "size"
//!     jobs: 4,                    // parallel connections, 1..=64
//!     max_delete: 50,             // stop before deleting more than this
//!     timeout: 30,                // seconds
//!     retries: 3,                 // retries after a temporary error (reset, timeout, 421…)
//!     tls: (verify: true, ca_file: "ca.pem", implicit: false),
//!     sftp: (
//!         known_hosts: "~/.ssh/known_hosts",
//!         key_file: "~/.ssh/id_ed25519",
//!         key_passphrase: "...",
//!         accept_new_host_key: false,
//!         agent: true,
//!         host_key_check: true,     // false turns checking off (warned on every run)
//!     ),
//!     rules: [
//!         (pattern: "uploads", action: protect),
//!         (pattern: "^offline$", action: ignore),
//!         (pattern: "\\.bak$", action: ignore, scope: name, applies_to: files),
//!     ],
//!     plugins: ["plugins/libpeex_gitignore_filter.so"],
//!     filters: [(name: "gitignore", options: {"files": ".peexignore"})],
//!     options: {"some_plugin_option": "value"},
//!     secret_options: {"some_plugin_token": "..."},
//! )
//! ```
//!
//! * `rules`: exception rules, in order; the first that matches decides. `action` is
//!   `ignore` or `protect` (bare words). `scope` is `path` (default: the pattern is searched
//!   anywhere in the relative path `css/site.css`, as PEEX did) or `name` (the last
//!   component only). `applies_to` is `any` (default), `files` or `dirs`.
//! * `tls`: `verify` defaults to `true` (turning it off earns a warning), `implicit` to
//!   `false`. These are also passed to the transport as the options `tls_verify`,
//!   `ca_file` and `implicit_tls`; the `sftp` settings likewise as `known_hosts`,
//!   `key_file`, `accept_new_host_key`, `agent`, and `key_passphrase` as a secret option.
//!   `options` may not set those names itself.
//! * `options` are passed to the transport (for plugin transports); `secret_options` too,
//!   but are never printed. `filters` name filter plugins with their options, applied after
//!   the rules; `plugins` lists plugin libraries to load.
//! * A file holding `password`, `key_passphrase` or `secret_options` should be readable by
//!   its owner only (`chmod 600`); peex warns otherwise.

use super::{Action, AppliesTo, Rule, Scope};
use super::{ConfigError, Draft, FilterSpec, Pos, Val};
use peex_core::Secret;
use serde::de::{Deserializer, Error as _};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A string that is a secret: deserialised without ever quoting the value in an error.
struct SecretString(Secret);

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match ron::Value::deserialize(d)? {
            ron::Value::String(s) => Ok(SecretString(Secret::new(s))),
            ron::Value::Option(Some(v)) => match *v {
                ron::Value::String(s) => Ok(SecretString(Secret::new(s))),
                _ => Err(D::Error::custom("expected a string (value not shown)")),
            },
            _ => Err(D::Error::custom("expected a string (value not shown)")),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "site")]
struct NativeFile {
    transport: Option<String>,
    host: Option<String>,
    port: Option<u64>,
    user: Option<String>,
    password: Option<SecretString>,
    source: Option<String>,
    dest: Option<String>,
    srcutime: Option<bool>,
    symlinks: Option<crate::local::Symlinks>,
    mtime_from: Option<String>,
    compare: Option<String>,
    jobs: Option<u64>,
    max_delete: Option<u64>,
    timeout: Option<u64>,
    retries: Option<u64>,
    tls: Option<NativeTls>,
    sftp: Option<NativeSftp>,
    rules: Option<Vec<NativeRule>>,
    plugins: Option<Vec<String>>,
    filters: Option<Vec<NativeFilter>>,
    options: Option<BTreeMap<String, String>>,
    secret_options: Option<BTreeMap<String, SecretString>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "tls")]
struct NativeTls {
    verify: Option<bool>,
    ca_file: Option<String>,
    implicit: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "sftp")]
struct NativeSftp {
    known_hosts: Option<String>,
    key_file: Option<String>,
    key_passphrase: Option<SecretString>,
    accept_new_host_key: Option<bool>,
    agent: Option<bool>,
    host_key_check: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "rule")]
struct NativeRule {
    pattern: String,
    action: Action,
    scope: Option<Scope>,
    applies_to: Option<AppliesTo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "filter")]
struct NativeFilter {
    name: String,
    options: Option<BTreeMap<String, String>>,
}

/// Parses native RON text; `origin` names the file in messages and rule origins.
pub(crate) fn parse(text: &str, origin: &Path) -> Result<Draft, ConfigError> {
    let opts =
        ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
    let f: NativeFile = opts.from_str(text).map_err(|e| {
        ConfigError::at(
            origin,
            e.span.start.line,
            e.span.start.col,
            redact(&e.code.to_string(), text),
        )
    })?;
    let loc = Locator::new(text);
    let at = |name: &str| loc.field(name);
    let val = |v: String, name: &str| Val::new(v, at(name));

    let mut d = Draft {
        transport: f.transport.map(|v| val(v, "transport")),
        host: f.host.map(|v| val(v, "host")),
        port: f.port.map(|v| Val::new(v, at("port"))),
        user: f.user,
        password: f.password.map(|s| s.0),
        source: f.source.map(|v| val(v, "source")),
        dest: f.dest.map(|v| val(v, "dest")),
        srcutime: f.srcutime.unwrap_or(false),
        symlinks: f.symlinks,
        mtime_from: f.mtime_from.map(|v| val(v, "mtime_from")),
        compare: f.compare.map(|v| val(v, "compare")),
        jobs: f.jobs.map(|v| Val::new(v, at("jobs"))),
        max_delete: f.max_delete,
        timeout: f.timeout.map(|v| Val::new(v, at("timeout"))),
        retries: f.retries.map(|v| Val::new(v, at("retries"))),
        anchor: None,
        ..Draft::default()
    };
    if let Some(tls) = f.tls {
        d.tls_verify = tls.verify;
        d.implicit_tls = tls.implicit;
        d.ca_file = tls.ca_file.map(|v| val(v, "tls"));
    }
    if let Some(sftp) = f.sftp {
        d.known_hosts = sftp.known_hosts.map(|v| val(v, "sftp"));
        d.key_file = sftp.key_file.map(|v| val(v, "sftp"));
        d.accept_new_host_key = sftp.accept_new_host_key;
        d.agent = sftp.agent;
        d.host_key_check = sftp.host_key_check;
        if let Some(p) = sftp.key_passphrase.filter(|p| !p.0.is_empty()) {
            d.secret_options.insert("key_passphrase".into(), p.0);
        }
    }
    let positions = loc.rule_patterns();
    for (i, r) in f.rules.unwrap_or_default().into_iter().enumerate() {
        let pos = positions.get(i).copied();
        let where_ = match pos {
            Some(p) => format!("{}:{}", origin.display(), p.line),
            None => format!("{} rule {}", origin.display(), i + 1),
        };
        let rule = Rule::new(
            &r.pattern,
            r.action,
            r.scope.unwrap_or_default(),
            r.applies_to.unwrap_or_default(),
            where_,
        )
        .map_err(|e| {
            ConfigError::at_pos(
                origin,
                pos,
                format!("bad regular expression `{}`: {e}", r.pattern),
            )
        })?;
        d.rules.push(rule);
    }
    for filter in f.filters.unwrap_or_default() {
        if filter.name.trim().is_empty() {
            return Err(ConfigError::at_pos(
                origin,
                at("filters"),
                "a filter needs a name",
            ));
        }
        d.filters.push(FilterSpec {
            name: filter.name,
            options: filter.options.unwrap_or_default(),
        });
    }
    d.plugins = f
        .plugins
        .unwrap_or_default()
        .into_iter()
        .map(|p| val(p, "plugins"))
        .collect();
    d.options = f
        .options
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let pos = loc.key("options", &k).or_else(|| at("options"));
            (k, Val::new(v, pos))
        })
        .collect();
    for (k, v) in f.secret_options.unwrap_or_default() {
        if !v.0.is_empty() {
            d.secret_options.insert(k, v.0);
        }
    }
    Ok(d)
}

/// Defence in depth: removes from a RON error message any value written on a line that
/// names a password or passphrase (RON errors may quote the offending token).
fn redact(message: &str, text: &str) -> String {
    let mut out = message.to_owned();
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        if !(lower.contains("password") || lower.contains("passphrase") || lower.contains("secret"))
        {
            continue;
        }
        let Some((_, value)) = line.split_once(':') else {
            continue;
        };
        let mut candidates = vec![value.trim()];
        for piece in value.split([',', '"', '(', ')', '{', '}', ' ', ':']) {
            candidates.push(piece.trim());
        }
        for c in candidates {
            if c.len() >= 2 && out.contains(c) {
                out = out.replace(c, "***");
            }
        }
    }
    out
}

/// Finds where fields are written, for messages about values that parsed but are invalid.
/// A small tokenizer that skips strings, characters and comments.
struct Locator {
    /// (identifier, nesting depth, position of the value after `name:`)
    fields: Vec<(String, usize, Pos)>,
    /// (top-level field, string key, position of the key) of the entries of top-level maps
    /// such as `options: {"key": "value"}`.
    keys: Vec<(String, String, Pos)>,
}

impl Locator {
    fn new(text: &str) -> Locator {
        #[derive(PartialEq)]
        enum Tok {
            Ident(String),
            Str(String),
            Colon,
            Other,
        }
        let chars: Vec<char> = text.chars().collect();
        let mut toks: Vec<(Tok, usize, Pos)> = Vec::new();
        let (mut i, mut line, mut col, mut depth) = (0usize, 1usize, 1usize, 0usize);
        // Advances one character, keeping line/column.
        let step = |i: &mut usize, line: &mut usize, col: &mut usize| {
            if chars.get(*i) == Some(&'\n') {
                *line += 1;
                *col = 1;
            } else {
                *col += 1;
            }
            *i += 1;
        };
        while let Some(&c) = chars.get(i) {
            let pos = Pos { line, col };
            let next = chars.get(i + 1).copied();
            if c.is_whitespace() {
                step(&mut i, &mut line, &mut col);
            } else if c == '/' && next == Some('/') {
                while chars.get(i).is_some_and(|&c| c != '\n') {
                    step(&mut i, &mut line, &mut col);
                }
            } else if c == '/' && next == Some('*') {
                let mut nest = 0usize;
                while let Some(&c) = chars.get(i) {
                    let n = chars.get(i + 1).copied();
                    if c == '/' && n == Some('*') {
                        nest += 1;
                        step(&mut i, &mut line, &mut col);
                    } else if c == '*' && n == Some('/') {
                        nest -= 1;
                        step(&mut i, &mut line, &mut col);
                        if nest == 0 {
                            step(&mut i, &mut line, &mut col);
                            break;
                        }
                    }
                    step(&mut i, &mut line, &mut col);
                }
            } else if c == '"' || c == '\'' {
                step(&mut i, &mut line, &mut col);
                let mut content = String::new();
                while let Some(&d) = chars.get(i) {
                    step(&mut i, &mut line, &mut col);
                    if d == '\\' {
                        content.extend(chars.get(i));
                        step(&mut i, &mut line, &mut col);
                    } else if d == c {
                        break;
                    } else {
                        content.push(d);
                    }
                }
                toks.push((Tok::Str(content), depth, pos));
            } else if (c == 'b' && next == Some('"'))
                || (c == 'r' && {
                    let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
                    chars.get(i + 1 + hashes) == Some(&'"')
                })
            {
                // Raw string r#"..."# (or byte string b"...": handled like a string).
                step(&mut i, &mut line, &mut col);
                let mut hashes = 0usize;
                while chars.get(i) == Some(&'#') {
                    hashes += 1;
                    step(&mut i, &mut line, &mut col);
                }
                step(&mut i, &mut line, &mut col); // the opening quote
                while let Some(&d) = chars.get(i) {
                    step(&mut i, &mut line, &mut col);
                    if c == 'b' && d == '\\' {
                        step(&mut i, &mut line, &mut col);
                    } else if d == '"' && (0..hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                        for _ in 0..hashes {
                            step(&mut i, &mut line, &mut col);
                        }
                        break;
                    }
                }
                toks.push((Tok::Other, depth, pos));
            } else if c.is_alphanumeric() || c == '_' {
                let mut s = String::new();
                while let Some(&d) = chars.get(i) {
                    if !(d.is_alphanumeric() || d == '_' || d == '#') {
                        break;
                    }
                    s.push(d);
                    step(&mut i, &mut line, &mut col);
                }
                let s = s.strip_prefix("r#").map(str::to_owned).unwrap_or(s);
                toks.push((Tok::Ident(s), depth, pos));
            } else {
                match c {
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                toks.push((if c == ':' { Tok::Colon } else { Tok::Other }, depth, pos));
                step(&mut i, &mut line, &mut col);
            }
        }
        let mut fields = Vec::new();
        let mut keys = Vec::new();
        let mut field = String::new();
        for w in toks.windows(3) {
            match (&w[0].0, &w[1].0) {
                (Tok::Ident(name), Tok::Colon) => {
                    fields.push((name.clone(), w[0].1, w[2].2));
                    if w[0].1 == 1 {
                        field.clone_from(name);
                    }
                }
                (Tok::Str(key), Tok::Colon) if w[0].1 == 2 => {
                    keys.push((field.clone(), key.clone(), w[0].2));
                }
                _ => {}
            }
        }
        Locator { fields, keys }
    }

    /// Where the key `key` of the top-level map field `field` is written.
    fn key(&self, field: &str, key: &str) -> Option<Pos> {
        self.keys
            .iter()
            .find(|(f, k, _)| f == field && k == key)
            .map(|k| k.2)
    }

    /// Where the value of the top-level field `name` starts.
    fn field(&self, name: &str) -> Option<Pos> {
        self.fields
            .iter()
            .find(|(n, depth, _)| *depth == 1 && n == name)
            .map(|f| f.2)
    }

    /// Where the value of each rule's `pattern` starts, in order.
    fn rule_patterns(&self) -> Vec<Pos> {
        self.fields
            .iter()
            .filter(|(n, depth, _)| *depth >= 2 && n == "pattern")
            .map(|f| f.2)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_str, Format, SiteConfig};
    use super::*;
    use std::path::PathBuf;

    const FULL: &str = include_str!("../../tests/fixtures/config/full.ron");

    fn ron(text: &str) -> Result<SiteConfig, ConfigError> {
        parse_str(text, Path::new("/sites/mysite.ron"), Format::Ron)
    }

    fn ron_err(text: &str) -> String {
        ron(text).expect_err("should fail").to_string()
    }

    #[test]
    fn doc_example_is_the_fixture() {
        let doc = include_str!("native.rs");
        for line in FULL.lines() {
            let want = format!("//! {line}");
            assert!(doc.contains(want.trim_end()), "doc lacks: {line}");
        }
    }

    #[test]
    fn full_example() {
        let cfg = ron(FULL).expect("parses");
        assert_eq!(cfg.transport, "ftps");
        assert_eq!(cfg.host, "ftp.example.com");
        assert_eq!(cfg.port, Some(21));
        assert_eq!(cfg.user, "deploy");
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("secret"));
        assert_eq!(cfg.source, PathBuf::from("/sites/public/"));
        assert_eq!(cfg.dest, "/www/");
        assert!(!cfg.srcutime);
        assert_eq!(cfg.jobs, Some(4));
        assert_eq!(cfg.max_delete, Some(50));
        assert_eq!(cfg.timeout_secs, Some(30));
        assert!(cfg.tls.verify && !cfg.tls.implicit);
        assert_eq!(cfg.tls.ca_file, Some(PathBuf::from("/sites/ca.pem")));
        let opt = |k: &str| cfg.options.get(k).map(String::as_str);
        // defaults are not passed on to the transport
        assert_eq!(opt("tls_verify"), None);
        assert_eq!(opt("implicit_tls"), None);
        assert_eq!(opt("ca_file"), Some("/sites/ca.pem"));
        assert_eq!(opt("agent"), Some("true"));
        assert_eq!(opt("accept_new_host_key"), Some("false"));
        assert_eq!(opt("some_plugin_option"), Some("value"));
        assert!(opt("known_hosts").is_some_and(|p| p.ends_with("/.ssh/known_hosts")));
        assert!(cfg.secret_options.contains_key("key_passphrase"));
        assert!(cfg.secret_options.contains_key("some_plugin_token"));
        assert_eq!(cfg.rules.len(), 3);
        let r = &cfg.rules[2];
        assert_eq!(r.pattern, r"\.bak$");
        assert_eq!(
            (r.action, r.scope, r.applies_to),
            (Action::Ignore, Scope::Name, AppliesTo::Files)
        );
        assert_eq!(r.origin, "/sites/mysite.ron:27");
        assert_eq!(cfg.rules[0].action, Action::Protect);
        assert_eq!(cfg.rules[0].scope, Scope::Path);
        assert_eq!(
            cfg.plugins,
            [PathBuf::from("/sites/plugins/libpeex_gitignore_filter.so")]
        );
        assert_eq!(cfg.filters.len(), 1);
        assert_eq!(cfg.filters[0].name, "gitignore");
        assert_eq!(
            cfg.filters[0].options.get("files").map(String::as_str),
            Some(".peexignore")
        );
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("\"secret\"") && !dbg.contains("..."), "{dbg}");
    }

    #[test]
    fn symlinks_field() {
        use crate::local::Symlinks;
        let cfg = ron("(source: \"s\", dest: \"/d\", host: \"h\", symlinks: follow)").unwrap();
        assert_eq!(cfg.symlinks, Symlinks::Follow);
        let cfg = ron("(source: \"s\", dest: \"/d\", host: \"h\")").unwrap();
        assert_eq!(cfg.symlinks, Symlinks::Inside);
        assert!(ron("(source: \"s\", dest: \"/d\", host: \"h\", symlinks: always)").is_err());
    }

    #[test]
    fn retries_field() {
        let cfg = ron("(source: \"s\", dest: \"/d\", host: \"h\", retries: 7)").expect("parses");
        assert_eq!(cfg.retries, Some(7));
        let cfg = ron("(source: \"s\", dest: \"/d\", host: \"h\")").expect("parses");
        assert_eq!(cfg.retries, None);
        let e =
            ron_err("(\n  source: \"s\",\n  dest: \"/d\",\n  host: \"h\",\n  retries: 1000,\n)");
        assert!(e.contains("retries must be between 0 and 100"), "{e}");
    }

    #[test]
    fn implicit_some_and_explicit_some() {
        let cfg = ron("(source: \"s\", dest: \"/d\", host: \"h\", port: 21, jobs: Some(2))")
            .expect("parses");
        assert_eq!(cfg.port, Some(21));
        assert_eq!(cfg.jobs, Some(2));
        let cfg =
            ron("(source: \"s\", dest: \"/d\", host: \"h\", port: None, password: Some(\"p\"))")
                .expect("parses");
        assert_eq!(cfg.port, None);
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("p"));
        let cfg =
            ron("#![enable(implicit_some)]\n(source: \"s\", dest: \"/d\", transport: \"local\")")
                .expect("parses");
        assert_eq!(cfg.host, "");
    }

    #[test]
    fn unknown_field_names_position() {
        let e = ron_err("(\n  source: \"s\",\n  dest: \"/d\",\n  hots: \"h\",\n)");
        assert!(e.starts_with("/sites/mysite.ron:4:"), "{e}");
        assert!(e.contains("hots"), "{e}");
        let e = ron_err("(source: \"s\", dest: \"/d\", host: \"h\", tls: (verfy: false))");
        assert!(e.starts_with("/sites/mysite.ron:1:"), "{e}");
        assert!(e.contains("verfy"), "{e}");
    }

    #[test]
    fn syntax_error_names_position() {
        let e = ron_err("(\n  source: \"s\"\n  dest: \"/d\",\n)");
        assert!(e.starts_with("/sites/mysite.ron:3:"), "{e}");
        let e = ron_err("(source: \"s\", dest: \"/d\", host: \"h\", port: \"21\")");
        assert!(e.starts_with("/sites/mysite.ron:1:"), "{e}");
        let e = ron_err(
            "(source: \"s\", dest: \"/d\", host: \"h\", rules: [(pattern: \"x\", action: keep)])",
        );
        assert!(e.starts_with("/sites/mysite.ron:1:"), "{e}");
    }

    #[test]
    fn semantic_errors_are_located() {
        let e = ron_err("(\n  source: \"s\",\n  dest: \"/d\",\n  host: \"h\",\n  jobs: 100,\n)");
        assert_eq!(
            e,
            "/sites/mysite.ron:5:9: jobs must be between 1 and 64, not 100"
        );
        let e = ron_err(
            "(source: \"s\", dest: \"/d\", host: \"h\",\n rules: [\n  (pattern: \"ok\", action: ignore),\n  (pattern: \"a(b\", action: protect),\n ])",
        );
        assert!(
            e.starts_with("/sites/mysite.ron:4:13: bad regular expression `a(b`: "),
            "{e}"
        );
        let e = ron_err("(dest: \"/d\", host: \"h\")");
        assert_eq!(
            e,
            "/sites/mysite.ron: missing `source` (the local folder to publish)"
        );
        let e = ron_err(
            "(source: \"s\", dest: \"/d\", host: \"h\", options: {\"tls_verify\": \"false\"})",
        );
        assert!(e.contains("option `tls_verify` is set by the `tls`"), "{e}");
    }

    #[test]
    fn password_never_in_errors() {
        for text in [
            "(source: \"s\", dest: \"/d\", host: \"h\", password: 123456789)",
            "(source: \"s\", dest: \"/d\", host: \"h\", password: hunter2)",
            "(source: \"s\", dest: \"/d\", host: \"h\", password: [\"hunter2\"])",
            "(source: \"s\", dest: \"/d\", host: \"h\", password: \"hunter2\", port: \"x\")",
            "(source: \"s\", dest: \"/d\", host: \"h\", sftp: (key_passphrase: 'hunter2'))",
        ] {
            let e = ron_err(text);
            assert!(!e.contains("hunter2") && !e.contains("123456789"), "{e}");
        }
    }

    #[test]
    fn locator_skips_strings_and_comments() {
        let loc = Locator::new("(r#pattern: 1, jobs: 2)");
        assert_eq!(loc.field("jobs"), Some(Pos { line: 1, col: 22 }));
        assert_eq!(loc.field("pattern"), Some(Pos { line: 1, col: 13 }));
        let text = "// pattern: x\n(\n  /* jobs: 1 /* nested */ */ host: \"jobs: 2\",\n  jobs: r#\"a\"b\"#,\n  rules: [(pattern: \"p\")],\n)";
        let loc = Locator::new(text);
        assert_eq!(loc.field("jobs"), Some(Pos { line: 4, col: 9 }));
        assert_eq!(loc.field("host"), Some(Pos { line: 3, col: 36 }));
        assert_eq!(loc.rule_patterns(), [Pos { line: 5, col: 21 }]);
    }
}
