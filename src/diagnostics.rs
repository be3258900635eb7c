//! Errors and warnings about the configuration, each naming the object and the field at fault.

use std::fmt::{self, Write};

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

/// Most bytes of the object, the field or the message a diagnostic prints. They quote the input (a 2 MB
/// host, an annotation key), which must not turn into a 2 MB log line.
pub const MAX_SHOWN_BYTES: usize = 4096;

/// Prints one line, whatever the input quoted in it: control characters (a newline in an annotation key
/// would forge a second log line) and invisible line or direction changes are escaped, and a part longer
/// than [`MAX_SHOWN_BYTES`] loses its middle.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_shown(f, &self.object)?;
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write_shown(f, &self.field)?;
            f.write_str(": ")?;
        }
        write_shown(f, &self.message)
    }
}

fn write_shown(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if text.len() <= MAX_SHOWN_BYTES {
        return write_escaped(f, text);
    }
    // Keep both ends: a message quotes the value first and says what is wrong with it last.
    let head = floor_boundary(text, MAX_SHOWN_BYTES * 3 / 4);
    let tail = ceil_boundary(text, text.len() - MAX_SHOWN_BYTES / 4);
    write_escaped(f, &text[..head])?;
    write!(f, "...({} bytes)...", tail - head)?;
    write_escaped(f, &text[tail..])
}

fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        let invisible =
            matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || invisible {
            write!(f, "{}", c.escape_default())?;
        } else {
            f.write_char(c)?;
        }
    }
    Ok(())
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
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

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn prints_one_bounded_line_whatever_the_input() {
        let d = Diagnostic::error("ns/a", "metadata.annotations.x\nerror: forged", "\u{202e}evil\r");
        assert_eq!(
            d.to_string(),
            "ns/a: metadata.annotations.x\\nerror: forged: \\u{202e}evil\\r"
        );
        let huge = format!("{:?} is longer than 253 characters", "x".repeat(3 << 20));
        let shown = Diagnostic::error("ns/a", "spec.rules[0].host", huge).to_string();
        assert!(shown.len() < MAX_SHOWN_BYTES + 64, "{}", shown.len());
        assert!(shown.starts_with("ns/a: spec.rules[0].host: \"xxx"), "{shown}");
        assert!(shown.ends_with("xxx\" is longer than 253 characters"), "{shown}");
        let cut = shown.len() - "ns/a: spec.rules[0].host: ".len() - "...(3141664 bytes)...".len();
        assert_eq!(cut, MAX_SHOWN_BYTES);
        assert!(shown.contains("xxx...(3141664 bytes)...xxx"), "{shown}");
        // Multi-byte characters are never cut in half.
        let wide = Diagnostic::error("config", "", "\u{e9}".repeat(MAX_SHOWN_BYTES)).to_string();
        assert!(wide.contains("\u{e9}...("), "{wide}");
    }
}
