//! End-to-end: plugins loaded by the real `peex` binary — discovery from every location,
//! refusal of bad candidates, a full sync through the WebDAV transport plugin against a real
//! `rclone serve webdav`, filter plugins (Rust and C) taking part in the decision, panics
//! contained, and the conformance suite on the dynamically loaded transport.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use peex_tests::plugins::{cc, rust_plugins, RcloneWebdav};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn copy_into(lib: &Path, dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let dest = dir.join(lib.file_name().unwrap());
    fs::copy(lib, &dest).unwrap();
    dest
}

fn size_filter(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let out = dir.join("libsize_filter.so");
    cc("plugins/examples/c-size-filter/size_filter.c", &out, &[]);
    out
}

#[test]
fn plugins_are_found_in_every_location_and_listed() {
    let (gitignore, webdav) = rust_plugins();
    let tmp = tempfile::tempdir().unwrap();
    // explicit --plugin
    let r = peex(&["plugins", "--plugin", gitignore.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("plugin gitignore"), "{}", r.all());
    assert!(r.stdout.contains("filter gitignore"), "{}", r.all());
    // PEEX_PLUGIN_PATH
    let envdir = tmp.path().join("envpath");
    copy_into(webdav, &envdir);
    let r = peex_env(
        &["plugins"],
        &[("PEEX_PLUGIN_PATH", envdir.to_str().unwrap())],
    );
    assert!(r.stdout.contains("transport webdav"), "{}", r.all());
    // $XDG_DATA_HOME/peex/plugins
    let xdg = tmp.path().join("xdg");
    size_filter(&xdg.join("peex/plugins"));
    let r = peex_env(&["plugins"], &[("XDG_DATA_HOME", xdg.to_str().unwrap())]);
    assert!(r.stdout.contains("filter size"), "{}", r.all());
    assert!(
        r.stdout.contains("max_bytes"),
        "options and help are listed: {}",
        r.all()
    );
    // <exe>/../lib/peex/plugins, with a copy of the binary
    let inst = tmp.path().join("inst");
    let bin = inst.join("bin/peex");
    fs::create_dir_all(bin.parent().unwrap()).unwrap();
    fs::copy(peex_bin(), &bin).unwrap();
    copy_into(gitignore, &inst.join("lib/peex/plugins"));
    let out = std::process::Command::new(&bin)
        .arg("plugins")
        .env_remove("PEEX_PLUGIN_PATH")
        .env("XDG_DATA_HOME", tmp.path().join("empty"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("plugin gitignore"), "{text}");
    assert!(text.contains("lib/peex/plugins"), "{text}");
}

#[test]
fn bad_plugins_are_refused_with_a_reason_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad");
    fs::create_dir_all(&bad).unwrap();
    let cases: [(&str, &[&str], &str); 5] = [
        ("libbad_magic.so", &["-DBAD_MAGIC"], "magic"),
        ("libv1.so", &["-DV1_PLUGIN"], "built for plugin ABI 1.x"),
        ("libolder_major.so", &["-DOLDER_MAJOR"], "major"),
        ("libtruncated.so", &["-DTRUNCATED"], "truncated"),
        (
            "libdup_ftp.so",
            &["-DSCHEME=\"ftp\""],
            "built-in transport \"ftp\"",
        ),
    ];
    for (file, defines, _) in cases {
        cc("plugins/tests/bad_plugin.c", &bad.join(file), defines);
    }
    let r = peex(&["plugins", "--plugin", bad.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    for (file, _, why) in cases {
        let block: String = r
            .stdout
            .split(file)
            .nth(1)
            .unwrap_or_else(|| panic!("{file} not listed: {}", r.all()))
            .lines()
            .take(2)
            .collect();
        assert!(
            block.contains("refused") && block.contains(why),
            "{file}: {block}\n{}",
            r.all()
        );
    }
    // a run that needs none of them goes on
    let site = tmp.path().join("site");
    put(&site.join("src"), "a.txt", b"a", 1_600_000_000);
    fs::create_dir_all(site.join("dest")).unwrap();
    let cfg = write_config(
        &site,
        "s.peex",
        "[site]\ntransport=local\nsource=src\ndest=dest\n",
    );
    let r = peex_env(
        &[cfg.to_str().unwrap()],
        &[("PEEX_PLUGIN_PATH", bad.to_str().unwrap())],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    // a run that needs a transport no accepted plugin provides stops with a clear error
    let cfg = write_config(
        &site,
        "w.ron",
        "(transport: \"webdav\", host: \"127.0.0.1\", source: \"src\", dest: \"/\")",
    );
    let r = peex_env(
        &[cfg.to_str().unwrap()],
        &[("PEEX_PLUGIN_PATH", bad.to_str().unwrap())],
    );
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("webdav"), "{}", r.all());
}

struct Dav {
    srv: RcloneWebdav,
    tmp: tempfile::TempDir,
    src: PathBuf,
}

impl Dav {
    fn new() -> Dav {
        let srv = RcloneWebdav::start();
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(&src).unwrap();
        Dav { srv, tmp, src }
    }
    fn config(&self, name: &str, extra_options: &str, rules: &str) -> PathBuf {
        let (_, webdav) = rust_plugins();
        write_config(
            self.tmp.path(),
            name,
            &format!(
                "(\n  transport: \"webdav\",\n  host: \"127.0.0.1\",\n  port: {},\n  source: \"src\",\n  \
                 dest: \"/\",\n  srcutime: true,\n  plugins: [{:?}],\n  options: {{ \"tls\": \"false\"{extra_options} }},\n  \
                 rules: [{rules}],\n)\n",
                self.srv.port(),
                webdav.display().to_string()
            ),
        )
    }
}

#[test]
fn full_sync_through_the_webdav_transport_plugin() {
    let d = Dav::new();
    put(&d.src, "index.html", b"<h1>hi</h1>", 1_600_000_000);
    put(&d.src, "css/site.css", b"body{}", 1_600_000_000);
    put(&d.src, "with space/ünï.txt", "ü".as_bytes(), 1_600_000_000);
    put(&d.src, "empty.txt", b"", 1_600_000_000);
    put(d.srv.root(), "alien.txt", b"alien", 1_500_000_000);
    put(d.srv.root(), "uploads/user.png", b"user", 1_500_000_000);
    let cfg = d.config("dav.ron", "", "(pattern: \"uploads\", action: protect)");
    let cfg = cfg.to_str().unwrap();

    // dry run changes nothing
    let before = snapshot(d.srv.root(), &none);
    let r = peex(&["-d", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("- alien.txt"), "{}", r.all());
    assert_eq!(snapshot(d.srv.root(), &none), before);

    let r = peex(&["-j", "3", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    // srcutime: the local mtimes were set to the server's, so the trees are equal
    assert_same_tree(&d.src, d.srv.root(), &|p: &str| p.starts_with("uploads"));
    assert!(!d.srv.root().join("alien.txt").exists());
    assert_eq!(
        fs::read(d.srv.root().join("uploads/user.png")).unwrap(),
        b"user"
    );

    let r = peex(&[cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("0 files created"),
        "no-op re-sync: {}",
        r.all()
    );

    put(&d.src, "index.html", b"<h1>changed</h1>", 1_700_000_000);
    fs::remove_dir_all(d.src.join("css")).unwrap();
    put(&d.src, "new.txt", b"new", 1_700_000_000);
    let r = peex(&[cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_same_tree(&d.src, d.srv.root(), &|p: &str| p.starts_with("uploads"));
}

#[test]
fn a_panicking_transport_plugin_is_reported_and_no_deletes_run() {
    let d = Dav::new();
    put(&d.src, "a.txt", b"a", 1_600_000_000);
    put(d.srv.root(), "alien.txt", b"alien", 1_500_000_000);
    let cfg = d.config("panic.ron", ", \"panic_in\": \"list\"", "");
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert_ne!(r.code, 101, "peex itself panicked: {}", r.all());
    assert!(
        r.stderr.contains("plugin \"webdav\" panicked in list"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("asked to panic"),
        "the panic message is reported: {}",
        r.all()
    );
    assert!(
        !r.stderr.contains("thread '"),
        "a raw panic banner leaked: {}",
        r.all()
    );
    assert!(d.srv.root().join("alien.txt").exists(), "a delete ran");
}

#[test]
fn filter_plugins_take_part_and_a_panicking_decide_stops_deletes() {
    let (gitignore, _) = rust_plugins();
    let tmp = tempfile::tempdir().unwrap();
    let size = size_filter(&tmp.path().join("c"));
    let src = tmp.path().join("src");
    let dest = tmp.path().join("dest");
    put(
        &src,
        ".peexignore",
        b"*.log\nbuild/\n!keep.log\n",
        1_600_000_000,
    );
    put(&src, "app.log", b"ignored", 1_600_000_000);
    put(&src, "keep.log", b"re-included", 1_600_000_000);
    put(&src, "build/out.bin", b"ignored dir", 1_600_000_000);
    put(&src, "sub/.gitignore", b"secret.txt\n", 1_600_000_000);
    put(
        &src,
        "sub/secret.txt",
        b"ignored by the nested file",
        1_600_000_000,
    );
    put(&src, "sub/public.txt", b"uploaded", 1_600_000_000);
    put(&src, "huge.bin", &vec![7u8; 5000], 1_600_000_000);
    put(&src, "small.bin", &[7u8; 10], 1_600_000_000);
    put(
        &dest,
        "build/remote-only.txt",
        b"counterpart of an ignored dir: left alone",
        1_500_000_000,
    );
    put(&dest, "alien.txt", b"alien", 1_500_000_000);
    let ron = |name: &str, extra: &str| {
        write_config(
            tmp.path(),
            name,
            &format!(
                "(\n  transport: \"local\",\n  source: \"src\",\n  dest: \"dest\",\n  plugins: [{:?}, {:?}],\n  \
                 filters: [\n    (name: \"gitignore\", options: {{ {extra} }}),\n    \
                 (name: \"size\", options: {{ \"max_bytes\": \"1000\" }}),\n  ],\n)\n",
                gitignore.display().to_string(),
                size.display().to_string()
            ),
        )
    };
    let cfg = ron("f.ron", "");
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!dest.join("app.log").exists());
    assert!(dest.join("keep.log").exists());
    assert!(!dest.join("build/out.bin").exists());
    assert!(dest.join("build/remote-only.txt").exists());
    assert!(!dest.join("sub/secret.txt").exists());
    assert!(dest.join("sub/public.txt").exists());
    assert!(
        !dest.join("huge.bin").exists(),
        "the C size filter did not ignore it"
    );
    assert!(dest.join("small.bin").exists());
    assert!(!dest.join("alien.txt").exists());

    put(&dest, "alien2.txt", b"alien", 1_500_000_000);
    let cfg = ron("p.ron", "\"panic_in\": \"decide\"");
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert_ne!(r.code, 101, "peex itself panicked: {}", r.all());
    assert!(r.stderr.contains("panicked in decide"), "{}", r.all());
    assert!(
        !r.stderr.contains("thread '"),
        "a raw panic banner leaked: {}",
        r.all()
    );
    assert!(
        dest.join("alien2.txt").exists(),
        "a delete ran after a filter panicked"
    );
}

#[test]
fn conformance_suite_passes_on_the_dynamically_loaded_transport() {
    let (_, webdav) = rust_plugins();
    let srv = RcloneWebdav::start();
    let host = peex::plugin_host::PluginHost::discover(
        std::slice::from_ref(webdav),
        &["ftp", "ftps", "local", "sftp"],
        &[],
    );
    let t = host
        .transport("webdav")
        .unwrap_or_else(|| panic!("webdav not loaded:\n{}", host.render_listing()));
    let site = srv.site("/");
    let root = srv.root().to_path_buf();
    peex_tests::conformance::run_all(
        &|| t.connect(&site).unwrap_or_else(|e| panic!("connect: {e}")),
        &|rel| fs::read(root.join(rel)).ok(),
    );
}

#[test]
fn readme_filter_plugin_example_builds_loads_and_stays_under_50_lines() {
    let ws = peex_tests::plugins::workspace();
    let readme = fs::read_to_string(ws.join("plugins/README.md")).unwrap();
    let block = |lang: &str| -> String {
        let start = readme
            .find(&format!("```{lang}\n"))
            .unwrap_or_else(|| panic!("no {lang} block"))
            + lang.len()
            + 4;
        let len = readme[start..].find("```").unwrap();
        readme[start..start + len].to_owned()
    };
    let (toml, rust) = (block("toml"), block("rust"));
    let lines = toml.lines().count() + rust.lines().count();
    assert!(lines < 50, "the example has {lines} lines");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("no-tmp");
    fs::create_dir_all(dir.join("src")).unwrap();
    // The README assumes a peex checkout next to the plugin's directory.
    let root = format!("{}/", ws.canonicalize().unwrap().display());
    let toml = toml.replace("../peex/", &root) + "\n[workspace]\n";
    fs::write(dir.join("Cargo.toml"), toml).unwrap();
    fs::write(dir.join("src/lib.rs"), rust).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .current_dir(&dir)
        .args(["build", "--offline", "--quiet"])
        .env("CARGO_TARGET_DIR", ws.join("target/readme-plugin"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the README example does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = ws.join("target/readme-plugin/debug/libpeex_no_tmp.so");
    let r = peex(&["plugins", "--plugin", lib.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("filter no-tmp"), "{}", r.all());
}

/// The C directory transport (plugins/examples/c-dir-transport), built with `cc`; `defines`
/// e.g. `-DPEEX_ABI_MINOR=0` builds it against ABI 2.0.
fn c_dir_transport(dir: &Path, name: &str, defines: &[&str]) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let out = dir.join(name);
    cc(
        "plugins/examples/c-dir-transport/dir_transport.c",
        &out,
        defines,
    );
    out
}

fn cdir_config(dir: &Path, name: &str, lib: &Path, dest: &Path, extra: &str) -> PathBuf {
    write_config(
        dir,
        name,
        &format!(
            "(\n  transport: \"cdir\",\n  source: \"src\",\n  dest: {:?},\n  plugins: [{:?}],\n{extra})\n",
            dest.display().to_string(),
            lib.display().to_string()
        ),
    )
}

#[test]
fn a_c_transport_plugin_without_a_host_syncs_a_tree_and_converges_at_abi_2_0_and_2_1() {
    let tmp = tempfile::tempdir().unwrap();
    for (lib_name, defines) in [
        ("libcdir.so", &[][..]),
        ("libcdir20.so", &["-DPEEX_ABI_MINOR=0"][..]),
    ] {
        let lib = c_dir_transport(&tmp.path().join("lib"), lib_name, defines);
        let site = tmp.path().join(lib_name.replace(".so", ""));
        let src = site.join("src");
        let dest = site.join("dest");
        put(&src, "index.html", b"<h1>hi</h1>", 1_600_000_000);
        put(&src, "new/deep/tree/a.txt", b"a", 1_600_000_001);
        put(&src, "new/deep/b.txt", b"bb", 1_600_000_002);
        put(
            &src,
            "with space/\u{fc}.txt",
            "\u{fc}".as_bytes(),
            1_600_000_003,
        );
        put(&src, "empty.txt", b"", 1_600_000_004);
        put(&dest, "alien.txt", b"alien", 1_500_000_000);
        put(&dest, "old/gone.txt", b"gone", 1_500_000_000);
        let cfg = cdir_config(&site, "c.ron", &lib, &dest, "");
        let cfg = cfg.to_str().unwrap();
        let r = peex(&["-j", "3", cfg]);
        assert_eq!(r.code, 0, "{lib_name}: {}", r.all());
        // times are set by the plugin: the trees are equal, mtimes included
        assert_same_tree(&src, &dest, &none);
        assert!(!dest.join("alien.txt").exists() && !dest.join("old").exists());
        let r = peex(&[cfg]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(
            r.stdout.contains("0 files created"),
            "no-op re-sync: {}",
            r.all()
        );
        put(&src, "index.html", b"<h1>changed</h1>", 1_700_000_000);
        fs::remove_dir_all(src.join("new/deep/tree")).unwrap();
        put(&src, "more/c.txt", b"c", 1_700_000_000);
        let r = peex(&[cfg]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_same_tree(&src, &dest, &none);
    }
}

#[test]
fn an_undeclared_transport_option_is_refused_naming_the_closest_declared_one() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = c_dir_transport(&tmp.path().join("lib"), "libcdir.so", &[]);
    put(&tmp.path().join("src"), "a.txt", b"a", 1_600_000_000);
    let dest = tmp.path().join("dest");
    fs::create_dir_all(&dest).unwrap();
    let cfg = cdir_config(
        tmp.path(),
        "o.ron",
        &lib,
        &dest,
        "  options: { \"fsynk\": \"true\" },\n",
    );
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("unknown option `fsynk` for transport cdir; did you mean `fsync`?"),
        "{}",
        r.all()
    );
    assert!(!dest.join("a.txt").exists(), "nothing may run");
    // a transport that does not declare PEEX_TRANSPORT_NO_HOST still needs a host
    let bad = tmp.path().join("libctest.so");
    cc("plugins/tests/bad_plugin.c", &bad, &[]);
    let cfg = write_config(
        tmp.path(),
        "h.ron",
        &format!(
            "(transport: \"ctest\", source: \"src\", dest: \"/\", plugins: [{:?}])",
            bad.display().to_string()
        ),
    );
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("host is required"), "{}", r.all());
}

#[test]
fn plugins_test_runs_the_conformance_suite_and_names_each_check() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = c_dir_transport(&tmp.path().join("lib"), "libcdir.so", &[]);
    let root = tmp.path().join("root");
    put(&root, "existing.txt", b"not touched", 1_600_000_000);
    let (lib_s, root_s) = (lib.to_str().unwrap(), root.to_str().unwrap());
    let r = peex(&[
        "plugins",
        "test",
        lib_s,
        "--scheme",
        "cdir",
        "--root",
        root_s,
        "--read-back",
        root_s,
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    for (name, _) in peex_tests::conformance::CHECKS {
        assert!(
            r.stdout.contains(&format!("  ok    {name}\n")),
            "{name}: {}",
            r.all()
        );
    }
    let n = peex_tests::conformance::CHECKS.len();
    assert!(
        r.stdout
            .contains(&format!("{n} checks: {n} passed, 0 failed")),
        "{}",
        r.all()
    );
    // the scratch directory is gone, the root's own content untouched
    let left: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["existing.txt"], "{}", r.all());
    // a failing transport: each failed check is named, with the contract's words, exit 1
    let (_, webdav) = rust_plugins();
    let srv = RcloneWebdav::start();
    let port = srv.port().to_string();
    let dav_root = srv.root().to_str().unwrap().to_owned();
    let r = peex(&[
        "plugins",
        "test",
        webdav.to_str().unwrap(),
        "--scheme",
        "webdav",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--root",
        "/",
        "--option",
        "tls=false",
        "--option",
        "panic_in=rmdir",
        "--read-back",
        &dav_root,
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("  ok    upload_size_mtime"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("  FAIL  rmdir"), "{}", r.all());
    assert!(r.stdout.contains("panicked in rmdir"), "{}", r.all());
    // an option the plugin does not declare never reaches it
    let r = peex(&[
        "plugins", "test", lib_s, "--scheme", "cdir", "--root", root_s, "--option", "fsynk=1",
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("did you mean \"fsync\""), "{}", r.all());
}

#[test]
fn peex_check_does_not_call_a_plugin_time_read_mdtm() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = c_dir_transport(&tmp.path().join("lib"), "libcdir.so", &[]);
    let dest = tmp.path().join("dest");
    fs::create_dir_all(&dest).unwrap();
    fs::create_dir_all(tmp.path().join("src")).unwrap();
    let cfg = cdir_config(tmp.path(), "c.ron", &lib, &dest, "");
    let r = peex(&["check", cfg.to_str().unwrap()]);
    assert!(r.stdout.contains("read times"), "{}", r.all());
    assert!(!r.stdout.contains("MDTM"), "{}", r.all());
}

/// Every size, offset and constant of `peex_plugin.h`, printed by a C program compiled
/// against it, equals the Rust definition in `peex-plugin-abi`.
#[test]
fn header_matches_the_rust_definitions() {
    use peex_plugin_abi::*;
    use std::mem::{offset_of, size_of};
    macro_rules! layout {
        ($($t:ident { $($f:ident $(= $cf:ident)?),* })*) => {{
            let mut want: Vec<(String, usize)> = Vec::new();
            let mut c = String::new();
            $(
                want.push((format!("sizeof {}", stringify!($t)), size_of::<$t>()));
                c += &format!("P(\"sizeof {0}\", sizeof({0}));\n", stringify!($t));
                $(
                    let cname: &str = [stringify!($f) $(, stringify!($cf))?]
                        .last()
                        .copied()
                        .unwrap_or_default();
                    want.push((format!("offsetof {}.{}", stringify!($t), stringify!($f)), offset_of!($t, $f)));
                    c += &format!("P(\"offsetof {0}.{1}\", offsetof({0}, {2}));\n", stringify!($t), stringify!($f), cname);
                )*
            )*
            (want, c)
        }};
    }
    let (mut want, mut body) = layout! {
        PeexStr { ptr, len }
        PeexEntry { name, kind, has_mtime, size, mtime }
        PeexKv { key, value }
        PeexOptionSpec { name, help, flags }
        PeexCaps { struct_size, flags, rename_over }
        PeexHostApi { struct_size, abi_major, abi_minor, host_version, error_set, log }
        PeexEntrySink { ctx, emit }
        PeexReader { ctx, read }
        PeexUploadJob { struct_size, id, tmp, path, reader, size, has_mtime, reserved, mtime }
        PeexUploadQueue { ctx, next, done }
        PeexTransportVTable { struct_size, scheme, description, options, n_options,
            default_port, flags, caps, connect, close, list, upload, delete = delete_, mkdir,
            rmdir, rename, set_mtime, get_mtime, upload_stream, mkdir_batch }
        PeexFilterVTable { struct_size, name, description, options, n_options, create, decide,
            destroy }
        PeexPluginDescriptor { magic, abi_major, abi_minor, flags, struct_size, name, version,
            built_with, init, transports, n_transports, filters, n_filters }
    };
    let consts: &[(&str, i64)] = &[
        ("PEEX_MAGIC", PEEX_MAGIC.into()),
        ("PEEX_ABI_MAJOR", PEEX_ABI_MAJOR.into()),
        ("PEEX_ABI_MINOR", PEEX_ABI_MINOR.into()),
        ("PEEX_OK", PEEX_OK.into()),
        ("PEEX_NOT_FOUND", PEEX_NOT_FOUND.into()),
        ("PEEX_PERMISSION_DENIED", PEEX_PERMISSION_DENIED.into()),
        ("PEEX_ALREADY_EXISTS", PEEX_ALREADY_EXISTS.into()),
        ("PEEX_NOT_A_DIR", PEEX_NOT_A_DIR.into()),
        ("PEEX_DIR_NOT_EMPTY", PEEX_DIR_NOT_EMPTY.into()),
        ("PEEX_UNSUPPORTED", PEEX_UNSUPPORTED.into()),
        ("PEEX_CONFIG_INVALID", PEEX_CONFIG_INVALID.into()),
        ("PEEX_INVALID_NAME", PEEX_INVALID_NAME.into()),
        ("PEEX_PROTOCOL", PEEX_PROTOCOL.into()),
        ("PEEX_CONNECTION_FAILED", PEEX_CONNECTION_FAILED.into()),
        ("PEEX_AUTH_FAILED", PEEX_AUTH_FAILED.into()),
        ("PEEX_HOST_IDENTITY", PEEX_HOST_IDENTITY.into()),
        ("PEEX_RATE_LIMITED", PEEX_RATE_LIMITED.into()),
        ("PEEX_CANCELLED", PEEX_CANCELLED.into()),
        ("PEEX_UNEXPECTED", PEEX_UNEXPECTED.into()),
        ("PEEX_PANICKED", PEEX_PANICKED.into()),
        ("PEEX_ERR_TEMPORARY", PEEX_ERR_TEMPORARY.into()),
        ("PEEX_ERR_FATAL", PEEX_ERR_FATAL.into()),
        ("PEEX_OPT_REQUIRED", PEEX_OPT_REQUIRED.into()),
        ("PEEX_OPT_SECRET", PEEX_OPT_SECRET.into()),
        ("PEEX_KIND_FILE", PEEX_KIND_FILE.into()),
        ("PEEX_KIND_DIR", PEEX_KIND_DIR.into()),
        ("PEEX_KIND_OTHER", PEEX_KIND_OTHER.into()),
        ("PEEX_SIDE_LOCAL", PEEX_SIDE_LOCAL.into()),
        ("PEEX_SIDE_REMOTE", PEEX_SIDE_REMOTE.into()),
        ("PEEX_VERDICT_NO_OPINION", PEEX_VERDICT_NO_OPINION.into()),
        ("PEEX_VERDICT_IGNORE", PEEX_VERDICT_IGNORE.into()),
        ("PEEX_VERDICT_PROTECT", PEEX_VERDICT_PROTECT.into()),
        ("PEEX_RENAME_ATOMIC", PEEX_RENAME_ATOMIC.into()),
        (
            "PEEX_RENAME_REMOVE_THEN_RENAME",
            PEEX_RENAME_REMOVE_THEN_RENAME.into(),
        ),
        ("PEEX_LOG_ERROR", PEEX_LOG_ERROR.into()),
        ("PEEX_LOG_WARN", PEEX_LOG_WARN.into()),
        ("PEEX_LOG_INFO", PEEX_LOG_INFO.into()),
        ("PEEX_LOG_DEBUG", PEEX_LOG_DEBUG.into()),
        ("PEEX_TRANSPORT_NO_HOST", PEEX_TRANSPORT_NO_HOST.into()),
        ("PEEX_CAP_SET_MTIME", PEEX_CAP_SET_MTIME.into()),
        ("PEEX_CAP_GET_MTIME", PEEX_CAP_GET_MTIME.into()),
        ("PEEX_CAP_RENAME_DIRS", PEEX_CAP_RENAME_DIRS.into()),
    ];
    for (name, v) in consts {
        want.push((format!("const {name}"), *v as usize));
        body += &format!("P(\"const {name}\", (size_t)(long long)({name}));\n");
    }
    let strs = [
        ("PEEX_PLUGIN_SYMBOL", PEEX_PLUGIN_SYMBOL),
        ("PEEX_FILTER_SOURCE_ROOT", FILTER_SOURCE_ROOT),
    ];
    for (name, _) in strs {
        body += &format!("printf(\"str {name} %s\\n\", {name});\n");
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("layout.c");
    fs::write(
        &src,
        format!(
            "#include <stdio.h>\n#include \"peex_plugin.h\"\n\
             #define P(n, v) printf(\"%s %zu\\n\", n, (size_t)(v))\n\
             int main(void) {{\n{body}return 0;\n}}\n"
        ),
    )
    .unwrap();
    peex_tests::util::require_program("cc", "gcc");
    let exe = tmp.path().join("layout");
    let ws = peex_tests::plugins::workspace();
    let st = std::process::Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(ws.join("plugins/include"))
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success(), "the layout program does not compile");
    let out = std::process::Command::new(&exe).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let got: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.rsplit_once(' ')).collect();
    let mut bad = Vec::new();
    for (k, v) in &want {
        match got.get(k.as_str()) {
            Some(g) if *g == v.to_string() => {}
            g => bad.push(format!("{k}: Rust {v}, C {g:?}")),
        }
    }
    for (name, v) in strs {
        let k = format!("str {name}");
        if got.get(k.as_str()) != Some(&v) {
            bad.push(format!("{k}: Rust {v:?}, C {:?}", got.get(k.as_str())));
        }
    }
    assert!(
        bad.is_empty(),
        "header and Rust disagree:\n{}",
        bad.join("\n")
    );
    assert!(want.len() > 100, "{} facts compared", want.len());
}

#[test]
fn a_mistyped_option_of_a_plugin_transport_is_refused_naming_the_declared_one() {
    let d = Dav::new();
    put(&d.src, "index.html", b"<h1>hi</h1>", 1_600_000_000);
    let cfg = d.config("typo.ron", ", \"tsl\": \"true\"", "");
    let r = peex(&[cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("unknown option `tsl` for transport webdav; did you mean `tls`?"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("typo.ron:9:30:"), "{}", r.all());
    // Nothing reached the server.
    assert!(!d.srv.root().join("index.html").exists());
}
