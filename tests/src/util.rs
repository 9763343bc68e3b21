//! Small helpers shared by the launchers and the end-to-end tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, close).
///
/// Another process may take it before the caller binds it; launchers that get "address in
/// use" should pick another one.
pub fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("cannot bind a loopback port to find a free one: {e}"),
    }
}

/// Finds `name` on `PATH`, then in `/usr/sbin` and `/sbin` (daemons live there and `PATH`
/// often lacks them).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The path of `name`, or a panic telling how to install it:
/// "proftpd not found: install it with `apt-get install -y proftpd-basic` (the README test
/// command does this)". Tests that need a real server fail this way; they never skip.
pub fn require_program(name: &str, debian_package: &str) -> PathBuf {
    match find_program(name) {
        Some(p) => p,
        None => panic!(
            "{name} not found: install it with `apt-get install -y {debian_package}` \
             (the README test command does this)"
        ),
    }
}

/// Calls `f` every 50 ms until it returns `Some`, or `None` after `timeout`.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable() {
        let p = free_port();
        assert!(p > 0);
        assert!(TcpListener::bind(("127.0.0.1", p)).is_ok());
    }

    #[test]
    fn programs() {
        assert!(find_program("sh").is_some());
        assert!(find_program("surely-not-a-program-peex").is_none());
        let r =
            std::panic::catch_unwind(|| require_program("surely-not-a-program-peex", "peex-pkg"));
        let msg = r
            .err()
            .and_then(|e| e.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert!(msg.contains("apt-get install -y peex-pkg"), "{msg}");
    }
}
