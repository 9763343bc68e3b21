//! End-to-end: the real `peex` binary with the built-in `local` transport, and its
//! handling of bad input (no server needed).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn local_site(dir: &Path, exceptions: &str) -> std::path::PathBuf {
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::create_dir_all(dir.join("dest")).unwrap();
    write_config(
        dir,
        "site.peex",
        &format!(
            "[site]\ntransport=local\nsource=src/\ndest=dest/\n\n[exceptions]\n{exceptions}\n"
        ),
    )
}

#[test]
fn readme_example_syncs_into_a_folder() {
    // The README's first command, on a copy of the repository's example.
    let tmp = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ex = repo.join("examples");
    let copy = tmp.path().join("examples");
    copy_tree(&ex.join("site"), &copy.join("site"));
    fs::create_dir_all(copy.join("dest")).unwrap();
    fs::write(copy.join("dest/.gitkeep"), b"").unwrap();
    fs::copy(ex.join("local.peex"), copy.join("local.peex")).unwrap();
    let r = peex(&["-c", copy.join("local.peex").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(copy.join("dest/index.html").exists());
    assert!(
        copy.join("dest/.gitkeep").exists(),
        "protected placeholder removed"
    );
    assert!(!copy.join("dest/offline").exists(), "ignored dir uploaded");
    assert!(
        !copy.join("dest/notes.bak").exists(),
        "ignored file uploaded"
    );
    assert!(r.stdout.contains("\x1b[32m+ index.html"), "{}", r.all());
    assert!(r.stdout.contains("files created"), "{}", r.all());
    let skip = |p: &str| p == "offline" || p == "notes.bak" || p == ".gitkeep";
    assert_same_tree(&copy.join("site"), &copy.join("dest"), &skip);
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_tree(&p, &to.join(e.file_name()));
        } else {
            fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn local_transport_full_cycle() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = local_site(tmp.path(), "keep=protect");
    let src = tmp.path().join("src");
    let dest = tmp.path().join("dest");
    put(&src, "a/b/c.txt", b"c", 1_600_000_000);
    put(&src, "top.txt", b"t", 1_600_000_000);
    put(&dest, "alien/x.txt", b"x", 1_500_000_000);
    put(&dest, "keep/me.txt", b"k", 1_500_000_000);
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&src, &dest, &|p| p.starts_with("keep"));
    assert!(dest.join("keep/me.txt").exists());
    let r = peex(&[cfg.to_str().unwrap()]);
    assert!(r.stdout.contains("0 files created"), "{}", r.all());
}

#[test]
fn bad_regex_names_the_pattern_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = local_site(tmp.path(), "ok=ignore\n(unclosed=protect");
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("(unclosed"), "{}", r.all());
    assert!(r.stderr.contains("site.peex:"), "{}", r.all());
}

#[test]
fn malformed_config_names_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(
        tmp.path(),
        "bad.peex",
        "[site]\nhost=x\nsource=s\ndest=d\n\n[exceptions]\nfoo=delete\n",
    );
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("bad.peex:7:"), "{}", r.all());
    let ron = write_config(
        tmp.path(),
        "bad.ron",
        "(\n  source: \"s\",\n  dest: \"d\",\n  jobz: 3,\n)\n",
    );
    let r = peex(&[ron.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("bad.ron:4:"), "{}", r.all());
    assert!(r.stderr.contains("jobz"), "{}", r.all());
}

#[test]
fn missing_config_and_bad_flags_exit_2() {
    let r = peex(&["/nonexistent/site.peex"]);
    assert_eq!(r.code, 2, "{}", r.all());
    let r = peex(&["--jobs", "0", "x.peex"]);
    assert_eq!(r.code, 2, "{}", r.all());
}

#[test]
fn readable_config_with_password_warns() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = local_site(tmp.path(), "");
    let text = fs::read_to_string(&cfg)
        .unwrap()
        .replace("[site]\n", "[site]\npass=Sekr1t\n");
    fs::write(&cfg, text).unwrap();
    fs::set_permissions(&cfg, fs::Permissions::from_mode(0o644)).unwrap();
    put(&tmp.path().join("src"), "a.txt", b"a", 1_600_000_000);
    let r = peex(&["-vv", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("warning") && r.stderr.contains("chmod 600"),
        "{}",
        r.all()
    );
    assert!(!r.all().contains("Sekr1t"), "{}", r.all());
}

#[test]
fn ron_config_with_scoped_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let dest = tmp.path().join("dest");
    fs::create_dir_all(&dest).unwrap();
    put(&src, "docs/draft/x.txt", b"x", 1_600_000_000);
    put(
        &src,
        "draft",
        b"a file named draft is uploaded (rule is dirs only)",
        1_600_000_000,
    );
    put(&src, "a/b.bak", b"ignored by name", 1_600_000_000);
    put(&src, "bak.d/keep.txt", b"uploaded", 1_600_000_000);
    let cfg = write_config(
        tmp.path(),
        "site.ron",
        r#"(
    transport: "local",
    source: "src",
    dest: "dest",
    jobs: 2,
    rules: [
        (pattern: "^draft$", action: ignore, scope: name, applies_to: dirs),
        (pattern: "\\.bak$", action: ignore, scope: name, applies_to: files),
    ],
)"#,
    );
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!dest.join("docs/draft").exists());
    assert!(dest.join("draft").is_file());
    assert!(!dest.join("a/b.bak").exists());
    assert!(dest.join("bak.d/keep.txt").exists());
}

#[test]
fn builtin_transports_are_registered() {
    let r = peex(&["transports"]);
    assert_eq!(r.code, 0, "{}", r.all());
    for s in ["ftp", "ftps", "local"] {
        assert!(
            r.stdout.lines().any(|l| l.starts_with(s)),
            "{s} missing: {}",
            r.stdout
        );
    }
}

/// A site for `transport` (no server is contacted: the options are refused first) with
/// the RON `options` map `options`.
fn ron_site_with_options(dir: &Path, transport: &str, options: &str) -> std::path::PathBuf {
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("src/a.txt"), b"a").unwrap();
    write_config(
        dir,
        "site.ron",
        &format!(
            "(\n    transport: \"{transport}\",\n    host: \"127.0.0.1\",\n    port: 9,\n    \
             source: \"src/\",\n    dest: \"/\",\n    options: {{\n        {options}\n    }},\n)\n"
        ),
    )
}

#[test]
fn a_mistyped_transport_option_names_its_line_and_the_closest_known_option() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = ron_site_with_options(tmp.path(), "ftp", "\"pipline_passive\": \"false\",");
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("site.ron:8:9:"), "{}", r.all());
    assert!(
        r.stderr.contains(
            "unknown option `pipline_passive` for transport ftp; did you mean `pipeline_passive`?"
        ),
        "{}",
        r.all()
    );
    // Nothing was contacted: the error comes before any connection (port 9 would refuse).
    assert!(!r.stderr.contains("connect"), "{}", r.all());
}

#[test]
fn a_transport_option_of_the_wrong_type_names_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = ron_site_with_options(
        tmp.path(),
        "ftp",
        "\"pipeline_passive\": \"true\",\n        \"rename_dirs\": \"maybe\",",
    );
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("site.ron:9:9:"), "{}", r.all());
    assert!(
        r.stderr
            .contains("option `rename_dirs`: expected true or false, got \"maybe\""),
        "{}",
        r.all()
    );
}

#[test]
fn a_tls_option_on_plain_ftp_is_an_unknown_option() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = ron_site_with_options(tmp.path(), "ftp", "\"mtime_method\": \"mfmt\",");
    // ftps's own option on plain ftp, through the INI shorthand.
    let ini = write_config(
        tmp.path(),
        "plain.peex",
        "[site]\nhost=127.0.0.1\nport=9\nsource=src/\ndest=/\nimplicit_tls=true\n",
    );
    let r = peex(&[ini.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("unknown option `implicit_tls` for transport ftp"),
        "{}",
        r.all()
    );
    let _ = cfg;
}

#[test]
fn transports_lists_every_option_with_type_and_default() {
    let r = peex(&["transports"]);
    assert_eq!(r.code, 0, "{}", r.all());
    for needle in [
        "ftps ",
        "tls_verify",
        "[bool, default true]",
        "mtime_method",
        "mfmt|mff|site-utime|site-utime5|mdtm|none",
        "key_passphrase",
        "(secret) [text]",
    ] {
        assert!(r.stdout.contains(needle), "{needle}: {}", r.stdout);
    }
}
