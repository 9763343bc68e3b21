//! FTP timestamps (`YYYYMMDDhhmmss[.sss]`, UTC) to and from whole seconds since the epoch.
//!
//! A small civil-calendar conversion (proleptic Gregorian, as in Howard Hinnant's
//! `days_from_civil`) keeps the crate free of a date library.

use peex_core::{Error, ErrorKind, Result};

/// Days since 1970-01-01 of the civil date `y-m-d`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of day `z` since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

/// Formats `secs` (UTC) as `YYYYMMDDhhmmss`, the form MFMT and SITE UTIME take.
///
/// Times before year 0 or after year 9999 cannot be written in four digits and are an error
/// of kind [`ErrorKind::Unsupported`].
pub fn format_ftp_time(secs: i64) -> Result<String> {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("modification time {secs} is outside the years 0000-9999 FTP can express"),
        ));
    }
    Ok(format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

/// Parses `YYYYMMDDhhmmss[.sss]` (UTC) into whole seconds since the epoch; the fraction is
/// dropped. Anything else is `None`.
pub fn parse_ftp_time(s: &str) -> Option<i64> {
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let num = |r: std::ops::Range<usize>| main.get(r).and_then(|v| v.parse::<u32>().ok());
    let (y, mo, d) = (i64::from(num(0..4)?), num(4..6)?, num(6..8)?);
    let (h, mi, sec) = (num(8..10)?, num(10..12)?, num(12..14)?);
    if !(1..=12).contains(&mo)
        || d == 0
        || d > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + sec))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn known_times() {
        for (secs, s) in [
            (0, "19700101000000"),
            (1_600_000_000, "20200913122640"),
            (946_684_800, "20000101000000"),
            (4_102_444_800, "21000101000000"),
            (951_782_400, "20000229000000"),
            (-1, "19691231235959"),
            (-86_400 * 365, "19690101000000"),
            (253_402_300_799, "99991231235959"),
        ] {
            assert_eq!(format_ftp_time(secs).unwrap(), s, "{secs}");
            assert_eq!(parse_ftp_time(s), Some(secs), "{s}");
        }
    }

    #[test]
    fn roundtrip_many() {
        let mut t = -2_208_988_800i64; // 1900-01-01
        while t < 4_200_000_000 {
            let s = format_ftp_time(t).unwrap();
            assert_eq!(parse_ftp_time(&s), Some(t), "{s}");
            t += 86_399 * 7 + 13;
        }
    }

    #[test]
    fn fraction_is_dropped() {
        assert_eq!(parse_ftp_time("20200913122640.999"), Some(1_600_000_000));
        assert_eq!(parse_ftp_time("20200913122640.1"), Some(1_600_000_000));
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "2020",
            "2020091312264",
            "202009131226400",
            "20200913122640.",
            "20200913122640.x",
            "2020-09-13T12:26",
            "20201313122640",
            "20200013122640",
            "20200230122640",
            "20190229000000",
            "20200913242640",
            "20200913126040",
            "+0200913122640",
            "２０２００９１３１２２６４０",
        ] {
            assert_eq!(parse_ftp_time(bad), None, "{bad:?}");
        }
        assert!(parse_ftp_time("20000229000000").is_some());
    }

    #[test]
    fn out_of_range_years() {
        assert!(format_ftp_time(253_402_300_800).is_err());
        assert!(format_ftp_time(-62_167_219_201).is_err());
        assert_eq!(format_ftp_time(-62_167_219_200).unwrap(), "00000101000000");
    }
}
