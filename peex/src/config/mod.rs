//! Site configuration: one file per site, in PEEX's INI format or the native RON format.
//!
//! [`load`] reads a file, picks its format ([`detect_format`]), parses it, resolves paths,
//! finds the password and checks the file's permissions. [`parse_str`] does the parsing
//! and path resolution only (see its documentation).
//!
//! * INI (PEEX's format, read as PEEX users have it): see the [`ini`] module.
//! * RON (the native format, carrying everything newer): see the [`native`] module.
//!
//! **Relative paths** (`source`, `dest` of the `local` transport, `ca_file`, `known_hosts`,
//! `key_file`, `plugins`) are resolved against the directory holding the configuration
//! file, not the current directory; a leading `~/` stands for `$HOME`.
//!
//! **Password**: the config's `pass`/`password`, else the environment variable
//! `PEEX_PASSWORD`, else `~/.netrc` (or the file named by `$NETRC`): the first
//! `machine HOST` entry whose login is the configured user (any login when no user is
//! configured; then the user is taken from that entry), else the `default` entry. An empty
//! password value counts as absent. The password never appears in `Debug` output or in any
//! error message. A file that holds a password (or another secret) and can be read by group
//! or others earns a warning in [`SiteConfig::warnings`].

pub mod ini;
pub mod native;
mod netrc;
mod rules;

mod error;
mod resolve;
mod site;

pub use error::ConfigError;
pub(crate) use error::{column, Pos, Val};
pub(crate) use resolve::{Draft, Env};
pub use rules::{Action, AppliesTo, Rule, Scope};
pub use site::{
    Compare, FilterSpec, Format, MtimeFrom, SiteConfig, TlsConfig, MAX_JOBS, MAX_RETRIES,
    RESERVED_OPTIONS,
};

use resolve::{finish, permission_warning, resolve_password};
use std::path::Path;
/// Guesses a file's format: a `.ron` extension means RON; otherwise (`.peex`, `.ini`,
/// `.conf`, anything) the content decides: if the first character that is not blank and
/// not on a comment line (`#`, `;` or `//`) is `(`, or the file starts with a RON
/// `#![enable(...)]` attribute, it is RON, else INI.
pub fn detect_format(path: &Path, text: &str) -> Format {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("ron"))
    {
        return Format::Ron;
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#![") {
            return Format::Ron;
        }
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') || t.starts_with("//") {
            continue;
        }
        return if t.starts_with('(') {
            Format::Ron
        } else {
            Format::Ini
        };
    }
    Format::Ini
}

/// Parses configuration text as if read from `origin` (used for messages and to resolve
/// relative paths against `origin`'s directory).
///
/// Unlike [`load`], it reads no file, does not look up `PEEX_PASSWORD` or `~/.netrc` (the
/// password is the one written in the text, if any) and checks no permissions; the only
/// thing it reads from the environment is `$HOME`, to expand a leading `~/` in paths.
pub fn parse_str(text: &str, origin: &Path, format: Format) -> Result<SiteConfig, ConfigError> {
    parse_with(text, origin, format, &Env::home_only())
}

/// Reads and resolves the configuration file at `path`: the format is guessed with
/// [`detect_format`], the password is looked up as the module documentation says, and a
/// warning is added if the file holds a secret and is readable by group or others.
pub fn load(path: &Path) -> Result<SiteConfig, ConfigError> {
    load_with(path, &Env::from_process())
}

pub(crate) fn load_with(path: &Path, env: &Env) -> Result<SiteConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            ConfigError::new(path, "cannot read: the file is not valid UTF-8")
        } else {
            ConfigError::new(path, format!("cannot read: {e}"))
        }
    })?;
    let mut cfg = parse_with(&text, path, detect_format(path, &text), env)?;
    if cfg.password.is_some() || !cfg.secret_options.is_empty() {
        let what = if cfg.password.is_some() {
            "a password"
        } else {
            "a secret"
        };
        if let Some(w) = permission_warning(path, what) {
            cfg.warnings.push(w);
        }
    }
    if cfg.password.is_none() {
        resolve_password(&mut cfg, env)?;
    }
    Ok(cfg)
}

fn parse_with(
    text: &str,
    origin: &Path,
    format: Format,
    env: &Env,
) -> Result<SiteConfig, ConfigError> {
    let draft = match format {
        Format::Ini => ini::parse(text, origin)?,
        Format::Ron => native::parse(text, origin)?,
    };
    finish(draft, origin, env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use peex_core::Secret;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::time::Duration;

    fn env(password_env: Option<&str>, netrc_path: Option<PathBuf>) -> Env {
        Env {
            home: Some(PathBuf::from("/home/u")),
            password_env: password_env.map(str::to_owned),
            netrc_path,
        }
    }

    fn write_file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(text.as_bytes()).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    const NO_PASS: &str = "[site]\nhost=ftp.example.com\nuser=alice\nsource=pub\ndest=/www/\n";

    #[test]
    fn format_detection() {
        let p = Path::new;
        assert_eq!(detect_format(p("a.ron"), "[site]"), Format::Ron);
        assert_eq!(detect_format(p("a.RON"), ""), Format::Ron);
        assert_eq!(detect_format(p("a.peex"), "[site]\nhost=x"), Format::Ini);
        assert_eq!(
            detect_format(p("a.peex"), "\n# c\n; c\n  (host: \"x\")"),
            Format::Ron
        );
        assert_eq!(detect_format(p("a.conf"), "// c\n("), Format::Ron);
        assert_eq!(
            detect_format(p("a.ini"), "#![enable(implicit_some)]\n("),
            Format::Ron
        );
        assert_eq!(detect_format(p("a"), ""), Format::Ini);
        assert_eq!(detect_format(p("a"), "\u{feff}("), Format::Ron);
    }

    #[test]
    fn password_precedence() {
        let dir = tempfile::tempdir().expect("tempdir");
        let netrc = write_file(
            dir.path(),
            "netrc",
            "machine ftp.example.com login alice password fromnetrc\n",
            0o600,
        );
        // Config value wins over everything.
        let with = format!("{NO_PASS}pass=fromfile\n");
        let cfg_path = write_file(dir.path(), "a.peex", &with, 0o600);
        let cfg = load_with(&cfg_path, &env(Some("fromenv"), Some(netrc.clone()))).expect("ok");
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("fromfile"));
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        // Then PEEX_PASSWORD.
        let cfg_path = write_file(dir.path(), "b.peex", NO_PASS, 0o644);
        let cfg = load_with(&cfg_path, &env(Some("fromenv"), Some(netrc.clone()))).expect("ok");
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("fromenv"));
        // An empty PEEX_PASSWORD counts as unset: then netrc.
        let cfg = load_with(&cfg_path, &env(Some(""), Some(netrc.clone()))).expect("ok");
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("fromnetrc"));
        // A config without a password is not warned about, whatever its mode.
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        // Netrc for another user: nothing.
        let other = NO_PASS.replace("alice", "bob");
        let cfg_path = write_file(dir.path(), "c.peex", &other, 0o600);
        let cfg = load_with(&cfg_path, &env(None, Some(netrc.clone()))).expect("ok");
        assert!(cfg.password.is_none());
        // No user configured: netrc supplies both.
        let nouser = NO_PASS.replace("user=alice\n", "");
        let cfg_path = write_file(dir.path(), "d.peex", &nouser, 0o600);
        let cfg = load_with(&cfg_path, &env(None, Some(netrc))).expect("ok");
        assert_eq!(cfg.user, "alice");
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("fromnetrc"));
        // Missing netrc file: fine, no password.
        let cfg = load_with(&cfg_path, &env(None, Some(dir.path().join("nope")))).expect("ok");
        assert!(cfg.password.is_none());
    }

    #[test]
    fn load_ron_and_missing_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "// site\n(host: \"h\", source: \"pub\", dest: \"/www/\", pass: \"x\")";
        let path = write_file(dir.path(), "site.peex", text, 0o600);
        let err = load_with(&path, &env(None, None)).expect_err("`pass` is INI only");
        assert!(
            err.to_string()
                .contains(":2:43: Unexpected field named `pass`"),
            "{err}"
        );
        let text = "(host: \"h\", source: \"pub\", dest: \"/www/\", password: \"\")";
        let path = write_file(dir.path(), "site.ron", text, 0o644);
        // An empty password counts as absent: PEEX_PASSWORD is used, and no warning.
        let cfg = load_with(&path, &env(Some("e"), None)).expect("ok");
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("e"));
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        assert_eq!(cfg.source, dir.path().join("pub"));
        let err = load_with(&dir.path().join("nope.peex"), &env(None, None)).expect_err("missing");
        assert!(
            err.to_string().contains("nope.peex: cannot read: "),
            "{err}"
        );
        let bad = dir.path().join("bin.peex");
        std::fs::write(&bad, b"[site]\nhost=\xff\n").expect("write");
        let err = load_with(&bad, &env(None, None)).expect_err("not utf-8");
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    }

    #[test]
    fn netrc_error_is_reported_without_tokens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let netrc = write_file(dir.path(), "netrc", "password hunter2\n", 0o600);
        let cfg_path = write_file(dir.path(), "a.peex", NO_PASS, 0o600);
        let err = load_with(&cfg_path, &env(None, Some(netrc))).expect_err("bad netrc");
        let msg = err.to_string();
        assert!(msg.contains("netrc:1:"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn permission_warning_for_password_in_readable_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!("{NO_PASS}pass=hunter2\n");
        let open = write_file(dir.path(), "mysite.peex", &text, 0o644);
        let cfg = load_with(&open, &env(None, None)).expect("ok");
        assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
        let w = &cfg.warnings[0];
        assert!(
            !w.starts_with("peex: warning: "),
            "the reporter adds the prefix: {w}"
        );
        assert!(w.contains("mysite.peex"), "{w}");
        assert!(w.contains("0644"), "{w}");
        assert!(w.contains("chmod 600"), "{w}");
        assert!(!w.contains("hunter2"));
        let closed = write_file(dir.path(), "private.peex", &text, 0o600);
        let cfg = load_with(&closed, &env(None, None)).expect("ok");
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    }

    #[test]
    fn debug_and_errors_never_show_the_password() {
        let text = "[site]\nhost=h\npass=hunter2\nsource=s\ndest=/d\n[site]\n";
        let err = parse_str(text, Path::new("x.peex"), Format::Ini).expect_err("dup section");
        assert!(!err.to_string().contains("hunter2"));
        let text = "[site]\nhost=h\npass=hunter2\npass hunter2\nsource=s\ndest=/d\n";
        let err = parse_str(text, Path::new("x.peex"), Format::Ini).expect_err("bad line");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().starts_with("x.peex:4:1: "), "{err}");
        let text = "[site]\nhost=h\npass=hunter2\nsource=s\ndest=/d\nkey_passphrase=sesame\n";
        let cfg = parse_str(text, Path::new("x.peex"), Format::Ini).expect("ok");
        let dbg = format!("{cfg:?} {:?}", cfg.to_site_params());
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(!dbg.contains("sesame"), "{dbg}");
        assert!(dbg.contains("key_passphrase"), "{dbg}");
    }

    #[test]
    fn relative_paths_resolve_against_config_dir() {
        let text = "[site]\nhost=h\nsource=public/\ndest=/www/\nca_file=ca.pem\nknown_hosts=~/.ssh/known_hosts\n";
        let cfg = parse_with(
            text,
            Path::new("/etc/peex/site.peex"),
            Format::Ini,
            &env(None, None),
        )
        .expect("ok");
        assert_eq!(cfg.source, PathBuf::from("/etc/peex/public/"));
        assert_eq!(cfg.dest, "/www/");
        assert_eq!(cfg.tls.ca_file, Some(PathBuf::from("/etc/peex/ca.pem")));
        assert_eq!(
            cfg.options.get("ca_file").map(String::as_str),
            Some("/etc/peex/ca.pem")
        );
        assert_eq!(
            cfg.options.get("known_hosts").map(String::as_str),
            Some("/home/u/.ssh/known_hosts")
        );
        // A bare file name: relative to the current directory, as given.
        let cfg =
            parse_with(text, Path::new("site.peex"), Format::Ini, &env(None, None)).expect("ok");
        assert_eq!(cfg.source, PathBuf::from("public/"));
        // Absolute stays absolute; local dest is resolved too.
        let text = "[site]\ntransport=local\nsource=/srv/src\ndest=out\n";
        let cfg =
            parse_with(text, Path::new("/a/b.peex"), Format::Ini, &env(None, None)).expect("ok");
        assert_eq!(cfg.source, PathBuf::from("/srv/src"));
        assert_eq!(cfg.dest, "/a/out");
        assert_eq!(cfg.host, "");
    }

    #[test]
    fn defaults_and_site_params() {
        let text = "[site]\nhost=h\nport=2121\nuser=u\npass=p\nsource=s\ndest=/www/\n";
        let cfg = parse_str(text, Path::new("/x/a.peex"), Format::Ini).expect("ok");
        assert_eq!(cfg.transport, "ftp");
        assert!(cfg.tls.verify && !cfg.tls.implicit);
        // defaults are not passed on (plain ftp refuses TLS options)
        assert_eq!(cfg.options.get("tls_verify"), None);
        assert!(cfg.warnings.is_empty());
        let sp = cfg.to_site_params();
        assert_eq!(sp.host, "h");
        assert_eq!(sp.port, Some(2121));
        assert_eq!(sp.root, "/www/");
        assert_eq!(sp.timeout, Duration::from_secs(30));
        assert_eq!(sp.password.as_ref().map(Secret::expose), Some("p"));
    }

    #[test]
    fn value_checks() {
        let base = "[site]\nhost=h\nsource=s\ndest=/d\n";
        let check = |extra: &str, want: &str| {
            let err = parse_str(
                &format!("{base}{extra}\n"),
                Path::new("a.peex"),
                Format::Ini,
            )
            .expect_err(extra);
            assert!(err.to_string().contains(want), "{extra}: {err}");
        };
        check("jobs=0", "a.peex:5:6: jobs must be between 1 and 64");
        check("jobs=65", "jobs must be between 1 and 64");
        check("port=0", "a.peex:5:6: port 0 is out of range");
        check("port=70000", "out of range");
        check("timeout=0", "timeout must be at least 1");
        check(
            "retries=101",
            "a.peex:5:9: retries must be between 0 and 100, not 101",
        );
        check("retries=-1", "retries: expected a whole number");
        check("transport=f t p", "bad transport");
        let err = parse_str(
            "[site]\nsource=s\ndest=/d\n",
            Path::new("a.peex"),
            Format::Ini,
        )
        .expect_err("no host");
        assert!(err.to_string().contains("host is required"), "{err}");
        let cfg = parse_str(
            &format!("{base}tls_verify=no\n"),
            Path::new("a.peex"),
            Format::Ini,
        )
        .expect("ok");
        assert!(!cfg.tls.verify);
        assert_eq!(cfg.warnings.len(), 1);
    }
}
