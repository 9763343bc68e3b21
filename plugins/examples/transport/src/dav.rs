//! The WebDAV wire: the `PROPFIND` body, multistatus replies parsed into entries, URL path
//! encoding, Basic-auth base64, and the one function that maps HTTP statuses and transport
//! errors to the contract's kinds.

use peex_core::{Error, ErrorKind, Result};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) const PROPFIND_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>"#;

/// One entry of a multistatus reply.
#[derive(Debug, Clone)]
pub(crate) struct DavEntry {
    /// Decoded URL path, without trailing slash.
    pub(crate) path: String,
    pub(crate) is_dir: bool,
    pub(crate) size: Option<u64>,
    pub(crate) mtime: Option<i64>,
}

/// The one error-mapping function: HTTP statuses and transport errors to kinds.
pub(crate) fn map_err(e: ureq::Error) -> Error {
    match e {
        ureq::Error::Status(code, resp) => {
            let text = format!("HTTP {code} {}", resp.status_text());
            let (kind, temporary) = match code {
                401 => (ErrorKind::AuthFailed, false),
                403 | 423 => (ErrorKind::PermissionDenied, false),
                404 | 410 => (ErrorKind::NotFound, false),
                405 | 501 => (ErrorKind::Unsupported, false),
                409 => (ErrorKind::NotFound, false),
                412 => (ErrorKind::AlreadyExists, false),
                429 => (ErrorKind::RateLimited, true),
                503 => (ErrorKind::RateLimited, true),
                502 | 504 => (ErrorKind::Unexpected, true),
                _ => (ErrorKind::Unexpected, false),
            };
            Error::new(kind, text).set_temporary(temporary)
        }
        ureq::Error::Transport(t) => {
            use ureq::ErrorKind as K;
            let (kind, temporary) = match t.kind() {
                K::Dns | K::ConnectionFailed => (ErrorKind::ConnectionFailed, false),
                K::InvalidUrl | K::UnknownScheme | K::InvalidProxyUrl => {
                    (ErrorKind::ConfigInvalid, false)
                }
                K::Io => (ErrorKind::Unexpected, true),
                K::BadStatus | K::BadHeader | K::TooManyRedirects => (ErrorKind::Protocol, false),
                _ => (ErrorKind::Unexpected, false),
            };
            let msg = t.to_string();
            let kind = if msg.contains("certificate") || msg.contains("InvalidCertificate") {
                ErrorKind::HostIdentity
            } else {
                kind
            };
            Error::new(kind, msg).set_temporary(temporary)
        }
    }
}

pub(crate) fn parse_multistatus(body: &str) -> Result<Vec<DavEntry>> {
    const DAV: &str = "DAV:";
    let doc = roxmltree::Document::parse(body)
        .map_err(|e| Error::new(ErrorKind::Protocol, format!("PROPFIND: bad XML: {e}")))?;
    let mut out = Vec::new();
    for resp in doc
        .descendants()
        .filter(|n| n.has_tag_name((DAV, "response")))
    {
        let href = resp
            .children()
            .find(|n| n.has_tag_name((DAV, "href")))
            .and_then(|n| n.text())
            .ok_or_else(|| Error::new(ErrorKind::Protocol, "PROPFIND: response without href"))?;
        let mut path = href.trim().to_owned();
        if let Some(i) = path.find("://") {
            // Absolute URL: keep the path.
            path = path[i + 3..]
                .find('/')
                .map_or("/".to_owned(), |j| path[i + 3 + j..].to_owned());
        }
        let path = decode_path(&path)?;
        let mut e = DavEntry {
            is_dir: path.ends_with('/'),
            path: path.trim_end_matches('/').to_owned(),
            size: None,
            mtime: None,
        };
        for ps in resp
            .children()
            .filter(|n| n.has_tag_name((DAV, "propstat")))
        {
            let ok = ps
                .children()
                .find(|n| n.has_tag_name((DAV, "status")))
                .and_then(|n| n.text())
                .is_some_and(|s| s.split_whitespace().nth(1) == Some("200"));
            if !ok {
                continue;
            }
            let Some(prop) = ps.children().find(|n| n.has_tag_name((DAV, "prop"))) else {
                continue;
            };
            for p in prop.children().filter(|n| n.is_element()) {
                let text = p.text().unwrap_or("").trim();
                if p.has_tag_name((DAV, "resourcetype")) {
                    e.is_dir = p.children().any(|c| c.has_tag_name((DAV, "collection")));
                } else if p.has_tag_name((DAV, "getcontentlength")) && !text.is_empty() {
                    e.size = Some(text.parse().map_err(|_| {
                        Error::new(
                            ErrorKind::Protocol,
                            format!("PROPFIND: bad getcontentlength {text:?}"),
                        )
                    })?);
                } else if p.has_tag_name((DAV, "getlastmodified")) && !text.is_empty() {
                    let t = httpdate::parse_http_date(text).map_err(|_| {
                        Error::new(
                            ErrorKind::Protocol,
                            format!("PROPFIND: bad getlastmodified {text:?}"),
                        )
                    })?;
                    e.mtime = Some(unix_secs(t));
                }
            }
        }
        out.push(e);
    }
    Ok(out)
}

pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Percent-encodes a path (keeps `/` and RFC 3986 unreserved characters).
pub(crate) fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; the result must be UTF-8.
pub(crate) fn decode_path(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| Error::new(ErrorKind::InvalidName, format!("href {s:?} is not UTF-8")))
}

pub(crate) fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(base64(b"user:pw"), "dXNlcjpwdw==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(encode_path("/a b/ü%"), "/a%20b/%C3%BC%25");
        assert_eq!(decode_path("/a%20b/%C3%BC%25").unwrap(), "/a b/ü%");
        assert_eq!(decode_path("/50%").unwrap(), "/50%");
    }

    #[test]
    fn multistatus_parsing() {
        let xml = r#"<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">
<D:response><D:href>/r/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>http://h:1/r/a%20b.txt</D:href><D:propstat><D:prop><D:resourcetype/><D:getcontentlength>5</D:getcontentlength><D:getlastmodified>Sun, 09 Sep 2001 01:46:40 GMT</D:getlastmodified></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
</D:multistatus>"#;
        let v = parse_multistatus(xml).unwrap();
        assert_eq!(v.len(), 2);
        assert!(v[0].is_dir && v[0].path == "/r");
        assert_eq!(v[1].path, "/r/a b.txt");
        assert_eq!((v[1].size, v[1].mtime), (Some(5), Some(1_000_000_000)));
    }
}
