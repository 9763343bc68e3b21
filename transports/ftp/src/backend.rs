//! The [`RemoteFs`] of one FTP or FTPS connection ([`FtpFs`]).

use crate::errors::Op;
use crate::ftpfs::FtpFs;
use crate::session::Listing;
use crate::time::{format_ftp_time, parse_ftp_time};
use peex_core::{
    Capabilities, Entry, Error, ErrorKind, HashAlgo, MtimeMethod, RelPath, RemoteFs, RenameOver,
    ReplaceJob, Result,
};
use std::io::Read;

/// How many `MKD` commands go out in one write: replies are small, so the server never
/// blocks writing them while we are still writing commands.
const MKD_PIPELINE: usize = 256;

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
        self.list_needing(dir, &|_| true)
    }

    /// With `LIST` (no MLSD), `MDTM` only for the files whose size equals the local one's:
    /// every other file's time decides nothing ([`RemoteFs::list_for`]).
    fn list_for(
        &mut self,
        dir: &RelPath,
        local_size: &dyn Fn(&str) -> Option<u64>,
    ) -> Result<Vec<Entry>> {
        self.list_needing(dir, &|e: &Entry| local_size(&e.name) == Some(e.size))
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
        self.set_time(path, mtime)
    }

    /// Checks on a file, never a directory when a file is known, going down the methods
    /// offered as the server refuses them (proftpd lists MFMT in FEAT even when a
    /// `<Limit MFMT>` denies it):
    ///
    /// - a file this connection listed gets the time it already has (one round trip; two
    ///   when the listing gave only its coarse time, read exactly with `MDTM` first);
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
        if self.seen_file.is_none() {
            // A listed file whose exact time was not needed: read it (one round trip, still
            // cheaper than a probe file).
            if let Some(path) = self.seen_coarse.take() {
                if let Ok(secs) = self.get_mtime(&path) {
                    self.seen_file = Some((path, secs));
                }
            }
        }
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
        let job = ReplaceJob {
            id: 0,
            tmp: Some(tmp.clone()),
            path: path.clone(),
            src: Box::new(src),
            size,
            mtime,
        };
        peex_core::stream_of_one(job, |next, done| self.pipelined_stream(next, done))
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
            let tls13 = self.s.wire.tls_version() == Some(rustls::ProtocolVersion::TLSv1_3);
            let version = if tls13 { "TLS 1.3" } else { "TLS 1.2" };
            let tickets = match self.s.wire.data_tls() {
                Some(d) if tls13 => format!(
                    " ({} session tickets received, {} left)",
                    d.store.received(),
                    d.store.tickets()
                ),
                _ => String::new(),
            };
            v.push((
                "TLS session reuse".to_owned(),
                match self.s.wire.last_data_handshake {
                    Some(rustls::HandshakeKind::Resumed) => {
                        format!("{version}, session resumed by data connections{tickets}")
                    }
                    Some(_)
                        if tls13
                            && self
                                .s
                                .wire
                                .data_tls()
                                .is_some_and(|d| d.store.received() == 0) =>
                    {
                        format!(
                            "{version}, no session resumption: the server sends no session \
                             tickets, data connections make full handshakes"
                        )
                    }
                    Some(k) => {
                        format!("{version}, data connection handshake: {k:?} (not resumed)")
                    }
                    None => format!("{version}, no data connection made yet"),
                },
            ));
            let given_up = self
                .s
                .wire
                .tls13_fallback
                .as_deref()
                .and_then(crate::session::tls13_given_up);
            if let (false, Some(why)) = (tls13, given_up) {
                v.push(("TLS 1.3".to_owned(), format!("not used: {why}")));
            }
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
