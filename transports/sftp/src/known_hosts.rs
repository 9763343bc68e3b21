//! Host key verification against an OpenSSH `known_hosts` file, before authentication, as
//! OpenSSH does it: a known key goes on, an unknown key stops (or, with
//! `accept_new_host_key`, is recorded and goes on), a changed key always stops.

use crate::config::SftpConfig;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use peex_core::{Error, ErrorKind, Result};
use ssh2::{CheckResult, HashType, KnownHostFileKind, Session};
use std::fs;
use std::io::Write;
use std::path::Path;

/// The key's algorithm name, read from the key blob itself (`ssh-ed25519`, `ssh-rsa`, …).
pub(crate) fn key_type(blob: &[u8]) -> Option<&str> {
    let (len, rest) = blob.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    std::str::from_utf8(rest.get(..len)?).ok()
}

/// `SHA256:<base64 without padding>`, as OpenSSH prints fingerprints.
pub(crate) fn fingerprint(session: &Session) -> Option<String> {
    session
        .host_key_hash(HashType::Sha256)
        .map(|h| format!("SHA256:{}", STANDARD_NO_PAD.encode(h)))
}

/// Checks the server's host key (unless `host_key_check` is off).
pub(crate) fn verify(session: &Session, cfg: &SftpConfig) -> Result<()> {
    if !cfg.host_key_check {
        return Ok(());
    }
    let (key, _) = session
        .host_key()
        .ok_or_else(|| Error::new(ErrorKind::HostIdentity, "the server sent no host key"))?;
    let ktype = key_type(key).unwrap_or("unknown-key-type").to_owned();
    let fp = fingerprint(session).unwrap_or_else(|| "(no SHA256 fingerprint)".to_owned());
    let name = cfg.known_hosts_name();
    let path = &cfg.known_hosts;

    let mut kh = session.known_hosts().map_err(|e| {
        Error::new(
            ErrorKind::HostIdentity,
            format!("cannot check host keys: {}", e.message()),
        )
    })?;
    let content = match fs::read_to_string(path) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Error::new(
                ErrorKind::HostIdentity,
                format!("cannot read known_hosts file {}: {e}", path.display()),
            ))
        }
    };
    // One line at a time: libssh2 gives up on a whole file at the first line it cannot
    // parse (e.g. a key type it does not know); OpenSSH skips such lines, and so do we.
    for line in content.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.contains('\0') {
            continue;
        }
        let _ = kh.read_str(t, KnownHostFileKind::OpenSSH);
    }
    // OpenSSH looks up `[host]:port` for any port but 22, and only that name.
    match kh.check(&name, key) {
        CheckResult::Match => Ok(()),
        CheckResult::NotFound => {
            if cfg.accept_new_host_key {
                record(path, &name, &ktype, key).map_err(|e| {
                    Error::new(
                        ErrorKind::HostIdentity,
                        format!(
                            "cannot record the new host key of {name} in {}: {e}",
                            path.display()
                        ),
                    )
                })
            } else {
                Err(Error::new(
                    ErrorKind::HostIdentity,
                    format!(
                        "the host key of {name} is unknown: {ktype} key {fp} is not in {}. \
                         If that fingerprint is right, accept it by setting \
                         accept_new_host_key: true in the site's sftp options (INI: \
                         accept_new_host_key=true), which records it in that file; or add \
                         the key there yourself (ssh-keyscan -p {} {})",
                        path.display(),
                        cfg.port,
                        cfg.host
                    ),
                ))
            }
        }
        CheckResult::Mismatch => {
            let lines = matching_lines(&content, &name);
            let at = match lines.as_slice() {
                [] => format!("{}", path.display()),
                [one] => format!("{}:{one}", path.display()),
                many => format!(
                    "{} (lines {})",
                    path.display(),
                    many.iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            Err(Error::new(
                ErrorKind::HostIdentity,
                format!(
                    "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! The {ktype} host key of \
                     {name} is now {fp}, which does not match the key stored in {at}. Someone \
                     could be intercepting the connection (man-in-the-middle), or the host key \
                     was just changed. Not connecting; nothing was sent. If the change is \
                     expected, remove the old entry (ssh-keygen -R '{name}' -f {}) and connect \
                     again.",
                    path.display()
                ),
            ))
        }
        CheckResult::Failure => Err(Error::new(
            ErrorKind::HostIdentity,
            format!(
                "cannot check the host key of {name} against {}",
                path.display()
            ),
        )),
    }
}

/// Line numbers (1-based) of `content` whose host field names `name` in plain text.
/// (Hashed entries, `|1|…`, cannot be attributed without the salt; they are not listed.)
fn matching_lines(content: &str, name: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let mut hosts = fields.next();
        if hosts.is_some_and(|h| h.starts_with('@')) {
            hosts = fields.next();
        }
        let Some(hosts) = hosts else { continue };
        if hosts.starts_with('#') {
            continue;
        }
        if hosts
            .split(',')
            .any(|h| !h.starts_with('!') && h.eq_ignore_ascii_case(name))
        {
            out.push(i + 1);
        }
    }
    out
}

/// Appends `name type base64` to the known_hosts file, creating it (mode 0600) and its
/// directory if needed.
fn record(path: &Path, name: &str, ktype: &str, key: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
            }
        }
    }
    let needs_newline = match fs::read(path) {
        Ok(b) => !b.is_empty() && !b.ends_with(b"\n"),
        Err(_) => false,
    };
    let mut opts = fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    let mut line = String::new();
    if needs_newline {
        line.push('\n');
    }
    line.push_str(&format!("{name} {ktype} {}\n", STANDARD.encode(key)));
    f.write_all(line.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_type_from_blob() {
        let mut blob = vec![0, 0, 0, 11];
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&[0, 0, 0, 32]);
        assert_eq!(key_type(&blob), Some("ssh-ed25519"));
        assert_eq!(key_type(&[0, 0, 0, 9, b'a']), None);
        assert_eq!(key_type(&[]), None);
    }

    #[test]
    fn lines_naming_a_host() {
        let kh = "# comment\nexample.org ssh-rsa AAA\n[h]:2222,other ssh-ed25519 BBB\n\
                  @cert-authority [h]:2222 ssh-ed25519 CCC\n!h ssh-rsa D\n";
        assert_eq!(matching_lines(kh, "[h]:2222"), vec![3, 4]);
        assert_eq!(matching_lines(kh, "example.org"), vec![2]);
        assert!(matching_lines(kh, "h").is_empty());
    }
}
