//! Transport options, declared once: each transport (built-in or plugin) lists its options
//! as [`OptionSpec`]s ([`crate::Transport::options`]); the application validates every site
//! against them before connecting ([`validate`]), and the transport reads typed values whose
//! defaults come from the same specs ([`OptionValues`]). `peex transports` and
//! `peex plugins` print the same table from them ([`render_table`]).

use crate::error::{Error, ErrorKind, Result};
use crate::fs::SiteParams;
use std::fmt::Write as _;

/// The type of an option's value. Values arrive as strings (INI and RON both); the type
/// says which strings are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionType {
    /// `true/false/yes/no/on/off/1/0` (any case).
    Bool,
    /// A whole number between the two bounds (inclusive).
    Int {
        /// The smallest accepted value.
        min: i64,
        /// The largest accepted value.
        max: i64,
    },
    /// Any text.
    Text,
    /// A file path (relative paths are resolved against the configuration file's directory
    /// by the application).
    Path,
    /// One of a fixed list of words (compared without regard to case).
    Choice(Vec<String>),
}

impl OptionType {
    /// A short name for tables and messages (`bool`, `int`, `text`, `path`, `a|b|c`).
    pub fn describe(&self) -> String {
        match self {
            OptionType::Bool => "bool".into(),
            OptionType::Int { min, max } => format!("int {min}..={max}"),
            OptionType::Text => "text".into(),
            OptionType::Path => "path".into(),
            OptionType::Choice(words) => words.join("|"),
        }
    }

    /// Checks one value; the error says what was expected.
    pub fn check(&self, value: &str) -> std::result::Result<(), String> {
        match self {
            OptionType::Bool => parse_bool(value)
                .map(|_| ())
                .ok_or_else(|| format!("expected true or false, got {value:?}")),
            OptionType::Int { min, max } => match value.trim().parse::<i64>() {
                Ok(n) if (*min..=*max).contains(&n) => Ok(()),
                Ok(n) => Err(format!("{n} is out of range ({min}..={max})")),
                Err(_) => Err(format!("expected a whole number, got {value:?}")),
            },
            OptionType::Text | OptionType::Path => Ok(()),
            OptionType::Choice(words) => {
                let v = value.trim();
                if words.iter().any(|w| w.eq_ignore_ascii_case(v)) {
                    Ok(())
                } else {
                    Err(format!(
                        "expected one of {}, got {value:?}",
                        words.join(", ")
                    ))
                }
            }
        }
    }
}

/// Parses a boolean option value (`true/false/yes/no/on/off/1/0`, any case).
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// One option a transport understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionSpec {
    /// The key in the configuration (`tls_verify`).
    pub name: String,
    /// One line of help.
    pub help: String,
    /// Which values are accepted.
    pub ty: OptionType,
    /// The value used when the site sets none (the one place this default is written);
    /// `None`: no value (the option is then absent for the transport).
    pub default: Option<String>,
    /// The value is a secret (passphrase, token): it comes through
    /// [`SiteParams::secret_options`] and is never printed.
    pub secret: bool,
    /// A site for this transport must set it.
    pub required: bool,
}

impl OptionSpec {
    /// An optional, non-secret option without a default.
    pub fn new(name: &str, ty: OptionType, help: &str) -> Self {
        OptionSpec {
            name: name.into(),
            help: help.into(),
            ty,
            default: None,
            secret: false,
            required: false,
        }
    }

    /// The same with a default value.
    pub fn default_value(mut self, v: &str) -> Self {
        self.default = Some(v.into());
        self
    }

    /// The same, marked secret.
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// The same, marked required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

/// Builds a [`OptionType::Choice`] from words.
pub fn choice(words: &[&str]) -> OptionType {
    OptionType::Choice(words.iter().map(|w| (*w).to_owned()).collect())
}

/// What is wrong with a site's options, naming the key so that the application can point at
/// the line and column where the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// The option concerned (as the user wrote it, or the missing one).
    pub key: String,
    /// The message, naming the option (and, for an unknown one, the closest known one).
    pub message: String,
}

impl From<OptionError> for Error {
    fn from(e: OptionError) -> Error {
        Error::new(ErrorKind::ConfigInvalid, e.message)
    }
}

/// The known name closest to `name` (by edit distance, at most 3 edits or a third of its
/// length), for "did you mean" hints.
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    known
        .into_iter()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`, ignoring case.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    // d[i][j]: distance between a[..i] and b[..j] (optimal string alignment).
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Checks a site's options against `specs` (`scheme` names the transport in messages):
/// every key is declared (an unknown one names the closest known one), every value has the
/// declared type, every required option is set, and secret options come only as secrets.
pub fn validate(
    scheme: &str,
    specs: &[OptionSpec],
    site: &SiteParams,
) -> std::result::Result<(), OptionError> {
    let find = |key: &str| specs.iter().find(|s| s.name == key);
    let unknown = |key: &str| {
        let hint = match closest(key, specs.iter().map(|s| s.name.as_str())) {
            Some(k) => format!("; did you mean `{k}`?"),
            None if specs.is_empty() => format!("; transport {scheme} takes no options"),
            None => format!(
                " (known: {})",
                specs
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        OptionError {
            key: key.to_owned(),
            message: format!("unknown option `{key}` for transport {scheme}{hint}"),
        }
    };
    for (key, value) in &site.options {
        let spec = find(key).ok_or_else(|| unknown(key))?;
        if spec.secret {
            return Err(OptionError {
                key: key.clone(),
                message: format!("option `{key}` is a secret: give it in `secret_options`"),
            });
        }
        spec.ty.check(value).map_err(|why| OptionError {
            key: key.clone(),
            message: format!("option `{key}`: {why}"),
        })?;
    }
    for (key, value) in &site.secret_options {
        let spec = find(key).ok_or_else(|| unknown(key))?;
        spec.ty.check(value.expose()).map_err(|_| OptionError {
            key: key.clone(),
            // Never the value: it is a secret.
            message: format!("option `{key}`: expected {}", spec.ty.describe()),
        })?;
    }
    if let Some(missing) = specs.iter().find(|s| {
        s.required
            && !site.options.contains_key(&s.name)
            && !site.secret_options.contains_key(&s.name)
    }) {
        return Err(OptionError {
            key: missing.name.clone(),
            message: format!(
                "transport {scheme} needs option `{}` ({})",
                missing.name, missing.help
            ),
        });
    }
    Ok(())
}

/// A site's option values for one transport, with the declared defaults filled in: what a
/// transport builds its typed configuration from.
pub struct OptionValues<'a> {
    specs: &'a [OptionSpec],
    site: &'a SiteParams,
}

impl<'a> OptionValues<'a> {
    /// Validates `site` against `specs` and gives access to the values.
    pub fn new(scheme: &str, specs: &'a [OptionSpec], site: &'a SiteParams) -> Result<Self> {
        validate(scheme, specs, site)?;
        Ok(OptionValues { specs, site })
    }

    fn spec(&self, key: &str) -> Result<&'a OptionSpec> {
        self.specs.iter().find(|s| s.name == key).ok_or_else(|| {
            Error::new(
                ErrorKind::Unexpected,
                format!("option `{key}` is read but not declared"),
            )
        })
    }

    /// True if the site itself set `key` (not the default).
    pub fn is_set(&self, key: &str) -> bool {
        self.site.options.contains_key(key) || self.site.secret_options.contains_key(key)
    }

    /// The value of a non-secret option: the site's, else the declared default.
    pub fn text(&self, key: &str) -> Result<Option<String>> {
        let spec = self.spec(key)?;
        Ok(self
            .site
            .options
            .get(key)
            .cloned()
            .or_else(|| spec.default.clone()))
    }

    /// A boolean option (declared [`OptionType::Bool`] with a default).
    pub fn bool(&self, key: &str) -> Result<bool> {
        let v = self.text(key)?.unwrap_or_default();
        parse_bool(&v).ok_or_else(|| {
            Error::new(
                ErrorKind::ConfigInvalid,
                format!("option `{key}`: expected true or false, got {v:?}"),
            )
        })
    }

    /// A choice option, lower case.
    pub fn word(&self, key: &str) -> Result<Option<String>> {
        Ok(self.text(key)?.map(|v| v.trim().to_ascii_lowercase()))
    }
}

/// The options table printed by `peex transports` and `peex plugins`, one line per option:
/// `    name  help (required, secret) [type, default D]`.
pub fn render_table(specs: &[OptionSpec]) -> String {
    let width = specs.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for s in specs {
        let flags: Vec<&str> = [(s.required, "required"), (s.secret, "secret")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| *f)
            .collect();
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" ({})", flags.join(", "))
        };
        let default = s
            .default
            .as_ref()
            .map(|d| format!(", default {d}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    {:width$}  {}{flags} [{}{default}]",
            s.name,
            s.help,
            s.ty.describe()
        );
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Secret;

    fn specs() -> Vec<OptionSpec> {
        vec![
            OptionSpec::new("tls_verify", OptionType::Bool, "verify certificates")
                .default_value("true"),
            OptionSpec::new("mode", choice(&["fast", "safe"]), "how").default_value("fast"),
            OptionSpec::new("depth", OptionType::Int { min: 1, max: 9 }, "how deep"),
            OptionSpec::new("token", OptionType::Text, "API token")
                .secret()
                .required(),
        ]
    }

    fn site(opts: &[(&str, &str)]) -> SiteParams {
        let mut s = SiteParams::default();
        for (k, v) in opts {
            s.options.insert((*k).into(), (*v).into());
        }
        s.secret_options
            .insert("token".into(), Secret::new("s3cr3t"));
        s
    }

    #[test]
    fn an_unknown_option_names_the_closest_known_one() {
        let e = validate("ftp", &specs(), &site(&[("tls_verfy", "no")])).unwrap_err();
        assert_eq!(e.key, "tls_verfy");
        assert!(
            e.message.contains("did you mean `tls_verify`"),
            "{}",
            e.message
        );
        let e = validate("ftp", &specs(), &site(&[("zzz", "1")])).unwrap_err();
        assert!(
            e.message.contains("known: tls_verify, mode"),
            "{}",
            e.message
        );
        let e = validate(
            "local",
            &[],
            &SiteParams {
                options: [("x".to_owned(), "1".to_owned())].into(),
                ..SiteParams::default()
            },
        )
        .unwrap_err();
        assert!(e.message.contains("takes no options"), "{}", e.message);
    }

    #[test]
    fn closest_counts_a_swap_of_neighbours_as_one_edit() {
        assert_eq!(edit_distance("tsl", "tls"), 1);
        assert_eq!(closest("tsl", ["tls", "panic_in"]), Some("tls"));
        assert_eq!(
            closest("pipline_passive", ["pipeline_passive", "rename_dirs"]),
            Some("pipeline_passive")
        );
        assert_eq!(closest("zzz", ["tls"]), None);
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_naming_the_option() {
        for (k, v, want) in [
            ("tls_verify", "maybe", "expected true or false"),
            ("mode", "slow", "expected one of fast, safe"),
            ("depth", "10", "out of range"),
            ("depth", "x", "whole number"),
        ] {
            let e = validate("ftp", &specs(), &site(&[(k, v)])).unwrap_err();
            assert_eq!(e.key, k);
            assert!(e.message.contains(want), "{k}={v}: {}", e.message);
        }
    }

    #[test]
    fn a_required_option_must_be_set_and_a_secret_comes_as_a_secret() {
        let mut s = site(&[]);
        s.secret_options.clear();
        let e = validate("dav", &specs(), &s).unwrap_err();
        assert_eq!(e.key, "token");
        assert!(e.message.contains("needs option `token`"), "{}", e.message);
        let mut s = site(&[("token", "plain")]);
        s.secret_options.clear();
        let e = validate("dav", &specs(), &s).unwrap_err();
        assert!(e.message.contains("is a secret"), "{}", e.message);
    }

    #[test]
    fn values_fall_back_to_the_declared_default() {
        let specs = specs();
        let s = site(&[("mode", "SAFE")]);
        let v = OptionValues::new("ftp", &specs, &s).unwrap();
        assert!(v.bool("tls_verify").unwrap());
        assert!(!v.is_set("tls_verify"));
        assert_eq!(v.word("mode").unwrap().as_deref(), Some("safe"));
        assert_eq!(v.text("depth").unwrap(), None);
        assert!(v.text("undeclared").is_err());
    }

    #[test]
    fn the_table_shows_type_default_and_marks_but_no_secret_value() {
        let t = render_table(&specs());
        assert!(
            t.contains("tls_verify  verify certificates [bool, default true]"),
            "{t}"
        );
        assert!(
            t.contains("token       API token (required, secret) [text]"),
            "{t}"
        );
        assert!(!t.contains("s3cr3t"));
    }
}
