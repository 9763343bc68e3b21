//! The ignore/protect decision: the site's ordered regex rules, then the plugin filters.

use crate::config::{Action, Rule};
use peex_core::{Entry, EntryKind, Filter, RelPath, Result, Side, Verdict};

/// A site's exception rules and filters, consulted in order; the first opinion wins. It is
/// itself a [`Filter`]: the one the planner asks.
pub struct Exceptions {
    rules: Vec<Rule>,
    filters: Vec<Box<dyn Filter>>,
}

impl Exceptions {
    /// Builds the decision from rules (first) and filters (after the rules).
    pub fn new(rules: Vec<Rule>, filters: Vec<Box<dyn Filter>>) -> Self {
        Exceptions { rules, filters }
    }
}

impl Filter for Exceptions {
    fn name(&self) -> &str {
        "exceptions"
    }

    fn decide(&self, path: &RelPath, entry: &Entry, side: Side) -> Result<Verdict> {
        let is_dir = entry.kind == EntryKind::Dir;
        if let Some(rule) = self.rules.iter().find(|r| r.matches(path.as_str(), is_dir)) {
            return Ok(match rule.action {
                Action::Ignore => Verdict::Ignore,
                Action::Protect => Verdict::Protect,
            });
        }
        for f in &self.filters {
            let v = f
                .decide(path, entry, side)
                .map_err(|e| e.with_op("filter", format!("{} on {}", f.name(), path)))?;
            if v != Verdict::NoOpinion {
                return Ok(v);
            }
        }
        Ok(Verdict::NoOpinion)
    }
}
