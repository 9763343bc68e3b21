//! Where plugins are looked for (docs/DESIGN.md §4), in order:
//!
//! 1. explicit paths (config `plugins:` and `--plugin PATH`), files or directories;
//! 2. `$PEEX_PLUGIN_PATH`, colon-separated (`;` on Windows) directories or files;
//! 3. `$XDG_DATA_HOME/peex/plugins` (default `~/.local/share/peex/plugins`);
//! 4. `<directory of the peex executable>/../lib/peex/plugins`.
//!
//! A directory contributes its `*.so`, `*.dylib` and `*.dll` files, sorted by name. A missing
//! explicit path is reported; missing implicit directories are skipped silently.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment discovery reads; [`DiscoveryEnv::from_process`] takes the real one.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryEnv {
    /// `$PEEX_PLUGIN_PATH`.
    pub plugin_path: Option<OsString>,
    /// `$XDG_DATA_HOME`.
    pub xdg_data_home: Option<OsString>,
    /// `$HOME`.
    pub home: Option<OsString>,
    /// The running executable.
    pub exe: Option<PathBuf>,
}

impl DiscoveryEnv {
    /// The process's environment and executable.
    pub fn from_process() -> Self {
        DiscoveryEnv {
            plugin_path: std::env::var_os("PEEX_PLUGIN_PATH"),
            xdg_data_home: std::env::var_os("XDG_DATA_HOME"),
            home: std::env::var_os("HOME"),
            exe: std::env::current_exe().ok(),
        }
    }
}

/// One place searched, and whether the user named it explicitly.
#[derive(Debug, Clone)]
pub(crate) struct SearchRoot {
    pub path: PathBuf,
    pub explicit: bool,
}

/// The places to search, in order.
pub(crate) fn search_roots(explicit: &[PathBuf], env: &DiscoveryEnv) -> Vec<SearchRoot> {
    let mut roots: Vec<SearchRoot> = explicit
        .iter()
        .map(|p| SearchRoot {
            path: p.clone(),
            explicit: true,
        })
        .collect();
    if let Some(pp) = &env.plugin_path {
        for p in std::env::split_paths(pp) {
            if !p.as_os_str().is_empty() {
                roots.push(SearchRoot {
                    path: p,
                    explicit: false,
                });
            }
        }
    }
    let data_home = match &env.xdg_data_home {
        Some(x) if Path::new(x).is_absolute() => Some(PathBuf::from(x)),
        _ => env
            .home
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| Path::new(h).join(".local/share")),
    };
    if let Some(d) = data_home {
        roots.push(SearchRoot {
            path: d.join("peex/plugins"),
            explicit: false,
        });
    }
    if let Some(dir) = env.exe.as_ref().and_then(|e| e.parent()) {
        roots.push(SearchRoot {
            path: dir.join("../lib/peex/plugins"),
            explicit: false,
        });
    }
    roots
}

/// True for a file name that looks like a shared library.
pub(crate) fn is_library_name(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("so" | "dylib" | "dll")
    )
}

/// Expands one root into candidate files: `Ok(files)` or `Err(reason)` for an explicit
/// path that cannot be used.
pub(crate) fn expand(root: &SearchRoot) -> Result<Vec<PathBuf>, String> {
    let p = &root.path;
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => {
            if root.explicit || is_library_name(p) {
                Ok(vec![p.clone()])
            } else {
                Ok(Vec::new())
            }
        }
        Ok(m) if m.is_dir() => {
            let rd = std::fs::read_dir(p).map_err(|e| format!("cannot read directory: {e}"));
            let rd = match rd {
                Ok(rd) => rd,
                Err(e) if root.explicit => return Err(e),
                Err(_) => return Ok(Vec::new()),
            };
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_library_name(p) && p.is_file())
                .collect();
            files.sort();
            Ok(files)
        }
        Ok(_) if root.explicit => Err("not a file or directory".to_owned()),
        Ok(_) => Ok(Vec::new()),
        Err(e) if root.explicit => Err(format!("cannot use plugin path: {e}")),
        Err(_) => Ok(Vec::new()),
    }
}
