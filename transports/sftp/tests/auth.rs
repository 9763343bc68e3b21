//! Connecting and logging in against a real sshd: password, key files, failures, the root.
#![allow(clippy::unwrap_used)]
mod common;

use peex_core::{ErrorKind, RelPath, Secret};

#[test]
fn wrong_password_is_auth_failed() {
    let sshd = common::server();
    let mut site = common::trusted_site(&sshd);
    site.password = Some(Secret::new("not-the-password"));
    let err = common::connect(&site).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthFailed, "{err}");
    let msg = err.to_string();
    assert!(!msg.contains("not-the-password"), "{msg}");
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(msg.contains("peextest"), "{msg}");
}

#[test]
fn key_file_login() {
    let sshd = common::server();
    let mut site = common::trusted_site(&sshd);
    site.password = None;
    site.options.insert(
        "key_file".into(),
        sshd.key_file().to_str().unwrap().to_owned(),
    );
    let mut fs = common::connect(&site).unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    fs.list(&RelPath::root()).unwrap();
    assert!(sshd.log().contains("Accepted publickey"), "{}", sshd.log());
}

#[test]
fn key_with_passphrase_right_wrong_and_missing() {
    let sshd = common::server();
    let key = sshd
        .passphrase_key_file()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let mut site = common::trusted_site(&sshd);
    site.password = None;
    site.options.insert("key_file".into(), key);

    site.secret_options
        .insert("key_passphrase".into(), Secret::new(sshd.key_passphrase()));
    common::connect(&site).unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));

    site.secret_options
        .insert("key_passphrase".into(), Secret::new("wrong passphrase"));
    let err = common::connect(&site).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthFailed, "{err}");
    assert!(err.to_string().contains("passphrase"), "{err}");
    assert!(!err.to_string().contains("wrong passphrase"), "{err}");

    if std::env::var_os(peex_sftp::PASSPHRASE_ENV).is_none() {
        site.secret_options.clear();
        let err = common::connect(&site).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AuthFailed, "{err}");
    }
}

#[test]
fn refused_key_is_auth_failed() {
    let sshd = common::server();
    let stranger = sshd.dir().join("stranger_key");
    common::sshd::generate_ed25519(&stranger, "");
    let mut site = common::trusted_site(&sshd);
    site.password = None;
    site.options
        .insert("key_file".into(), stranger.to_str().unwrap().to_owned());
    let err = common::connect(&site).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthFailed, "{err}");
}

#[test]
fn unreachable_port_is_connection_failed() {
    let sshd = common::server();
    let mut site = common::trusted_site(&sshd);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    site.port = Some(port);
    let err = common::connect(&site).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionFailed, "{err}");
}

#[test]
fn root_must_exist_and_be_a_directory() {
    let sshd = common::server();
    let mut site = common::trusted_site(&sshd);
    site.root = format!("{}/missing", sshd.root().display());
    let err = common::connect(&site).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    let file = sshd.root().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    site.root = file.to_str().unwrap().to_owned();
    let err = common::connect(&site).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotADirectory, "{err}");
}

#[test]
fn relative_root_is_below_the_login_directory() {
    let sshd = common::server();
    let mut site = common::trusted_site(&sshd);
    // The login directory of the test user is its home; "." is the login directory itself.
    site.root = ".".into();
    let fs = common::connect(&site).unwrap();
    drop(fs);
    site.root = String::new();
    common::connect(&site).unwrap();
    site.root = "surely-not-there-peex".into();
    let err = common::connect(&site).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("/surely-not-there-peex"), "{err}");
}

#[test]
fn debug_output_never_shows_secrets() {
    let sshd = common::server();
    let mut site = common::trusted_site(&sshd);
    site.secret_options
        .insert("key_passphrase".into(), Secret::new("pp-secret-value"));
    let cfg = peex_sftp::SftpConfig::from_site(&site).unwrap();
    let d = format!("{cfg:?} {site:?}");
    assert!(
        !d.contains(sshd.password()) && !d.contains("pp-secret-value"),
        "{d}"
    );
    let fs = peex_sftp::SftpFs::connect(&cfg).unwrap();
    let d = format!("{fs:?}");
    assert!(!d.contains(sshd.password()), "{d}");
}
