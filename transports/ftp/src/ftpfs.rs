//! [`FtpFs`]: one FTP or FTPS connection's state (session, time-setting method, rename
//! behaviour) and the operations that the `RemoteFs` methods (`backend.rs`) and the
//! pipelined uploads (`stream.rs`) share.

use crate::errors::Op;
use crate::lister::parse_mlsd;
use crate::reply::Reply;
use crate::session::{is_dir_type, Listing, Session};
use crate::time::{format_ftp_time, parse_ftp_time};
use peex_core::{Entry, EntryKind, Error, ErrorKind, MtimeMethod, RelPath, RenameOver, Result};

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
    pub(crate) fallback: Vec<MtimeMethod>,
    /// True when `mtime_method` forced the method: no fallback then.
    pub(crate) forced: bool,
    /// What the server refused on the way down, for the final error message.
    pub(crate) refused: Vec<String>,
    /// [`Capabilities::rename_dirs`] (the `rename_dirs` option).
    pub(crate) rename_dirs: bool,
    /// [`Capabilities::rename_over`]: atomic until the server refuses `RNTO` onto an
    /// existing file (proftpd's `AllowOverwrite off`, FileZilla Server), then remove, then
    /// rename, for the rest of the connection.
    pub(crate) rename_over: RenameOver,
    /// A file this connection listed, with its exact time: what
    /// [`RemoteFs::verify_set_mtime`] sets to the time it already has.
    pub(crate) seen_file: Option<(RelPath, i64)>,
    /// A file this connection listed with only a coarse time (`LIST`, no `MDTM` asked for):
    /// with no [`FtpFs::seen_file`], `verify_set_mtime` reads its exact time first.
    pub(crate) seen_coarse: Option<RelPath>,
}

/// How many `MDTM` commands go out in one write when a LIST listing's files need their
/// exact times.
pub(crate) const MDTM_PIPELINE: usize = 256;

/// The engine's temporary names start so: such a file may be half written and is about to
/// be removed, so it is never the file times are checked on.
pub(crate) const TEMP_PREFIX: &str = ".peex-tmp.";

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
            seen_coarse: None,
        })
    }

    /// The next method to try once the current one is refused.
    pub(crate) fn next_method(&mut self) -> MtimeMethod {
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

    /// Lists `dir`: `MLSD`, else `LIST` with the exact time of each file `exact` asks for
    /// read by `MDTM` ([`FtpFs::list_with_list`]); the other files keep the listing's
    /// coarse time. Remembers the first file with an exact time for `verify_set_mtime`
    /// (which sets a file's own time on it: never a coarse one).
    pub(crate) fn list_needing(
        &mut self,
        dir: &RelPath,
        exact: &dyn Fn(&Entry) -> bool,
    ) -> Result<Vec<Entry>> {
        let abs = self.abs(dir);
        let mlsd = self.s.listing == Listing::Mlsd;
        let entries = if mlsd {
            let data = self.s.read_data(&format!("MLSD {abs}"), Op::List)?;
            self.check_complete(&data, &abs)?;
            parse_mlsd(&data)?
        } else {
            self.list_with_list(&abs, exact)?
        };
        // The contract's checks (safe names, no duplicates, times on files) are the
        // engine's `peex_core::Checked`.
        let usable = |e: &Entry| e.kind == EntryKind::File && !e.name.starts_with(TEMP_PREFIX);
        // What `list_with_list` read by MDTM (name and size are as they were asked about).
        let timed = |e: &Entry| mlsd || exact(e);
        if self.seen_file.is_none() {
            let f = entries.iter().find(|e| usable(e) && timed(e));
            if let Some((e, t)) = f.and_then(|e| e.mtime.map(|t| (e, t))) {
                self.seen_file = dir.join(&e.name).ok().map(|p| (p, t));
            }
        }
        if self.seen_file.is_none() && self.seen_coarse.is_none() {
            let f = entries.iter().find(|e| usable(e) && !timed(e));
            self.seen_coarse = f.and_then(|e| dir.join(&e.name).ok());
        }
        Ok(entries)
    }

    /// LIST of `abs` (`CWD` there first: LIST's argument is a pattern to some servers), the
    /// exact time of each file `exact` asks for read with pipelined `MDTM`s; the other files
    /// keep the listing's coarse time.
    pub(crate) fn list_with_list(
        &mut self,
        abs: &str,
        exact: &dyn Fn(&Entry) -> bool,
    ) -> Result<Vec<Entry>> {
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
            .filter(|&i| entries[i].kind == EntryKind::File && exact(&entries[i]))
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
    pub(crate) fn check_complete(&self, data: &[u8], abs: &str) -> Result<()> {
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
    pub(crate) fn probe_file(&mut self) -> Result<(RelPath, i64)> {
        let name = RelPath::parse(&format!("{TEMP_PREFIX}mtime-{}", std::process::id()))?;
        let abs = self.abs(&name);
        crate::writer::upload(&mut self.s, &abs, &mut &b""[..], 0)?;
        Ok((name, 1_000_000_000))
    }

    pub(crate) fn abs(&self, p: &RelPath) -> String {
        p.under(&self.s.root)
    }

    /// The outcome of `MKD abs` from its reply: an existing directory is success.
    pub(crate) fn mkd_verdict(&mut self, abs: &str, r: &Reply) -> Result<()> {
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
    pub(crate) fn exists(&mut self, abs: &str) -> Result<bool> {
        Ok(self.s.stat(abs)?.is_some())
    }

    /// One attempt with `method`: `Ok(true)` done, `Ok(false)` refused as a command (try the
    /// next method), `Err` a real failure.
    pub(crate) fn try_set_mtime(
        &mut self,
        method: MtimeMethod,
        abs: &str,
        ts: &str,
    ) -> Result<bool> {
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

    /// [`RemoteFs::set_mtime`]: sets `path`'s time with the current method, going down
    /// the methods offered as the server refuses them (unless forced).
    pub(crate) fn set_time(&mut self, path: &RelPath, mtime: i64) -> Result<()> {
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
