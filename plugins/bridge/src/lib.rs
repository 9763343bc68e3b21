//! # peex-plugin-bridge: the one place where the core contract meets the C ABI
//!
//! Both sides of the plugin boundary convert with these functions: the host
//! (`peex-plugin-host`, C → core) and the Rust SDK (`peex-plugin-sdk`, core → C). Each fact
//! is written once: status ↔ [`ErrorKind`], [`PeexCaps`] ↔ [`Capabilities`], [`PeexEntry`]
//! ↔ [`Entry`], [`SiteParams`] ↔ key/value pairs ([`site_keys`]), and the option rule
//! (undeclared options are refused, naming the closest declared one).
#![deny(missing_docs)]

mod options;

pub use options::{check_options, closest};

use peex_core::{
    Capabilities, Entry, EntryKind, Error, ErrorKind, MtimeMethod, RenameOver, Secret, SiteParams,
};
use peex_plugin_abi::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// Maps a status to a core error kind; unknown values become `Unexpected`.
pub fn status_to_kind(status: PeexStatus) -> ErrorKind {
    match status {
        PEEX_NOT_FOUND => ErrorKind::NotFound,
        PEEX_PERMISSION_DENIED => ErrorKind::PermissionDenied,
        PEEX_ALREADY_EXISTS => ErrorKind::AlreadyExists,
        PEEX_NOT_A_DIR => ErrorKind::NotADirectory,
        PEEX_DIR_NOT_EMPTY => ErrorKind::DirectoryNotEmpty,
        PEEX_UNSUPPORTED => ErrorKind::Unsupported,
        PEEX_CONFIG_INVALID => ErrorKind::ConfigInvalid,
        PEEX_INVALID_NAME => ErrorKind::InvalidName,
        PEEX_PROTOCOL => ErrorKind::Protocol,
        PEEX_CONNECTION_FAILED => ErrorKind::ConnectionFailed,
        PEEX_AUTH_FAILED => ErrorKind::AuthFailed,
        PEEX_HOST_IDENTITY => ErrorKind::HostIdentity,
        PEEX_RATE_LIMITED => ErrorKind::RateLimited,
        PEEX_PANICKED => ErrorKind::Panicked,
        _ => ErrorKind::Unexpected,
    }
}

/// Maps a core error kind to a status.
pub fn kind_to_status(kind: ErrorKind) -> PeexStatus {
    match kind {
        ErrorKind::NotFound => PEEX_NOT_FOUND,
        ErrorKind::PermissionDenied => PEEX_PERMISSION_DENIED,
        ErrorKind::AlreadyExists => PEEX_ALREADY_EXISTS,
        ErrorKind::NotADirectory => PEEX_NOT_A_DIR,
        ErrorKind::DirectoryNotEmpty => PEEX_DIR_NOT_EMPTY,
        ErrorKind::Unsupported => PEEX_UNSUPPORTED,
        ErrorKind::ConfigInvalid => PEEX_CONFIG_INVALID,
        ErrorKind::InvalidName => PEEX_INVALID_NAME,
        ErrorKind::Protocol => PEEX_PROTOCOL,
        ErrorKind::ConnectionFailed => PEEX_CONNECTION_FAILED,
        ErrorKind::AuthFailed => PEEX_AUTH_FAILED,
        ErrorKind::HostIdentity => PEEX_HOST_IDENTITY,
        ErrorKind::RateLimited => PEEX_RATE_LIMITED,
        ErrorKind::Panicked => PEEX_PANICKED,
        _ => PEEX_UNEXPECTED,
    }
}

/// The `PEEX_ERR_*` flags of a core error.
pub fn error_flags(e: &Error) -> u32 {
    if e.is_temporary() {
        PEEX_ERR_TEMPORARY
    } else {
        0
    }
}

/// A core error from a status, its `PEEX_ERR_*` flags and a message.
pub fn error_from_status(status: PeexStatus, flags: u32, msg: String) -> Error {
    Error::new(status_to_kind(status), msg).set_temporary(flags & PEEX_ERR_TEMPORARY != 0)
}

/// The text a plugin reports for a core error: `op path: message` when they are known.
pub fn error_text(e: &Error) -> String {
    match (e.op(), e.path()) {
        (Some(op), Some(p)) if !p.is_empty() => format!("{op} {p}: {}", e.message()),
        (Some(op), _) => format!("{op}: {}", e.message()),
        _ => e.message().to_owned(),
    }
}

/// Converts core capabilities to the C table (any set-mtime method counts as supported).
pub fn caps_from_core(c: &Capabilities) -> PeexCaps {
    let mut flags = 0;
    if c.set_mtime != MtimeMethod::Unsupported {
        flags |= PEEX_CAP_SET_MTIME;
    }
    if c.get_mtime {
        flags |= PEEX_CAP_GET_MTIME;
    }
    if c.rename_dirs {
        flags |= PEEX_CAP_RENAME_DIRS;
    }
    PeexCaps::new(
        flags,
        match c.rename_over {
            RenameOver::Atomic => PEEX_RENAME_ATOMIC,
            RenameOver::RemoveThenRename => PEEX_RENAME_REMOVE_THEN_RENAME,
        },
    )
}

/// Converts the C table to core capabilities: a settable mtime is [`MtimeMethod::Plugin`];
/// an unknown `rename_over` is taken as the cautious `RemoveThenRename`.
pub fn caps_to_core(c: &PeexCaps) -> Capabilities {
    Capabilities {
        set_mtime: if c.has(PEEX_CAP_SET_MTIME) {
            MtimeMethod::Plugin
        } else {
            MtimeMethod::Unsupported
        },
        get_mtime: c.has(PEEX_CAP_GET_MTIME),
        rename_over: if c.rename_over == PEEX_RENAME_ATOMIC {
            RenameOver::Atomic
        } else {
            RenameOver::RemoveThenRename
        },
        rename_dirs: c.has(PEEX_CAP_RENAME_DIRS),
    }
}

/// The C kind of an entry.
pub fn kind_to_c(kind: EntryKind) -> u32 {
    match kind {
        EntryKind::File => PEEX_KIND_FILE,
        EntryKind::Dir => PEEX_KIND_DIR,
        EntryKind::Other => PEEX_KIND_OTHER,
    }
}

/// A C view of an entry (borrowing its name: valid while `e` is).
pub fn entry_to_c(e: &Entry) -> PeexEntry {
    PeexEntry {
        name: PeexStr::new(&e.name),
        kind: kind_to_c(e.kind),
        has_mtime: u32::from(e.mtime.is_some()),
        size: e.size,
        mtime: e.mtime.unwrap_or(0),
    }
}

/// Converts a C entry whose name was already read: a known kind (a C integer may hold any
/// value); a directory's size and time are ignored (0 and none). The listing contract (safe
/// names, no duplicates, a time on every file) is not checked here but by
/// [`peex_core::Checked`], which wraps every connection to a plugin transport (the engine's,
/// and those of `peex plugins test`); entries a filter plugin receives come from the host,
/// which took them from checked listings and the local walk.
pub fn entry_from_c(e: &PeexEntry, name: String) -> Result<Entry, Error> {
    let kind = match e.kind {
        PEEX_KIND_FILE => EntryKind::File,
        PEEX_KIND_DIR => EntryKind::Dir,
        PEEX_KIND_OTHER => EntryKind::Other,
        k => {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("entry {name:?} has unknown kind {k}"),
            ))
        }
    };
    let is_dir = kind == EntryKind::Dir;
    Ok(Entry {
        name,
        kind,
        size: if is_dir { 0 } else { e.size },
        mtime: (e.has_mtime != 0 && !is_dir).then_some(e.mtime),
    })
}

/// The key/value pairs `connect` receives (keys documented in [`site_keys`]).
pub fn site_to_kv(site: &SiteParams) -> Vec<(String, String)> {
    let mut kv = vec![
        (site_keys::HOST.to_owned(), site.host.clone()),
        (site_keys::USER.to_owned(), site.user.clone()),
        (site_keys::ROOT.to_owned(), site.root.clone()),
        (
            site_keys::TIMEOUT_MS.to_owned(),
            site.timeout.as_millis().to_string(),
        ),
    ];
    if let Some(p) = site.port {
        kv.push((site_keys::PORT.to_owned(), p.to_string()));
    }
    if let Some(pw) = &site.password {
        kv.push((site_keys::PASSWORD.to_owned(), pw.expose().to_owned()));
    }
    for (k, v) in &site.options {
        kv.push((format!("{}{k}", site_keys::OPTION_PREFIX), v.clone()));
    }
    for (k, v) in &site.secret_options {
        kv.push((
            format!("{}{k}", site_keys::SECRET_PREFIX),
            v.expose().to_owned(),
        ));
    }
    kv
}

/// The timeout a plugin uses when the host passes none (an older or embedding host).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Rebuilds [`SiteParams`] from the pairs [`site_to_kv`] made. Unknown keys (from a newer
/// host) are ignored.
pub fn site_from_kv(kv: &BTreeMap<String, String>) -> Result<SiteParams, Error> {
    let mut site = SiteParams::default();
    for (k, v) in kv {
        match k.as_str() {
            site_keys::HOST => site.host = v.clone(),
            site_keys::PORT => {
                site.port = Some(v.parse().map_err(|_| {
                    Error::new(ErrorKind::ConfigInvalid, format!("invalid port {v:?}"))
                })?)
            }
            site_keys::USER => site.user = v.clone(),
            site_keys::PASSWORD => site.password = Some(Secret::new(v.clone())),
            site_keys::ROOT => site.root = v.clone(),
            site_keys::TIMEOUT_MS => {
                site.timeout = Duration::from_millis(v.parse().map_err(|_| {
                    Error::new(ErrorKind::ConfigInvalid, format!("invalid timeout {v:?}"))
                })?)
            }
            _ => {
                if let Some(name) = k.strip_prefix(site_keys::OPTION_PREFIX) {
                    site.options.insert(name.to_owned(), v.clone());
                } else if let Some(name) = k.strip_prefix(site_keys::SECRET_PREFIX) {
                    site.secret_options
                        .insert(name.to_owned(), Secret::new(v.clone()));
                }
            }
        }
    }
    if site.timeout.is_zero() {
        site.timeout = DEFAULT_TIMEOUT;
    }
    Ok(site)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn site_survives_the_round_trip_through_key_value_pairs() {
        let mut site = SiteParams {
            host: "h".to_owned(),
            port: Some(8080),
            user: "u".to_owned(),
            password: Some(Secret::new("pw".to_owned())),
            root: "/dav/x".to_owned(),
            timeout: Duration::from_millis(1500),
            ..SiteParams::default()
        };
        site.options.insert("tls".to_owned(), "no".to_owned());
        site.secret_options
            .insert("token".to_owned(), Secret::new("t".to_owned()));
        let mut kv: BTreeMap<String, String> = site_to_kv(&site).into_iter().collect();
        kv.insert("future.key".to_owned(), "x".to_owned());
        let back = site_from_kv(&kv).unwrap();
        assert_eq!(back.host, "h");
        assert_eq!(back.port, Some(8080));
        assert_eq!(back.root, "/dav/x");
        assert_eq!(back.timeout, Duration::from_millis(1500));
        assert_eq!(back.password.as_ref().unwrap().expose(), "pw");
        assert_eq!(back.option("tls"), Some("no"));
        assert_eq!(back.secret_options["token"].expose(), "t");
        kv.insert("port".to_owned(), "x".to_owned());
        assert!(site_from_kv(&kv).is_err());
    }

    #[test]
    fn unknown_status_is_unexpected_and_known_ones_round_trip() {
        assert_eq!(status_to_kind(12345), ErrorKind::Unexpected);
        assert_eq!(status_to_kind(-1), ErrorKind::Unexpected);
        for s in PEEX_NOT_FOUND..=PEEX_PANICKED {
            if s != PEEX_CANCELLED && s != PEEX_UNEXPECTED {
                assert_eq!(kind_to_status(status_to_kind(s)), s);
            }
        }
    }

    #[test]
    fn caps_round_trip_including_rename_dirs() {
        let c = Capabilities {
            set_mtime: MtimeMethod::Plugin,
            get_mtime: true,
            rename_over: RenameOver::RemoveThenRename,
            rename_dirs: true,
        };
        assert_eq!(caps_to_core(&caps_from_core(&c)), c);
        assert_eq!(
            caps_to_core(&PeexCaps::new(0, 99)).rename_over,
            RenameOver::RemoveThenRename
        );
    }

    #[test]
    fn an_unknown_entry_kind_is_a_protocol_error_and_a_dir_loses_its_size() {
        let mut e = entry_to_c(&Entry {
            name: "d".to_owned(),
            kind: EntryKind::Dir,
            size: 4096,
            mtime: Some(5),
        });
        let d = entry_from_c(&e, "d".to_owned()).unwrap();
        assert_eq!((d.size, d.mtime), (0, None));
        e.kind = 9;
        assert_eq!(
            entry_from_c(&e, "d".to_owned()).unwrap_err().kind(),
            ErrorKind::Protocol
        );
        // The listing contract is Checked's: an entry goes through it as in a listing.
        let listed = |e: &PeexEntry, name: &str| {
            peex_core::check_listing(
                &peex_core::RelPath::root(),
                vec![entry_from_c(e, name.to_owned())?],
            )
        };
        e.kind = PEEX_KIND_FILE;
        e.has_mtime = 0;
        assert!(listed(&e, "f").is_err());
        e.has_mtime = 1;
        assert!(listed(&e, "..").is_err());
    }
}
