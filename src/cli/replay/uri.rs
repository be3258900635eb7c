//! Comparing paths and redirect locations the way nginx writes them into a log.

use std::borrow::Cow;

/// Every `%XX` escape decoded, as nginx's `$uri` shows a path (bytes that do not form UTF-8 become
/// U+FFFD).
pub fn percent_decode(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', h, l]) => char::from(*h).to_digit(16).zip(char::from(*l).to_digit(16)),
            _ => None,
        };
        match escaped {
            Some((h, l)) => {
                out.push(u8::try_from(h << 4 | l).unwrap_or(b'?'));
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Which parts of a `Location` the log lets us compare.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// The log names the request's scheme.
    pub scheme: bool,
    /// The log names the request's host (else ours is a guess).
    pub host: bool,
}

/// Whether two `Location`s name the same place: the same path and query; the same host (without port:
/// ingress-nginx turns `port_in_redirect` off) when the log names the request's host; the same scheme
/// when it names the scheme.
pub fn same_location(logged: &str, ours: &str, known: Known) -> bool {
    let (a, b) = (Location::parse(logged), Location::parse(ours));
    if a.rest != b.rest {
        return false;
    }
    let both_absolute = a.host.is_some() && b.host.is_some();
    let host_ok = !known.host || !both_absolute || eq_host(a.host, b.host);
    let scheme_ok = !known.scheme || !both_absolute || a.scheme.eq_ignore_ascii_case(b.scheme);
    host_ok && scheme_ok
}

fn eq_host(a: Option<&str>, b: Option<&str>) -> bool {
    let strip = |h: &str| {
        let end = if h.starts_with('[') {
            h.find(']').map_or(h.len(), |i| i + 1)
        } else {
            h.find(':').unwrap_or(h.len())
        };
        h[..end].to_ascii_lowercase()
    };
    a.map(strip) == b.map(strip)
}

struct Location<'a> {
    scheme: &'a str,
    host: Option<&'a str>,
    /// Path and query; `/` when empty.
    rest: &'a str,
}

impl<'a> Location<'a> {
    fn parse(text: &'a str) -> Location<'a> {
        let Some((scheme, after)) = text.split_once("://") else {
            return Location {
                scheme: "",
                host: None,
                rest: text,
            };
        };
        let end = after.find(['/', '?']).unwrap_or(after.len());
        let rest = &after[end..];
        Location {
            scheme,
            host: Some(&after[..end]),
            rest: if rest.is_empty() { "/" } else { rest },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("/a%20b%2Fc%zz%4"), "/a b/c%zz%4");
        assert!(matches!(percent_decode("/plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn locations() {
        let all = Known {
            scheme: true,
            host: true,
        };
        assert!(same_location("http://h.io/a/", "http://H.io:8080/a/", all));
        assert!(!same_location("http://h.io/a/", "http://h.io/b/", all));
        assert!(!same_location("https://h.io/a/", "http://h.io/a/", all));
        assert!(same_location(
            "https://h.io/a/",
            "http://h.io/a/",
            Known {
                scheme: false,
                host: true
            }
        ));
        assert!(!same_location("http://g.io/a/", "http://h.io/a/", all));
        assert!(same_location(
            "http://g.io/a/",
            "http://h.io/a/",
            Known {
                scheme: true,
                host: false
            }
        ));
        assert!(same_location("/a/?x", "http://h.io/a/?x", all));
        assert!(same_location("http://h.io", "http://h.io/", all));
        assert!(same_location("http://[::1]:80/a", "http://[::1]/a", all));
    }
}
