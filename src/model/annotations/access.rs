//! `allowlist-source-range` (alias `whitelist-source-range`, read only when the canonical name is absent)
//! and `denylist-source-range`: comma-separated IPv4/IPv6 addresses and CIDR ranges. Each one, when set,
//! replaces the settings' global range of the same kind (`allowlistSourceRange`, `denylistSourceRange`)
//! rather than adding to it, as ingress-nginx's annotations replace its ConfigMap's. A list with any
//! entry that is not an address or a range denies every path of the Ingress (503), as ingress-nginx
//! denies the location; the decision itself lives in [`crate::decide::source_range`].

use super::{field_of, Annotations};
use crate::decide::source_range::{Cidr, RangeSet, SourceRanges};
use crate::diagnostics::Diagnostics;
use crate::model::settings::Settings;

const ALLOW: &str = "allowlist-source-range";
const ALLOW_ALIAS: &str = "whitelist-source-range";
const DENY: &str = "denylist-source-range";
pub const NAMES: &[&str] = &[ALLOW, ALLOW_ALIAS, DENY];

/// What an Ingress's annotations set; None where the settings' range applies.
#[derive(Debug, Clone, Default)]
pub struct SourceRangeOptions {
    pub allow: Option<RangeSet>,
    pub deny: Option<RangeSet>,
}

impl SourceRangeOptions {
    /// The rules of the Ingress's locations: each annotation, else the settings' global range; None when
    /// neither restricts anything.
    pub fn resolve(&self, settings: &Settings) -> Option<SourceRanges> {
        let allow = self.allow.as_ref().or(settings.allowlist_source_range.as_ref());
        let deny = self.deny.as_ref().or(settings.denylist_source_range.as_ref());
        let ranges = SourceRanges {
            deny: deny.cloned().unwrap_or_default(),
            allow: allow.filter(|a| !a.is_empty()).cloned(),
        };
        (!ranges.is_empty()).then_some(ranges)
    }
}

/// Reads a comma-separated list as ingress-nginx does (Go's `ParseCIDR`, else `ParseIP`, per trimmed
/// entry); the first bad entry makes the whole list invalid.
pub fn parse_list(value: &str) -> Result<RangeSet, String> {
    let cidrs = value
        .split(',')
        .map(|entry| Cidr::parse(entry.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RangeSet::new(&cidrs))
}

/// Reads the annotations. An invalid list is warned about and its key goes to `denied`.
pub(crate) fn parse(
    a: &Annotations<'_>,
    diags: &mut Diagnostics,
    denied: &mut Vec<String>,
) -> SourceRangeOptions {
    let allow_name = match (a.get(ALLOW), a.get(ALLOW_ALIAS)) {
        (Some(_), Some(_)) => {
            diags.warning(
                a.id,
                &field_of(ALLOW_ALIAS),
                format!("ignored: {ALLOW} is set (ingress-nginx reads the alias only without it)"),
            );
            ALLOW
        }
        (None, Some(_)) => ALLOW_ALIAS,
        _ => ALLOW,
    };
    SourceRangeOptions {
        allow: read(a, allow_name, diags, denied),
        deny: read(a, DENY, diags, denied),
    }
}

fn read(
    a: &Annotations<'_>,
    name: &str,
    diags: &mut Diagnostics,
    denied: &mut Vec<String>,
) -> Option<RangeSet> {
    let value = a.get(name)?;
    match parse_list(value) {
        Ok(set) => Some(set),
        Err(why) => {
            denied.push(format!("{}{name}", super::PREFIX));
            diags.warning(
                a.id,
                &field_of(name),
                format!("{why}: every path of this Ingress answers 503 (fail closed), as ingress-nginx denies the location"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::annotations::tests::parse_all;
    use wasm_bindgen_test::wasm_bindgen_test;

    const P: &str = "nginx.ingress.kubernetes.io/";

    fn shown(set: &Option<RangeSet>) -> Vec<String> {
        set.iter()
            .flat_map(|s| s.ranges().iter().map(ToString::to_string))
            .collect()
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn lists_and_the_alias() {
        let (o, msgs) = parse_all(&[
            (&format!("{P}whitelist-source-range"), "18.0.0.0/8, 55.0.0.0/8"),
            (
                &format!("{P}denylist-source-range"),
                "18.1.0.0/16,56.0.0.1, 2001:db8::/32",
            ),
        ]);
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(shown(&o.source_ranges.allow), ["18.0.0.0/8", "55.0.0.0/8"]);
        assert_eq!(
            shown(&o.source_ranges.deny),
            ["18.1.0.0/16", "56.0.0.1/32", "2001:db8::/32"]
        );
        let (o, msgs) = parse_all(&[
            (&format!("{P}allowlist-source-range"), "10.0.0.0/8"),
            (&format!("{P}whitelist-source-range"), "0.0.0.0/0"),
        ]);
        assert_eq!(shown(&o.source_ranges.allow), ["10.0.0.0/8"]);
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].contains("whitelist-source-range: ignored: allowlist-source-range is set"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn an_invalid_list_denies_the_ingress() {
        for bad in ["10.0.0.0/33", "10.0.0.1,", "10.0.0.0/8, nope", " , "] {
            let (o, msgs) = parse_all(&[(&format!("{P}allowlist-source-range"), bad)]);
            assert_eq!(o.unenforced, [format!("{P}allowlist-source-range")], "{bad:?}");
            assert!(o.source_ranges.allow.is_none());
            assert_eq!(msgs.len(), 1, "{msgs:?}");
            assert!(
                msgs[0].starts_with("ns/ing: metadata.annotations.nginx.ingress.kubernetes.io/allowlist-source-range: ")
                    && msgs[0].ends_with("every path of this Ingress answers 503 (fail closed), as ingress-nginx denies the location"),
                "{msgs:?}"
            );
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn annotations_replace_the_global_ranges() {
        let mut settings = Settings::default();
        let global = |s: &str| Some(parse_list(s).unwrap());
        settings.allowlist_source_range = global("10.0.0.0/8");
        settings.denylist_source_range = global("10.1.0.0/16");
        let none = SourceRangeOptions::default().resolve(&settings).unwrap();
        assert!(none.admits("10.2.0.1".parse().ok()) && !none.admits("10.1.0.1".parse().ok()));
        let own_allow = SourceRangeOptions {
            allow: global("192.168.0.0/16"),
            deny: None,
        };
        let r = own_allow.resolve(&settings).unwrap();
        assert!(r.admits("192.168.1.1".parse().ok()));
        assert!(
            !r.admits("10.2.0.1".parse().ok()),
            "the global allowlist is replaced"
        );
        let own_deny = SourceRangeOptions {
            allow: None,
            deny: global("10.9.0.0/16"),
        };
        let r = own_deny.resolve(&settings).unwrap();
        assert!(
            r.admits("10.1.0.1".parse().ok()),
            "the global denylist is replaced"
        );
        assert!(!r.admits("10.9.0.1".parse().ok()) && !r.admits("192.168.1.1".parse().ok()));
        assert!(SourceRangeOptions::default()
            .resolve(&Settings::default())
            .is_none());
    }
}
