//! Exception filters: the ignore/protect decision (docs/DESIGN.md §1), open to plugins.

use crate::error::Result;
use crate::fs::Entry;
use crate::path::RelPath;

/// Which tree an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The local source tree.
    Local,
    /// The remote destination tree.
    Remote,
}

/// A filter's answer for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Verdict {
    /// The filter has nothing to say; later rules and filters decide.
    #[default]
    NoOpinion,
    /// Treat the entry as absent locally and leave its remote counterpart alone. An ignored
    /// directory is not descended.
    Ignore,
    /// Never overwrite or delete this remote entry; a protected entry keeps its ancestor
    /// directories from being deleted.
    Protect,
}

/// An exception filter. The regex rules of a site are one; plugins add more.
///
/// `decide` is called for entries of both trees; `path` is relative to the sync root and
/// `entry.name` is its last component. It must be cheap and must not block on the network.
/// An error stops the run before anything is deleted.
pub trait Filter: Send + Sync {
    /// The filter's name, for messages.
    fn name(&self) -> &str;

    /// Decides about one entry.
    fn decide(&self, path: &RelPath, entry: &Entry, side: Side) -> Result<Verdict>;
}
