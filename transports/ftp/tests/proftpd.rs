//! End-to-end tests of the `ftp` and `ftps` transports against a real proftpd.
//!
//! Needs root and `proftpd-basic` (the tests fail with the install command otherwise).

use peex_core::{ErrorKind, MtimeMethod, RelPath, RemoteFs, ReplaceJob, SiteParams, Transport};
use peex_ftp::{FtpTransport, FtpsTransport};
use peex_tests::conformance;
use peex_tests::faultproxy::{FaultConfig, FaultProxy};
use peex_tests::ftpd::{chown_tree, Proftpd, ProftpdBuilder};
use std::path::Path;

fn p(s: &str) -> RelPath {
    RelPath::parse(s).expect("test path")
}

fn connect(t: &dyn Transport, site: &SiteParams) -> Box<dyn RemoteFs> {
    match t.connect(site) {
        Ok(fs) => fs,
        Err(e) => panic!("connect {}: {e} ({:?})", t.scheme(), e.kind()),
    }
}

fn connect_err(t: &dyn Transport, site: &SiteParams) -> peex_core::Error {
    match t.connect(site) {
        Ok(_) => panic!("connect {} to {site:?} should fail", t.scheme()),
        Err(e) => e,
    }
}

fn read_back(root: &Path) -> impl Fn(&str) -> Option<Vec<u8>> + '_ {
    move |rel| std::fs::read(root.join(rel)).ok()
}

#[test]
fn conformance_ftp() {
    let ftpd = Proftpd::start();
    let site = ftpd.site_params("/");
    conformance::run_all(&|| connect(&FtpTransport, &site), &read_back(ftpd.root()));
}

#[test]
fn conformance_ftp_below_a_relative_root() {
    let ftpd = Proftpd::start();
    std::fs::create_dir_all(ftpd.root().join("www/site")).expect("mkdir");
    chown_tree(ftpd.root());
    let site = ftpd.site_params("www/site/");
    let root = ftpd.root().join("www/site");
    conformance::run_all(&|| connect(&FtpTransport, &site), &read_back(&root));
}

#[test]
fn conformance_ftps() {
    let ftpd = ProftpdBuilder::new().tls(true).start();
    let mut site = ftpd.site_params("/");
    let ca = ftpd.ca_file().expect("ca file").display().to_string();
    site.options.insert("ca_file".into(), ca);
    conformance::run_all(&|| connect(&FtpsTransport, &site), &read_back(ftpd.root()));
    let cmds = ftpd.commands_settled();
    assert!(cmds.iter().any(|c| c.command == "AUTH"), "AUTH TLS sent");
    assert!(
        cmds.iter()
            .any(|c| c.command == "PROT" && c.arg.trim() == "P"),
        "PROT P sent"
    );
}

#[test]
fn ftps_refuses_an_unknown_certificate_unless_told_not_to_verify() {
    let ftpd = ProftpdBuilder::new().tls(true).start();
    let site = ftpd.site_params("/");
    let e = connect_err(&FtpsTransport, &site);
    assert_eq!(e.kind(), ErrorKind::HostIdentity, "{e}");
    let mut site = ftpd.site_params("/");
    site.options.insert("tls_verify".into(), "false".into());
    let mut fs = connect(&FtpsTransport, &site);
    fs.upload(&p("x"), &mut &b"tls"[..], 3).expect("upload");
    assert_eq!(fs.list(&RelPath::root()).expect("list").len(), 1);
    fs.quit().expect("quit");
}

#[test]
fn plain_ftp_to_a_tls_only_server_fails_clearly() {
    let ftpd = ProftpdBuilder::new().tls(true).start();
    let e = connect_err(&FtpTransport, &ftpd.site_params("/"));
    // TLSRequired: proftpd refuses USER/PASS on a plain control connection
    assert!(
        matches!(
            e.kind(),
            ErrorKind::AuthFailed | ErrorKind::PermissionDenied
        ),
        "{:?}: {e}",
        e.kind()
    );
}

#[test]
fn binary_upload_is_byte_for_byte() {
    let ftpd = Proftpd::start();
    let site = ftpd.site_params("/");
    let mut fs = connect(&FtpTransport, &site);
    let mut data: Vec<u8> = b"line1\nline2\r\nline3\rend\n".to_vec();
    data.extend(0..=255u8);
    data.extend((0..=255u8).rev());
    data.extend(std::iter::repeat_n(b'\n', 1000));
    for (i, b) in (0..300_000u32).map(|i| (i, (i * 7 % 256) as u8)) {
        let _ = i;
        data.push(b);
    }
    fs.upload(&p("bin.dat"), &mut &data[..], data.len() as u64)
        .expect("upload");
    fs.quit().expect("quit");
    let got = std::fs::read(ftpd.root().join("bin.dat")).expect("read back");
    assert_eq!(got.len(), data.len(), "stored size");
    assert!(got == data, "stored bytes differ (ASCII mode?)");
    let cmds = ftpd.commands_settled();
    assert!(
        cmds.iter()
            .any(|c| c.command == "TYPE" && c.arg.trim() == "I"),
        "TYPE I must be sent: {cmds:?}"
    );
}

#[test]
fn mfmt_is_used_when_offered() {
    let ftpd = Proftpd::start();
    let mut fs = connect(&FtpTransport, &ftpd.site_params("/"));
    assert_eq!(fs.capabilities().set_mtime, MtimeMethod::Mfmt);
    assert!(fs.capabilities().get_mtime);
    fs.upload(&p("f"), &mut &b"x"[..], 1).expect("upload");
    fs.set_mtime(&p("f"), 1_234_567_890).expect("set_mtime");
    assert_eq!(fs.get_mtime(&p("f")).expect("mdtm"), 1_234_567_890);
    fs.quit().expect("quit");
    let cmds = ftpd.commands_settled();
    assert!(
        cmds.iter().any(|c| c.command == "MFMT" && c.code == 213),
        "{cmds:?}"
    );
    assert!(
        !cmds.iter().any(|c| c.command.starts_with("SITE")),
        "{cmds:?}"
    );
}

#[test]
fn mfmt_denied_falls_back_to_site_utime() {
    let ftpd = ProftpdBuilder::new().deny_commands(&["MFMT"]).start();
    let mut fs = connect(&FtpTransport, &ftpd.site_params("/"));
    fs.upload(&p("f"), &mut &b"x"[..], 1).expect("upload");
    fs.set_mtime(&p("f"), 1_600_000_000).expect("set_mtime");
    assert_eq!(fs.capabilities().set_mtime, MtimeMethod::SiteUtime);
    fs.upload(&p("g"), &mut &b"y"[..], 1).expect("upload");
    fs.set_mtime(&p("g"), 946_684_800).expect("set_mtime");
    let e = fs.list(&RelPath::root()).expect("list");
    let t = |n: &str| e.iter().find(|x| x.name == n).and_then(|x| x.mtime);
    assert_eq!(t("f"), Some(1_600_000_000));
    assert_eq!(t("g"), Some(946_684_800));
    fs.quit().expect("quit");
    let cmds = ftpd.commands_settled();
    let mfmt = cmds.iter().filter(|c| c.command == "MFMT").count();
    assert_eq!(
        mfmt, 1,
        "MFMT is tried once, then remembered as refused: {cmds:?}"
    );
    let utime: Vec<_> = cmds.iter().filter(|c| c.command == "SITE UTIME").collect();
    assert_eq!(utime.len(), 2, "{cmds:?}");
    assert!(utime.iter().all(|c| c.code == 200), "{utime:?}");
}

#[test]
fn forced_site_utime5() {
    let ftpd = Proftpd::start();
    let mut site = ftpd.site_params("/");
    site.options
        .insert("mtime_method".into(), "site-utime5".into());
    let mut fs = connect(&FtpTransport, &site);
    assert_eq!(fs.capabilities().set_mtime, MtimeMethod::SiteUtime5);
    fs.upload(&p("a b.txt"), &mut &b"x"[..], 1).expect("upload");
    fs.set_mtime(&p("a b.txt"), 1_600_000_000)
        .expect("set_mtime");
    let e = fs.list(&RelPath::root()).expect("list");
    assert_eq!(e[0].mtime, Some(1_600_000_000));
    fs.quit().expect("quit");
}

#[test]
fn no_way_to_set_times_is_unsupported() {
    let ftpd = ProftpdBuilder::new()
        .deny_commands(&["MFMT", "SITE_UTIME", "MFF"])
        .start();
    let mut fs = connect(&FtpTransport, &ftpd.site_params("/"));
    fs.upload(&p("f"), &mut &b"x"[..], 1).expect("upload");
    let e = fs.set_mtime(&p("f"), 1_600_000_000).expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(
        e.message().contains("MFMT") && e.message().contains("SITE UTIME"),
        "{e}"
    );
    assert_eq!(fs.capabilities().set_mtime, MtimeMethod::Unsupported);
    // remembered: the next call sends nothing
    ftpd.commands_settled();
    ftpd.clear_log();
    let e = fs.set_mtime(&p("f"), 1_600_000_000).expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    fs.quit().expect("quit");
    let cmds = ftpd.commands_settled();
    assert!(
        !cmds
            .iter()
            .any(|c| c.command == "MFMT" || c.command.starts_with("SITE")),
        "{cmds:?}"
    );
    // set_mtime on a missing file is NotFound, not a refusal
    let mut fs = connect(&FtpTransport, &ftpd.site_params("/"));
    let e = fs.set_mtime(&p("missing"), 1).expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[test]
fn wrong_password_is_auth_failed() {
    let ftpd = Proftpd::start();
    let mut site = ftpd.site_params("/");
    site.password = Some(peex_core::Secret::new("not-the-password"));
    let e = connect_err(&FtpTransport, &site);
    assert_eq!(e.kind(), ErrorKind::AuthFailed, "{e}");
    assert!(!e.to_string().contains("not-the-password"), "{e}");
}

#[test]
fn closed_port_is_connection_failed() {
    let port = peex_tests::util::free_port();
    let site = SiteParams {
        host: "127.0.0.1".into(),
        port: Some(port),
        user: "u".into(),
        ..SiteParams::default()
    };
    let e = connect_err(&FtpTransport, &site);
    assert_eq!(e.kind(), ErrorKind::ConnectionFailed, "{e}");
}

#[test]
fn missing_root_is_not_found() {
    let ftpd = Proftpd::start();
    let e = connect_err(&FtpTransport, &ftpd.site_params("/no/such/dir"));
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("/no/such/dir"), "{e}");
    std::fs::write(ftpd.root().join("file"), b"x").expect("write");
    let e = connect_err(&FtpTransport, &ftpd.site_params("/file"));
    assert_eq!(e.kind(), ErrorKind::NotADirectory, "{e}");
}

#[test]
fn too_many_connections_is_rate_limited() {
    let ftpd = ProftpdBuilder::new().max_clients_per_user(Some(1)).start();
    let site = ftpd.site_params("/");
    let _first = connect(&FtpTransport, &site);
    let e = connect_err(&FtpTransport, &site);
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
    assert!(e.is_temporary());
}

#[test]
fn denied_upload_is_an_error_and_the_connection_survives() {
    let ftpd = ProftpdBuilder::new().deny_upload_in(&["ro"]).start();
    let mut fs = connect(&FtpTransport, &ftpd.site_params("/"));
    let e = fs
        .upload(&p("ro/f"), &mut &b"x"[..], 1)
        .expect_err("denied");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    fs.upload(&p("f"), &mut &b"x"[..], 1)
        .expect("upload elsewhere");
    fs.quit().expect("quit");
}

#[test]
fn unsafe_names_from_the_server_are_refused() {
    let ftpd = Proftpd::start();
    // a name with a backslash is legal on the server's disk but unsafe for peex
    std::fs::write(ftpd.root().join("a\\b"), b"x").expect("write");
    chown_tree(ftpd.root());
    let mut fs = connect(&FtpTransport, &ftpd.site_params("/"));
    let e = fs.list(&RelPath::root()).expect_err("must refuse");
    assert_eq!(e.kind(), ErrorKind::InvalidName, "{e}");
}

#[test]
fn symlinks_are_listed_as_other_and_deletable() {
    let ftpd = Proftpd::start();
    std::fs::write(ftpd.root().join("target"), b"x").expect("write");
    std::os::unix::fs::symlink("target", ftpd.root().join("link")).expect("symlink");
    chown_tree(ftpd.root());
    let mut fs = connect(&FtpTransport, &ftpd.site_params("/"));
    let e = fs.list(&RelPath::root()).expect("list");
    eprintln!("{e:?}");
    let link = e.iter().find(|x| x.name == "link").expect("link listed");
    assert_eq!(link.kind, peex_core::EntryKind::Other, "{link:?}");
    fs.delete(&p("link")).expect("delete");
    assert_eq!(fs.list(&RelPath::root()).expect("list").len(), 1);
    assert!(
        ftpd.root().join("target").exists(),
        "deleting a link keeps its target"
    );
}

#[test]
fn server_without_mlsd_is_listed_with_list_and_mdtm() {
    // FactsAdvertise off: FEAT names no MLST, so peex lists with LIST -a and reads each
    // file's exact time with MDTM (as on vsftpd).
    let ftpd = ProftpdBuilder::new().hide_facts(true).start();
    std::fs::create_dir_all(ftpd.root().join("d")).expect("mkdir");
    std::fs::write(ftpd.root().join(".htaccess"), b"x").expect("write");
    std::fs::write(ftpd.root().join(" lead"), b"xy").expect("write");
    chown_tree(ftpd.root());
    let mut fs = connect(&FtpTransport, &ftpd.site_params("/"));
    fs.upload(&p("f"), &mut &b"abc"[..], 3).expect("upload");
    fs.set_mtime(&p("f"), 1_600_000_007).expect("set_mtime");
    let mut e = fs.list(&RelPath::root()).expect("list");
    e.sort_by(|a, b| a.name.cmp(&b.name));
    let got: Vec<(&str, u64, Option<i64>)> = e
        .iter()
        .map(|x| (x.name.as_str(), x.size, x.mtime.filter(|_| x.name == "f")))
        .collect();
    assert_eq!(
        got,
        vec![
            (" lead", 2, None),
            (".htaccess", 1, None),
            ("d", 0, None),
            ("f", 3, Some(1_600_000_007))
        ]
    );
    assert!(e
        .iter()
        .all(|x| x.kind != peex_core::EntryKind::File || x.mtime.is_some()));
    let info = fs.server_info();
    assert!(
        info.iter()
            .any(|(k, v)| k == "listing" && v.contains("LIST")),
        "{info:?}"
    );
    fs.quit().expect("quit");
    let cmds = ftpd.commands_settled();
    assert!(
        cmds.iter()
            .any(|c| c.command == "LIST" && c.arg.contains("-a")),
        "{cmds:?}"
    );
    assert!(!cmds.iter().any(|c| c.command == "MLSD"), "{cmds:?}");
}

/// Uploads `n` small files in one `upload_stream` through a proxy that delays control and
/// data chunks by `control_ms` and `data_ms` each way, checks every result and the bytes on
/// disk, and returns the early passive requests sent and refused (from `server_info`).
fn stream_through(control_ms: u64, data_ms: u64, n: usize) -> (u64, u64) {
    let ftpd = Proftpd::start();
    let ms = std::time::Duration::from_millis;
    let proxy = FaultProxy::start(
        ftpd.host(),
        ftpd.port(),
        FaultConfig::delaying(ms(control_ms), ms(data_ms)),
    );
    let mut site = ftpd.site_params("/");
    site.host = proxy.host().to_owned();
    site.port = Some(proxy.port());
    let mut fs = connect(&FtpTransport, &site);
    fs.mkdir(&p("s")).expect("mkdir");
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("file {i} ").repeat(i * 37 + 1).into_bytes())
        .collect();
    let mut ids = 0..n;
    let mut next = || {
        let id = ids.next()?;
        Some(ReplaceJob {
            id,
            tmp: Some(p(&format!("s/.tmp-{id}"))),
            path: p(&format!("s/f{id}")),
            src: Box::new(&bodies[id][..]),
            size: bodies[id].len() as u64,
            mtime: Some(1_600_000_000 + id as i64),
        })
    };
    let mut ok = vec![0; n];
    let mut done = |id: usize, r: peex_core::Result<()>| {
        if let Err(e) = r {
            panic!("upload {id}: {e}");
        }
        ok[id] += 1;
    };
    fs.upload_stream(&mut next, &mut done)
        .expect("upload_stream");
    assert!(ok.iter().all(|c| *c == 1), "each job reported once: {ok:?}");
    for (id, body) in bodies.iter().enumerate() {
        let got = std::fs::read(ftpd.root().join(format!("s/f{id}"))).expect("read back");
        assert_eq!(&got, body, "content of s/f{id}");
    }
    let info = fs.server_info();
    fs.quit().expect("quit");
    let line = info
        .iter()
        .find(|(k, _)| k == "early passive requests")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no early passive requests on a slow link: {info:?}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn early_passive_request_saves_a_round_trip_per_file_on_a_slow_link() {
    let (sent, refused) = stream_through(3, 3, 30);
    eprintln!("early EPSV: {sent} sent, {refused} refused");
    // One per file (the stream does not know whether more will come after the last).
    assert!(sent >= 29, "early EPSV sent {sent} times for 30 files");
    assert!(
        refused * 4 <= sent,
        "most early EPSVs must arrive after the transfer: {refused} of {sent} refused"
    );
}

#[test]
fn early_passive_request_refused_during_a_transfer_is_asked_again() {
    // Data much slower than commands: the EPSV reaches the server mid-transfer (450).
    let (sent, refused) = stream_through(2, 40, 12);
    eprintln!("early EPSV: {sent} sent, {refused} refused");
    assert!(refused > 0, "no early EPSV was refused ({sent} sent)");
    // Refused every time: the connection stops trying after 8 in a row (for 32 uploads).
    assert_eq!((sent, refused), (8, 8), "early EPSVs sent and refused");
}

#[test]
fn a_mkd_batch_whose_parent_fails_stays_in_step_and_can_be_sent_again() {
    // Issue 17: one MKD of a pipelined batch refused (its parent is a file), so its child
    // is refused too; the replies must still be matched with their commands, and the batch
    // sent again (as after a dropped connection) counts the directories made as done.
    let ftpd = Proftpd::start();
    std::fs::write(ftpd.root().join("file"), b"x").expect("write");
    chown_tree(ftpd.root());
    let site = ftpd.site_params("/");
    let mut fs = connect(&FtpTransport, &site);
    let dirs: Vec<RelPath> = ["a", "a/b", "file/x", "file/x/y", "c", "c/d"]
        .iter()
        .map(|d| p(d))
        .collect();
    for round in 0..2 {
        let r = fs.mkdir_batch(&dirs);
        assert_eq!(r.len(), dirs.len(), "round {round}: {r:?}");
        for (d, res) in dirs.iter().zip(&r) {
            let refused = d.as_str().starts_with("file/");
            match res {
                Ok(()) => assert!(!refused, "round {round}: {d} made?"),
                Err(e) => {
                    assert!(refused, "round {round}: {d}: {e}");
                    assert!(!e.is_temporary(), "{d}: {e}");
                    assert!(e.message().contains(&format!("/{d}")), "{d}: {e}");
                }
            }
        }
        for d in ["a/b", "c/d"] {
            assert!(ftpd.root().join(d).is_dir(), "round {round}: {d}");
        }
    }
    let names: Vec<String> = fs
        .list(&RelPath::root())
        .expect("the connection is still in step")
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert!(names.contains(&"a".to_owned()) && names.contains(&"c".to_owned()));
    fs.quit().expect("quit");
}
