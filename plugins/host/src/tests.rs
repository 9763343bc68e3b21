//! Host tests with real plugins: the Rust examples (built with cargo), the C size filter and
//! the misbehaving C plugins (built with `cc`), and the WebDAV transport against a real
//! `rclone serve webdav`. A missing `cc` or `rclone` fails the test with the install command.
#![allow(clippy::unwrap_used)]

use super::*;
use peex_core::{EntryKind, Filter, RelPath, Side, SiteParams, Verdict};
use std::time::Duration;

use peex_tests::plugins::{cc, rust_plugins, RcloneWebdav as Rclone};

fn copy_to(lib: &Path, dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let dest = dir.join(name);
    std::fs::copy(lib, &dest).unwrap();
    dest
}

fn accepted<'a>(host: &'a PluginHost, file: &str) -> &'a PluginInfo {
    let c = host
        .candidates()
        .iter()
        .find(|c| c.path.file_name().unwrap() == file)
        .unwrap_or_else(|| panic!("{file} not found:\n{}", host.render_listing()));
    match &c.result {
        Ok(i) => i,
        Err(e) => panic!("{file} refused: {e}"),
    }
}

fn refused(host: &PluginHost, file: &str) -> String {
    let c = host
        .candidates()
        .iter()
        .find(|c| c.path.file_name().unwrap() == file)
        .unwrap_or_else(|| panic!("{file} not found:\n{}", host.render_listing()));
    c.result.clone().expect_err(file)
}

#[test]
fn plugins_load_from_every_discovery_location() {
    let (gitignore, webdav) = rust_plugins();
    let t = tempfile::tempdir().unwrap();
    let explicit = copy_to(gitignore, &t.path().join("explicit"), "libgitignore.so");
    let env_dir = t.path().join("env");
    copy_to(webdav, &env_dir, "libwebdav.so");
    let xdg = t.path().join("xdg");
    cc(
        "plugins/examples/c-size-filter/size_filter.c",
        &{
            std::fs::create_dir_all(xdg.join("peex/plugins")).unwrap();
            xdg.join("peex/plugins/libsize_filter.so")
        },
        &[],
    );
    let exe_dir = t.path().join("prefix/bin");
    std::fs::create_dir_all(&exe_dir).unwrap();
    let lib_dir = t.path().join("prefix/lib/peex/plugins");
    std::fs::create_dir_all(&lib_dir).unwrap();
    cc(
        "plugins/tests/bad_plugin.c",
        &lib_dir.join("libctest.so"),
        &[],
    );
    std::fs::write(lib_dir.join("README.txt"), "not a candidate").unwrap();

    let env = DiscoveryEnv {
        plugin_path: Some(std::env::join_paths([&env_dir]).unwrap()),
        xdg_data_home: Some(xdg.into_os_string()),
        home: None,
        exe: Some(exe_dir.join("peex")),
    };
    let host = PluginHost::discover_with(&[explicit], &env, &["ftp", "local"], &["regex"]);
    let listing = host.render_listing();
    println!("{listing}");
    assert_eq!(host.candidates().len(), 4, "{listing}");
    // Discovery order: explicit, PEEX_PLUGIN_PATH, XDG, exe-relative.
    let names: Vec<&str> = host
        .candidates()
        .iter()
        .map(|c| c.result.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["gitignore", "webdav", "size-filter", "ctest"]);
    let g = accepted(&host, "libgitignore.so");
    assert_eq!((g.abi().as_str(), g.filters.len()), ("2.1", 1));
    assert!(g.built_with.contains("peex-plugin-sdk"));
    for needle in [
        "libgitignore.so",
        "plugin gitignore 0.1.0 (ABI 2.1, built with Rust, peex-plugin-sdk",
        "filter gitignore: ignores what the .gitignore/.peexignore files",
        "files     comma-separated ignore-file names",
        "transport webdav: WebDAV",
        "set mtime: no, get mtime: yes, rename over: remove then rename",
        "  tls             use https",
        "  parallel        requests in flight per connection",
        "staged dirs: yes, needs host: yes",
        "plugin size-filter 1.0.0 (ABI 2.1, built with C)",
        "max_bytes  local files larger than this many bytes are ignored (required)",
        "transport ctest: a C test transport",
        "lib/peex/plugins",
    ] {
        assert!(
            listing.contains(needle),
            "missing {needle:?} in:\n{listing}"
        );
    }
    assert!(host.transport("webdav").is_some());
    assert!(host.transport("ctest").is_some());
    assert!(host.transport("ftp").is_none());
    assert!(host.filter("nope", &BTreeMap::new()).is_err());
}

#[test]
fn misbehaving_plugins_are_refused_with_their_reason() {
    let (_, webdav) = rust_plugins();
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let variants: &[(&str, &[&str], &str)] = &[
        ("libbad_magic.so", &["-DBAD_MAGIC"], "bad magic 0x12345678"),
        (
            "libv1.so",
            &["-DV1_PLUGIN"],
            "built for plugin ABI 1.x (exports peex_plugin_v1, not peex_plugin_v2); this peex \
             speaks ABI 2.1: rebuild the plugin against this peex: C, with \
             plugins/include/peex_plugin.h",
        ),
        (
            "libolder_major.so",
            &["-DOLDER_MAJOR"],
            "built for plugin ABI 0.9, but this peex speaks ABI 2.1",
        ),
        (
            "libtruncated.so",
            &["-DTRUNCATED"],
            "truncated descriptor: struct_size 24 is smaller than",
        ),
        (
            "libtruncated_vt.so",
            &["-DTRUNCATED_VT"],
            "transport 0: truncated table (struct_size 16",
        ),
        ("libempty_name.so", &["-DEMPTY_NAME"], "empty plugin name"),
        (
            "libno_symbol.so",
            &["-DNO_SYMBOL"],
            "not a peex plugin (no peex_plugin_v2 symbol)",
        ),
        (
            "libftp.so",
            &["-DSCHEME=\"ftp\""],
            "transport scheme \"ftp\" is already provided by the built-in transport \"ftp\"",
        ),
    ];
    for (file, defines, _) in variants {
        cc("plugins/tests/bad_plugin.c", &d.join(file), defines);
    }
    std::fs::write(d.join("libjunk.so"), "this is not a library").unwrap();
    // The same plugin twice (two files): the second is refused, naming the first.
    let first = copy_to(webdav, &d.join("a"), "libwebdav_a.so");
    let second = copy_to(webdav, &d.join("b"), "libwebdav_b.so");
    let host = PluginHost::discover_with(
        &[first.clone(), second, d.to_path_buf(), d.join("missing")],
        &DiscoveryEnv::default(),
        &["ftp", "ftps", "local", "sftp"],
        &[],
    );
    let listing = host.render_listing();
    println!("{listing}");
    for (file, _, reason) in variants {
        let got = refused(&host, file);
        assert!(got.contains(reason), "{file}: {got:?} lacks {reason:?}");
        assert!(listing.contains(&format!("refused: {got}")));
    }
    assert!(refused(&host, "libjunk.so").contains("cannot load library"));
    let dup = refused(&host, "libwebdav_b.so");
    assert!(
        dup.contains("transport scheme \"webdav\" is already provided by plugin \"webdav\"")
            && dup.contains(&first.display().to_string()),
        "{dup}"
    );
    assert!(refused(&host, "missing").contains("cannot use plugin path"));
    accepted(&host, "libwebdav_a.so");
    assert!(host.transport("ftp").is_none());
}

#[test]
fn plugin_status_codes_map_to_error_kinds() {
    let t = tempfile::tempdir().unwrap();
    let lib = t.path().join("libctest.so");
    cc("plugins/tests/bad_plugin.c", &lib, &[]);
    let host = PluginHost::discover_with(&[lib], &DiscoveryEnv::default(), &[], &[]);
    let tr = host.transport("ctest").unwrap();
    // ctest does not declare PEEX_TRANSPORT_NO_HOST: a site without a host never reaches it
    let e = tr.connect(&SiteParams::default()).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    assert!(e.message().contains("host is required"), "{e}");
    let site = SiteParams {
        host: "h".to_owned(),
        ..SiteParams::default()
    };
    let e = tr.connect(&site).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::ConnectionFailed);
    assert!(e.is_temporary());
    assert_eq!(e.message(), "ctest cannot connect");
    // it declares no options: any is refused before connecting
    let mut opt = site.clone();
    opt.options.insert("tls".to_owned(), "no".to_owned());
    let e = tr.connect(&opt).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    assert!(e.message().contains("unknown option \"tls\""), "{e}");
}

#[test]
fn a_plugin_built_for_a_newer_minor_loads_and_its_unknown_slot_is_ignored() {
    let t = tempfile::tempdir().unwrap();
    let lib = t.path().join("libnewer.so");
    cc("plugins/tests/bad_plugin.c", &lib, &["-DNEWER_MINOR"]);
    let host = PluginHost::discover_with(&[lib], &DiscoveryEnv::default(), &[], &[]);
    let info = accepted(&host, "libnewer.so");
    assert_eq!(
        info.abi(),
        format!(
            "{}.{}",
            peex_plugin_abi::PEEX_ABI_MAJOR,
            peex_plugin_abi::PEEX_ABI_MINOR + 1
        )
    );
    let site = SiteParams {
        host: "h".to_owned(),
        ..SiteParams::default()
    };
    let e = host
        .transport("ctest")
        .unwrap()
        .connect(&site)
        .err()
        .unwrap();
    assert_eq!(e.message(), "ctest cannot connect");
}

fn entry(name: &str, kind: EntryKind, size: u64) -> peex_core::Entry {
    peex_core::Entry {
        name: name.to_owned(),
        kind,
        size,
        mtime: Some(0),
    }
}

fn decide(f: &dyn Filter, p: &str, kind: EntryKind, size: u64, side: Side) -> Verdict {
    let path = RelPath::parse(p).unwrap();
    f.decide(&path, &entry(path.name(), kind, size), side)
        .unwrap()
}

#[test]
fn c_size_filter_through_the_host() {
    let t = tempfile::tempdir().unwrap();
    let lib = t.path().join("libsize_filter.so");
    cc("plugins/examples/c-size-filter/size_filter.c", &lib, &[]);
    let host = PluginHost::discover_with(&[lib], &DiscoveryEnv::default(), &[], &[]);
    let mut opts = BTreeMap::new();
    opts.insert("source_root".to_owned(), "/src".to_owned());
    let e = host.filter("size", &opts).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    assert!(
        e.message()
            .contains("missing required option \"max_bytes\""),
        "{e}"
    );
    opts.insert("max_bytes".to_owned(), "ten".to_owned());
    let e = host.filter("size", &opts).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    assert_eq!(e.message(), "size: max_bytes must be a number of bytes");
    opts.insert("colour".to_owned(), "red".to_owned());
    let e = host.filter("size", &opts).err().unwrap();
    assert!(e.message().contains("unknown option \"colour\""), "{e}");
    opts.remove("colour");
    opts.insert("max_bytes".to_owned(), "10".to_owned());
    let f = host.filter("size", &opts).unwrap();
    assert_eq!(f.name(), "size");
    assert_eq!(
        decide(&*f, "a/big.bin", EntryKind::File, 11, Side::Local),
        Verdict::Ignore
    );
    assert_eq!(
        decide(&*f, "a/ok.bin", EntryKind::File, 10, Side::Local),
        Verdict::NoOpinion
    );
    assert_eq!(
        decide(&*f, "a/big.bin", EntryKind::File, 11, Side::Remote),
        Verdict::NoOpinion
    );
    assert_eq!(
        decide(&*f, "dir", EntryKind::Dir, 4096, Side::Local),
        Verdict::NoOpinion
    );
}

#[test]
fn gitignore_filter_through_the_host_and_a_panicking_decide() {
    let (gitignore, _) = rust_plugins();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join(".gitignore"), "*.log\n!keep.log\n").unwrap();
    std::fs::create_dir(src.path().join("sub")).unwrap();
    std::fs::write(src.path().join("sub/.peexignore"), "drafts/\n").unwrap();
    let host = PluginHost::discover_with(
        std::slice::from_ref(gitignore),
        &DiscoveryEnv::default(),
        &[],
        &[],
    );
    let mut opts = BTreeMap::new();
    opts.insert("source_root".to_owned(), src.path().display().to_string());
    let f = host.filter("gitignore", &opts).unwrap();
    assert_eq!(
        decide(&*f, "x.log", EntryKind::File, 1, Side::Local),
        Verdict::Ignore
    );
    assert_eq!(
        decide(&*f, "x.log", EntryKind::File, 1, Side::Remote),
        Verdict::Ignore
    );
    assert_eq!(
        decide(&*f, "keep.log", EntryKind::File, 1, Side::Local),
        Verdict::NoOpinion
    );
    assert_eq!(
        decide(&*f, "sub/drafts", EntryKind::Dir, 0, Side::Local),
        Verdict::Ignore
    );
    assert_eq!(
        decide(&*f, "drafts", EntryKind::Dir, 0, Side::Local),
        Verdict::NoOpinion
    );

    opts.insert("panic_in".to_owned(), "decide".to_owned());
    let f = host.filter("gitignore", &opts).unwrap();
    let path = RelPath::parse("a.txt").unwrap();
    let e = f
        .decide(&path, &entry("a.txt", EntryKind::File, 1), Side::Local)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Panicked);
    assert_eq!(
        e.message(),
        "plugin \"gitignore\" panicked in decide: gitignore asked to panic in decide (option \
         panic_in=decide)"
    );
    let e = f
        .decide(&path, &entry("a.txt", EntryKind::File, 1), Side::Local)
        .unwrap_err();
    assert!(
        e.message().contains("disabled after an earlier panic"),
        "{e}"
    );
}

fn file_mtime(p: &Path) -> i64 {
    let m = std::fs::metadata(p).unwrap().modified().unwrap();
    m.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn webdav_plugin_round_trips_against_rclone_and_contains_a_panicking_list() {
    let (_, webdav) = rust_plugins();
    let server = Rclone::start();
    std::fs::create_dir(server.root().join("site")).unwrap();
    let host = PluginHost::discover_with(
        std::slice::from_ref(webdav),
        &DiscoveryEnv::default(),
        &[],
        &[],
    );
    let t = host.transport("webdav").unwrap();
    assert_eq!(t.scheme(), "webdav");

    let missing = t.connect(&server.site("/nope")).err().unwrap();
    assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing}");

    let mut fs = t.connect(&server.site("/site")).unwrap();
    let caps = fs.capabilities();
    assert_eq!(caps.set_mtime, peex_core::MtimeMethod::Unsupported);
    assert!(caps.get_mtime);
    let p = |s: &str| RelPath::parse(s).unwrap();

    fs.mkdir(&p("css")).unwrap();
    fs.mkdir(&p("css")).unwrap(); // existing: success
    let body = b"body { color: red }\n";
    fs.upload(&p("css/site.css"), &mut &body[..], body.len() as u64)
        .unwrap();
    fs.upload(&p("a b.txt"), &mut &b"x"[..], 1).unwrap();
    let short = fs.upload(&p("short.txt"), &mut &b"ab"[..], 5).unwrap_err();
    assert_ne!(short.kind(), ErrorKind::Panicked, "{short}");

    let disk = server.root().join("site/css/site.css");
    assert_eq!(std::fs::read(&disk).unwrap(), body);
    let mut top = fs.list(&RelPath::root()).unwrap();
    top.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<(&str, EntryKind)> = top.iter().map(|e| (e.name.as_str(), e.kind)).collect();
    assert!(names.contains(&("css", EntryKind::Dir)), "{names:?}");
    assert!(names.contains(&("a b.txt", EntryKind::File)), "{names:?}");
    let css = fs.list(&p("css")).unwrap();
    assert_eq!(css.len(), 1);
    assert_eq!(
        (css[0].name.as_str(), css[0].size),
        ("site.css", body.len() as u64)
    );
    // mtime round trip: what the server's disk says is what list and get_mtime report.
    let when = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&disk)
        .unwrap()
        .set_modified(when)
        .unwrap();
    assert_eq!(file_mtime(&disk), 1_000_000_000);
    assert_eq!(fs.list(&p("css")).unwrap()[0].mtime, Some(1_000_000_000));
    assert_eq!(fs.get_mtime(&p("css/site.css")).unwrap(), 1_000_000_000);
    let e = fs.set_mtime(&p("css/site.css"), 5).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);

    // rename over an existing file
    fs.upload(&p("css/.tmp.site.css"), &mut &b"new"[..], 3)
        .unwrap();
    fs.rename(&p("css/.tmp.site.css"), &p("css/site.css"))
        .unwrap();
    assert_eq!(std::fs::read(&disk).unwrap(), b"new");
    assert_eq!(fs.list(&p("css")).unwrap().len(), 1);

    let e = fs.rmdir(&p("css")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DirectoryNotEmpty, "{e}");
    fs.delete(&p("css/site.css")).unwrap();
    fs.delete(&p("css/site.css")).unwrap(); // missing: success
    fs.rmdir(&p("css")).unwrap();
    fs.rmdir(&p("css")).unwrap(); // missing: success
    let e = fs.list(&p("css")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    fs.quit().unwrap();

    // A panic in list: Panicked with the plugin, the operation and the message; the
    // connection is closed afterwards.
    let mut site = server.site("/site");
    site.options
        .insert("panic_in".to_owned(), "list".to_owned());
    let mut fs = t.connect(&site).unwrap();
    let e = fs.list(&RelPath::root()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Panicked);
    assert_eq!(
        e.message(),
        "plugin \"webdav\" panicked in list: webdav asked to panic in list (option panic_in=list)"
    );
    let e = fs.mkdir(&p("x")).unwrap_err();
    assert!(e.message().contains("closed connection"), "{e}");
}
