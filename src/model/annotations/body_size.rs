//! `proxy-body-size`: the most bytes a request body may have (nginx's `client_max_body_size`), as
//! ingress-nginx passes it to nginx: digits with an optional `k`, `m` or `g` (either case; 1024-based),
//! `0` for no limit. Without the annotation, `settings.proxyBodySize` applies (default `1m`, as
//! ingress-nginx's).

use super::{field_of, Annotations};
use crate::decide::body_size::BodyLimit;
use crate::diagnostics::Diagnostics;

pub const NAME: &str = "proxy-body-size";

/// How a size text reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Size {
    Limit(BodyLimit),
    /// ingress-nginx's validator accepts it (a `b` suffix, or spaces inside) but its template drops it,
    /// so nginx keeps the default.
    Dropped,
}

/// Reads a size as nginx's `ngx_parse_offset` does, after ingress-nginx's checks.
pub fn parse_size(text: &str) -> Result<Size, String> {
    let text = text.trim();
    let (digits, scale) = match text.as_bytes().last() {
        Some(b'k' | b'K') => (&text[..text.len() - 1], 1u64 << 10),
        Some(b'm' | b'M') => (&text[..text.len() - 1], 1 << 20),
        Some(b'g' | b'G') => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // nginx refuses a size past off_t (the whole configuration would fail to load).
        return digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .filter(|&n| i64::try_from(n).is_ok())
            .map(|n| Size::Limit(BodyLimit(n)))
            .ok_or_else(|| format!("{text:?} is too large"));
    }
    // ingress-nginx's validator (`^(?i)\d+[bkmg]?$` once spaces are removed) passes these; its template
    // then leaves them out.
    let squeezed: String = text.chars().filter(|c| *c != ' ').collect();
    let number = squeezed
        .strip_suffix(|c: char| "bBkKmMgG".contains(c))
        .unwrap_or(&squeezed);
    if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Size::Dropped);
    }
    Err(format!(
        "{text:?} is not a size (digits with an optional k, m or g, e.g. \"8m\"; \"0\" for no limit)"
    ))
}

/// The annotation's limit; None when absent (the default applies). A value ingress-nginx ignored is
/// warned about and leaves the default; an invalid one is an error.
pub(crate) fn parse(a: &Annotations<'_>, diags: &mut Diagnostics) -> Option<BodyLimit> {
    let value = a.get(NAME)?;
    match parse_size(value) {
        Ok(Size::Limit(limit)) => Some(limit),
        Ok(Size::Dropped) => {
            diags.warning(
                a.id,
                &field_of(NAME),
                format!(
                    "{value:?}: ingress-nginx accepts it but leaves it out of nginx's configuration (nginx \
                     reads no \"b\" unit and no spaces), so the default limit applies, as it did there"
                ),
            );
            None
        }
        Err(why) => {
            diags.error(a.id, &field_of(NAME), why);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn limit(n: u64) -> Result<Size, String> {
        Ok(Size::Limit(BodyLimit(n)))
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn sizes_as_nginx_reads_them() {
        assert_eq!(parse_size("1024"), limit(1024));
        assert_eq!(parse_size("8m"), limit(8 << 20));
        assert_eq!(parse_size("8M"), limit(8 << 20));
        assert_eq!(parse_size("100k"), limit(100 << 10));
        assert_eq!(parse_size("2G"), limit(2 << 30));
        assert_eq!(parse_size("0"), limit(0));
        assert_eq!(parse_size(" 1m "), limit(1 << 20));
        for dropped in ["100b", "100B", "8 m", "1 024"] {
            assert_eq!(parse_size(dropped), Ok(Size::Dropped), "{dropped}");
        }
        for bad in [
            "15r",
            "",
            "m",
            "-1",
            "1.5m",
            "1mb",
            "9999999999999999999",
            "9000000000g",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
