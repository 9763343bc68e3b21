//! [`FtpFs`]: the [`RemoteFs`] of one FTP or FTPS connection.

use crate::errors::Op;
use crate::lister::parse_mlsd;
use crate::reply::Reply;
use crate::session::{is_dir_type, Listing, Session};
use crate::time::{format_ftp_time, parse_ftp_time};
use peex_core::{
    Capabilities, Entry, Error, ErrorKind, MtimeMethod, RelPath, RemoteFs, RenameOver, ReplaceJob,
    Result,
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
    /// How times are set now: the first of the methods FEAT, the greeting and SITE HELP
    /// offer (or the `mtime_method` option); the next one ([`FtpFs::fallback`]) when the
    /// server refuses it; unsupported when none is left.
    pub(crate) mtime: MtimeMethod,
    /// The methods still to try after [`FtpFs::mtime`], best first.
    fallback: Vec<MtimeMethod>,
    /// True when `mtime_method` forced the method: no fallback then.
    forced: bool,
    /// What the server refused on the way down, for the final error message.
    refused: Vec<String>,
    /// [`Capabilities::rename_dirs`] (the `rename_dirs` option).
    rename_dirs: bool,
    /// [`Capabilities::rename_over`]: atomic until the server refuses `RNTO` onto an
    /// existing file (proftpd's `AllowOverwrite off`, FileZilla Server), then remove, then
    /// rename, for the rest of the connection.
    pub(crate) rename_over: RenameOver,
    /// A file this connection listed, with its exact time: what
    /// [`RemoteFs::verify_set_mtime`] sets to the time it already has.
    seen_file: Option<(RelPath, i64)>,
}

/// How many `MDTM` commands go out in one write when a LIST listing's files need their
/// exact times.
const MDTM_PIPELINE: usize = 256;

/// The engine's temporary names start so: such a file may be half written and is about to
/// be removed, so it is never the file times are checked on.
const TEMP_PREFIX: &str = ".peex-tmp.";

impl FtpFs {
    /// Wraps an open session; `forced` is the `mtime_method` option, `rename_dirs` the
    /// option of that name.
    pub(crate) fn new(
        mut s: Session,
        forced: Option<MtimeMethod>,
        rename_dirs: bool,
    ) -> Result<Self> {
        let mut methods = match forced {
            Some(m) => vec![m],
            None => s.probe_mtime_methods()?,
        };
        let mtime = if methods.is_empty() {
            MtimeMethod::Unsupported
        } else {
            methods.remove(0)
        };
        Ok(FtpFs {
            s,
            mtime,
            fallback: methods,
            forced: forced.is_some(),
            refused: Vec::new(),
            rename_dirs,
            rename_over: RenameOver::Atomic,
            seen_file: None,
        })
    }

    /// The next method to try once the current one is refused.
    fn next_method(&mut self) -> MtimeMethod {
        if self.fallback.is_empty() {
            MtimeMethod::Unsupported
        } else {
            self.fallback.remove(0)
        }
    }

    /// `RNTO` onto the existing file `to` was refused (`refused`: the reply): removes it and
    /// renames again; if that works, every later rename of this connection removes first.
    pub(crate) fn rename_refused_over(
        &mut self,
        from: &RelPath,
        to: &RelPath,
        refused: &str,
    ) -> Result<()> {
        let (from_abs, to_abs) = (self.abs(from), self.abs(to));
        let fail = |e: Error| e.with_op("rename into place", to);
        if self.s.stat(&to_abs)?.is_none() {
            return Err(fail(Error::new(
                ErrorKind::PermissionDenied,
                refused.to_owned(),
            )));
        }
        let r = self.s.command(&format!("DELE {to_abs}"))?;
        if !r.is_ok() {
            return Err(fail(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "the server refused to rename onto the existing file ({refused}) and to                      remove it ({})",
                    r.one_line()
                ),
            )));
        }
        let replies = self.s.wire.batch(
            &[format!("RNFR {from_abs}"), format!("RNTO {to_abs}")],
            Op::Change,
        )?;
        match (replies.first(), replies.get(1)) {
            (Some(a), Some(b)) if a.code == 350 && (200..300).contains(&b.code) => {
                self.rename_over = RenameOver::RemoveThenRename;
                Ok(())
            }
            (Some(a), _) if a.code != 350 => Err(fail(a.error(Op::Change))),
            (_, Some(b)) => Err(fail(b.error(Op::Change))),
            _ => Err(fail(Error::new(
                ErrorKind::Protocol,
                "no reply to RNFR/RNTO",
            ))),
        }
    }

    /// LIST of `abs` (`CWD` there first: LIST's argument is a pattern to some servers), each
    /// file's exact time read with pipelined `MDTM`s.
    fn list_with_list(&mut self, abs: &str) -> Result<Vec<Entry>> {
        let r = self.s.command(&format!("CWD {abs}"))?;
        if r.code != 250 {
            return Err(r.error(Op::List));
        }
        // `-a` shows dotfiles (.htaccess) on Unix servers; one that takes it for a name
        // (IIS) refuses it: then plain LIST.
        let data = match self.s.read_data("LIST -a", Op::List) {
            Ok(d) => d,
            Err(e) if !e.is_temporary() => self.s.read_data("LIST", Op::List)?,
            Err(e) => return Err(e),
        };
        self.check_complete(&data, abs)?;
        let mut entries = crate::list_lines::parse_list(&data)?;
        if !self.s.features.has("MDTM") {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "the server offers neither MLSD nor MDTM: LIST gives no exact times",
            ));
        }
        let files: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].kind == peex_core::EntryKind::File)
            .collect();
        let sep = if abs.ends_with('/') { "" } else { "/" };
        for chunk in files.chunks(MDTM_PIPELINE) {
            let lines: Vec<String> = chunk
                .iter()
                .map(|&i| format!("MDTM {abs}{sep}{}", entries[i].name))
                .collect();
            let replies = self.s.wire.batch(&lines, Op::Read)?;
            for (&i, r) in chunk.iter().zip(&replies) {
                let value = r.text.get(4..).unwrap_or("").trim();
                let t = (r.code == 213).then(|| parse_ftp_time(value)).flatten();
                entries[i].mtime = Some(t.ok_or_else(|| {
                    Error::new(
                        ErrorKind::Protocol,
                        format!(
                            "MDTM of listed file {:?}: {}",
                            entries[i].name,
                            r.one_line()
                        ),
                    )
                })?);
            }
        }
        Ok(entries)
    }

    /// A listing the server cut short is an error: its directory is incomplete, so nothing
    /// in it may be deleted.
    fn check_complete(&self, data: &[u8], abs: &str) -> Result<()> {
        if !data.is_empty() && !data.ends_with(b"\n") {
            // Every line ends with CRLF: the data connection was cut mid-line (plain FTP
            // cannot tell that from the end of the listing otherwise).
            return Err(Error::new(
                ErrorKind::Protocol,
                "the listing ends in the middle of a line (data connection cut short?)",
            )
            .temporary());
        }
        if let Some(end) = &self.s.wire.last_data_final {
            if end.text.to_ascii_lowercase().contains("truncated") {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "the server cut the listing of {abs} short ({}): the directory is \
                         incomplete, so nothing in it is deleted; raise the server's listing \
                         limit (Pure-FTPd: LimitRecursion, option -L)",
                        end.one_line()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Uploads an empty probe file under a temporary name, for
    /// [`RemoteFs::verify_set_mtime`] when no file is known to try on.
    fn probe_file(&mut self) -> Result<(RelPath, i64)> {
        let name = RelPath::parse(&format!("{TEMP_PREFIX}mtime-{}", std::process::id()))?;
        let abs = self.abs(&name);
        crate::writer::upload(&mut self.s, &abs, &mut &b""[..], 0)?;
        Ok((name, 1_000_000_000))
    }

    pub(crate) fn abs(&self, p: &RelPath) -> String {
        p.under(&self.s.root)
    }

    /// The outcome of `MKD abs` from its reply: an existing directory is success.
    fn mkd_verdict(&mut self, abs: &str, r: &Reply) -> Result<()> {
        if r.is_ok() {
            return Ok(());
        }
        if matches!(r.code, 550 | 521) {
            match self.s.stat(abs)?.as_deref() {
                Some(t) if is_dir_type(t) => return Ok(()),
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
        if time_was_set(method, &r) {
            return Ok(true);
        }
        let refused = match r.code {
            _ if r.is_ok() => true,
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
        MtimeMethod::Mff => Some(format!("MFF modify={ts}; {abs}")),
        MtimeMethod::MdtmWrite => Some(format!("MDTM {ts} {abs}")),
        _ => None,
    }
}

/// True if `r`, the reply to `method`'s command, says the time was set. A `213` whose text is
/// a time is an `MDTM` read (a server without `mdtm_write` that took `ts path` for a name it
/// found): not a set.
pub(crate) fn time_was_set(method: MtimeMethod, r: &Reply) -> bool {
    if !r.is_ok() {
        return false;
    }
    method != MtimeMethod::MdtmWrite
        || r.code == 213 && parse_ftp_time(r.text.get(4..).unwrap_or("").trim()).is_none()
}

impl RemoteFs for FtpFs {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            set_mtime: self.mtime,
            get_mtime: self.s.features.has("MDTM"),
            rename_over: self.rename_over,
            rename_dirs: self.rename_dirs,
        }
    }

    fn list(&mut self, dir: &RelPath) -> Result<Vec<Entry>> {
        let abs = self.abs(dir);
        let entries = match self.s.listing {
            Listing::Mlsd => {
                let data = self.s.read_data(&format!("MLSD {abs}"), Op::List)?;
                self.check_complete(&data, &abs)?;
                parse_mlsd(&data)?
            }
            Listing::List => self.list_with_list(&abs)?,
        };
        crate::lister::refuse_duplicates(&entries)?;
        if self.seen_file.is_none() {
            let f = entries
                .iter()
                .find(|e| e.kind == peex_core::EntryKind::File && !e.name.starts_with(TEMP_PREFIX));
            if let Some((e, t)) = f.and_then(|e| e.mtime.map(|t| (e, t))) {
                self.seen_file = dir.join(&e.name).ok().map(|p| (p, t));
            }
        }
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
        let (from_abs, to_abs) = (self.abs(from), self.abs(to));
        if self.rename_over == RenameOver::RemoveThenRename && self.s.stat(&to_abs)?.is_some() {
            // A directory is never renamed onto anything (the engine's promise).
            let r = self.s.command(&format!("DELE {to_abs}"))?;
            if !r.is_ok() {
                return Err(r.error(Op::Change));
            }
        }
        let r = self.s.command(&format!("RNFR {from_abs}"))?;
        if r.code != 350 {
            return Err(r.error(Op::List));
        }
        let r = self.s.command(&format!("RNTO {to_abs}"))?;
        if r.is_ok() {
            return Ok(());
        }
        if matches!(r.code, 550 | 553) && self.rename_over == RenameOver::Atomic {
            return self.rename_refused_over(from, to, &r.one_line());
        }
        Err(r.error(Op::Change))
    }

    fn set_mtime(&mut self, path: &RelPath, mtime: i64) -> Result<()> {
        let abs = self.abs(path);
        let ts = format_ftp_time(mtime)?;
        loop {
            let method = self.mtime;
            if method == MtimeMethod::Unsupported {
                let why = if self.refused.is_empty() {
                    "the server offers none of MFMT, MFF, SITE UTIME or MDTM with a time (vsftpd's mdtm_write)".to_owned()
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
            self.mtime = self.next_method();
        }
    }

    /// Checks on a file, never a directory when a file is known, going down the methods
    /// offered as the server refuses them (proftpd lists MFMT in FEAT even when a
    /// `<Limit MFMT>` denies it):
    ///
    /// - a file this connection listed gets the time it already has (one round trip);
    /// - with no file listed, the root directory gets the time it has with the first method
    ///   (one round trip, as peex always did), and only if the server refuses that
    ///   (FileZilla Server 0.9 answers `MFMT` on one with `550 … is not retrievable`,
    ///   vsftpd's `MDTM` with `550`), a probe file under a temporary name is stored, timed
    ///   and removed: a refusal on a directory never stops the run.
    fn verify_set_mtime(&mut self) -> Result<MtimeMethod> {
        if self.mtime == MtimeMethod::Unsupported {
            return Ok(MtimeMethod::Unsupported);
        }
        const WHAT: &str = "check that modification times can be set";
        if let Some((path, secs)) = self.seen_file.clone() {
            return match self.set_mtime(&path, secs) {
                Ok(()) => Ok(self.mtime),
                Err(e) if e.kind() == ErrorKind::Unsupported => Err(e),
                Err(e) => Err(e.with_op(WHAT, &path)),
            };
        }
        let root = self.abs(&RelPath::root());
        let root_time = match self.s.root_modify.take() {
            Some(m) => parse_ftp_time(&m),
            None if self.s.listing == Listing::Mlsd => self
                .s
                .fact(&root, "modify")?
                .and_then(|m| parse_ftp_time(&m)),
            None => None,
        };
        if let Some(secs) = root_time {
            // One command: a refusal may be for directories only (then a file decides).
            let refused = self.refused.len();
            let ts = format_ftp_time(secs)?;
            if let Ok(true) = self.try_set_mtime(self.mtime, &root, &ts) {
                return Ok(self.mtime);
            }
            self.refused.truncate(refused);
        }
        let (path, secs) = self.probe_file().map_err(|e| e.with_op(WHAT, &root))?;
        let r = self.set_mtime(&path, secs);
        let _ = self.s.command(&format!("DELE {}", self.abs(&path)));
        match r {
            Ok(()) => Ok(self.mtime),
            Err(e) if e.kind() == ErrorKind::Unsupported => Err(e),
            Err(e) => Err(e.with_op(WHAT, &path)),
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

    fn server_info(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("greeting".to_owned(), self.s.greeting.clone()),
            ("FEAT".to_owned(), self.s.features.lines.join(", ")),
            (
                "listing".to_owned(),
                match self.s.listing {
                    Listing::Mlsd => "MLSD".to_owned(),
                    Listing::List => "LIST -a, exact file times by MDTM (no MLSD)".to_owned(),
                },
            ),
            (
                "passive mode".to_owned(),
                if self.s.wire.epsv { "EPSV" } else { "PASV" }.to_owned(),
            ),
            ("root".to_owned(), self.s.root.clone()),
            ("pipelining".to_owned(), self.s.wire.pipelining.describe()),
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
