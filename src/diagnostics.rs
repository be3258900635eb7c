//! Errors and warnings about the configuration, each naming the object and the field at fault.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The configuration is refused.
    Error,
    /// The configuration is accepted; something in it is ignored or resolved by a rule.
    Warning,
}

/// One problem found in the configuration.
///
/// Displays as `<object>: <field>: <message>`, e.g.
/// `game-prod/game-ingress: spec.rules[0].http.paths[2].pathType: unknown value "Prefx"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// `namespace/name` of the Ingress, or `config` / `settings` for the plugin configuration itself.
    pub object: String,
    /// JSON path of the field inside the object, e.g. `spec.rules[0].host`; empty for the whole object.
    pub field: String,
    pub message: String,
}

impl Diagnostic {
    pub fn error(object: impl Into<String>, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            object: object.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn warning(object: impl Into<String>, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            object: object.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.object, self.message)
        } else {
            write!(f, "{}: {}: {}", self.object, self.field, self.message)
        }
    }
}

/// Collects diagnostics while a configuration is read; errors do not stop the reading, so one pass
/// reports every problem.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn error(&mut self, object: &str, field: &str, message: impl Into<String>) {
        self.push(Diagnostic::error(object, field, message));
    }

    pub fn warning(&mut self, object: &str, field: &str, message: impl Into<String>) {
        self.push(Diagnostic::warning(object, field, message));
    }

    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}
