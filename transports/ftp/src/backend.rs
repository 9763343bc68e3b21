//! [`FtpFs`]: the [`RemoteFs`] of one FTP or FTPS connection.

use crate::core::{map_error, Op, Session};
use crate::lister::parse_mlsd;
use crate::time::{format_ftp_time, parse_ftp_time};
use peex_core::{
    Capabilities, Entry, Error, ErrorKind, MtimeMethod, RelPath, RemoteFs, RenameOver, Result,
};
use std::io::Read;
use suppaftp::TlsStream;

/// One logged-in FTP(S) connection rooted at the site's `dest`.
///
/// Every operation uses an absolute path below the root (no `CWD` per operation).
pub struct FtpFs<T: TlsStream> {
    s: Session<T>,
    /// How times are set now; starts from FEAT (or the `mtime_method` option) and moves down
    /// MFMT → SITE UTIME → SITE UTIME (5 arguments) → unsupported as the server refuses.
    mtime: MtimeMethod,
    /// True when `mtime_method` forced the method: no fallback then.
    forced: bool,
    /// What the server refused on the way down, for the final error message.
    refused: Vec<String>,
}

impl<T: TlsStream> FtpFs<T> {
    /// Wraps an open session; `forced` is the `mtime_method` option.
    pub(crate) fn new(mut s: Session<T>, forced: Option<MtimeMethod>) -> Result<Self> {
        let mtime = match forced {
            Some(m) => m,
            None => s.probe_mtime_method()?,
        };
        Ok(FtpFs {
            s,
            mtime,
            forced: forced.is_some(),
            refused: Vec::new(),
        })
    }

    fn abs(&self, p: &RelPath) -> String {
        p.under(&self.s.root)
    }

    /// True if `abs` exists (MLST).
    fn exists(&mut self, abs: &str) -> Result<bool> {
        Ok(self.s.stat(abs)?.is_some())
    }

    /// One attempt with `method`: `Ok(true)` done, `Ok(false)` refused as a command (try the
    /// next method), `Err` a real failure.
    fn try_set_mtime(&mut self, method: MtimeMethod, abs: &str, ts: &str) -> Result<bool> {
        let line = match method {
            MtimeMethod::Mfmt => format!("MFMT {ts} {abs}"),
            MtimeMethod::SiteUtime => format!("SITE UTIME {ts} {abs}"),
            MtimeMethod::SiteUtime5 => format!("SITE UTIME {abs} {ts} {ts} {ts} UTC"),
            _ => return Ok(false),
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

fn next_method(m: MtimeMethod) -> MtimeMethod {
    match m {
        MtimeMethod::Mfmt => MtimeMethod::SiteUtime,
        MtimeMethod::SiteUtime => MtimeMethod::SiteUtime5,
        _ => MtimeMethod::Unsupported,
    }
}

impl<T: TlsStream + Send + 'static> RemoteFs for FtpFs<T> {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            set_mtime: self.mtime,
            get_mtime: self.s.features.has("MDTM"),
            rename_over: RenameOver::Atomic,
        }
    }

    fn list(&mut self, dir: &RelPath) -> Result<Vec<Entry>> {
        let abs = self.abs(dir);
        let data = self.s.read_data(&format!("MLSD {abs}"), Op::List)?;
        parse_mlsd(&data)
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
        if r.is_ok() {
            return Ok(());
        }
        if matches!(r.code, 550 | 521) {
            match self.s.stat(&abs)?.as_deref() {
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
        let modify = self
            .s
            .fact(&root, "modify")?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("{root}: no such directory")))?;
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
        self.s.ftp.quit().map_err(|e| map_error(e, Op::Change))
    }
}
