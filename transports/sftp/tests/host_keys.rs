//! Host key verification against a real sshd: unknown, accepted-and-recorded, changed, off.
#![allow(clippy::unwrap_used)]
mod common;

use peex_core::ErrorKind;

#[test]
fn unknown_host_key_stops_with_its_fingerprint() {
    let sshd = common::server();
    let kh = sshd.dir().join("no_such_known_hosts");
    let site = common::site(&sshd, &kh);
    let err = common::connect(&site).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HostIdentity, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("SHA256:"), "{msg}");
    assert!(msg.contains("ssh-ed25519"), "{msg}");
    assert!(msg.contains("accept_new_host_key"), "{msg}");
    assert!(!msg.contains(sshd.password()), "{msg}");
    assert!(
        !kh.exists(),
        "nothing may be recorded without accept_new_host_key"
    );
    // the fingerprint is the one ssh-keygen prints
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(sshd.dir().join("ssh_host_ed25519_key.pub"))
        .output()
        .unwrap();
    let fp = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(fp.starts_with("SHA256:"));
    assert!(msg.contains(&fp), "{msg} should contain {fp}");
    // no authentication was attempted
    let log = sshd.log();
    assert!(
        !log.contains("Failed password") && !log.contains("Accepted"),
        "{log}"
    );
}

#[test]
fn accept_new_host_key_records_it_and_connects() {
    let sshd = common::server();
    let kh = sshd.dir().join("ssh").join("known_hosts");
    let mut site = common::site(&sshd, &kh);
    site.options
        .insert("accept_new_host_key".into(), "true".into());
    let mut fs = common::connect(&site).unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    fs.quit().unwrap();
    let recorded = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(recorded.trim(), sshd.known_hosts_line(), "{recorded}");
    // OpenSSH's own tools find it under [host]:port
    let out = std::process::Command::new("ssh-keygen")
        .args(["-F", &format!("[127.0.0.1]:{}", sshd.port()), "-f"])
        .arg(&kh)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen -F does not find the recorded key"
    );
    // and a second connection without accept_new_host_key now succeeds
    let site = common::site(&sshd, &kh);
    common::connect(&site).unwrap();
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        recorded,
        "a known key is not recorded twice"
    );
}

#[test]
fn changed_host_key_is_refused_before_authentication() {
    let sshd = common::server();
    let other = sshd.dir().join("other_host_key");
    let other_pub = common::sshd::generate_ed25519(&other, "");
    let kh = sshd.dir().join("known_hosts");
    std::fs::write(
        &kh,
        format!(
            "# first line\nexample.org {other_pub}\n[127.0.0.1]:{} {other_pub}\n",
            sshd.port()
        ),
    )
    .unwrap();
    for accept in ["false", "true"] {
        let mut site = common::site(&sshd, &kh);
        site.options
            .insert("accept_new_host_key".into(), accept.into());
        let err = common::connect(&site).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::HostIdentity, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{}:3", kh.display())),
            "names file and line: {msg}"
        );
        assert!(msg.contains("CHANGED"), "{msg}");
        assert!(msg.contains("SHA256:"), "{msg}");
    }
    let log = sshd.log();
    assert!(
        !log.contains("Failed password")
            && !log.contains("Accepted")
            && !log.contains("authenticating user"),
        "no authentication may be attempted: {log}"
    );
    // the file was not touched
    assert_eq!(std::fs::read_to_string(&kh).unwrap().lines().count(), 3);
}

#[test]
fn key_of_port_22_does_not_vouch_for_another_port() {
    let sshd = common::server();
    let kh = sshd.dir().join("known_hosts");
    // The right key, but stored for the default port: OpenSSH would not use it.
    std::fs::write(&kh, format!("127.0.0.1 {}\n", sshd.host_public_key())).unwrap();
    let err = common::connect(&common::site(&sshd, &kh))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HostIdentity, "{err}");
    assert!(err.to_string().contains("unknown"), "{err}");
}

#[test]
fn unparsable_known_hosts_lines_are_skipped() {
    let sshd = common::server();
    let kh = sshd.dir().join("known_hosts");
    std::fs::write(
        &kh,
        format!(
            "garbage line\nhost sk-ssh-ed25519@openssh.com AAAAnotakey\n\n{}\n",
            sshd.known_hosts_line()
        ),
    )
    .unwrap();
    common::connect(&common::site(&sshd, &kh)).unwrap();
}

#[test]
fn host_key_check_off_connects_to_an_unknown_host() {
    let sshd = common::server();
    let kh = sshd.dir().join("absent_known_hosts");
    let mut site = common::site(&sshd, &kh);
    site.options.insert("host_key_check".into(), "false".into());
    common::connect(&site).unwrap();
    assert!(!kh.exists());
}
