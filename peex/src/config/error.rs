//! Configuration errors ([`ConfigError`], with the file and, when known, the line and
//! column) and the positions parsers record for them ([`Pos`], [`Val`], [`column`]).

use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration error. `Display` gives `file:line:col: message` when the position is
/// known (`file:line: message` with a line only, `file: message` otherwise). Messages never
/// contain a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    file: PathBuf,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
}

impl ConfigError {
    /// An error about `file` with no known position.
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// An error at a 1-based line and column of `file`.
    pub fn at(file: &Path, line: usize, column: usize, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    pub(super) fn at_line(file: &Path, line: usize, message: impl Into<String>) -> Self {
        ConfigError {
            line: Some(line),
            ..ConfigError::new(file, message)
        }
    }

    pub(crate) fn at_pos(file: &Path, pos: Option<Pos>, message: impl Into<String>) -> Self {
        match pos {
            Some(p) => ConfigError::at(file, p.line, p.col, message),
            None => ConfigError::new(file, message),
        }
    }

    /// The file the error is about.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The 1-based line, if known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The 1-based column, if known.
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// The message without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A 1-based position in a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A value with the position it was written at (when known), for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Val<T> {
    pub v: T,
    pub pos: Option<Pos>,
}

impl<T> Val<T> {
    pub(crate) fn new(v: T, pos: Option<Pos>) -> Self {
        Val { v, pos }
    }
}

/// The 1-based column of byte offset `byte` in `line`, counted in characters.
pub(crate) fn column(line: &str, byte: usize) -> usize {
    line.get(..byte).map_or(1, |s| s.chars().count() + 1)
}
