//! `peex check CONFIG`: what the server offers and what peex will use, changing nothing but
//! a probe file it creates and removes in dest (`--no-probe` skips the probe).

use crate::exit::{Status, Stop};
use crate::retry::RetryPolicy;
use crate::sync::connect_stop;
use peex_core::{EntryKind, MtimeMethod, RelPath, RemoteFs, RenameOver, SiteParams, Transport};
use std::time::{Duration, Instant};

/// What to check.
pub struct CheckJob<'a> {
    /// The transport.
    pub transport: &'a dyn Transport,
    /// Connection parameters.
    pub params: SiteParams,
    /// How the destination is shown.
    pub display_dest: String,
    /// Connections to try to open at once (the connection limit probe).
    pub jobs: usize,
    /// Create, rename over and remove a probe file in dest.
    pub probe: bool,
    /// The site uses `srcutime` (then setting times is not needed).
    pub srcutime: bool,
}

fn line(what: &str, value: impl std::fmt::Display) {
    println!(
        "  {what:<24} {}",
        crate::output::sanitize(&value.to_string())
    );
}

/// Runs the check and prints the report; `Ok(Status::Refused)` when the server lacks what
/// peex needs for this site.
pub fn run(job: &CheckJob<'_>) -> Result<Status, Stop> {
    println!("peex check: {}", job.display_dest);
    let t0 = Instant::now();
    let mut fs = crate::connect::open(job.transport, &job.params, false)
        .map_err(|e| connect_stop(&e, &job.display_dest))?;
    line(
        "connect and log in",
        format!("ok ({} ms)", t0.elapsed().as_millis()),
    );
    let caps = fs.capabilities();
    line("set times (advertised)", caps.set_mtime.describe());
    line(
        "read times",
        read_times(job.transport.scheme(), caps.get_mtime),
    );
    line(
        "rename over a file",
        match caps.rename_over {
            RenameOver::Atomic => "atomic",
            RenameOver::RemoveThenRename => "remove, then rename",
        },
    );
    let mut method = caps.set_mtime;
    let mut ok = true;
    if job.probe {
        match fs.verify_set_mtime() {
            Ok(m) => {
                method = m;
                line("set times (tried)", m.describe());
            }
            Err(e) => {
                method = MtimeMethod::Unsupported;
                line("set times (tried)", format!("FAILED: {e}"));
            }
        }
        ok &= probe(&mut fs, job, method != MtimeMethod::Unsupported);
        if fs.capabilities().rename_over != caps.rename_over {
            line(
                "rename over (tried)",
                "refused by the server: peex removes the old file, then renames",
            );
        }
    } else {
        line("probe", "skipped (--no-probe)");
    }
    // After the probe: its transfers tell whether TLS data connections resume the session.
    for (what, value) in fs.server_info() {
        line(&what, value);
    }
    let hashes = fs.hashes();
    line(
        "checksums",
        match hashes.first() {
            Some((algo, how)) => format!(
                "{} ({how}); compare = checksum will use it (offered: {})",
                algo.name(),
                hashes
                    .iter()
                    .map(|(a, h)| format!("{} via {h}", a.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "none (no HASH, XSHA256, XSHA1 or XMD5): use compare = size or mtime".into(),
        },
    );
    let (opened, limit) = connection_limit(job);
    line(
        "connections",
        match limit {
            Some(why) => format!(
                "{opened} of {} opened; the server refused more: {why}",
                job.jobs
            ),
            None => format!("{opened} of {} opened", job.jobs),
        },
    );
    let _ = fs.quit();

    let times = if job.srcutime {
        "srcutime (server times copied to local files)".to_owned()
    } else {
        method.describe().to_owned()
    };
    println!(
        "peex will use: {times} for times, {} connection{}",
        opened.max(1),
        if opened.max(1) == 1 { "" } else { "s" }
    );
    if !job.srcutime && method == MtimeMethod::Unsupported {
        println!("peex: this server cannot set modification times; a sync would stop (use srcutime=true)");
        return Ok(Status::Refused);
    }
    Ok(if ok { Status::Ok } else { Status::Incomplete })
}

/// How `peex check` retries: once, at once, on a fresh connection (as a sync's pool would
/// after a dropped connection; a check does not wait out a bad server).
const CHECK_RETRY: RetryPolicy = RetryPolicy {
    retries: 1,
    base_delay: Duration::ZERO,
};

/// Runs `op`; after a temporary error once more on a fresh connection ([`CHECK_RETRY`]).
fn retrying<T>(
    fs: &mut Box<dyn RemoteFs>,
    job: &CheckJob<'_>,
    mut op: impl FnMut(&mut dyn RemoteFs) -> peex_core::Result<T>,
) -> peex_core::Result<T> {
    CHECK_RETRY.on_fresh_connection(
        fs,
        || crate::connect::open(job.transport, &job.params, false),
        |fs| op(fs.as_mut()),
    )
}

/// Creates `.peex-check-PID` through a temporary name, renames a second version over it,
/// lists it back (are dotfiles listed? are times exact?), and removes it.
fn probe(fs: &mut Box<dyn RemoteFs>, job: &CheckJob<'_>, times: bool) -> bool {
    let pid = std::process::id();
    let (Ok(name), Ok(tmp)) = (
        RelPath::parse(&format!(".peex-check-{pid}")),
        RelPath::parse(&format!("{}check-{pid}", crate::plan::TEMP_PREFIX)),
    ) else {
        return false;
    };
    let t1 = 1_000_000_000;
    let mtime = times.then_some(t1);
    let body = b"peex check probe\n";
    let mut ok = true;
    match retrying(fs, job, |fs| {
        fs.upload_replace(&tmp, &name, &mut &body[..], body.len() as u64, mtime)
    }) {
        Ok(()) => line("probe: upload", format!("ok ({name})")),
        Err(e) => {
            line("probe: upload", format!("FAILED: {e}"));
            let _ = fs.delete(&tmp);
            return false;
        }
    }
    match retrying(fs, job, |fs| fs.list(&RelPath::root())) {
        Ok(entries) => match entries.iter().find(|e| e.name == name.name()) {
            Some(e) => {
                line("probe: dotfiles listed", "yes");
                let exact = e.kind == EntryKind::File
                    && e.size == body.len() as u64
                    && (!times || e.mtime == Some(t1));
                line(
                    "probe: size and time",
                    if exact {
                        "exact".to_owned()
                    } else {
                        ok = false;
                        format!("DIFFER: size {} mtime {:?}", e.size, e.mtime)
                    },
                );
            }
            None => {
                ok = false;
                line(
                    "probe: dotfiles listed",
                    "NO: the listing hides names starting with '.' (.htaccess would be uploaded every run)",
                );
            }
        },
        Err(e) => {
            ok = false;
            line("probe: list", format!("FAILED: {e}"));
        }
    }
    match crate::names::probe_folds_case(fs.as_mut(), &RelPath::root()) {
        Ok(true) => line(
            "probe: letter case",
            "folded (README and readme are one file): a sync refuses local names that \
             differ only by case",
        ),
        Ok(false) => line(
            "probe: letter case",
            "kept (README and readme are two files)",
        ),
        Err(e) => {
            ok = false;
            line("probe: letter case", format!("FAILED: {e}"));
        }
    }
    let body2 = b"peex check probe, second version\n";
    match retrying(fs, job, |fs| {
        fs.upload_replace(&tmp, &name, &mut &body2[..], body2.len() as u64, mtime)
    }) {
        Ok(()) => line("probe: rename over", "ok (replaced the existing file)"),
        Err(e) => {
            ok = false;
            line("probe: rename over", format!("FAILED: {e}"));
            let _ = fs.delete(&tmp);
        }
    }
    match retrying(fs, job, |fs| fs.delete(&name)) {
        Ok(()) => line("probe: removed", "ok"),
        Err(e) => {
            ok = false;
            line(
                "probe: removed",
                format!("FAILED: {e} (remove {name} by hand)"),
            );
        }
    }
    ok
}

/// With the check's connection open, opens `jobs - 1` more at once; returns how many are
/// open in all and, if the server refused some, why.
fn connection_limit(job: &CheckJob<'_>) -> (usize, Option<String>) {
    let results: Vec<peex_core::Result<Box<dyn RemoteFs>>> = std::thread::scope(|s| {
        // The check's own connection is still open and counts as one.
        let handles: Vec<_> = (1..job.jobs)
            .map(|_| s.spawn(|| job.transport.connect(&job.params)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(peex_core::Error::new(
                        peex_core::ErrorKind::Unexpected,
                        "connection thread panicked",
                    ))
                })
            })
            .collect()
    });
    let mut opened = 1;
    let mut why = None;
    for r in results {
        match r {
            Ok(mut c) => {
                opened += 1;
                let _ = c.quit();
            }
            Err(e) => why = Some(e.to_string()),
        }
    }
    (opened, why)
}

/// How `peex check` names the way times are read back: FTP's command, or just yes/no.
fn read_times(scheme: &str, get_mtime: bool) -> &'static str {
    match (get_mtime, scheme) {
        (false, _) => "no",
        (true, "ftp" | "ftps") => "yes (MDTM)",
        (true, _) => "yes",
    }
}
