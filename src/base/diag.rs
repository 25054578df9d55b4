//! Problems found while checking inputs: errors stop the run, warnings are reported.
//!
//! Checks never stop at the first problem; they collect every problem of a run so that a user
//! fixes them all in one round trip.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    Error,
    Warning,
}

/// One problem, located by file, archive entry or appspec path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub(crate) severity: Severity,
    /// What is at fault: `appspec.yml: hooks.BeforeInstal`, `app.tar.gz: entry '../x'`, ...
    pub location: String,
    pub message: String,
    /// For a problem at a line of a file (the appspec): the file as the user names it, the
    /// line (from 1), and the path in the document (`hooks.BeforeInstal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// For a rule of the CodeDeploy agent: which agent it comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentRule>,
}

/// Which CodeDeploy agent a rule comes from: the Ruby agent 1.8, the Rust agent 2.x, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AgentRule {
    #[serde(rename = "1.8")]
    V1,
    #[serde(rename = "2.x")]
    V2,
    #[serde(rename = "both")]
    Both,
}

impl AgentRule {
    /// As messages name it.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            AgentRule::V1 => "[agent 1.8]",
            AgentRule::V2 => "[agent 2.x]",
            AgentRule::Both => "[agents 1.8 and 2.x]",
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        if let Some(agent) = self.agent {
            write!(f, " {}", agent.tag())?;
        }
        Ok(())
    }
}

impl Diagnostic {
    pub(crate) fn severity_word(&self) -> &'static str {
        match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }

    /// The form editors and CI problem matchers read: `file:line: error: path: message` when
    /// the problem has a line, else `error: location: message`.
    pub(crate) fn for_terminal(&self) -> String {
        let tag = self
            .agent
            .map(|a| format!(" {}", a.tag()))
            .unwrap_or_default();
        let text = match (&self.file, self.line) {
            (Some(file), Some(line)) => format!(
                "{file}:{line}: {}: {}{}",
                self.severity_word(),
                self.path
                    .as_deref()
                    .map(|p| format!("{p}: "))
                    .unwrap_or_default(),
                self.message
            ),
            _ => format!(
                "{}: {}: {}",
                self.severity_word(),
                self.location,
                self.message
            ),
        };
        text + &tag
    }
}

/// The problems of one run, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub(crate) fn error(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, location.into(), message.into());
    }

    pub(crate) fn warn(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, location.into(), message.into());
    }

    fn push(&mut self, severity: Severity, location: String, message: String) {
        self.0.push(Diagnostic {
            severity,
            location,
            message,
            file: None,
            line: None,
            path: None,
            agent: None,
        });
    }

    /// A problem at a line of `file`, at `path` in the document, by a rule of `agent`.
    pub(crate) fn at_line(
        &mut self,
        severity: Severity,
        file: &str,
        path: &str,
        line: Option<usize>,
        message: impl Into<String>,
        agent: Option<AgentRule>,
    ) {
        self.0.push(Diagnostic {
            severity,
            location: format!("{file}: {path}"),
            message: message.into(),
            file: Some(file.to_string()),
            line,
            path: Some(path.to_string()),
            agent,
        });
    }

    /// A problem of `location` found by a rule of `agent`.
    pub(crate) fn by_agent(
        &mut self,
        severity: Severity,
        agent: AgentRule,
        location: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(severity, location.into(), message.into());
        if let Some(last) = self.0.last_mut() {
            last.agent = Some(agent);
        }
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

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}
