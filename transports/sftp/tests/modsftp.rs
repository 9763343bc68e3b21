//! The same operations against a second SFTP server implementation: ProFTPD's mod_sftp.
#![allow(clippy::unwrap_used)]

use peex_core::{MtimeMethod, RelPath, RemoteFs, Secret, SiteParams, Transport};
use peex_tests::modsftp::ModSftp;
use std::path::Path;
use std::time::Duration;

fn site(srv: &ModSftp) -> SiteParams {
    let kh = srv.dir().join("known_hosts");
    std::fs::write(&kh, srv.known_hosts_line() + "\n").unwrap();
    let mut s = SiteParams {
        host: srv.host().to_owned(),
        port: Some(srv.port()),
        user: srv.user().to_owned(),
        password: Some(Secret::new(srv.password())),
        // the virtual user is chrooted into the served root
        root: "/".to_owned(),
        timeout: Duration::from_secs(10),
        ..SiteParams::default()
    };
    s.options
        .insert("known_hosts".into(), kh.to_str().unwrap().to_owned());
    s.options.insert("agent".into(), "false".into());
    s
}

fn connect(site: &SiteParams) -> Box<dyn RemoteFs> {
    peex_sftp::SftpTransport
        .connect(site)
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

#[test]
fn mod_sftp_passes_the_conformance_suite() {
    let srv = ModSftp::start();
    let site = site(&srv);
    let root = srv.root().to_path_buf();
    peex_tests::conformance::run_all(&|| connect(&site), &|rel| {
        std::fs::read(root.join(rel)).ok()
    });
}

#[test]
fn mod_sftp_many_files_in_flight_land_whole_with_their_times() {
    let srv = ModSftp::start();
    let mut fs = connect(&site(&srv));
    assert_eq!(fs.capabilities().set_mtime, MtimeMethod::Native);
    eprintln!("{:?} {:?}", fs.capabilities(), fs.server_info());
    fs.mkdir_batch(&[RelPath::parse("d").unwrap()])
        .into_iter()
        .for_each(|r| r.unwrap());
    let n = 100;
    let data: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 1000 + i * 3000]).collect();
    let mut jobs = (0..n).map(|i| peex_core::ReplaceJob {
        id: i,
        tmp: Some(RelPath::parse(&format!("d/.t{i}")).unwrap()),
        path: RelPath::parse(&format!("d/f{i}")).unwrap(),
        src: Box::new(&data[i][..]),
        size: data[i].len() as u64,
        mtime: Some(1_500_000_000 + i as i64),
    });
    let mut seen = vec![0; n];
    fs.upload_stream(&mut || jobs.next(), &mut |id, r| {
        r.unwrap();
        seen[id] += 1;
    })
    .unwrap();
    assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
    let listed = fs.list(&RelPath::parse("d").unwrap()).unwrap();
    assert_eq!(listed.len(), n, "{listed:?}");
    for e in listed {
        let i: usize = e.name[1..].parse().unwrap();
        assert_eq!(e.mtime, Some(1_500_000_000 + i as i64), "{}", e.name);
        let on_disk = std::fs::read(Path::new(srv.root()).join("d").join(&e.name)).unwrap();
        assert_eq!(on_disk, data[i]);
    }
}
