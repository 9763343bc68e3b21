//! [`FtpFs`]: the [`RemoteFs`] of one FTP or FTPS connection.

use crate::core::{Op, Session};
use crate::lister::parse_mlsd;
use crate::time::{format_ftp_time, parse_ftp_time};
use peex_core::{
    Capabilities, Entry, Error, ErrorKind, HashAlgo, MtimeMethod, RelPath, RemoteFs, RenameOver,
    ReplaceJob, Result,
};
use std::io::Read;

/// How many `MKD` commands go out in one write: replies are small, so the server never
/// blocks writing them while we are still writing commands.
const MKD_PIPELINE: usize = 256;

/// One logged-in FTP(S) connection rooted at the site's `dest`.
///
/// Every operation uses an absolute path below the root (no `CWD` per operation).
pub struct FtpFs {
    pub(crate) s: Session,
    /// How times are set now; starts from FEAT (or the `mtime_method` option) and moves down
    /// MFMT → SITE UTIME → SITE UTIME (5 arguments) → unsupported as the server refuses.
    pub(crate) mtime: MtimeMethod,
    /// True when `mtime_method` forced the method: no fallback then.
    forced: bool,
    /// What the server refused on the way down, for the final error message.
    refused: Vec<String>,
    /// [`Capabilities::rename_dirs`] (the `rename_dirs` option).
    rename_dirs: bool,
}

impl FtpFs {
    /// Wraps an open session; `forced` is the `mtime_method` option, `rename_dirs` the
    /// option of that name.
    pub(crate) fn new(
        mut s: Session,
        forced: Option<MtimeMethod>,
        rename_dirs: bool,
    ) -> Result<Self> {
        let mtime = match forced {
            Some(m) => m,
            None => s.probe_mtime_method()?,
        };
        Ok(FtpFs {
            s,
            mtime,
            forced: forced.is_some(),
            refused: Vec::new(),
            rename_dirs,
        })
    }

    pub(crate) fn abs(&self, p: &RelPath) -> String {
        p.under(&self.s.root)
    }

    /// The outcome of `MKD abs` from its reply: an existing directory is success.
    fn mkd_verdict(&mut self, abs: &str, r: &crate::core::Reply) -> Result<()> {
        if r.is_ok() {
            return Ok(());
        }
        if matches!(r.code, 550 | 521) {
            match self.s.stat(abs)?.as_deref() {
                Some("dir") | Some("cdir") => return Ok(()),
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("{} (and it is not a directory)", r.one_line()),
                    ))
                }
                None => {}
            }
        }
        Err(r.error(Op::Change))
    }

    /// True if `abs` exists (MLST).
    fn exists(&mut self, abs: &str) -> Result<bool> {
        Ok(self.s.stat(abs)?.is_some())
    }

    /// One attempt with `method`: `Ok(true)` done, `Ok(false)` refused as a command (try the
    /// next method), `Err` a real failure.
    fn try_set_mtime(&mut self, method: MtimeMethod, abs: &str, ts: &str) -> Result<bool> {
        let Some(line) = mtime_command(method, abs, ts) else {
            return Ok(false);
        };
        let r = self.s.command(&line)?;
        if r.is_ok() {
            return Ok(true);
        }
        let refused = match r.code {
            500 | 501 | 502 | 504 => true,
            // proftpd answers 550 to a command denied by <Limit>: refused if the path exists.
            550 | 553 => {
                if !self.exists(abs)? {
                    return Err(Error::new(ErrorKind::NotFound, r.one_line()));
                }
                true
            }
            _ => false,
        };
        if refused {
            self.refused
                .push(format!("{} ({})", method.describe(), r.one_line()));
            Ok(false)
        } else {
            Err(r.error(Op::Change))
        }
    }
}

/// The command that sets `abs`'s time to `ts` with `method`, if it is an FTP one.
pub(crate) fn mtime_command(method: MtimeMethod, abs: &str, ts: &str) -> Option<String> {
    match method {
        MtimeMethod::Mfmt => Some(format!("MFMT {ts} {abs}")),
        MtimeMethod::SiteUtime => Some(format!("SITE UTIME {ts} {abs}")),
        MtimeMethod::SiteUtime5 => Some(format!("SITE UTIME {abs} {ts} {ts} {ts} UTC")),
        _ => None,
    }
}

fn next_method(m: MtimeMethod) -> MtimeMethod {
    match m {
        MtimeMethod::Mfmt => MtimeMethod::SiteUtime,
        MtimeMethod::SiteUtime => MtimeMethod::SiteUtime5,
        _ => MtimeMethod::Unsupported,
    }
}

impl RemoteFs for FtpFs {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            set_mtime: self.mtime,
            get_mtime: self.s.features.has("MDTM"),
            rename_over: RenameOver::Atomic,
            rename_dirs: self.rename_dirs,
        }
    }

    fn list(&mut self, dir: &RelPath) -> Result<Vec<Entry>> {
        let abs = self.abs(dir);
        let data = self.s.read_data(&format!("MLSD {abs}"), Op::List)?;
        if !data.is_empty() && !data.ends_with(b"\n") {
            // Every MLSD line ends with CRLF: the data connection was cut mid-line (plain
            // FTP cannot tell that from the end of the listing otherwise).
            return Err(Error::new(
                ErrorKind::Protocol,
                "the listing ends in the middle of a line (data connection cut short?)",
            )
            .temporary());
        }
        let entries = parse_mlsd(&data)?;
        crate::lister::refuse_duplicates(&entries)?;
        Ok(entries)
    }

    fn upload(&mut self, path: &RelPath, src: &mut dyn Read, size: u64) -> Result<()> {
        let abs = self.abs(path);
        crate::writer::upload(&mut self.s, &abs, src, size)
    }

    fn delete(&mut self, path: &RelPath) -> Result<()> {
        let abs = self.abs(path);
        let r = self.s.command(&format!("DELE {abs}"))?;
        if r.is_ok() || (r.code == 550 && !self.exists(&abs)?) {
            return Ok(());
        }
        Err(r.error(Op::Change))
    }

    fn mkdir(&mut self, path: &RelPath) -> Result<()> {
        let abs = self.abs(path);
        let r = self.s.command(&format!("MKD {abs}"))?;
        self.mkd_verdict(&abs, &r)
    }

    /// `MKD` lines go out in writes of up to 256, replies read after each write.
    fn mkdir_batch(&mut self, paths: &[RelPath]) -> Vec<Result<()>> {
        let mut results = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(MKD_PIPELINE) {
            let abs: Vec<String> = chunk.iter().map(|p| self.abs(p)).collect();
            let lines: Vec<String> = abs.iter().map(|a| format!("MKD {a}")).collect();
            let replies = match self.s.wire.batch(&lines, Op::Change) {
                Ok(r) => r,
                Err(e) => {
                    results.push(Err(e));
                    return results;
                }
            };
            for (a, r) in abs.iter().zip(&replies) {
                let v = self.mkd_verdict(a, r);
                let stop = matches!(&v, Err(e) if e.is_temporary());
                results.push(v);
                if stop {
                    return results;
                }
            }
        }
        results
    }

    fn rmdir(&mut self, path: &RelPath) -> Result<()> {
        let abs = self.abs(path);
        let r = self.s.command(&format!("RMD {abs}"))?;
        if r.is_ok() {
            return Ok(());
        }
        if r.code == 550 {
            if r.text.to_ascii_lowercase().contains("not empty") {
                return Err(Error::new(ErrorKind::DirectoryNotEmpty, r.one_line()));
            }
            if !self.exists(&abs)? {
                return Ok(());
            }
        }
        Err(r.error(Op::Change))
    }

    fn rename(&mut self, from: &RelPath, to: &RelPath) -> Result<()> {
        let (from, to) = (self.abs(from), self.abs(to));
        let r = self.s.command(&format!("RNFR {from}"))?;
        if r.code != 350 {
            return Err(r.error(Op::List));
        }
        self.s.expect(&format!("RNTO {to}"), Op::Change)?;
        Ok(())
    }

    fn set_mtime(&mut self, path: &RelPath, mtime: i64) -> Result<()> {
        let abs = self.abs(path);
        let ts = format_ftp_time(mtime)?;
        loop {
            let method = self.mtime;
            if method == MtimeMethod::Unsupported {
                let why = if self.refused.is_empty() {
                    "the server offers neither MFMT nor SITE UTIME".to_owned()
                } else {
                    format!("the server refused {}", self.refused.join(", "))
                };
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("cannot set modification times: {why}"),
                ));
            }
            if self.try_set_mtime(method, &abs, &ts)? {
                return Ok(());
            }
            if self.forced {
                let msg = self.refused.pop().unwrap_or_default();
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("cannot set modification times: the server refused {msg}"),
                ));
            }
            self.mtime = next_method(method);
        }
    }

    /// Sets the root directory's time to the value it already has (read with MLST), going
    /// down MFMT → SITE UTIME → SITE UTIME (5 arguments) as the server refuses; proftpd lists
    /// MFMT in FEAT even when a `<Limit MFMT>` denies it.
    fn verify_set_mtime(&mut self) -> Result<MtimeMethod> {
        if self.mtime == MtimeMethod::Unsupported {
            return Ok(MtimeMethod::Unsupported);
        }
        let root = self.abs(&RelPath::root());
        let modify = match self.s.root_modify.take() {
            Some(m) => m,
            None => self.s.fact(&root, "modify")?.ok_or_else(|| {
                Error::new(ErrorKind::NotFound, format!("{root}: no such directory"))
            })?,
        };
        let secs = parse_ftp_time(&modify).ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!("MLST {root}: modify fact is not a time: {modify:?}"),
            )
        })?;
        match self.set_mtime(&RelPath::root(), secs) {
            Ok(()) => Ok(self.mtime),
            Err(e) if e.kind() == ErrorKind::Unsupported => Err(e),
            Err(e) => Err(e.with_op("check that modification times can be set", &root)),
        }
    }

    /// A stream of one (the `stream` module): `STOR tmp`, then its size check (`SIZE`, else
    /// `MLST`) and `MFMT`, then `RNFR`, `RNTO` and the next `EPSV` in one write.
    /// If the server refuses the time command on the temporary name, the time is set on the
    /// final name afterwards, going down the usual MFMT → SITE UTIME fallback.
    fn upload_replace(
        &mut self,
        tmp: &RelPath,
        path: &RelPath,
        src: &mut dyn Read,
        size: u64,
        mtime: Option<i64>,
    ) -> Result<()> {
        let mut job = Some(ReplaceJob {
            id: 0,
            tmp: Some(tmp.clone()),
            path: path.clone(),
            src: Box::new(src),
            size,
            mtime,
        });
        let mut result = None;
        let streamed = self.pipelined_stream(&mut || job.take(), &mut |_, r| result = Some(r));
        match (result, streamed) {
            (Some(r), _) => r,
            (None, Err(e)) => Err(e),
            (None, Ok(())) => Err(Error::new(ErrorKind::Unexpected, "no upload result")),
        }
    }

    /// Two round trips per file on a slow link, three on a fast one: see the `stream` module.
    fn upload_stream<'a>(
        &mut self,
        next: &mut dyn FnMut() -> Option<ReplaceJob<'a>>,
        done: &mut dyn FnMut(usize, Result<()>),
    ) -> Result<()> {
        self.pipelined_stream(next, done)
    }

    fn hashes(&self) -> Vec<(HashAlgo, String)> {
        crate::hash::offered(&self.s.features)
    }

    fn hash(&mut self, path: &RelPath, algo: HashAlgo) -> Result<String> {
        let abs = self.abs(path);
        crate::hash::digest(&mut self.s, &abs, algo).map_err(|e| e.with_op("hash", path))
    }

    fn server_info(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("greeting".to_owned(), self.s.greeting.clone()),
            ("FEAT".to_owned(), self.s.features.lines.join(", ")),
            (
                "listing".to_owned(),
                if self.s.features.has("MLST") {
                    "MLSD".to_owned()
                } else {
                    "none (no MLSD)".to_owned()
                },
            ),
            (
                "passive mode".to_owned(),
                if self.s.wire.epsv { "EPSV" } else { "PASV" }.to_owned(),
            ),
            ("root".to_owned(), self.s.root.clone()),
        ];
        let (sent, refused) = self.s.wire.early_passive_counts();
        if sent > 0 {
            v.push((
                "early passive requests".to_owned(),
                format!("{sent} sent after the data, {refused} refused during a transfer"),
            ));
        }
        if let Some(rtt) = self.s.wire.rtt() {
            v.push((
                "round trip".to_owned(),
                format!("{:.1} ms (shortest seen)", rtt.as_secs_f64() * 1000.0),
            ));
        }
        if let Some(t) = &self.s.wire.tls_summary {
            v.push(("TLS".to_owned(), t.clone()));
            v.push((
                "TLS session reuse".to_owned(),
                match self.s.wire.last_data_handshake {
                    Some(rustls::HandshakeKind::Resumed) => {
                        "data connections resume the control connection's session".to_owned()
                    }
                    Some(k) => format!("data connection handshake: {k:?} (not resumed)"),
                    None => "no data connection made yet".to_owned(),
                },
            ));
        }
        v
    }

    fn get_mtime(&mut self, path: &RelPath) -> Result<i64> {
        let abs = self.abs(path);
        let r = self.s.command(&format!("MDTM {abs}"))?;
        if r.code != 213 {
            return Err(r.error(Op::Read));
        }
        let value = r.text.get(4..).unwrap_or("").trim();
        parse_ftp_time(value).ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!("MDTM reply is not a time: {}", r.one_line()),
            )
        })
    }

    fn quit(&mut self) -> Result<()> {
        self.s.wire.quit()
    }
}
