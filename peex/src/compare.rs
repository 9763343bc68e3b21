//! `compare`: how a file whose size matches but whose time differs is judged.
//!
//! - `mtime` (default, PEEX's rule): it is uploaded again.
//! - `size`: it is up to date (for servers that neither hash nor keep times).
//! - `checksum`: the server hashes its copy ([`RemoteFs::hash`]) and peex hashes the local
//!   file with the same algorithm; equal digests mean only the remote time is set (a
//!   "touch"), different ones an upload.
//!
//! The planner stays as it is (size and time); this step runs on its uploads after the
//! scan, before anything changes, in dry runs too (hashing changes nothing).

use crate::config::Compare;
use crate::exit::{Status, Stop};
use crate::local::local_path;
use crate::plan::{Upload, UploadReason};
use crate::pool::Pool;
use crate::report::Reporter;
use crate::uploads::UploadList;
use peex_core::{Error, HashAlgo, RelPath, RemoteFs};
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

/// Splits `uploads` by the `compare` rule: returns the files whose remote copy only needs
/// its time set; those dropped as up to date are counted as unchanged.
pub fn settle(
    compare: Compare,
    hashes: &[(HashAlgo, String)],
    source: &Path,
    dest: &str,
    pool: &mut Pool<'_>,
    out: &Reporter,
    uploads: &mut UploadList,
) -> Result<Vec<Upload>, Stop> {
    let time_only = |u: &Upload| matches!(u.reason, UploadReason::Mtime { .. });
    match compare {
        Compare::Mtime => Ok(Vec::new()),
        Compare::Size => {
            let before = uploads.len();
            uploads.retain(|l, i| !l.get(i).is_ok_and(|u| time_only(&u)));
            out.unchanged((before - uploads.len()) as u64);
            Ok(Vec::new())
        }
        Compare::Checksum => {
            let Some((algo, how)) = hashes.first().cloned() else {
                return Err(Stop::new(
                    Status::Refused,
                    format!(
                        "compare = checksum needs a server that computes file hashes (FTP HASH, \
                         XSHA256, XSHA1 or XMD5); {dest} offers none (see `peex check`). Use \
                         compare = size or compare = mtime. Nothing was changed"
                    ),
                ));
            };
            let candidates: Vec<Upload> = (0..uploads.len())
                .filter_map(|i| uploads.get(i).ok())
                .filter(|u| time_only(u))
                .collect();
            if candidates.is_empty() {
                return Ok(Vec::new());
            }
            out.detail(
                1,
                &format!(
                    "peex: comparing {} files of equal size by {} ({how})",
                    candidates.len(),
                    algo.name()
                ),
            );
            let same = Mutex::new(Vec::new());
            let errors = pool.run(candidates, |fs: &mut dyn RemoteFs, u: &Upload, _| {
                let remote = fs.hash(&u.path, algo)?;
                let local = local_digest(&local_path(source, &u.path), algo)?;
                if remote == local {
                    same.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(u.path.clone());
                }
                Ok(())
            });
            for e in errors {
                // The file is uploaded as without checksums; nothing is lost.
                out.warn(&format!("{e} (uploaded instead)"));
            }
            let same = same
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut touches = Vec::new();
            let same: std::collections::HashSet<RelPath> = same.into_iter().collect();
            uploads.retain(|l, i| match l.get(i) {
                Ok(u) if time_only(&u) && same.contains(&u.path) => {
                    touches.push(u);
                    false
                }
                _ => true,
            });
            touches.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(touches)
        }
    }
}

/// The digest of a local file, lower-case hex.
pub fn local_digest(path: &Path, algo: HashAlgo) -> peex_core::Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)
        .map_err(|e| Error::from(e).with_op("open local file", path.display()))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut sha256 = sha2::Sha256::new();
    let mut sha1 = sha1::Sha1::new();
    let mut md5 = md5::Md5::new();
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::from(e).with_op("read local file", path.display()))?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        match algo {
            HashAlgo::Sha256 => sha256.update(chunk),
            HashAlgo::Sha1 => sha1.update(chunk),
            HashAlgo::Md5 => md5.update(chunk),
        }
    }
    let bytes: Vec<u8> = match algo {
        HashAlgo::Sha256 => sha256.finalize().to_vec(),
        HashAlgo::Sha1 => sha1.finalize().to_vec(),
        HashAlgo::Md5 => md5.finalize().to_vec(),
    };
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn local_digests_match_the_known_values() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        std::fs::write(&p, "hello\n").unwrap();
        assert_eq!(
            local_digest(&p, HashAlgo::Sha256).unwrap(),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert_eq!(
            local_digest(&p, HashAlgo::Sha1).unwrap(),
            "f572d396fae9206628714fb2ce00f72e94f2258f"
        );
        assert_eq!(
            local_digest(&p, HashAlgo::Md5).unwrap(),
            "b1946ac92492d2347c6235b4d2611184"
        );
    }
}
