//! Which transports exist: the built-ins registered with `inventory`, then plugins.

// Name every built-in crate once so the linker keeps its `inventory` registration.
use peex_ftp as _;
use peex_local as _;
#[cfg(feature = "sftp")]
use peex_sftp as _;

use peex_core::Transport;

/// Schemes of the built-in transports, sorted.
pub fn builtin_schemes() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = peex_core::transports().map(|t| t.scheme()).collect();
    v.sort_unstable();
    v
}

/// The built-in transport for `scheme`.
pub fn builtin(scheme: &str) -> Option<&'static dyn Transport> {
    peex_core::transports().find(|t| t.scheme() == scheme)
}

/// True if `scheme` names a transport this binary could have had but was built without.
pub fn compiled_out(scheme: &str) -> Option<&'static str> {
    if scheme == "sftp" && !cfg!(feature = "sftp") {
        Some("this peex was built without SFTP support (cargo feature `sftp`)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn builtin_schemes_are_registered() {
        let s = super::builtin_schemes();
        for want in ["ftp", "ftps", "local"] {
            assert!(s.contains(&want), "{want} missing from {s:?}");
        }
        #[cfg(feature = "sftp")]
        assert!(s.contains(&"sftp"), "sftp missing from {s:?}");
    }
}
