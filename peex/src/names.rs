//! Matching local names with the server's: Unicode normalisation and letter case.
//!
//! - **Normalisation.** A name is compared in Unicode NFC: `café` written with a combining
//!   accent (NFD, as macOS writes it) and with the precomposed `é` (NFC) are the same entry.
//!   An exact match wins; a local name that matches a remote one only after normalisation is
//!   synced under the server's spelling (nothing is uploaded again and nothing deleted). A
//!   new entry is uploaded under its local spelling.
//! - **Case.** Two local names of one directory that differ only by letter case (`README`,
//!   `readme`) are one file on a server that folds case. Before any change the run asks
//!   whether it does: a remote directory holding such a pair shows it does not; otherwise a
//!   probe ([`probe_folds_case`]) creates two temporary files whose names differ by case and
//!   lists them back. On a server that folds case the run is refused, naming both.

use crate::plan::TEMP_PREFIX;
use peex_core::{Entry, EntryKind, RelPath, RemoteFs, Result};
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use unicode_normalization::UnicodeNormalization;

fn nfc(s: &str) -> String {
    s.nfc().collect()
}

/// The sizes of one local directory's files by name, for [`RemoteFs::list_for`]: a remote
/// name finds its local file by the exact name, else by its NFC spelling (as [`align`]
/// matches them). Indexed on the first question only: most backends never ask.
pub struct LocalSizes<'a> {
    local: &'a [Entry],
    index: OnceCell<SizeIndex<'a>>,
}

/// File sizes by exact name, and (non-ASCII names) by NFC spelling.
type SizeIndex<'a> = (HashMap<&'a str, u64>, HashMap<String, u64>);

impl<'a> LocalSizes<'a> {
    /// The files of `local` (directories and other entries have no size to compare).
    pub fn new(local: &'a [Entry]) -> LocalSizes<'a> {
        LocalSizes {
            local,
            index: OnceCell::new(),
        }
    }

    /// The size of the local file `remote_name` stands for, if there is one.
    pub fn get(&self, remote_name: &str) -> Option<u64> {
        let (exact, by_nfc) = self.index.get_or_init(|| {
            let files = self.local.iter().filter(|e| e.kind == EntryKind::File);
            let exact: HashMap<&str, u64> = files.map(|e| (e.name.as_str(), e.size)).collect();
            let by_nfc = exact
                .iter()
                .filter(|(n, _)| !n.is_ascii())
                .map(|(n, &size)| (nfc(n), size))
                .collect();
            (exact, by_nfc)
        });
        exact.get(remote_name).copied().or_else(|| {
            (!remote_name.is_ascii())
                .then(|| by_nfc.get(&nfc(remote_name)).copied())
                .flatten()
        })
    }
}

/// Gives each local entry that matches a remote entry only after NFC normalisation the
/// remote spelling; returns the `(remote name, local name)` pairs so changed.
pub fn align(local: &mut [Entry], remote: &[Entry]) -> Vec<(String, String)> {
    // Fast path: ASCII names have a single spelling.
    if local.iter().all(|e| e.name.is_ascii()) || remote.iter().all(|e| e.name.is_ascii()) {
        return Vec::new();
    }
    let remote_names: HashSet<&str> = remote.iter().map(|r| r.name.as_str()).collect();
    let local_names: HashSet<&str> = local.iter().map(|l| l.name.as_str()).collect();
    let mut by_nfc: HashMap<String, Option<&str>> = HashMap::new();
    for r in remote
        .iter()
        .filter(|r| !local_names.contains(r.name.as_str()))
    {
        by_nfc
            .entry(nfc(&r.name))
            .and_modify(|v| *v = None) // two remote spellings: ambiguous, match neither
            .or_insert(Some(r.name.as_str()));
    }
    let mut out = Vec::new();
    for l in local.iter_mut() {
        if l.name.is_ascii() || remote_names.contains(l.name.as_str()) {
            continue;
        }
        if let Some(Some(r)) = by_nfc.remove(&nfc(&l.name)) {
            let local_name = std::mem::replace(&mut l.name, r.to_owned());
            out.push((r.to_owned(), local_name));
        }
    }
    out
}

/// Pairs of names of files and directories in `entries` that differ only by letter case
/// (compared in NFC, lower-cased).
pub fn case_pairs(entries: &[Entry]) -> Vec<(String, String)> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| e.kind != EntryKind::Other) {
        let key = if e.name.is_ascii() {
            e.name.to_ascii_lowercase()
        } else {
            nfc(&e.name).to_lowercase()
        };
        match seen.get(&key) {
            Some(first) => out.push(((*first).to_owned(), e.name.clone())),
            None => {
                seen.insert(key, &e.name);
            }
        }
    }
    out
}

/// True if the server folds case in `dir`: uploads two small temporary files whose names
/// differ only by case, lists `dir`, and removes them (names with peex's temporary prefix,
/// so a probe an interrupted run leaves behind is removed by the next).
pub fn probe_folds_case(fs: &mut dyn RemoteFs, dir: &RelPath) -> Result<bool> {
    let pid = std::process::id();
    let lower = dir.join(&format!("{TEMP_PREFIX}case-{pid}"))?;
    let upper = dir.join(&format!("{TEMP_PREFIX}CASE-{pid}"))?;
    let result = (|| {
        fs.upload(&lower, &mut &b"a"[..], 1)?;
        fs.upload(&upper, &mut &b"bb"[..], 2)?;
        fs.list(dir)
    })();
    let _ = fs.delete(&upper);
    let _ = fs.delete(&lower);
    let listing = result?;
    let has = |p: &RelPath| listing.iter().any(|e| e.name == p.name());
    Ok(!(has(&lower) && has(&upper)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_sizes_find_a_file_by_its_exact_name_or_its_nfc_spelling() {
        let mk = |name: &str, kind, size| Entry {
            name: name.into(),
            kind,
            size,
            mtime: Some(0),
        };
        let local = [
            mk("cafe\u{301}.txt", EntryKind::File, 7), // NFD, as macOS writes it
            mk("a.txt", EntryKind::File, 3),
            mk("d", EntryKind::Dir, 0),
        ];
        let sizes = LocalSizes::new(&local);
        assert_eq!(sizes.get("a.txt"), Some(3));
        assert_eq!(
            sizes.get("caf\u{e9}.txt"),
            Some(7),
            "the server's NFC spelling"
        );
        assert_eq!(sizes.get("cafe\u{301}.txt"), Some(7));
        assert_eq!(sizes.get("d"), None, "a directory has no size to compare");
        assert_eq!(sizes.get("b.txt"), None);
    }

    fn file(name: &str) -> Entry {
        Entry {
            name: name.to_owned(),
            kind: EntryKind::File,
            size: 1,
            mtime: Some(1),
        }
    }

    #[test]
    fn nfd_local_name_takes_the_servers_nfc_spelling() {
        let nfd = "cafe\u{301}.txt";
        let nfc = "caf\u{e9}.txt";
        let mut local = vec![file(nfd), file("a.txt")];
        let remote = vec![file(nfc), file("a.txt")];
        assert_eq!(
            align(&mut local, &remote),
            vec![(nfc.to_owned(), nfd.to_owned())]
        );
        assert_eq!(local[0].name, nfc);
        // and the reverse
        let mut local = vec![file(nfc)];
        assert_eq!(align(&mut local, &[file(nfd)]).len(), 1);
        assert_eq!(local[0].name, nfd);
    }

    #[test]
    fn an_exact_match_wins_over_a_normalised_one() {
        let nfd = "cafe\u{301}";
        let nfc = "caf\u{e9}";
        let mut local = vec![file(nfd), file(nfc)];
        let remote = vec![file(nfc)];
        assert!(align(&mut local, &remote).is_empty());
        assert_eq!(local[0].name, nfd);
    }

    #[test]
    fn names_differing_only_by_case_are_paired() {
        let e = vec![
            file("README"),
            file("x"),
            file("readme"),
            file("\u{c9}t\u{e9}"),
        ];
        assert_eq!(
            case_pairs(&e),
            vec![("README".to_owned(), "readme".to_owned())]
        );
        let e = vec![file("\u{c9}T\u{c9}"), file("e\u{301}t\u{e9}")];
        assert_eq!(case_pairs(&e).len(), 1);
    }
}
