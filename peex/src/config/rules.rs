//! Exception rules: `pattern → ignore | protect`, searched in relative paths (docs/DESIGN.md §1).

use regex::Regex;
use serde::Deserialize;
use std::fmt;

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Local entry: treated as absent; its remote counterpart is left alone.
    Ignore,
    /// Remote entry: never overwritten or deleted.
    Protect,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Ignore => "ignore",
            Action::Protect => "protect",
        })
    }
}

/// What part of the relative path a rule's pattern is searched in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The whole relative path (`css/site.css`), as PEEX did. The default.
    #[default]
    Path,
    /// The last path component only (`site.css`).
    Name,
}

/// Which kinds of entries a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppliesTo {
    /// Files and directories alike. The default.
    #[default]
    Any,
    /// Files (and anything that is not a directory) only.
    Files,
    /// Directories only.
    Dirs,
}

/// One exception rule of a site, in the order the user wrote it.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The pattern as the user wrote it.
    pub pattern: String,
    /// The compiled pattern.
    pub regex: Regex,
    /// What a match does.
    pub action: Action,
    /// Where the pattern is searched.
    pub scope: Scope,
    /// Which entry kinds the rule considers.
    pub applies_to: AppliesTo,
    /// Where the rule was written, for messages (`mysite.peex:12`).
    pub origin: String,
}

impl Rule {
    /// Compiles a rule. On a bad pattern the error is the `regex` crate's message.
    pub fn new(
        pattern: &str,
        action: Action,
        scope: Scope,
        applies_to: AppliesTo,
        origin: impl Into<String>,
    ) -> Result<Rule, regex::Error> {
        Ok(Rule {
            pattern: pattern.to_owned(),
            regex: Regex::new(pattern)?,
            action,
            scope,
            applies_to,
            origin: origin.into(),
        })
    }

    /// True if the rule applies to the entry at `rel_path` ('/'-separated, relative to the
    /// sync root, no leading slash). The pattern is searched anywhere (like Python's
    /// `re.search`) in the whole path, or in its last component with [`Scope::Name`].
    pub fn matches(&self, rel_path: &str, is_dir: bool) -> bool {
        let kind_ok = match self.applies_to {
            AppliesTo::Any => true,
            AppliesTo::Files => !is_dir,
            AppliesTo::Dirs => is_dir,
        };
        if !kind_ok {
            return false;
        }
        let subject = match self.scope {
            Scope::Path => rel_path,
            Scope::Name => rel_path.rsplit('/').next().unwrap_or(rel_path),
        };
        self.regex.is_match(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(p: &str, scope: Scope, applies_to: AppliesTo) -> Rule {
        Rule::new(p, Action::Ignore, scope, applies_to, "t:1").expect("valid regex")
    }

    #[test]
    fn path_scope_searches_anywhere() {
        let r = rule("uploads", Scope::Path, AppliesTo::Any);
        assert!(r.matches("a/uploads/b.png", false));
        assert!(r.matches("uploads", true));
        assert!(!r.matches("a/upload/b.png", false));
    }

    #[test]
    fn anchored_pattern_path_vs_name_scope() {
        let p = rule("^offline$", Scope::Path, AppliesTo::Any);
        assert!(p.matches("offline", true));
        assert!(!p.matches("a/offline", true));
        let n = rule("^offline$", Scope::Name, AppliesTo::Any);
        assert!(n.matches("offline", true));
        assert!(n.matches("a/offline", false));
        assert!(!n.matches("offline/x", false));
    }

    #[test]
    fn applies_to_files_or_dirs() {
        let f = rule(r"\.bak$", Scope::Name, AppliesTo::Files);
        assert!(f.matches("x/y.bak", false));
        assert!(!f.matches("x/y.bak", true));
        let d = rule("^cache$", Scope::Name, AppliesTo::Dirs);
        assert!(d.matches("a/cache", true));
        assert!(!d.matches("a/cache", false));
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Rule::new("a(b", Action::Protect, Scope::Path, AppliesTo::Any, "t:1").is_err());
    }
}
