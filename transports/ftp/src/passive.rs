//! Passive-mode replies (`229` to `EPSV`, `227` to `PASV`): where the next data connection
//! goes.

use crate::errors::Op;
use crate::reply::Reply;
use peex_core::{Error, ErrorKind, Result};
use std::net::{IpAddr, SocketAddr};

/// The data address in a passive reply: `229 … (|||port|)` gives a port on `peer` (the
/// control connection's address); `227 … (h1,h2,h3,h4,p1,p2)` gives an address, replaced
/// by `peer` when `nat_workaround` (a server behind NAT often names its private address).
/// Any other reply is its own error.
pub fn parse_passive(r: &Reply, peer: IpAddr, nat_workaround: bool) -> Result<SocketAddr> {
    let bad = || {
        Error::new(
            ErrorKind::Protocol,
            format!("cannot parse the passive reply: {}", r.one_line()),
        )
    };
    match r.code {
        229 => {
            // 229 Entering Extended Passive Mode (|||port|)
            let inner = r.text.split('(').nth(1).ok_or_else(bad)?;
            let inner = inner.split(')').next().ok_or_else(bad)?;
            let delim = inner.chars().next().ok_or_else(bad)?;
            let port: u16 = inner
                .split(delim)
                .nth(3)
                .and_then(|p| p.parse().ok())
                .ok_or_else(bad)?;
            Ok(SocketAddr::new(peer, port))
        }
        227 => {
            // 227 Entering Passive Mode (h1,h2,h3,h4,p1,p2); the parentheses are optional
            let after_code = r.text.get(3..).unwrap_or("");
            let nums: Vec<u16> = after_code
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .filter_map(|s| s.parse().ok())
                .collect();
            if nums.len() < 6 || nums[..6].iter().any(|n| *n > 255) {
                return Err(bad());
            }
            let port = nums[4] * 256 + nums[5];
            let ip = if nat_workaround {
                peer
            } else {
                IpAddr::from([nums[0] as u8, nums[1] as u8, nums[2] as u8, nums[3] as u8])
            };
            Ok(SocketAddr::new(ip, port))
        }
        _ => Err(r.error(Op::Connect)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn passive_replies_parse_and_use_the_control_address() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let parse = |r: &Reply| parse_passive(r, peer, true);
        let r = |code, text: &str| Reply {
            code,
            text: text.to_owned(),
        };
        let a = parse(&r(229, "229 Entering Extended Passive Mode (|||40123|)")).unwrap();
        assert_eq!(a, "127.0.0.1:40123".parse().unwrap());
        // PASV naming another host: the control connection's address is used
        let a = parse(&r(227, "227 Entering Passive Mode (10,1,2,3,156,64)")).unwrap();
        assert_eq!(a, "127.0.0.1:40000".parse().unwrap());
        assert!(parse(&r(227, "227 nonsense")).is_err());
        assert!(parse(&r(227, "227 Entering Passive Mode (1,2,3,4,999,1)")).is_err());
        assert!(parse(&r(229, "229 (|||notaport|)")).is_err());
    }
}
