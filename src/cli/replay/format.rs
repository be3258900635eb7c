//! Which log format a replay reads, chosen from `--format` or from the log's first line.

use super::escape::Escape;
use super::fields::{Fields, HeaderNames, Var};
use super::json_line::JsonTemplate;
use super::line_error::LineError;
use super::template::{pieces, INGRESS_NGINX_DEFAULT};
use super::text_line::TextTemplate;

#[derive(Debug, Clone)]
enum Reader {
    Text(TextTemplate, Escape),
    Json(JsonTemplate),
}

/// A log format ready to read lines.
#[derive(Debug, Clone)]
pub struct LogFormat {
    reader: Reader,
    /// The request headers the lines may carry (`$http_...`).
    pub headers: HeaderNames,
    /// What the report calls it.
    pub description: &'static str,
}

impl LogFormat {
    /// The format `--format` names (`default`, `json`, or a `log-format-upstream` template), or the
    /// one the first line shows (a JSON object: JSON lines keyed by variable names; else the default).
    pub fn choose(
        format: Option<&str>,
        escape: Option<Escape>,
        first_line: &str,
    ) -> Result<LogFormat, String> {
        let chosen = match format.map(str::trim) {
            Some("default") => "default",
            Some("json") => "json",
            Some(template) => template,
            None if first_line.trim_start().starts_with('{') => "json",
            None => "default",
        };
        let mut headers = HeaderNames::default();
        let (reader, description) = match chosen {
            "default" => (
                Reader::Text(
                    TextTemplate::new(pieces(INGRESS_NGINX_DEFAULT), &mut headers),
                    escape.unwrap_or(Escape::Default),
                ),
                "ingress-nginx's default log-format-upstream",
            ),
            "json" => (
                Reader::Json(JsonTemplate::by_name()),
                "JSON lines, keys named after nginx variables",
            ),
            template if template.starts_with('{') => (
                Reader::Json(JsonTemplate::from_template(template, &mut headers)?),
                "JSON lines (log-format-escape-json) of the given log-format-upstream",
            ),
            template => (
                Reader::Text(
                    TextTemplate::new(pieces(template), &mut headers),
                    escape.unwrap_or(Escape::Default),
                ),
                "the given log-format-upstream",
            ),
        };
        let format = LogFormat {
            reader,
            headers,
            description,
        };
        format.check()?;
        Ok(format)
    }

    /// A template must write what a comparison needs.
    fn check(&self) -> Result<(), String> {
        if !self.writes(Var::ProxyUpstreamName) {
            return Err(
                "the format does not write $proxy_upstream_name: there is nothing to compare".to_string(),
            );
        }
        if !self.writes(Var::Request) && !self.writes(Var::RequestUri) {
            return Err(
                "the format writes neither $request nor $request_uri: there is no request to replay"
                    .to_string(),
            );
        }
        Ok(())
    }

    pub fn writes(&self, var: Var) -> bool {
        match &self.reader {
            Reader::Text(template, _) => template.writes(var),
            Reader::Json(template) => template.writes(var),
        }
    }

    pub fn read<'a>(&mut self, line: &'a str) -> Result<Fields<'a>, LineError> {
        let mut fields = Fields::default();
        match &mut self.reader {
            Reader::Text(template, escape) => template.read(line, *escape, &mut fields)?,
            Reader::Json(template) => template.read(line, &mut self.headers, &mut fields)?,
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_by_option_or_first_line() {
        let f = LogFormat::choose(None, None, "1.2.3.4 - - [x]").unwrap();
        assert_eq!(f.description, "ingress-nginx's default log-format-upstream");
        assert!(!f.writes(Var::Host) && f.writes(Var::Request));
        let f = LogFormat::choose(None, None, "  {\"request\": 1}").unwrap();
        assert_eq!(f.description, "JSON lines, keys named after nginx variables");
        let f = LogFormat::choose(Some("$host \"$request\" [$proxy_upstream_name]"), None, "{").unwrap();
        assert_eq!(f.description, "the given log-format-upstream");
        assert!(f.writes(Var::Host));
        let f = LogFormat::choose(
            Some(r#"{"u": "$proxy_upstream_name", "r": "$request"}"#),
            None,
            "",
        )
        .unwrap();
        assert!(f.description.starts_with("JSON lines (log-format-escape-json)"));
    }

    #[test]
    fn templates_must_write_the_upstream_and_the_request() {
        let e = LogFormat::choose(Some("$host $request"), None, "").unwrap_err();
        assert!(e.contains("$proxy_upstream_name"), "{e}");
        let e = LogFormat::choose(Some("$host [$proxy_upstream_name]"), None, "").unwrap_err();
        assert!(e.contains("$request_uri"), "{e}");
        let e = LogFormat::choose(Some("{\"a\": $x"), None, "").unwrap_err();
        assert!(e.contains("JSON object template"), "{e}");
    }
}
