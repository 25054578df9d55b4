//! Problems found while checking inputs: errors stop the run, warnings are reported.
//!
//! Checks never stop at the first problem; they collect every problem of a run so that a user
//! fixes them all in one round trip.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, located by file, archive entry or appspec path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// What is at fault: `appspec.yml: hooks.BeforeInstal`, `app.tar.gz: entry '../x'`, ...
    pub location: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// The problems of one run, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn error(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, location.into(), message.into());
    }

    pub fn warn(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, location.into(), message.into());
    }

    fn push(&mut self, severity: Severity, location: String, message: String) {
        self.0.push(Diagnostic {
            severity,
            location,
            message,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
}
