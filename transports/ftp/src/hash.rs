//! Server-side content hashes (`compare = checksum`): `HASH` (draft-bryan-ftpext-hash:
//! proftpd mod_digest, FileZilla Server 1.x) and the older `XSHA256` / `XSHA1` / `XMD5`,
//! chosen from FEAT: `HASH` with the server's default algorithm first (one command per file),
//! then `HASH` with another one (after `OPTS HASH`), then the `X…` commands.

use crate::errors::Op;
use crate::session::{Features, Session};
use peex_core::{Error, ErrorKind, HashAlgo, Result};

const ALGOS: [HashAlgo; 3] = [HashAlgo::Sha256, HashAlgo::Sha1, HashAlgo::Md5];

/// How one algorithm is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// `XSHA256 path` and friends.
    X(&'static str),
    /// `HASH path`, after `OPTS HASH name` unless it is the server's default.
    Hash { default: bool },
}

fn x_command(a: HashAlgo) -> &'static str {
    match a {
        HashAlgo::Sha256 => "XSHA256",
        HashAlgo::Sha1 => "XSHA1",
        HashAlgo::Md5 => "XMD5",
    }
}

/// The algorithms of FEAT's `HASH` line (`HASH CRC32;MD5;SHA-1*;SHA-256;`), with whether
/// each is the default (`*`).
fn hash_line(f: &Features) -> Vec<(HashAlgo, bool)> {
    let Some(line) = f.lines.iter().find_map(|l| l.strip_prefix("HASH ")) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    for item in line.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, default) = match item.strip_suffix('*') {
            Some(n) => (n, true),
            None => (item, false),
        };
        if let Some(a) = ALGOS.iter().find(|a| a.name() == name) {
            v.push((*a, default));
        }
    }
    v
}

/// Every way the server offers, in the order peex prefers them: `HASH` with the server's
/// default algorithm (one command per file), `HASH` with another one (after `OPTS HASH`),
/// then the `X…` commands; strongest algorithm first within each.
fn ways(f: &Features) -> Vec<(HashAlgo, Via)> {
    let listed = hash_line(f);
    let mut v: Vec<(HashAlgo, Via)> = Vec::new();
    for want_default in [true, false] {
        for a in ALGOS {
            if listed.contains(&(a, want_default)) {
                v.push((
                    a,
                    Via::Hash {
                        default: want_default,
                    },
                ));
            }
        }
    }
    for a in ALGOS {
        if f.has(x_command(a)) && !v.iter().any(|(h, _)| *h == a) {
            v.push((a, Via::X(x_command(a))));
        }
    }
    v
}

fn via(f: &Features, a: HashAlgo) -> Option<Via> {
    ways(f).into_iter().find(|(h, _)| *h == a).map(|(_, v)| v)
}

/// What the server offers, preferred first, with the command used for each.
pub(crate) fn offered(f: &Features) -> Vec<(HashAlgo, String)> {
    ways(f)
        .into_iter()
        .map(|(a, v)| {
            let how = match v {
                Via::X(c) => c.to_owned(),
                Via::Hash { default: true } => "HASH".to_owned(),
                Via::Hash { default: false } => format!("OPTS HASH {}, HASH", a.name()),
            };
            (a, how)
        })
        .collect()
}

/// The algorithm a `HASH` reply names (`213 SHA-256 0-49 <hex> <path>`).
fn reply_algo(text: &str) -> &str {
    let last = text.lines().last().unwrap_or("");
    last.get(4..)
        .unwrap_or("")
        .split_whitespace()
        .next()
        .unwrap_or("")
}

/// The digest in a reply's last line: `213 SHA-256 0-49 <hex> <path>` (HASH) or
/// `250 <HEX>` (X…).
fn parse_digest(text: &str, a: HashAlgo) -> Option<String> {
    let last = text.lines().last().unwrap_or("");
    last.get(4..)
        .unwrap_or("")
        .split_whitespace()
        .find(|t| t.len() == a.hex_len() && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
}

/// The digest of the file at absolute path `abs`, as lower-case hex.
pub(crate) fn digest(s: &mut Session, abs: &str, a: HashAlgo) -> Result<String> {
    let reply = match via(&s.features, a) {
        None => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("the server does not compute {} digests", a.name()),
            ))
        }
        Some(Via::X(cmd)) => s.expect(&format!("{cmd} {abs}"), Op::Read)?,
        // The algorithm HASH uses is the session's (`OPTS HASH` changes it): the reply names
        // it, and a reply in another one is asked again after choosing ours.
        Some(Via::Hash { default: true }) => {
            let r = s.expect(&format!("HASH {abs}"), Op::Read)?;
            if reply_algo(&r.text).eq_ignore_ascii_case(a.name()) {
                r
            } else {
                s.expect(&format!("OPTS HASH {}", a.name()), Op::Read)?;
                s.expect(&format!("HASH {abs}"), Op::Read)?
            }
        }
        Some(Via::Hash { default: false }) => {
            s.expect(&format!("OPTS HASH {}", a.name()), Op::Read)?;
            s.expect(&format!("HASH {abs}"), Op::Read)?
        }
    };
    parse_digest(&reply.text, a).ok_or_else(|| {
        Error::new(
            ErrorKind::Protocol,
            format!("{} reply holds no digest: {}", a.name(), reply.one_line()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feat_hash_and_x_commands_are_recognised_preferred_first() {
        let f = Features::parse(
            "211-Features:\n HASH CRC32;MD5;SHA-1*;SHA-256;SHA-512;\n XMD5\n XSHA256\n211 End",
        );
        let got: Vec<(HashAlgo, String)> = offered(&f);
        assert_eq!(
            got,
            vec![
                (HashAlgo::Sha1, "HASH".to_owned()),
                (HashAlgo::Sha256, "OPTS HASH SHA-256, HASH".to_owned()),
                (HashAlgo::Md5, "OPTS HASH MD5, HASH".to_owned()),
            ]
        );
        let x = Features::parse("211-Features:\n XSHA1\n XMD5\n211 End");
        assert_eq!(
            offered(&x),
            vec![
                (HashAlgo::Sha1, "XSHA1".to_owned()),
                (HashAlgo::Md5, "XMD5".to_owned())
            ]
        );
        assert!(offered(&Features::parse("211-Features:\n MDTM\n211 End")).is_empty());
    }

    #[test]
    fn digests_are_read_from_hash_and_x_replies() {
        let hash = "213-Computing SHA-1 digest\n213 SHA-1 0-6 f572d396fae9206628714fb2ce00f72e94f2258f /www/f.txt";
        assert_eq!(
            parse_digest(hash, HashAlgo::Sha1).as_deref(),
            Some("f572d396fae9206628714fb2ce00f72e94f2258f")
        );
        let x = "250-Computing MD5 digest\n250 B1946AC92492D2347C6235B4D2611184";
        assert_eq!(
            parse_digest(x, HashAlgo::Md5).as_deref(),
            Some("b1946ac92492d2347c6235b4d2611184")
        );
        assert_eq!(
            parse_digest("213 SHA-1 0-6 nothex /f", HashAlgo::Sha1),
            None
        );
    }
}
