//! Errors of the data layer: each names the file (and line) and what is wrong with it.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum DataError {
    /// A file or folder could not be read.
    Io { path: PathBuf, message: String },
    /// A file could not be written (a full disk, no permission).
    Write { path: PathBuf, message: String },
    /// An image could not be decoded.
    Decode { path: PathBuf, message: String },
    /// A line of a text file (CSV, emotion file) is malformed.
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A path or file name does not follow the dataset's layout.
    Layout { path: PathBuf, message: String },
    /// The data as a whole cannot be used (empty set, a fold without test subjects, ...).
    Unusable(String),
}

impl DataError {
    pub(crate) fn io(path: &Path, e: impl fmt::Display) -> DataError {
        DataError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
    pub(crate) fn write(path: &Path, e: impl fmt::Display) -> DataError {
        DataError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
    pub(crate) fn parse(path: &Path, line: usize, message: impl Into<String>) -> DataError {
        DataError::Parse {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
    pub(crate) fn layout(path: &Path, message: impl Into<String>) -> DataError {
        DataError::Layout {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Io { path, message } => {
                write!(f, "{}: cannot read: {message}", path.display())
            }
            DataError::Write { path, message } => {
                write!(f, "{}: cannot write: {message}", path.display())
            }
            DataError::Decode { path, message } => {
                write!(f, "{}: not a readable image: {message}", path.display())
            }
            DataError::Parse {
                path,
                line,
                message,
            } => write!(f, "{}:{line}: {message}", path.display()),
            DataError::Layout { path, message } => write!(f, "{}: {message}", path.display()),
            DataError::Unusable(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for DataError {}

pub type Result<T> = std::result::Result<T, DataError>;

/// Collects what `--skip-bad` turned from errors into warnings.
#[derive(Debug, Default)]
pub struct Skipped {
    pub problems: Vec<String>,
}

impl Skipped {
    /// With `skip_bad`, records `error` and returns Ok(None); without, returns the error.
    pub(crate) fn handle<T>(&mut self, skip_bad: bool, result: Result<T>) -> Result<Option<T>> {
        match result {
            Ok(v) => Ok(Some(v)),
            Err(e) if skip_bad => {
                self.problems.push(e.to_string());
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
