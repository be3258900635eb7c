//! Reading a line written by a text `log_format`: the template's literal text anchors each value, which
//! runs to the next literal (nginx escapes `"` in values, so a quoted value cannot hold its closing quote).

use super::escape::Escape;
use super::fields::{Fields, HeaderNames, Slot, Var};
use super::line_error::LineError;
use super::template::Piece;
use std::borrow::Cow;

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Value {
        slot: Slot,
        /// `$upstream_*`: a list whose items nginx separates with `, ` or ` : `.
        list: bool,
        name: String,
    },
}

/// A compiled text template.
#[derive(Debug, Clone)]
pub struct TextTemplate {
    segments: Vec<Segment>,
}

impl TextTemplate {
    pub fn new(pieces: Vec<Piece>, headers: &mut HeaderNames) -> TextTemplate {
        let segments = pieces
            .into_iter()
            .map(|piece| match piece {
                Piece::Literal(text) => Segment::Literal(text),
                Piece::Variable(name) => Segment::Value {
                    slot: headers.slot_of(&name),
                    list: Var::is_upstream_list(&name),
                    name,
                },
            })
            .collect();
        TextTemplate { segments }
    }

    /// Whether the template writes `var`.
    pub fn writes(&self, var: Var) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Value { slot: Slot::Var(v), .. } if *v == var))
    }

    /// Reads a line into `fields`, unescaping each value.
    pub fn read<'a>(&self, line: &'a str, escape: Escape, fields: &mut Fields<'a>) -> Result<(), LineError> {
        self.spans(line, |slot, value| fields.set(slot, escape.unescape(value)))
    }

    /// Reads a value that is itself owned (a JSON string with escapes) into `fields`.
    pub fn read_owned(&self, text: &str, fields: &mut Fields<'_>) -> Result<(), LineError> {
        self.spans(text, |slot, value| {
            fields.set(slot, Cow::Owned(value.to_string()))
        })
    }

    /// Calls `each` with every read variable's raw value.
    fn spans<'t>(&self, text: &'t str, mut each: impl FnMut(Slot, &'t str)) -> Result<(), LineError> {
        let mut pos = 0;
        for (i, segment) in self.segments.iter().enumerate() {
            let rest = text.get(pos..).unwrap_or_default();
            match segment {
                Segment::Literal(literal) => {
                    if !rest.starts_with(literal.as_str()) {
                        return Err(self.mismatch(i, rest, literal));
                    }
                    pos += literal.len();
                }
                Segment::Value { slot, list, name } => {
                    let end = match self.segments.get(i + 1) {
                        Some(Segment::Literal(next)) => match value_end(rest, next, *list) {
                            Some(end) => end,
                            None => return Err(LineError::unclosed(name, next)),
                        },
                        // Two variables with nothing between them cannot be told apart: the first
                        // takes nothing.
                        Some(Segment::Value { .. }) => 0,
                        None => rest.len(),
                    };
                    if *slot != Slot::Skip {
                        each(*slot, &rest[..end]);
                    }
                    pos += end;
                }
            }
        }
        if pos < text.len() {
            return Err(LineError::trailing(text.len() - pos));
        }
        Ok(())
    }

    fn mismatch(&self, segment: usize, rest: &str, literal: &str) -> LineError {
        let after = match segment.checked_sub(1).and_then(|i| self.segments.get(i)) {
            Some(Segment::Value { name, .. }) => format!("${name}"),
            _ => "the start".to_string(),
        };
        if literal.starts_with(rest) {
            LineError::stops(&after)
        } else {
            LineError::mismatch(&after, literal)
        }
    }
}

/// Where a value that the literal `next` follows ends in `rest`.
fn value_end(rest: &str, next: &str, list: bool) -> Option<usize> {
    let mut end = rest.find(next)?;
    if !(list && next == " ") {
        return Some(end);
    }
    // `10.0.0.1:80, 10.0.0.2:80` and `10.0.0.1:80 : 10.0.0.3:80` are one value.
    loop {
        let continues = if rest[..end].ends_with(',') {
            Some(end + 1)
        } else if rest[end..].starts_with(" : ") {
            Some(end + 3)
        } else {
            None
        };
        let Some(from) = continues else {
            return Some(end);
        };
        end = from + rest.get(from..)?.find(' ')?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::replay::template::{pieces, INGRESS_NGINX_DEFAULT};

    fn read<'a>(template: &str, line: &'a str) -> Result<(Fields<'a>, HeaderNames), LineError> {
        let mut headers = HeaderNames::default();
        let t = TextTemplate::new(pieces(template), &mut headers);
        let mut fields = Fields::default();
        t.read(line, Escape::Default, &mut fields)?;
        Ok((fields, headers))
    }

    const LINE: &str = "10.0.0.9 - - [10/Oct/2025:13:55:36 +0000] \"GET /a\\x22b?x=1 HTTP/1.1\" 200 12 \"-\" \
        \"curl/8.5.0 (x)\" 80 0.002 [default-echo-80] [] 10.0.0.5:80, 10.0.0.6:80 : 10.0.0.7:80 0, 12 0.001, 0.002 \
        502, 200 4f2a";

    #[test]
    fn the_default_format() {
        let (f, _) = read(INGRESS_NGINX_DEFAULT, LINE).unwrap();
        assert_eq!(f.get(Var::RemoteAddr), Some("10.0.0.9"));
        assert_eq!(f.get(Var::Request), Some("GET /a\"b?x=1 HTTP/1.1"));
        assert_eq!(f.get(Var::Status), Some("200"));
        assert_eq!(f.get(Var::ProxyUpstreamName), Some("default-echo-80"));
        assert_eq!(f.get(Var::ProxyAlternativeUpstreamName), Some(""));
        assert_eq!(
            f.get(Var::UpstreamAddr),
            Some("10.0.0.5:80, 10.0.0.6:80 : 10.0.0.7:80")
        );
    }

    #[test]
    fn truncated_and_foreign_lines_say_where() {
        let cut = &LINE[..LINE.find("[default").unwrap() + 4];
        let e = read(INGRESS_NGINX_DEFAULT, cut).unwrap_err();
        assert_eq!(e.to_string(), "ends early: no \"] [\" after $proxy_upstream_name");
        let e = read(INGRESS_NGINX_DEFAULT, "hello world").unwrap_err();
        assert_eq!(e.to_string(), "ends early: no \" - \" after $remote_addr");
        let e = read("[$status] $host", "(200) x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "does not match the format: expected \"[\" after the start"
        );
        let e = read("$status [$host]", "200 [x").unwrap_err();
        assert_eq!(e.to_string(), "ends early: no \"]\" after $host");
        let e = read("$status $host.", "200 x.y").unwrap_err();
        assert_eq!(
            e.to_string(),
            "does not match the format: 1 more bytes after the format's end"
        );
        let e = read("[[$status]", "[").unwrap_err();
        assert_eq!(e.to_string(), "ends early: the line stops after the start");
    }

    #[test]
    fn headers_and_a_value_at_the_end() {
        let (f, headers) = read(
            "$host \"$http_x_canary\" $http_cookie",
            "h.io \"always\" a=1; b=2",
        )
        .unwrap();
        assert_eq!(f.get(Var::Host), Some("h.io"));
        assert_eq!(f.header(headers.index("x-canary").unwrap()), Some("always"));
        assert_eq!(f.header(headers.index("cookie").unwrap()), Some("a=1; b=2"));
    }
}
