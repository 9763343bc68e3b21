//! Plugin test helpers: build the example plugins (Rust with cargo, C with `cc`) and run a
//! real WebDAV server (`rclone serve webdav`) for the example transport plugin.
//!
//! A missing `cc` or `rclone` fails the calling test with the install command.

use crate::util::{free_port, require_program, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The workspace root (`PEEX_WORKSPACE` overrides).
pub fn workspace() -> PathBuf {
    match std::env::var_os("PEEX_WORKSPACE") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
    }
}

/// The example Rust plugins, built once per test process with cargo:
/// `(gitignore filter, webdav transport)` shared libraries.
pub fn rust_plugins() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let out = Command::new(cargo)
            .current_dir(workspace())
            .args([
                "build",
                "-p",
                "peex-gitignore-filter",
                "-p",
                "peex-example-transport",
                "--message-format=json",
            ])
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
        assert!(out.status.success(), "building the example plugins failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let find = |stem: &str| -> PathBuf {
            for line in text.lines().filter(|l| l.contains("\"cdylib\"")) {
                for part in line.split('"') {
                    let p = Path::new(part);
                    let is_lib = matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("so" | "dylib" | "dll")
                    );
                    let named = p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().contains(stem));
                    if is_lib && named {
                        return p.to_path_buf();
                    }
                }
            }
            panic!("no cdylib for {stem} in cargo's output");
        };
        (
            find("peex_gitignore_filter"),
            find("peex_example_transport"),
        )
    })
}

/// Compiles a C plugin (`src` relative to the workspace) against `plugins/include` with
/// warnings as errors.
pub fn cc(src: &str, out: &Path, defines: &[&str]) {
    require_program("cc", "gcc");
    let ws = workspace();
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-shared", "-fPIC", "-I"])
        .arg(ws.join("plugins/include"))
        .args(defines)
        .arg("-o")
        .arg(out)
        .arg(ws.join(src))
        .status()
        .unwrap_or_else(|e| panic!("cannot run cc: {e}"));
    assert!(status.success(), "cc failed for {src} {defines:?}");
}

/// A real `rclone serve webdav` on a free loopback port, serving a temp dir; killed on drop.
pub struct RcloneWebdav {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl RcloneWebdav {
    /// Starts the server (listings uncached, so every PROPFIND sees the disk).
    pub fn start() -> RcloneWebdav {
        let rclone = require_program("rclone", "rclone");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let port = free_port();
        let child = Command::new(rclone)
            .args(["serve", "webdav", "--dir-cache-time", "0s"])
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start rclone: {e}"));
        let up = wait_for(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(up.is_some(), "rclone serve webdav did not start");
        RcloneWebdav { child, port, dir }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Connection parameters for the example WebDAV transport (plain http).
    pub fn site(&self, root: &str) -> peex_core::SiteParams {
        let mut site = peex_core::SiteParams {
            host: "127.0.0.1".to_owned(),
            port: Some(self.port),
            root: root.to_owned(),
            timeout: Duration::from_secs(10),
            ..peex_core::SiteParams::default()
        };
        site.options.insert("tls".to_owned(), "false".to_owned());
        site
    }
}

impl Drop for RcloneWebdav {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
