//! Relative paths inside the sync roots.

use crate::error::{Error, ErrorKind, Result};
use std::fmt;

/// Checks that `name` is safe to use as one path component (docs/DESIGN.md §2.1).
///
/// Refused: the empty string, `.`, `..`, and any name containing `/`, `\` or NUL. Names come
/// from servers and plugins; a refused name is an error of kind [`ErrorKind::InvalidName`],
/// never something to follow.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = if name.is_empty() {
        Some("empty name")
    } else if name == "." || name == ".." {
        Some("name is '.' or '..'")
    } else if name.contains('/') {
        Some("name contains '/'")
    } else if name.contains('\\') {
        Some("name contains '\\'")
    } else if name.contains('\0') {
        Some("name contains NUL")
    } else {
        None
    };
    match bad {
        Some(why) => Err(Error::new(
            ErrorKind::InvalidName,
            format!("refusing unsafe name {:?}: {why}", name),
        )),
        None => Ok(()),
    }
}

/// A path relative to a sync root: `/`-separated components, no leading slash, never
/// containing `.`, `..`, empty components, `\` or NUL. The root itself is the empty path.
///
/// Because every component is checked on construction, a `RelPath` can never point outside
/// the root it is joined to (docs/DESIGN.md §2.1).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RelPath(String);

impl RelPath {
    /// The root of the sync tree (the empty path).
    pub fn root() -> Self {
        RelPath(String::new())
    }

    /// Parses a `/`-separated relative path, checking every component.
    pub fn parse(s: &str) -> Result<Self> {
        let mut p = RelPath::root();
        if s.is_empty() {
            return Ok(p);
        }
        for comp in s.split('/') {
            p = p.join(comp)?;
        }
        Ok(p)
    }

    /// Appends one component, refusing unsafe names (see [`validate_name`]).
    pub fn join(&self, name: &str) -> Result<Self> {
        validate_name(name)?;
        if self.0.is_empty() {
            Ok(RelPath(name.to_owned()))
        } else {
            Ok(RelPath(format!("{}/{}", self.0, name)))
        }
    }

    /// The path as a string (`""` for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last component (`""` for the root).
    pub fn name(&self) -> &str {
        match self.0.rfind('/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// The parent directory, or `None` for the root.
    pub fn parent(&self) -> Option<RelPath> {
        if self.0.is_empty() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(i) => RelPath(self.0[..i].to_owned()),
            None => RelPath::root(),
        })
    }

    /// Number of components (0 for the root).
    pub fn depth(&self) -> usize {
        if self.0.is_empty() {
            0
        } else {
            self.0.split('/').count()
        }
    }

    /// True if this path is `root` or lies below it (component-wise: `ab` is not below `a`).
    pub fn is_within(&self, root: &RelPath) -> bool {
        let (p, r) = (self.as_str(), root.as_str());
        r.is_empty()
            || p == r
            || (p.len() > r.len() && p.starts_with(r) && p.as_bytes()[r.len()] == b'/')
    }

    /// Iterates over the components.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// Joins this path below a transport's root directory string (e.g. `/www`), producing
    /// `/www/css/site.css`. `root` may or may not end with `/`.
    pub fn under(&self, root: &str) -> String {
        let base = root.trim_end_matches('/');
        if self.0.is_empty() {
            if base.is_empty() {
                "/".to_owned()
            } else {
                base.to_owned()
            }
        } else {
            format!("{}/{}", base, self.0)
        }
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str(".")
        } else {
            f.write_str(&self.0)
        }
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", "/etc"] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidName, "{bad:?}");
        }
        for good in ["a", "...", ".htaccess", "with space", "ünïcødé", "a=b"] {
            validate_name(good).unwrap();
        }
    }

    #[test]
    fn parse_join_parent_roundtrip() {
        let p = RelPath::parse("a/b/c.txt").unwrap();
        assert_eq!(p.depth(), 3);
        assert_eq!(p.name(), "c.txt");
        assert_eq!(p.parent().unwrap().as_str(), "a/b");
        assert_eq!(
            p.parent().unwrap().parent().unwrap().parent(),
            Some(RelPath::root())
        );
        assert!(RelPath::parse("a//b").is_err());
        assert!(RelPath::parse("a/../b").is_err());
        assert!(RelPath::parse("/a").is_err());
        assert_eq!(p.under("/www/"), "/www/a/b/c.txt");
        assert_eq!(RelPath::root().under("/www/"), "/www");
        assert_eq!(RelPath::root().under("/"), "/");
        assert_eq!(p.under(""), "/a/b/c.txt");
    }

    #[test]
    fn within_checks_component_boundaries() {
        let r = RelPath::parse("a/b").unwrap();
        assert!(RelPath::parse("a/b").unwrap().is_within(&r));
        assert!(RelPath::parse("a/b/c").unwrap().is_within(&r));
        assert!(!RelPath::parse("a/bc").unwrap().is_within(&r));
        assert!(!RelPath::parse("a").unwrap().is_within(&r));
        assert!(r.is_within(&RelPath::root()));
    }
}
