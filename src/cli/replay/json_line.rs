//! Reading JSON lines (ingress-nginx's `log-format-escape-json` with a JSON `log-format-upstream`).
//!
//! With the template (`--format '{"host": "$host", ...}'`) each key reads what the template wrote into
//! it: one variable, or several with text between them (`"req": "$request_method $request_uri"`).
//! Without it, a key names the variable it carries (`proxy_upstream_name`, `$host`, `http_x_canary`).

use super::escape::Escape;
use super::fields::{Fields, HeaderNames, Slot};
use super::line_error::{LineError, LineErrorKind};
use super::template::{pieces, Piece};
use super::text_line::TextTemplate;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// Marks a variable's place while the template is read as JSON.
const MARK: char = '\u{1}';
/// Keys remembered when keys name variables; a log with more distinct keys is read without memory.
const MAX_KEYS: usize = 256;

#[derive(Debug, Clone)]
enum KeyReader {
    Whole(Slot),
    Text(TextTemplate),
}

#[derive(Debug, Clone)]
pub struct JsonTemplate {
    /// Key -> index into `readers`.
    keys: HashMap<String, usize>,
    readers: Vec<KeyReader>,
    /// No template: keys are variable names.
    by_name: bool,
}

impl JsonTemplate {
    /// Keys named after variables.
    pub fn by_name() -> JsonTemplate {
        JsonTemplate {
            keys: HashMap::new(),
            readers: Vec::new(),
            by_name: true,
        }
    }

    /// The keys of a JSON `log-format-upstream` template and what each holds.
    pub fn from_template(template: &str, headers: &mut HeaderNames) -> Result<JsonTemplate, String> {
        let mut marked = String::with_capacity(template.len());
        let mut names = Vec::new();
        let mut in_string = false;
        for piece in pieces(template) {
            match piece {
                Piece::Literal(text) => {
                    in_string = string_state(&text, in_string);
                    marked.push_str(&text);
                }
                Piece::Variable(name) => {
                    let mark = format!("\\u0001{}\\u0001", names.len());
                    if in_string {
                        marked.push_str(&mark);
                    } else {
                        marked.push_str(&format!("\"{mark}\""));
                    }
                    names.push(name);
                }
            }
        }
        let value: Value = serde_json::from_str(&marked)
            .map_err(|e| format!("the format starts with '{{' but is not a JSON object template: {e}"))?;
        let Value::Object(map) = value else {
            return Err("the format starts with '{' but is not a JSON object template".to_string());
        };
        let mut keys = HashMap::new();
        let mut readers = Vec::new();
        for (key, value) in map {
            let Value::String(text) = value else {
                continue;
            };
            let parts = unmark(&text, &names);
            let reader = match parts.as_slice() {
                [Piece::Variable(name)] => KeyReader::Whole(headers.slot_of(name)),
                _ => KeyReader::Text(TextTemplate::new(parts, headers)),
            };
            keys.insert(key, readers.len());
            readers.push(reader);
        }
        Ok(JsonTemplate {
            keys,
            readers,
            by_name: false,
        })
    }

    /// The variables the template writes (by name mode: unknown until lines are read).
    pub fn writes(&self, var: super::fields::Var) -> bool {
        self.by_name
            || self.readers.iter().any(|reader| match reader {
                KeyReader::Whole(slot) => *slot == Slot::Var(var),
                KeyReader::Text(t) => t.writes(var),
            })
    }

    pub fn read<'a>(
        &mut self,
        line: &'a str,
        headers: &mut HeaderNames,
        fields: &mut Fields<'a>,
    ) -> Result<(), LineError> {
        let mut deserializer = serde_json::Deserializer::from_str(line);
        let mut problem = None;
        let visitor = LineVisitor {
            template: self,
            headers,
            fields,
            problem: &mut problem,
        };
        deserializer
            .deserialize_map(visitor)
            .and_then(|()| deserializer.end())
            .map_err(|e| LineError::new(LineErrorKind::NotJson, e.to_string()))?;
        match problem {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }

    /// The reader of `key` (an index into `readers`); None for keys the template does not write.
    fn reader(&mut self, key: &str, headers: &mut HeaderNames) -> Option<usize> {
        if let Some(&index) = self.keys.get(key) {
            return Some(index);
        }
        if !self.by_name {
            return None;
        }
        let name = key.strip_prefix('$').unwrap_or(key);
        let name = match name {
            "vhost" => "host",
            "method" => "request_method",
            other => other,
        };
        let slot = headers.slot_of(&name.to_ascii_lowercase());
        let index = match self
            .readers
            .iter()
            .position(|r| matches!(r, KeyReader::Whole(s) if *s == slot))
        {
            Some(index) => index,
            None => {
                self.readers.push(KeyReader::Whole(slot));
                self.readers.len() - 1
            }
        };
        if self.keys.len() < MAX_KEYS {
            self.keys.insert(key.to_string(), index);
        }
        Some(index)
    }
}

/// Whether the template is inside a JSON string after `text`.
fn string_state(text: &str, mut in_string: bool) -> bool {
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
        } else if in_string && c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_string = !in_string;
        }
    }
    in_string
}

/// A template string value back into literal text and variables.
fn unmark(text: &str, names: &[String]) -> Vec<Piece> {
    let mut out = Vec::new();
    for (i, part) in text.split(MARK).enumerate() {
        let variable = (i % 2 == 1)
            .then(|| part.parse::<usize>().ok().and_then(|n| names.get(n)))
            .flatten();
        match variable {
            Some(name) => out.push(Piece::Variable(name.clone())),
            None if part.is_empty() => {}
            None => out.push(Piece::Literal(part.to_string())),
        }
    }
    out
}

struct LineVisitor<'s, 'a> {
    template: &'s mut JsonTemplate,
    headers: &'s mut HeaderNames,
    fields: &'s mut Fields<'a>,
    problem: &'s mut Option<LineError>,
}

impl<'a> Visitor<'a> for LineVisitor<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key_seed(Text)? {
            let Some(index) = self.template.reader(&key, self.headers) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let Some(value) = map.next_value_seed(Scalar)? else {
                continue;
            };
            match self.template.readers.get(index) {
                None => {}
                Some(KeyReader::Whole(slot)) => self.fields.set(*slot, value),
                Some(KeyReader::Text(template)) => {
                    let read = match value {
                        Cow::Borrowed(text) => template.read(text, Escape::None, self.fields),
                        Cow::Owned(text) => template.read_owned(&text, self.fields),
                    };
                    if let Err(e) = read {
                        self.problem
                            .get_or_insert(LineError::new(e.kind, format!("key {key:?}: {}", e.detail)));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A string, borrowed from the line when it has no escapes.
struct Text;

impl<'a> DeserializeSeed<'a> for Text {
    type Value = Cow<'a, str>;
    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'a> Visitor<'a> for TextVisitor {
    type Value = Cow<'a, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'a str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A value as text: strings, numbers (`"status": $status` is written unquoted) and booleans; None for
/// null, objects and arrays.
struct Scalar;

impl<'a> DeserializeSeed<'a> for Scalar {
    type Value = Option<Cow<'a, str>>;
    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'a> Visitor<'a> for ScalarVisitor {
    type Value = Option<Cow<'a, str>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'a str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(if v { "true" } else { "false" })))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_seq<S: serde::de::SeqAccess<'a>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::replay::fields::Var;

    #[test]
    fn keys_from_the_template() {
        let mut headers = HeaderNames::default();
        let mut t = JsonTemplate::from_template(
            r#"{"time": "$time_iso8601", "status": $status, "req": "$request_method $request_uri",
                "upstream": "$proxy_upstream_name", "canary": "$http_x_canary", "quote": "a\"$host"}"#,
            &mut headers,
        )
        .unwrap();
        let line = r#"{"time":"x","status":301,"req":"GET /a\"b","upstream":"default-echo-80","canary":"-","quote":"a\"h.io","extra":{"n":[1]}}"#;
        let mut fields = Fields::default();
        t.read(line, &mut headers, &mut fields).unwrap();
        assert_eq!(fields.get(Var::Status), Some("301"));
        assert_eq!(fields.get(Var::RequestMethod), Some("GET"));
        assert_eq!(fields.get(Var::RequestUri), Some("/a\"b"));
        assert_eq!(fields.get(Var::ProxyUpstreamName), Some("default-echo-80"));
        assert_eq!(fields.get(Var::Host), Some("h.io"));
        assert_eq!(fields.header(headers.index("x-canary").unwrap()), None);
        assert!(!t.writes(Var::Request) && t.writes(Var::RequestUri));
    }

    #[test]
    fn keys_named_after_variables() {
        let mut headers = HeaderNames::default();
        let mut t = JsonTemplate::by_name();
        let line = r#"{"request":"GET / HTTP/1.1","vhost":"h.io","$status":"200","http_cookie":"a=1","upstream_addr":null}"#;
        let mut fields = Fields::default();
        t.read(line, &mut headers, &mut fields).unwrap();
        assert_eq!(fields.get(Var::Request), Some("GET / HTTP/1.1"));
        assert_eq!(fields.get(Var::Host), Some("h.io"));
        assert_eq!(fields.get(Var::Status), Some("200"));
        assert_eq!(fields.header(headers.index("cookie").unwrap()), Some("a=1"));
        assert!(!fields.has(Var::UpstreamAddr));
    }

    #[test]
    fn bad_lines_and_templates() {
        let mut headers = HeaderNames::default();
        let mut t = JsonTemplate::by_name();
        for line in ["{\"request\": \"GET /", "[1]", "{} x", "not json"] {
            let e = t.read(line, &mut headers, &mut Fields::default()).unwrap_err();
            assert_eq!(e.kind, LineErrorKind::NotJson, "{line}");
        }
        let e = JsonTemplate::from_template("{\"a\": $x", &mut headers).unwrap_err();
        assert!(e.contains("not a JSON object template"), "{e}");
        let mut t =
            JsonTemplate::from_template(r#"{"r": "$request_method $request_uri"}"#, &mut headers).unwrap();
        let e = t
            .read(r#"{"r": "GET"}"#, &mut headers, &mut Fields::default())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "ends early: key \"r\": no \" \" after $request_method"
        );
    }
}
