//! Pipelining levels against servers that break one of its rules.
//!
//! The Windows servers (FileZilla Server) cannot run here, and a Pure-FTPd that answers a
//! pipelined command is stood for by a scenario too: these are scenarios of the fake FTP
//! server (`peex_tests::fakeftp`), each named after the server it stands for. Each test
//! checks what the server saw (`FakeFtp::pipelining_seen`) and the level `peex check`
//! reports (`server_info`).

use peex_core::{RelPath, RemoteFs, ReplaceJob, SiteParams, Transport};
use peex_ftp::FtpTransport;
use peex_tests::fakeftp::{FakeFtp, FakeFtpBuilder, PipeliningSeen, Profile, PASSWORD, USER};
use std::time::Duration;

const MODIFY: &str = "20200101000000";

fn p(s: &str) -> RelPath {
    RelPath::parse(s).expect("test path")
}

fn site(srv: &FakeFtp, options: &[(&str, &str)]) -> SiteParams {
    let mut s = SiteParams {
        host: "127.0.0.1".to_owned(),
        port: Some(srv.port()),
        user: USER.to_owned(),
        password: Some(peex_core::Secret::new(PASSWORD)),
        root: "/www".to_owned(),
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    for (k, v) in options {
        s.options.insert((*k).to_owned(), (*v).to_owned());
    }
    s
}

fn connect(site: &SiteParams) -> Box<dyn RemoteFs> {
    match FtpTransport.connect(site) {
        Ok(fs) => fs,
        Err(e) => panic!("connect: {e} ({:?})", e.kind()),
    }
}

/// The level `peex check` prints.
fn level(fs: &dyn RemoteFs) -> String {
    fs.server_info()
        .into_iter()
        .find(|(k, _)| k == "pipelining")
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no pipelining line: {:?}", fs.server_info()))
}

/// A server with `/www/a.txt`, `/www/sub/b.txt`.
fn server(b: FakeFtpBuilder) -> FakeFtp {
    b.file("/www/a.txt", b"a", MODIFY)
        .file("/www/sub/b.txt", b"bb", MODIFY)
        .start()
}

fn names(fs: &mut dyn RemoteFs, dir: &str) -> Vec<String> {
    let d = if dir.is_empty() {
        RelPath::root()
    } else {
        p(dir)
    };
    let mut v: Vec<String> = fs
        .list(&d)
        .unwrap_or_else(|e| panic!("list {dir:?}: {e}"))
        .into_iter()
        .map(|e| e.name)
        .collect();
    v.sort();
    v
}

/// Uploads `n` files to `up/f<i>` in one stream (through temporary names).
fn upload_some(fs: &mut dyn RemoteFs, n: usize) {
    fs.mkdir_batch(&[p("up")])
        .into_iter()
        .for_each(|r| r.expect("mkdir up"));
    let bodies: Vec<Vec<u8>> = (0..n).map(|i| vec![b'x'; i + 1]).collect();
    let mut ids = 0..n;
    let mut next = || {
        let id = ids.next()?;
        Some(ReplaceJob {
            id,
            tmp: Some(p(&format!("up/.tmp-{id}"))),
            path: p(&format!("up/f{id}")),
            src: Box::new(&bodies[id][..]),
            size: bodies[id].len() as u64,
            mtime: Some(1_600_000_000),
        })
    };
    let mut done = |id: usize, r: peex_core::Result<()>| {
        if let Err(e) = r {
            panic!("upload {id}: {e}");
        }
    };
    fs.upload_stream(&mut next, &mut done)
        .expect("upload_stream");
}

/// Lists, uploads, lists again: the work of a small sync.
fn some_work(fs: &mut dyn RemoteFs) {
    assert_eq!(names(fs, ""), ["a.txt", "sub"]);
    assert_eq!(names(fs, "sub"), ["b.txt"]);
    upload_some(fs, 4);
    assert_eq!(names(fs, "up"), ["f0", "f1", "f2", "f3"]);
}

/// The first listing fails with a temporary error (the anomaly; the pool would drop the
/// connection), the next connection starts one level down and does the work.
fn anomaly_then_safe(srv: &FakeFtp) {
    let site = site(srv, &[]);
    let mut fs = connect(&site);
    assert!(
        level(fs.as_ref()).starts_with("full"),
        "{}",
        level(fs.as_ref())
    );
    let e = fs.list(&RelPath::root()).expect_err("the anomaly");
    assert!(e.is_temporary(), "the pool must drop the connection: {e}");
    assert!(
        level(fs.as_ref()).starts_with("safe (lowered after"),
        "{}",
        level(fs.as_ref())
    );
    let e = fs
        .list(&RelPath::root())
        .expect_err("the connection is out of step");
    assert!(e.is_temporary(), "{e}");
    drop(fs);
    let before = srv.pipelining_seen();
    let mut fs = connect(&site);
    let lvl = level(fs.as_ref());
    assert!(
        lvl.starts_with("safe (lowered"),
        "a new connection starts lower: {lvl}"
    );
    some_work(fs.as_mut());
    fs.quit().expect("quit");
    let after = srv.pipelining_seen();
    assert_eq!(after.during_transfer, before.during_transfer, "{after:?}");
    assert_eq!(after.second_passive, before.second_passive, "{after:?}");
    assert!(
        after.pipelined > before.pipelined,
        "still pipelined: {after:?}"
    );
}

#[test]
fn filezilla_0_9_closing_the_pending_passive_listener_lowers_pipelining_to_safe() {
    // FileZilla Server 0.9 with its greeting changed (so peex cannot tell what it is):
    // the EPSV sent with MLSD closes the MLSD's passive listener.
    let srv = server(
        FakeFtp::builder()
            .profile(Profile::FileZilla09)
            .greeting("220 Welcome to example.org"),
    );
    anomaly_then_safe(&srv);
    assert!(srv.pipelining_seen().second_passive >= 1);
    // Forced to full, the level stays, and every listing fails the same way.
    let mut fs = connect(&site(&srv, &[("pipelining", "full")]));
    let e = fs.list(&RelPath::root()).expect_err("forced full");
    assert!(e.is_temporary(), "{e}");
    assert_eq!(level(fs.as_ref()), "full (forced by the pipelining option)");
}

#[test]
fn filezilla_0_9_with_its_own_greeting_starts_at_safe_pipelining() {
    let srv = server(FakeFtp::builder().profile(Profile::FileZilla09));
    let mut fs = connect(&site(&srv, &[]));
    assert_eq!(level(fs.as_ref()), "safe (FileZilla Server)");
    some_work(fs.as_mut());
    fs.quit().expect("quit");
    let seen = srv.pipelining_seen();
    assert_eq!(
        (seen.during_transfer, seen.second_passive),
        (0, 0),
        "{seen:?}"
    );
}

#[test]
fn pure_ftpd_answering_500_to_a_command_sent_during_a_listing_lowers_pipelining_to_safe() {
    // Pure-FTPd reads the control connection during a transfer and answers the EPSV
    // that came with MLSD with 500, before the MLSD's 226.
    let srv = server(
        FakeFtp::builder()
            .greeting("220 Welcome to example.org")
            .refuses_commands_during_transfers(),
    );
    anomaly_then_safe(&srv);
    assert!(srv.pipelining_seen().during_transfer >= 1);
}

#[test]
fn a_reply_out_of_step_in_a_mkd_batch_lowers_pipelining_and_the_batch_is_redone() {
    let srv = server(FakeFtp::builder().stray_line_after_first_mkd());
    let site = site(&srv, &[]);
    let dirs = [p("n"), p("n/a"), p("n/a/b"), p("m")];
    let mut fs = connect(&site);
    assert!(level(fs.as_ref()).starts_with("full"));
    let r = fs.mkdir_batch(&dirs);
    let e = r
        .iter()
        .find_map(|r| r.as_ref().err())
        .expect("the stray line is an error");
    assert!(
        e.is_temporary() && e.message().contains("out of step"),
        "{e}"
    );
    assert!(
        r.len() < dirs.len(),
        "the batch stops at the anomaly: {r:?}"
    );
    drop(fs);
    let mut fs = connect(&site);
    assert!(
        level(fs.as_ref()).starts_with("safe (lowered"),
        "{}",
        level(fs.as_ref())
    );
    for (d, r) in dirs.iter().zip(fs.mkdir_batch(&dirs)) {
        r.unwrap_or_else(|e| panic!("mkdir {d} redone: {e}"));
    }
    for d in ["/www/n/a/b", "/www/m"] {
        assert!(srv.dirs().contains(d), "{d}");
    }
}

#[test]
fn forced_lockstep_sends_one_command_at_a_time() {
    let srv = server(FakeFtp::builder());
    let mut fs = connect(&site(&srv, &[("pipelining", "lockstep")]));
    assert_eq!(
        level(fs.as_ref()),
        "lockstep (forced by the pipelining option)"
    );
    some_work(fs.as_mut());
    fs.mkdir_batch(&[p("x"), p("x/y")])
        .into_iter()
        .for_each(|r| r.expect("mkdir"));
    fs.quit().expect("quit");
    assert_eq!(srv.pipelining_seen(), PipeliningSeen::default());
    assert!(srv.dirs().contains("/www/x/y"));
}

#[test]
fn safe_pipelining_sends_nothing_during_a_transfer_and_one_passive_request_at_a_time() {
    let srv = server(FakeFtp::builder());
    let mut fs = connect(&site(&srv, &[("pipelining", "safe")]));
    some_work(fs.as_mut());
    fs.quit().expect("quit");
    let seen = srv.pipelining_seen();
    assert_eq!(
        (seen.during_transfer, seen.second_passive),
        (0, 0),
        "{seen:?}"
    );
    assert!(seen.pipelined > 0, "{seen:?}");
    // The same work at full pipelining does send during a transfer (the EPSV with MLSD).
    let srv = server(FakeFtp::builder());
    let mut fs = connect(&site(&srv, &[]));
    assert!(level(fs.as_ref()).starts_with("full"));
    some_work(fs.as_mut());
    fs.quit().expect("quit");
    assert!(
        srv.pipelining_seen().during_transfer > 0,
        "{:?}",
        srv.pipelining_seen()
    );
}

#[test]
fn pipeline_passive_false_is_safe_pipelining() {
    let srv = server(FakeFtp::builder());
    let fs = connect(&site(&srv, &[("pipeline_passive", "false")]));
    assert_eq!(level(fs.as_ref()), "safe (forced by the pipelining option)");
}
