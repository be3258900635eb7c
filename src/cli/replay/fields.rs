//! The values one log line gave for the variables replay reads.

use std::borrow::Cow;

/// The nginx variables replay reads; any other variable of a format is matched and skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `$request`: `METHOD target PROTOCOL`.
    Request,
    RequestMethod,
    RequestUri,
    Status,
    /// `$host`: the request's host, lower case, without port.
    Host,
    /// `$http_host`: the Host header as sent.
    HttpHost,
    Scheme,
    ProxyUpstreamName,
    ProxyAlternativeUpstreamName,
    /// `$upstream_addr`: `-` when nginx answered without an upstream.
    UpstreamAddr,
    /// `$uri`: the path after rewrites, when the line is written.
    Uri,
    /// `$sent_http_location`: a redirect's `Location`.
    SentHttpLocation,
    /// `$remote_addr`: the client address nginx's access rules judged (after the realip module).
    RemoteAddr,
}

impl Var {
    pub const COUNT: usize = 13;

    pub fn from_name(name: &str) -> Option<Var> {
        Some(match name {
            "request" => Var::Request,
            "request_method" => Var::RequestMethod,
            "request_uri" => Var::RequestUri,
            "status" => Var::Status,
            "host" => Var::Host,
            "http_host" => Var::HttpHost,
            "scheme" => Var::Scheme,
            "proxy_upstream_name" => Var::ProxyUpstreamName,
            "proxy_alternative_upstream_name" => Var::ProxyAlternativeUpstreamName,
            "upstream_addr" => Var::UpstreamAddr,
            "uri" => Var::Uri,
            "sent_http_location" => Var::SentHttpLocation,
            "remote_addr" => Var::RemoteAddr,
            _ => return None,
        })
    }

    /// nginx writes the `$upstream_*` variables as lists (`a, b` per attempt, `a : b` across internal
    /// redirects): their values may hold the spaces that separate other values.
    pub fn is_upstream_list(name: &str) -> bool {
        name.starts_with("upstream_")
    }
}

/// The request headers a format carries (`$http_x_canary`, `$http_cookie`), by their nginx names.
pub const MAX_HEADERS: usize = 24;

/// Where a variable's value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Var(Var),
    /// Index into [`HeaderNames`].
    Header(usize),
    Skip,
}

/// The headers a format carries, as nginx names them: lower case, `-` written `_` (`x_canary`).
#[derive(Debug, Default, Clone)]
pub struct HeaderNames {
    names: Vec<String>,
}

impl HeaderNames {
    /// The slot of variable `name` (`http_x_canary`), registering the header; Skip when it is no
    /// header variable or the table is full.
    pub fn slot_of(&mut self, variable: &str) -> Slot {
        if let Some(var) = Var::from_name(variable) {
            return Slot::Var(var);
        }
        let Some(header) = variable.strip_prefix("http_") else {
            return Slot::Skip;
        };
        if let Some(i) = self.index(header) {
            return Slot::Header(i);
        }
        if self.names.len() >= MAX_HEADERS {
            return Slot::Skip;
        }
        self.names.push(header.to_ascii_lowercase());
        Slot::Header(self.names.len() - 1)
    }

    /// The index of a header asked for by its HTTP name (`X-Canary`) or its nginx name.
    pub fn index(&self, header: &str) -> Option<usize> {
        self.names.iter().position(|n| same_header(n, header))
    }
}

/// nginx's `$http_` naming: case-insensitive, `-` and `_` alike.
fn same_header(nginx_name: &str, asked: &str) -> bool {
    let fold = |b: u8| if b == b'-' { b'_' } else { b.to_ascii_lowercase() };
    nginx_name.len() == asked.len()
        && nginx_name
            .bytes()
            .zip(asked.bytes())
            .all(|(a, b)| fold(a) == fold(b))
}

/// The values of one line (unescaped). A variable the line did not carry, or carried as `-`, is None.
#[derive(Debug, Default)]
pub struct Fields<'a> {
    vars: [Option<Cow<'a, str>>; Var::COUNT],
    headers: [Option<Cow<'a, str>>; MAX_HEADERS],
}

impl<'a> Fields<'a> {
    pub fn set(&mut self, slot: Slot, value: Cow<'a, str>) {
        let place = match slot {
            Slot::Var(var) => self.vars.get_mut(var as usize),
            Slot::Header(i) => self.headers.get_mut(i),
            Slot::Skip => None,
        };
        if let Some(place) = place {
            *place = Some(value);
        }
    }

    pub fn get(&self, var: Var) -> Option<&str> {
        self.vars.get(var as usize)?.as_deref().filter(|v| present(v))
    }

    /// Whether the line carried the variable at all (`-` included).
    pub fn has(&self, var: Var) -> bool {
        self.vars.get(var as usize).is_some_and(Option::is_some)
    }

    pub fn take(&mut self, var: Var) -> Option<Cow<'a, str>> {
        self.vars.get_mut(var as usize)?.take().filter(|v| present(v))
    }

    /// Whether the line carried header `index` at all (`-`, "not sent", included).
    pub fn carries_header(&self, index: usize) -> bool {
        self.headers.get(index).is_some_and(Option::is_some)
    }

    pub fn header(&self, index: usize) -> Option<&str> {
        self.headers.get(index)?.as_deref().filter(|v| present(v))
    }
}

/// nginx writes `-` for a variable without value (a header the request did not send).
fn present(value: &str) -> bool {
    value != "-"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_variables_get_slots_by_nginx_name() {
        let mut names = HeaderNames::default();
        assert_eq!(names.slot_of("http_X_Canary"), Slot::Header(0));
        assert_eq!(names.slot_of("http_cookie"), Slot::Header(1));
        assert_eq!(names.slot_of("http_x_canary"), Slot::Header(0));
        assert_eq!(names.slot_of("http_host"), Slot::Var(Var::HttpHost));
        assert_eq!(names.slot_of("remote_addr"), Slot::Var(Var::RemoteAddr));
        assert_eq!(names.slot_of("remote_user"), Slot::Skip);
        assert_eq!(names.index("X-Canary"), Some(0));
        assert_eq!(names.index("Cookie"), Some(1));
        assert_eq!(names.index("x-canar"), None);
        for i in 0..MAX_HEADERS {
            names.slot_of(&format!("http_h{i}"));
        }
        assert_eq!(names.slot_of("http_one_too_many"), Slot::Skip);
    }

    #[test]
    fn a_dash_is_no_value() {
        let mut fields = Fields::default();
        fields.set(Slot::Var(Var::Host), Cow::Borrowed("-"));
        fields.set(Slot::Header(2), Cow::Borrowed("always"));
        assert!(fields.has(Var::Host));
        assert_eq!(fields.get(Var::Host), None);
        assert_eq!(fields.header(2), Some("always"));
        assert!(!fields.has(Var::Uri));
    }
}
