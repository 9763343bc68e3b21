//! The delete phase: removes remote files, then directories deepest first. The run calls it
//! for what is in the way of the uploads (before them), for what has no local counterpart
//! (last, only when nothing failed), for stale temporary entries (best effort), and the
//! transfer for the new directories it gave up.

use crate::pool::Pool;
use peex_core::{Error, RelPath};
use std::collections::BTreeMap;

/// Deletes files (in parallel), then directories deepest first (in parallel per depth),
/// reporting each one removed. Stops at the first level with an error (a directory above
/// one not removed cannot be removed either).
pub fn delete_phase(
    pool: &mut Pool<'_>,
    files: &[RelPath],
    dirs: &[RelPath],
    file_removed: &(dyn Fn(&RelPath) + Sync),
    dir_removed: &(dyn Fn(&RelPath) + Sync),
) -> Vec<Error> {
    let mut errors = pool.run(files.to_vec(), |fs, p, _| {
        fs.delete(p).map_err(|e| e.with_op("delete", p))?;
        file_removed(p);
        Ok(())
    });
    if !errors.is_empty() {
        return errors;
    }
    let mut by_depth: BTreeMap<std::cmp::Reverse<usize>, Vec<RelPath>> = BTreeMap::new();
    for d in dirs {
        by_depth
            .entry(std::cmp::Reverse(d.depth()))
            .or_default()
            .push(d.clone());
    }
    for (_, level) in by_depth {
        errors.extend(pool.run(level, |fs, p, _| {
            fs.rmdir(p).map_err(|e| e.with_op("rmdir", p))?;
            dir_removed(p);
            Ok(())
        }));
        if !errors.is_empty() {
            break;
        }
    }
    errors
}
