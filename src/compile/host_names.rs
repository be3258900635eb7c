//! `server-alias` and `from-to-www-redirect` across the hosts, as ingress-nginx's `createServers` and
//! `BuildRedirects` settle them: a host takes the aliases of the first (oldest) Ingress naming it that
//! has any; an alias that is a rule host, the host itself, or already another host's is dropped; the
//! `www.` counterpart (or the name without `www.`) of a host with `from-to-www-redirect` redirects to it
//! unless it is a rule host itself.

use crate::decide::host_names::{HostKey, HostNames};
use crate::diagnostics::Diagnostics;
use crate::model::annotations::field_of;
use crate::model::annotations::hosts::{AliasName, HostOptions};
use std::collections::HashMap;

/// What the Ingresses of one host ask for.
struct Asked {
    /// The rule host (`*.foo.com` as written).
    host: String,
    /// The aliases and the Ingress that gave them.
    aliases: Option<(String, Vec<AliasName>)>,
    /// The first Ingress with `from-to-www-redirect` on this host.
    www_from: Option<String>,
}

/// Collected while the Ingresses' rules are compiled.
#[derive(Default)]
pub(super) struct HostNamesBuild {
    /// In the order the hosts were first named (oldest Ingress first): a name two hosts claim goes to
    /// the first.
    hosts: Vec<Asked>,
    index: HashMap<String, usize>,
}

impl HostNamesBuild {
    /// One rule of Ingress `ingress` (`host` None: a rule without host); `has_paths`: it has paths.
    pub(super) fn rule(
        &mut self,
        ingress: &str,
        host: Option<&str>,
        has_paths: bool,
        options: &HostOptions,
        diags: &mut Diagnostics,
    ) {
        let Some(host) = host else {
            if !options.aliases.is_empty() {
                diags.warning(
                    ingress,
                    &field_of("server-alias"),
                    "has no effect on rules without host (their requests come from every unknown name already)",
                );
            }
            if options.from_to_www {
                diags.warning(
                    ingress,
                    &field_of("from-to-www-redirect"),
                    "has no effect on rules without host",
                );
            }
            return;
        };
        let index = *self.index.entry(host.to_string()).or_insert_with(|| {
            self.hosts.push(Asked {
                host: host.to_string(),
                aliases: None,
                www_from: None,
            });
            self.hosts.len() - 1
        });
        let Some(asked) = self.hosts.get_mut(index) else {
            return;
        };
        if !options.aliases.is_empty() {
            match &asked.aliases {
                None => asked.aliases = Some((ingress.to_string(), options.aliases.clone())),
                Some((first, _)) if first != ingress => diags.warning(
                    ingress,
                    &field_of("server-alias"),
                    format!("{host} already has the aliases of the older Ingress {first}; these are ignored"),
                ),
                Some(_) => {}
            }
        }
        if options.from_to_www && has_paths && asked.www_from.is_none() {
            asked.www_from = Some(ingress.to_string());
        }
    }

    /// The alias and www names, each checked against the rule hosts `is_host` knows (`*.foo.com` as
    /// written).
    pub(super) fn finish(self, is_host: impl Fn(&str) -> bool, diags: &mut Diagnostics) -> HostNames {
        let mut names = HostNames::default();
        for Asked { host, www_from, .. } in &self.hosts {
            let Some(ingress) = www_from else {
                continue;
            };
            let field = field_of("from-to-www-redirect");
            if host.starts_with("*.") {
                diags.warning(
                    ingress,
                    &field,
                    format!("has no effect on the wildcard host {host}"),
                );
                continue;
            }
            let from = match host.strip_prefix("www.") {
                Some(bare) => bare.to_string(),
                None => format!("www.{host}"),
            };
            if is_host(&from) {
                diags.warning(
                    ingress,
                    &field,
                    format!("{from} is a host of its own Ingress rules: it is not redirected to {host} (as in ingress-nginx)"),
                );
                continue;
            }
            names.add_www(&from, host);
        }
        for Asked { host, aliases, .. } in &self.hosts {
            let Some((ingress, aliases)) = aliases else {
                continue;
            };
            let key = match host.strip_prefix("*.") {
                Some(parent) => HostKey::Wildcard(parent.to_string()),
                None => HostKey::Exact(host.clone()),
            };
            for alias in aliases {
                let written = alias.written();
                if &written == host {
                    continue;
                }
                let taken = if is_host(&written) {
                    Some("is a host of Ingress rules")
                } else if names.www_target(&written).is_some() {
                    Some("is the www counterpart another host redirects from (from-to-www-redirect)")
                } else {
                    None
                };
                let added = taken.is_none()
                    && match alias {
                        AliasName::Exact(name) => names.add_exact(name, &key),
                        AliasName::Subdomains(parent) => names.add_subdomains(parent, &key),
                        AliasName::DomainAndSubdomains(parent) => {
                            // Its exact part yields to a rule host or a www counterpart of that name.
                            if !is_host(parent) && names.www_target(parent).is_none() {
                                names.add_exact(parent, &key);
                            }
                            names.add_subdomains(parent, &key)
                        }
                        AliasName::AnyEnding(start) => names.add_any_ending(start, &key),
                    };
                if !added {
                    diags.warning(
                        ingress,
                        &field_of("server-alias"),
                        format!(
                            "{written:?} {}; it is not an alias of {host}",
                            taken.unwrap_or("is already an alias of another host")
                        ),
                    );
                }
            }
        }
        names
    }
}
