//! # peex-conformance: the [`RemoteFs`] contract suite
//!
//! The same checks for every transport (local, ftp, ftps, sftp, plugins), so that a third
//! party can check their own transport the same way: from Rust with [`run_all`] /
//! [`run_each`], or without writing any Rust with `peex plugins test PLUGIN --scheme S`.
//!
//! ```ignore
//! let server = peex_tests::ftpd::Proftpd::start();
//! let root = server.root().to_path_buf();
//! peex_tests::conformance::run_all(
//!     &|| transport.connect(&server.site_params("/")).expect("connect"),
//!     &|rel| std::fs::read(root.join(rel)).ok(),
//! );
//! ```
//!
//! `connect` opens a fresh connection to an **empty** remote root; `read_back` returns the
//! bytes stored at a relative path (`None` if there is no such file) by some other route than
//! the transport (the server's directory on disk), since the contract has no download.
//! Each check works in its own directory below the root, so the order does not matter except
//! that [`check_empty_root`] must run first (as [`run_all`] does). A failed check panics with
//! a message naming the check and what the contract says.

use peex_core::{
    validate_name, Entry, EntryKind, ErrorKind, MtimeMethod, RelPath, RemoteFs, ReplaceJob,
};

/// Reads the bytes stored at a relative path, bypassing the transport (`None`: no such file).
pub type ReadBack<'a> = &'a dyn Fn(&str) -> Option<Vec<u8>>;

/// What the checks get: a way to connect and a way to read stored bytes back.
pub struct Ctx<'a> {
    /// Opens a new connection to the root under test.
    pub connect: &'a dyn Fn() -> Box<dyn RemoteFs>,
    /// Reads the bytes stored at a relative path, bypassing the transport; `None`: stored
    /// contents are not compared (sizes and listings still are).
    pub read_back: Option<ReadBack<'a>>,
}

/// A named check.
pub type Check = (&'static str, fn(&Ctx));

/// Every check, in the order [`run_all`] runs them ([`check_empty_root`] first).
pub const CHECKS: &[Check] = &[
    ("empty_root", check_empty_root),
    ("mkdir", check_mkdir),
    ("upload_size_mtime", check_upload_size_mtime),
    ("overwrite_shorter", check_overwrite_shorter),
    ("names", check_names),
    ("delete", check_delete),
    ("rmdir", check_rmdir),
    ("rename_over", check_rename_over),
    ("list_missing", check_list_missing),
    ("empty_upload", check_empty_upload),
    ("nested", check_nested),
    ("upload_size_mismatch", check_upload_size_mismatch),
    ("upload_stream", check_upload_stream),
    ("rename_dir", check_rename_dir),
    ("mkdir_batch", check_mkdir_batch),
    ("list_many", check_list_many),
];

/// Runs every check of [`CHECKS`] against an empty root.
pub fn run_all(
    connect: &dyn Fn() -> Box<dyn RemoteFs>,
    read_back: &dyn Fn(&str) -> Option<Vec<u8>>,
) {
    let ctx = Ctx {
        connect,
        read_back: Some(read_back),
    };
    for (name, check) in CHECKS {
        eprintln!("conformance: {name}");
        check(&ctx);
    }
}

/// Runs every check of [`CHECKS`], each to its end: a failed check (a panic inside it) is
/// caught and reported with its message, and the next one runs. Returns each check's name
/// and outcome, in order. `read_back` as in [`Ctx`]. While it runs, the panic hook is
/// silenced (messages are returned instead).
pub fn run_each(
    connect: &dyn Fn() -> Box<dyn RemoteFs>,
    read_back: Option<ReadBack<'_>>,
) -> Vec<(&'static str, Result<(), String>)> {
    let ctx = Ctx { connect, read_back };
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut out = Vec::with_capacity(CHECKS.len());
    for (name, check) in CHECKS {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&ctx)));
        out.push((
            *name,
            r.map_err(|payload| {
                if let Some(s) = payload.downcast_ref::<&str>() {
                    (*s).to_owned()
                } else if let Some(s) = payload.downcast_ref::<String>() {
                    s.clone()
                } else {
                    "the check failed".to_owned()
                }
            }),
        ));
    }
    std::panic::set_hook(hook);
    out
}

fn p(s: &str) -> RelPath {
    match RelPath::parse(s) {
        Ok(p) => p,
        Err(e) => panic!("bad test path {s:?}: {e}"),
    }
}

/// Lists `dir`, checking the listing rules every listing must follow.
pub fn list(fs: &mut dyn RemoteFs, dir: &str) -> Vec<Entry> {
    let entries = fs
        .list(&p(dir))
        .unwrap_or_else(|e| panic!("list {dir:?} failed: {e}"));
    for e in &entries {
        assert!(
            validate_name(&e.name).is_ok(),
            "list {dir:?} returned the unsafe name {:?}",
            e.name
        );
        if e.kind == EntryKind::File {
            assert!(
                e.mtime.is_some(),
                "list {dir:?}: file {:?} has no mtime",
                e.name
            );
        }
    }
    entries
}

fn find<'e>(entries: &'e [Entry], name: &str) -> Option<&'e Entry> {
    entries.iter().find(|e| e.name == name)
}

fn must_find<'e>(entries: &'e [Entry], name: &str, dir: &str) -> &'e Entry {
    find(entries, name).unwrap_or_else(|| {
        panic!(
            "{name:?} missing from the listing of {dir:?}: {:?}",
            entries.iter().map(|e| &e.name).collect::<Vec<_>>()
        )
    })
}

fn upload(fs: &mut dyn RemoteFs, path: &str, data: &[u8]) {
    fs.upload(&p(path), &mut &data[..], data.len() as u64)
        .unwrap_or_else(|e| panic!("upload {path:?} ({} bytes) failed: {e}", data.len()));
}

fn mkdir(fs: &mut dyn RemoteFs, path: &str) {
    fs.mkdir(&p(path))
        .unwrap_or_else(|e| panic!("mkdir {path:?} failed: {e}"));
}

fn assert_content(ctx: &Ctx, path: &str, want: &[u8]) {
    let Some(read_back) = ctx.read_back else {
        return;
    };
    let got = read_back(path);
    assert!(
        got.as_deref() == Some(want),
        "content of {path:?}: expected {} bytes {:?}…, found {:?}",
        want.len(),
        &want[..want.len().min(32)],
        got.as_ref()
            .map(|g| (g.len(), g[..g.len().min(32)].to_vec()))
    );
}

fn quit(mut fs: Box<dyn RemoteFs>) {
    fs.quit().unwrap_or_else(|e| panic!("quit failed: {e}"));
}

/// Listing an empty root gives nothing (in particular no `.` or `..`).
pub fn check_empty_root(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    let entries = list(fs.as_mut(), "");
    assert!(
        entries.is_empty(),
        "the listing of an empty root must be empty, got {entries:?}"
    );
    quit(fs);
}

/// mkdir shows a directory; mkdir of an existing directory succeeds.
pub fn check_mkdir(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    mkdir(fs.as_mut(), "mk");
    let e = list(fs.as_mut(), "");
    assert_eq!(
        must_find(&e, "mk", "").kind,
        EntryKind::Dir,
        "mk must be a directory"
    );
    fs.mkdir(&p("mk"))
        .unwrap_or_else(|e| panic!("mkdir of an existing directory must succeed: {e}"));
    assert_eq!(list(fs.as_mut(), "mk"), vec![], "a new directory is empty");
    quit(fs);
}

/// Upload shows size and an mtime; set_mtime gives back the exact second (2020, 2000, 2100),
/// or fails with Unsupported when the capabilities say so.
pub fn check_upload_size_mtime(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    mkdir(fs.as_mut(), "up");
    upload(fs.as_mut(), "up/a.txt", b"hello\n");
    let e = list(fs.as_mut(), "up");
    let a = must_find(&e, "a.txt", "up");
    assert_eq!(a.kind, EntryKind::File);
    assert_eq!(a.size, 6, "size after upload");
    assert_content(ctx, "up/a.txt", b"hello\n");
    if fs.capabilities().set_mtime == MtimeMethod::Unsupported {
        let err = fs
            .set_mtime(&p("up/a.txt"), 1_600_000_000)
            .expect_err("set_mtime must fail when capabilities say Unsupported");
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    } else {
        for t in [1_600_000_000i64, 946_684_800, 4_102_444_800, 1_600_000_001] {
            fs.set_mtime(&p("up/a.txt"), t)
                .unwrap_or_else(|e| panic!("set_mtime {t} failed: {e}"));
            let e = list(fs.as_mut(), "up");
            let a = must_find(&e, "a.txt", "up");
            assert_eq!(a.mtime, Some(t), "mtime read back after set_mtime({t})");
            assert_eq!(a.size, 6, "set_mtime must not change the size");
        }
    }
    quit(fs);
}

/// Overwriting a file with shorter content truncates it.
pub fn check_overwrite_shorter(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    mkdir(fs.as_mut(), "ow");
    let long: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    upload(fs.as_mut(), "ow/f.bin", &long);
    assert_eq!(
        must_find(&list(fs.as_mut(), "ow"), "f.bin", "ow").size,
        100_000
    );
    upload(fs.as_mut(), "ow/f.bin", b"short");
    assert_eq!(
        must_find(&list(fs.as_mut(), "ow"), "f.bin", "ow").size,
        5,
        "size after overwriting with shorter content"
    );
    assert_content(ctx, "ow/f.bin", b"short");
    quit(fs);
}

/// Names with spaces, UTF-8, `;`, `=`, `#`, leading dots round-trip.
pub fn check_names(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    mkdir(fs.as_mut(), "names ü");
    let names = [
        "ünï cødé.txt",
        "with space.txt",
        "semi;colon=eq.txt",
        "hash#and%percent",
        ".htaccess",
        "日本語",
    ];
    for n in names {
        upload(fs.as_mut(), &format!("names ü/{n}"), n.as_bytes());
    }
    let e = list(fs.as_mut(), "names ü");
    for n in names {
        let f = must_find(&e, n, "names ü");
        assert_eq!(f.size, n.len() as u64, "size of {n:?}");
        assert_content(ctx, &format!("names ü/{n}"), n.as_bytes());
    }
    assert_eq!(e.len(), names.len(), "unexpected entries: {e:?}");
    quit(fs);
}

/// Deleting a file removes it; deleting a missing path succeeds.
pub fn check_delete(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    mkdir(fs.as_mut(), "del");
    upload(fs.as_mut(), "del/x", b"x");
    fs.delete(&p("del/x"))
        .unwrap_or_else(|e| panic!("delete of an existing file failed: {e}"));
    assert!(
        find(&list(fs.as_mut(), "del"), "x").is_none(),
        "deleted file still listed"
    );
    fs.delete(&p("del/x"))
        .unwrap_or_else(|e| panic!("deleting a missing file must succeed: {e}"));
    fs.delete(&p("del/never/there"))
        .unwrap_or_else(|e| panic!("deleting below a missing directory must succeed: {e}"));
    quit(fs);
}

/// rmdir of a missing directory succeeds; of a non-empty one fails; of an empty one removes it.
pub fn check_rmdir(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    mkdir(fs.as_mut(), "rd");
    fs.rmdir(&p("rd/missing"))
        .unwrap_or_else(|e| panic!("rmdir of a missing directory must succeed: {e}"));
    mkdir(fs.as_mut(), "rd/full");
    upload(fs.as_mut(), "rd/full/f", b"f");
    let err = fs
        .rmdir(&p("rd/full"))
        .expect_err("rmdir of a non-empty directory must fail");
    eprintln!(
        "conformance: rmdir of a non-empty directory: {:?}: {err}",
        err.kind()
    );
    assert!(
        find(&list(fs.as_mut(), "rd"), "full").is_some(),
        "a failed rmdir must leave the directory"
    );
    fs.delete(&p("rd/full/f"))
        .unwrap_or_else(|e| panic!("delete failed: {e}"));
    fs.rmdir(&p("rd/full"))
        .unwrap_or_else(|e| panic!("rmdir of an empty directory failed: {e}"));
    assert!(
        find(&list(fs.as_mut(), "rd"), "full").is_none(),
        "removed dir still listed"
    );
    quit(fs);
}

/// Renaming onto an existing file replaces it.
pub fn check_rename_over(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    mkdir(fs.as_mut(), "rn");
    upload(fs.as_mut(), "rn/.tmp-new", b"new content");
    upload(fs.as_mut(), "rn/target", b"old");
    fs.rename(&p("rn/.tmp-new"), &p("rn/target"))
        .unwrap_or_else(|e| panic!("rename over an existing file failed: {e}"));
    let e = list(fs.as_mut(), "rn");
    assert_eq!(e.len(), 1, "only the target must remain: {e:?}");
    assert_eq!(must_find(&e, "target", "rn").size, 11);
    assert_content(ctx, "rn/target", b"new content");
    upload(fs.as_mut(), "rn/a", b"a");
    fs.rename(&p("rn/a"), &p("rn/b"))
        .unwrap_or_else(|e| panic!("rename to a new name failed: {e}"));
    assert_content(ctx, "rn/b", b"a");
    quit(fs);
}

/// Listing a missing directory fails with NotFound.
pub fn check_list_missing(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    let err = fs
        .list(&p("no-such-dir"))
        .expect_err("listing a missing directory must fail");
    assert_eq!(
        err.kind(),
        ErrorKind::NotFound,
        "listing a missing directory: {err}"
    );
    // the connection is still usable afterwards
    list(fs.as_mut(), "");
    quit(fs);
}

/// A 0-byte upload works.
pub fn check_empty_upload(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    mkdir(fs.as_mut(), "empty");
    upload(fs.as_mut(), "empty/zero", b"");
    let e = list(fs.as_mut(), "empty");
    let z = must_find(&e, "zero", "empty");
    assert_eq!((z.kind, z.size), (EntryKind::File, 0));
    assert_content(ctx, "empty/zero", b"");
    quit(fs);
}

/// Nested directories list correctly.
pub fn check_nested(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    for d in ["n1", "n1/n2", "n1/n2/n3"] {
        mkdir(fs.as_mut(), d);
    }
    upload(fs.as_mut(), "n1/n2/n3/deep.txt", b"deep");
    upload(fs.as_mut(), "n1/top.txt", b"top");
    let e = list(fs.as_mut(), "n1/n2/n3");
    assert_eq!(must_find(&e, "deep.txt", "n1/n2/n3").size, 4);
    let e = list(fs.as_mut(), "n1/n2");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(must_find(&e, "n3", "n1/n2").kind, EntryKind::Dir);
    let e = list(fs.as_mut(), "n1");
    assert_eq!(e.len(), 2, "{e:?}");
    assert_content(ctx, "n1/n2/n3/deep.txt", b"deep");
    quit(fs);
}

/// A source shorter or longer than the announced size fails the upload; the connection stays
/// usable.
pub fn check_upload_size_mismatch(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    mkdir(fs.as_mut(), "mm");
    let short: &[u8] = b"12345";
    assert!(
        fs.upload(&p("mm/short"), &mut &short[..], 10).is_err(),
        "an upload whose source has fewer bytes than its size must fail"
    );
    let long: &[u8] = b"1234567890ABC";
    assert!(
        fs.upload(&p("mm/long"), &mut &long[..], 10).is_err(),
        "an upload whose source has more bytes than its size must fail"
    );
    upload(fs.as_mut(), "mm/ok", b"ok");
    assert_content(ctx, "mm/ok", b"ok");
    quit(fs);
}

/// `upload_stream`: every job taken is reported exactly once; the ones reported `Ok` are in
/// place with their content and time (an existing file is replaced, an empty and a large
/// file work); a job whose directory does not exist fails for good without stopping the
/// stream; no temporary name is left behind.
pub fn check_upload_stream(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    mkdir(fs.as_mut(), "st");
    upload(
        fs.as_mut(),
        "st/old.txt",
        b"old content, longer than the new one",
    );
    let times = fs.capabilities().set_mtime != MtimeMethod::Unsupported;
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("st/a.txt", b"alpha".to_vec()),
        ("st/old.txt", b"new".to_vec()),
        ("st/empty", Vec::new()),
        ("st/missing/x.txt", b"nowhere".to_vec()),
        ("st/missing/direct.txt", b"nowhere either".to_vec()),
        ("st/large.bin", large.clone()),
        ("st/direct-large.bin", large.iter().rev().copied().collect()),
        ("st/direct-empty", Vec::new()),
    ];
    for i in 0..6 {
        files.push((
            ["st/f0", "st/f1", "st/f2", "st/f3", "st/f4", "st/f5"][i],
            format!("file {i}").into_bytes(),
        ));
    }
    // Direct jobs (no temporary name) are mixed in between the others.
    let direct = |path: &str, id: usize| {
        path.contains("direct") || (path.starts_with("st/f") && id % 2 == 1)
    };
    let mut queue: std::collections::VecDeque<usize> = (0..files.len()).collect();
    let mut next = || {
        let id = queue.pop_front()?;
        let (path, data) = &files[id];
        let is_direct = direct(path, id);
        let path = p(path);
        let tmp = (!is_direct).then(|| {
            path.parent()
                .unwrap_or_default()
                .join(&format!(".st-tmp-{id}"))
                .unwrap_or_else(|e| panic!("temp name: {e}"))
        });
        Some(ReplaceJob {
            id,
            tmp,
            path,
            src: Box::new(&data[..]),
            size: data.len() as u64,
            mtime: times.then_some(1_500_000_000 + id as i64),
        })
    };
    let mut outcomes: Vec<Vec<bool>> = vec![Vec::new(); files.len()];
    let mut done = |id: usize, r: peex_core::Result<()>| {
        if let Err(e) = &r {
            assert!(
                !e.is_temporary(),
                "upload_stream: job {id} failed with a temporary error on a healthy server: {e}"
            );
        }
        outcomes[id].push(r.is_ok());
    };
    fs.upload_stream(&mut next, &mut done)
        .unwrap_or_else(|e| panic!("upload_stream on a healthy server failed: {e}"));
    for (id, o) in outcomes.iter().enumerate() {
        assert_eq!(
            o.len(),
            1,
            "upload_stream must report job {id} exactly once: {o:?}"
        );
        let want_ok = !files[id].0.starts_with("st/missing/");
        assert_eq!(
            o[0],
            want_ok,
            "upload_stream: job {id} ({}) reported {}",
            files[id].0,
            if o[0] { "Ok" } else { "an error" }
        );
    }
    let e = list(fs.as_mut(), "st");
    for (id, (path, data)) in files.iter().enumerate() {
        if path.starts_with("st/missing/") {
            continue;
        }
        assert_content(ctx, path, data);
        let name = path.trim_start_matches("st/");
        let entry = must_find(&e, name, "st");
        assert_eq!(entry.size, data.len() as u64, "size of {path}");
        if times {
            assert_eq!(
                entry.mtime,
                Some(1_500_000_000 + id as i64),
                "mtime of {path}"
            );
        }
    }
    assert!(
        !e.iter().any(|x| x.name.starts_with(".st-tmp")),
        "upload_stream left temporary names behind: {:?}",
        e.iter().map(|x| &x.name).collect::<Vec<_>>()
    );
    quit(fs);
}

/// `rename` of a directory ([`peex_core::Capabilities::rename_dirs`]): a tree built under
/// one name appears whole under another, files, subdirectories and times unchanged. A
/// transport that does not claim it has nothing to check here.
pub fn check_rename_dir(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    if !fs.capabilities().rename_dirs {
        quit(fs);
        return;
    }
    let times = fs.capabilities().set_mtime != MtimeMethod::Unsupported;
    mkdir(fs.as_mut(), "rd");
    mkdir(fs.as_mut(), "rd/.stage");
    mkdir(fs.as_mut(), "rd/.stage/sub");
    upload(fs.as_mut(), "rd/.stage/top.txt", b"top");
    upload(fs.as_mut(), "rd/.stage/sub/f.txt", b"deep file");
    if times {
        fs.set_mtime(&p("rd/.stage/sub/f.txt"), 1_400_000_000)
            .unwrap_or_else(|e| panic!("set_mtime: {e}"));
    }
    fs.rename(&p("rd/.stage"), &p("rd/new"))
        .unwrap_or_else(|e| panic!("rename of a directory (rename_dirs is claimed): {e}"));
    let e = list(fs.as_mut(), "rd");
    assert_eq!(
        e.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
        vec!["new"],
        "after renaming rd/.stage to rd/new"
    );
    assert_eq!(must_find(&e, "new", "rd").kind, EntryKind::Dir);
    let sub = list(fs.as_mut(), "rd/new/sub");
    let f = must_find(&sub, "f.txt", "rd/new/sub");
    if times {
        assert_eq!(f.mtime, Some(1_400_000_000), "mtime kept by the rename");
    }
    assert_content(ctx, "rd/new/sub/f.txt", b"deep file");
    assert_content(ctx, "rd/new/top.txt", b"top");
    quit(fs);
}

/// `mkdir_batch`: creates parents before children, succeeds on an existing directory, and
/// gives one result per directory.
pub fn check_mkdir_batch(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    mkdir(fs.as_mut(), "mb");
    let dirs: Vec<RelPath> = ["mb", "mb/a", "mb/a/b", "mb/c", "mb/a/b/d"]
        .iter()
        .map(|d| p(d))
        .collect();
    let results = fs.mkdir_batch(&dirs);
    assert_eq!(results.len(), dirs.len(), "one result per directory");
    for (d, r) in dirs.iter().zip(&results) {
        if let Err(e) = r {
            panic!("mkdir_batch {d}: {e}");
        }
    }
    let e = list(fs.as_mut(), "mb/a/b");
    assert_eq!(must_find(&e, "d", "mb/a/b").kind, EntryKind::Dir);
    assert_eq!(
        must_find(&list(fs.as_mut(), "mb"), "c", "mb").kind,
        EntryKind::Dir
    );
    quit(fs);
}

/// `list_many` gives, in order, what `list` gives for each directory, NotFound for a missing
/// one, and goes on after it; `list_batch` is at least 1.
pub fn check_list_many(ctx: &Ctx) {
    let mut fs = (ctx.connect)();
    mkdir(fs.as_mut(), "lm");
    let dirs = ["lm/a", "lm/b", "lm/c"];
    for (i, d) in dirs.iter().enumerate() {
        mkdir(fs.as_mut(), d);
        for k in 0..=i {
            upload(fs.as_mut(), &format!("{d}/f{k}"), b"x");
        }
    }
    assert!(fs.list_batch() >= 1, "list_batch must be at least 1");
    let asked = [p("lm/a"), p("lm/missing"), p("lm/b"), p("lm/c"), p("lm")];
    let results = fs.list_many(&asked);
    assert_eq!(results.len(), asked.len(), "one result per directory");
    let names = |r: &peex_core::Result<Vec<Entry>>, what: &str| -> Vec<String> {
        let mut n: Vec<String> = r
            .as_ref()
            .unwrap_or_else(|e| panic!("list_many {what}: {e}"))
            .iter()
            .map(|e| e.name.clone())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&results[0], "lm/a"), ["f0"]);
    match &results[1] {
        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "lm/missing: {e}"),
        Ok(v) => panic!("list_many of a missing directory gave {v:?}"),
    }
    assert_eq!(names(&results[2], "lm/b"), ["f0", "f1"]);
    assert_eq!(names(&results[3], "lm/c"), ["f0", "f1", "f2"]);
    assert_eq!(names(&results[4], "lm"), ["a", "b", "c"]);
    for (r, d) in results.iter().zip(&asked) {
        let Ok(many) = r else { continue };
        let mut many = many.clone();
        let mut one = list(fs.as_mut(), d.as_str());
        one.sort_by(|x, y| x.name.cmp(&y.name));
        many.sort_by(|x, y| x.name.cmp(&y.name));
        assert_eq!(one, many, "list_many and list differ for {d}");
    }
    quit(fs);
}
