//! Several requests in flight on one peex connection: `upload_stream` and `mkdir_batch`.
//!
//! The engine already spreads work over its connections; each of them here keeps up to
//! `parallel` HTTP requests in flight on keep-alive sockets of its agent. Upload data is read
//! on the calling thread (the host's reader may only be called there): small files into
//! memory, then `PUT` (and `MOVE` onto the final name when there is a temporary one) in
//! scoped threads; a file above [`BUFFER_LIMIT`] is streamed on the calling thread alone.

use super::{DavFs, ExactReader};
use peex_core::{Error, ErrorKind, RelPath, RemoteFs, ReplaceJob, Result};
use std::io::Read;

/// Files up to this size are read into memory and sent in parallel.
pub(crate) const BUFFER_LIMIT: u64 = 1 << 20;

struct Ready {
    id: usize,
    tmp: Option<RelPath>,
    path: RelPath,
    data: Result<Vec<u8>>,
}

fn read_all(src: &mut dyn Read, size: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    ExactReader {
        inner: src,
        remaining: size,
    }
    .read_to_end(&mut buf)
    .map_err(Error::from)?;
    Ok(buf)
}

fn put_job(fs: &DavFs, r: &Ready) -> Result<()> {
    let data = match &r.data {
        Ok(d) => d,
        Err(e) => return Err(Error::new(e.kind(), e.message().to_owned())),
    };
    let at = r.tmp.as_ref().unwrap_or(&r.path);
    fs.put_bytes(at, data)?;
    if let Some(tmp) = &r.tmp {
        fs.move_to(tmp, &r.path)
            .map_err(|e| e.with_op("rename into place", r.path.as_str()))?;
    }
    Ok(())
}

/// `RemoteFs::upload_stream` with up to `fs.parallel` uploads in flight.
pub(crate) fn upload_stream<'a>(
    fs: &mut DavFs,
    next: &mut dyn FnMut() -> Option<ReplaceJob<'a>>,
    done: &mut dyn FnMut(usize, Result<()>),
) -> Result<()> {
    fs.maybe_panic("upload");
    loop {
        let mut batch: Vec<Ready> = Vec::new();
        while batch.len() < fs.parallel {
            let Some(mut j) = next() else { break };
            if j.mtime.is_some() {
                done(
                    j.id,
                    Err(Error::new(
                        ErrorKind::Unsupported,
                        "webdav cannot set modification times; use srcutime",
                    )),
                );
                continue;
            }
            if j.size > BUFFER_LIMIT {
                // Streamed on this thread: PUT straight from the reader.
                let at = j.tmp.clone().unwrap_or_else(|| j.path.clone());
                let mut r = fs.upload(&at, &mut j.src, j.size);
                if r.is_ok() {
                    if let Some(tmp) = &j.tmp {
                        r = fs.move_to(tmp, &j.path);
                    }
                }
                let stop = temporary_copy(&r);
                done(j.id, r);
                if let Some(e) = stop {
                    flush(fs, batch, done)?;
                    return Err(e);
                }
                continue;
            }
            let data = read_all(&mut j.src, j.size);
            batch.push(Ready {
                id: j.id,
                tmp: j.tmp,
                path: j.path,
                data,
            });
        }
        if batch.is_empty() {
            return Ok(());
        }
        flush(fs, batch, done)?;
    }
}

/// Sends a batch in parallel and reports every job of it; the first temporary error is
/// returned after all were reported.
fn flush(fs: &DavFs, batch: Vec<Ready>, done: &mut dyn FnMut(usize, Result<()>)) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let results: Vec<Result<()>> = if batch.len() == 1 {
        vec![put_job(fs, &batch[0])]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|r| s.spawn(move || put_job(fs, r)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::new(
                            ErrorKind::Unexpected,
                            "an upload thread panicked",
                        ))
                    })
                })
                .collect()
        })
    };
    let mut stop = None;
    for (r, job) in results.into_iter().zip(&batch) {
        if stop.is_none() {
            stop = temporary_copy(&r);
        }
        done(job.id, r);
    }
    match stop {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn temporary_copy(r: &Result<()>) -> Option<Error> {
    match r {
        Err(e) if e.is_temporary() => {
            Some(Error::new(e.kind(), e.message().to_owned()).temporary())
        }
        _ => None,
    }
}

/// `RemoteFs::mkdir_batch`: the directories of one depth level in parallel, level after
/// level (a parent always comes before its children). Stops after a temporary error.
pub(crate) fn mkdir_batch(fs: &mut DavFs, paths: &[RelPath]) -> Vec<Result<()>> {
    fs.maybe_panic("mkdir");
    let mut results: Vec<Option<Result<()>>> = paths.iter().map(|_| None).collect();
    let mut depths: Vec<usize> = paths.iter().map(|p| p.components().count()).collect();
    depths.sort_unstable();
    depths.dedup();
    let fs: &DavFs = fs;
    for d in depths {
        let level: Vec<usize> = (0..paths.len())
            .filter(|i| paths[*i].components().count() == d)
            .collect();
        for chunk in level.chunks(fs.parallel.max(1)) {
            let out: Vec<Result<()>> = std::thread::scope(|s| {
                let hs: Vec<_> = chunk
                    .iter()
                    .map(|i| s.spawn(move || fs.make_collection(&paths[*i])))
                    .collect();
                hs.into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::new(ErrorKind::Unexpected, "a mkdir thread panicked"))
                        })
                    })
                    .collect()
            });
            let mut temporary = false;
            for (i, r) in chunk.iter().zip(out) {
                temporary |= matches!(&r, Err(e) if e.is_temporary());
                results[*i] = Some(r);
            }
            if temporary {
                // The contract: a prefix of results, ending with the temporary error.
                let cut = results
                    .iter()
                    .position(|r| matches!(r, None | Some(Err(_))))
                    .unwrap_or(results.len());
                return results
                    .into_iter()
                    .take(cut + 1)
                    .map(|r| {
                        r.unwrap_or_else(|| {
                            Err(Error::new(ErrorKind::Unexpected, "not attempted").temporary())
                        })
                    })
                    .collect();
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::new(ErrorKind::Unexpected, "not attempted"))))
        .collect()
}
