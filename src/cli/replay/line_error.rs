//! Why a log line could not be read. A bad line is counted and named in the report, never fatal.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LineErrorKind {
    /// The line stops before the format does (a cut line, or a line of another format).
    Truncated,
    /// Literal text of the format is not where it should be.
    Mismatch,
    NotJson,
    NotUtf8,
    TooLong,
    /// A variable replay cannot do without (the upstream name, the request) is not in the line.
    Missing,
}

impl LineErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineErrorKind::Truncated => "ends early",
            LineErrorKind::Mismatch => "does not match the format",
            LineErrorKind::NotJson => "is not a JSON object",
            LineErrorKind::NotUtf8 => "is not UTF-8",
            LineErrorKind::TooLong => "is too long",
            LineErrorKind::Missing => "lacks a value replay needs",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub kind: LineErrorKind,
    pub detail: String,
}

impl LineError {
    pub fn new(kind: LineErrorKind, detail: impl Into<String>) -> LineError {
        LineError {
            kind,
            detail: detail.into(),
        }
    }

    /// The literal `next` never comes after variable `name`.
    pub fn unclosed(name: &str, next: &str) -> LineError {
        LineError::new(LineErrorKind::Truncated, format!("no {next:?} after ${name}"))
    }

    /// The line stops where the literal after `after` should be.
    pub fn stops(after: &str) -> LineError {
        LineError::new(LineErrorKind::Truncated, format!("the line stops after {after}"))
    }

    pub fn mismatch(after: &str, literal: &str) -> LineError {
        LineError::new(
            LineErrorKind::Mismatch,
            format!("expected {literal:?} after {after}"),
        )
    }

    pub fn trailing(bytes: usize) -> LineError {
        LineError::new(
            LineErrorKind::Mismatch,
            format!("{bytes} more bytes after the format's end"),
        )
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.detail)
    }
}
