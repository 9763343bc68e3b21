//! Login through a real ssh-agent. One test in its own binary: it sets SSH_AUTH_SOCK for
//! the whole process.
#![allow(clippy::unwrap_used)]
mod common;

use peex_core::{ErrorKind, RelPath};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Agent(std::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn agent_identities_are_tried() {
    let sshd = common::server();
    let sock = sshd.dir().join("agent.sock");
    let _agent = Agent(
        Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent (package openssh-client) must be installed"),
    );
    let start = Instant::now();
    while !sock.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "ssh-agent did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // This binary holds this one test, so no other thread reads the environment meanwhile.
    std::env::set_var("SSH_AUTH_SOCK", &sock);

    let mut site = common::trusted_site(&sshd);
    site.password = None;
    site.options.insert("agent".into(), "true".into());

    // An empty agent: AuthFailed, one clear line.
    let err = common::connect(&site).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthFailed, "{err}");
    assert!(err.to_string().contains("agent"), "{err}");

    // A stranger's key first, then the authorized one: each is tried in turn.
    let stranger = sshd.dir().join("stranger");
    common::sshd::generate_ed25519(&stranger, "");
    for key in [stranger.as_path(), sshd.key_file()] {
        let st = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &sock)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    }
    let mut fs = common::connect(&site).unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    fs.list(&RelPath::root()).unwrap();

    // Agent off and no password or key: a configuration error.
    site.options.insert("agent".into(), "false".into());
    let err = common::connect(&site).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
}
