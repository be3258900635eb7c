//! nginx `log_format` templates, as ingress-nginx's `log-format-upstream` takes them: literal text and
//! `$variable`s (`$name` or `${name}`, names of ASCII letters, digits and `_`).

/// ingress-nginx's default `log-format-upstream` (`internal/ingress/controller/config/config.go`).
pub const INGRESS_NGINX_DEFAULT: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status \
    $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_length $request_time \
    [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length \
    $upstream_response_time $upstream_status $req_id";

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Literal(String),
    /// A variable's name, without `$` or braces.
    Variable(String),
}

/// Splits a template into literal text and variables; adjacent literal text is one piece. A `$` that
/// starts no name is literal, as in nginx.
pub fn pieces(template: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        literal.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (name, consumed) = match after.strip_prefix('{') {
            Some(braced) => match braced.find('}') {
                Some(end) if is_name(&braced[..end]) => (&braced[..end], end + 2),
                _ => ("", 0),
            },
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        if name.is_empty() {
            literal.push('$');
            rest = after;
            continue;
        }
        if !literal.is_empty() {
            out.push(Piece::Literal(std::mem::take(&mut literal)));
        }
        out.push(Piece::Variable(name.to_string()));
        rest = &after[consumed..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        out.push(Piece::Literal(literal));
    }
    out
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Piece {
        Piece::Literal(s.to_string())
    }
    fn var(s: &str) -> Piece {
        Piece::Variable(s.to_string())
    }

    #[test]
    fn variables_and_literals() {
        assert_eq!(
            pieces("[$proxy_upstream_name] \"$request\"$status"),
            vec![
                lit("["),
                var("proxy_upstream_name"),
                lit("] \""),
                var("request"),
                lit("\""),
                var("status")
            ]
        );
        assert_eq!(
            pieces("${host}x$a-b"),
            vec![var("host"), lit("x"), var("a"), lit("-b")]
        );
    }

    #[test]
    fn a_dollar_without_a_name_is_text() {
        assert_eq!(pieces("cost $ 5 ${} $"), vec![lit("cost $ 5 ${} $")]);
        assert_eq!(pieces(""), vec![]);
    }

    #[test]
    fn the_default_format_reads_as_ingress_nginx_writes_it() {
        let names: Vec<_> = pieces(INGRESS_NGINX_DEFAULT)
            .into_iter()
            .filter_map(|p| match p {
                Piece::Variable(name) => Some(name),
                Piece::Literal(_) => None,
            })
            .collect();
        assert_eq!(names.len(), 17);
        assert_eq!(names[3], "request");
        assert_eq!(names[10], "proxy_upstream_name");
        assert_eq!(names[11], "proxy_alternative_upstream_name");
    }
}
