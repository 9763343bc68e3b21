//! Reply framing: one reply (all lines of a multi-line one) read from the control
//! connection, and whether it can be the reply to the command it should answer.

use crate::errors::{map_io, map_reply, Op};
use peex_core::{Error, ErrorKind, Result};
use std::io::{BufRead, Read};

/// Longest reply line accepted (a hostile server cannot make us buffer without end).
const MAX_LINE: usize = 64 * 1024;
/// Largest reply accepted (all lines).
const MAX_REPLY: usize = 1024 * 1024;

/// One reply of the server: code and text (all lines, CRLF kept out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code of the last line.
    pub code: u32,
    /// The text of every line, joined with `\n`, without trailing whitespace.
    pub text: String,
}

impl Reply {
    #[cfg(test)]
    fn from_body(body: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(body)
            .trim_end()
            .replace("\r\n", "\n");
        let code = text
            .lines()
            .last()
            .and_then(|l| l.get(0..3))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Reply { code, text }
    }

    /// True for 1xx, 2xx and 3xx replies.
    pub fn is_ok(&self) -> bool {
        (100..400).contains(&self.code)
    }

    /// The text on one line (multi-line replies joined with ` / `).
    pub fn one_line(&self) -> String {
        self.text.lines().collect::<Vec<_>>().join(" / ")
    }

    /// The error this reply means for `op` (see [`map_reply`]).
    pub fn error(&self, op: Op) -> Error {
        map_reply(self.code, &self.one_line(), op)
    }
}

/// What reading one reply gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// A reply.
    Reply(Reply),
    /// A line that cannot start a reply (no three-digit code): the rest of an unexpected
    /// reply, or a line no command asked for.
    NotAReply(String),
}

/// Reads one reply (all lines of a multi-line one), each line from `next_line`
/// ([`read_line`]). A first line that cannot start a reply (no code) is returned as
/// [`Framed::NotAReply`]: what it means is for the caller to say.
pub fn read_reply(mut next_line: impl FnMut() -> Result<String>) -> Result<Framed> {
    let mut text = String::new();
    // The code of the first line; a multi-line reply ("123-") ends at "123 ".
    let mut code_buf: Option<[u8; 3]> = None;
    loop {
        let line = next_line()?;
        if text.len() + line.len() > MAX_REPLY {
            return Err(Error::new(ErrorKind::Protocol, "reply too long"));
        }
        let bytes = line.as_bytes();
        let has_code = bytes.len() >= 3 && bytes[..3].iter().all(u8::is_ascii_digit);
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&line);
        match code_buf {
            None => {
                if !has_code {
                    return Ok(Framed::NotAReply(line));
                }
                let c = [bytes[0], bytes[1], bytes[2]];
                code_buf = Some(c);
                if bytes.get(3) != Some(&b'-') {
                    break;
                }
            }
            Some(c) => {
                if has_code && bytes[..3] == c && bytes.get(3) != Some(&b'-') {
                    break;
                }
            }
        }
    }
    let code = code_buf
        .map(|c| c.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
        .unwrap_or(0);
    Ok(Framed::Reply(Reply { code, text }))
}

/// Reads one line of a reply, CR and LF removed; a line cut by the end of the
/// connection is an I/O error (temporary), one longer than [`MAX_LINE`] a protocol
/// error.
pub fn read_line(reader: &mut impl BufRead, op: Op) -> Result<String> {
    let mut raw = Vec::new();
    let n = reader
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut raw)
        .map_err(|e| map_io(e, op))?;
    if n == 0 {
        return Err(map_io(
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the control connection",
            ),
            op,
        ));
    }
    if raw.last() != Some(&b'\n') {
        if n < MAX_LINE {
            // The connection closed in the middle of a line: cut, not malformed.
            return Err(map_io(
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the control connection in the middle of a reply",
                ),
                op,
            ));
        }
        return Err(Error::new(ErrorKind::Protocol, "reply line too long"));
    }
    while matches!(raw.last(), Some(b'\n' | b'\r')) {
        raw.pop();
    }
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

/// Whether `r` can be the reply to the command `line` (sent pipelined, or alone). A reply
/// that cannot means the conversation is out of step: the reply of another command, or
/// one the server sent unasked. Any command may be refused (4xx, 5xx); what is checked
/// is the positive replies: a preliminary `1xx` only answers a transfer, `350` only
/// `RNFR` (and `REST`), and the commands whose success has one code of its own (`EPSV`
/// 229, `PASV` 227, `SIZE`/`MDTM` 213, `MLST` 250, `MKD` 257 naming the directory made,
/// `RNTO` 2xx) must get that one.
pub fn reply_fits(line: &str, r: &Reply) -> bool {
    let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
    let verb = verb.to_ascii_uppercase();
    if r.code >= 400 {
        return r.code < 600;
    }
    match verb.as_str() {
        "STOR" | "RETR" | "MLSD" | "LIST" | "NLST" | "APPE" => (100..300).contains(&r.code),
        "USER" => matches!(r.code, 230 | 331 | 332),
        "PASS" => matches!(r.code, 230 | 202 | 332),
        "RNFR" | "REST" => r.code == 350,
        "EPSV" => r.code == 229,
        "PASV" => r.code == 227,
        "SIZE" | "MDTM" => r.code == 213,
        "MLST" => r.code == 250,
        "MKD" | "XMKD" => match r.code {
            257 => mkd_reply_names(&r.text, arg),
            // A few servers answer 250 (no path to check).
            250 => true,
            _ => false,
        },
        _ => (200..300).contains(&r.code),
    }
}

/// Commands a server that answers them must know: a `500` to one of them sent in a batch
/// means it was thrown away, not that it is unknown. (`MFMT`, `SITE`, `OPTS` may well be
/// unknown.)
pub fn known_command(line: &str) -> bool {
    let verb = line.split(' ').next().unwrap_or(line).to_ascii_uppercase();
    matches!(
        verb.as_str(),
        "MKD" | "RNFR" | "RNTO" | "DELE" | "RMD" | "STOR" | "EPSV" | "PASV" | "MLSD" | "MLST"
    )
}

/// Whether a `257` reply to `MKD path` names `path` (or says no name at all): servers
/// quote the directory made, absolute or relative to the current one (`257 "/a/b" …`,
/// `257 "b" …`), so its quoted name must end with the last component of `path`.
fn mkd_reply_names(text: &str, path: &str) -> bool {
    let first = text.lines().next().unwrap_or("");
    let Some(start) = first.find('"') else {
        return true;
    };
    // Inside the quotes, a doubled quote is a quote of the name.
    let mut quoted = String::new();
    let mut chars = first[start + 1..].chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
            } else {
                break;
            }
        }
        quoted.push(c);
    }
    let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let quoted = quoted.trim_end_matches('/');
    name.is_empty() || quoted == name || quoted.ends_with(&format!("/{name}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn framed(bytes: &[u8]) -> Result<Framed> {
        let mut r = std::io::BufReader::new(bytes);
        read_reply(|| read_line(&mut r, Op::Change))
    }

    #[test]
    fn multi_line_replies_end_at_their_code_and_a_line_without_one_is_no_reply() {
        let got = framed(b"220-multi\r\n line two\r\n220 ready\r\n").unwrap();
        assert_eq!(
            got,
            Framed::Reply(Reply {
                code: 220,
                text: "220-multi\n line two\n220 ready".to_owned()
            })
        );
        let got = framed(b"MKD /a: No such file or directory\r\n").unwrap();
        assert_eq!(
            got,
            Framed::NotAReply("MKD /a: No such file or directory".into())
        );
        let e = framed(b"250-Start\r\n cut").unwrap_err();
        assert!(
            e.is_temporary(),
            "a reply cut by the end of the connection: {e}"
        );
    }

    fn reply(code: u32, text: &str) -> Reply {
        Reply {
            code,
            text: text.to_owned(),
        }
    }

    #[test]
    fn replies_that_cannot_answer_the_command_are_told_apart() {
        let fits = |line: &str, code, text: &str| reply_fits(line, &reply(code, text));
        // Refusals fit anything.
        assert!(fits("MKD /a", 550, "550 /a: No such file or directory"));
        assert!(fits("EPSV", 500, "500 EPSV not understood"));
        assert!(fits("STOR /f", 425, "425 Unable to build data connection"));
        // The positive reply of each command.
        assert!(fits(
            "MKD /a/b",
            257,
            "257 \"/a/b\" - Directory successfully created"
        ));
        assert!(fits(
            "MKD /a/b",
            257,
            "257 \"b\" : The directory was successfully created"
        ));
        assert!(fits("MKD /a/b/", 257, "257 \"/a/b/\" created"));
        assert!(fits("MKD /a/q\"t", 257, "257 \"/a/q\"\"t\" created"));
        assert!(fits("MKD /a", 257, "257 Directory created"));
        assert!(fits(
            "EPSV",
            229,
            "229 Entering Extended Passive Mode (|||4000|)"
        ));
        assert!(fits("PASV", 227, "227 Entering Passive Mode (1,2,3,4,5,6)"));
        assert!(fits("SIZE /f", 213, "213 12"));
        assert!(fits("RNFR /f", 350, "350 ready"));
        assert!(fits("RNTO /g", 250, "250 Rename successful"));
        assert!(fits("STOR /f", 150, "150 Opening"));
        assert!(fits("STOR /f", 226, "226 Transfer complete"));
        assert!(fits(
            "MFMT 20200101000000 /f",
            213,
            "213 Modify=20200101000000; /f"
        ));
        // Another command's reply.
        assert!(!fits(
            "MKD /a/c",
            257,
            "257 \"/a/b\" - Directory successfully created"
        ));
        assert!(!fits(
            "MKD /a",
            229,
            "229 Entering Extended Passive Mode (|||4000|)"
        ));
        assert!(!fits("EPSV", 226, "226 Transfer complete"));
        assert!(!fits("EPSV", 257, "257 \"/a\" created"));
        assert!(!fits("SIZE /f", 350, "350 ready"));
        assert!(!fits("RNTO /g", 350, "350 ready"));
        assert!(!fits("MKD /a", 150, "150 Opening"));
        assert!(!fits("MLST /a", 226, "226 Transfer complete"));
        assert!(!fits("MKD /a", 999, "999 what"));
    }

    #[test]
    fn reply_text() {
        let r = Reply::from_body(
            b"214-The following SITE commands\r\n UTIME\r\n214 Direct comments\r\n",
        );
        assert_eq!(r.code, 214);
        assert!(r.is_ok());
        assert_eq!(
            r.one_line(),
            "214-The following SITE commands /  UTIME / 214 Direct comments"
        );
    }
}
