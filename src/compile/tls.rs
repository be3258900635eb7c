//! `spec.tls` -> [`TlsHosts`]: which hosts have TLS, and from which Ingress entry their certificate comes.
//!
//! The filter never sees TLS (Envoy terminates it); it needs the hosts for ssl-redirect's default, which
//! ingress-nginx turns on for a host as soon as a certificate is configured for it (`certificate.lua
//! configured_for_current_request`: the host itself or `*.<parent>`). `render envoy` reads the same table
//! for its HTTPS listener, so the filter's redirects and the certificates served always agree.
//!
//! The rules, oldest Ingress first (the order the compiler takes them in, canaries and other classes left
//! out):
//! - each host an entry lists gets that entry's certificate (`namespace/secretName`); a host two entries
//!   list keeps the older one's, and a different later one is warned about;
//! - an entry without hosts is the default certificate (the oldest one with a `secretName`; a different
//!   later one is warned about), and also covers the Ingress's own rule hosts that no entry lists —
//!   ingress-nginx gives a rule host of an Ingress with a `tls` section that entry's secret, or its
//!   default certificate;
//! - an entry without `secretName` gives its hosts TLS (they redirect to HTTPS) without a certificate of
//!   their own: the default certificate serves them.

use crate::decide::request_host::wildcard_parent;
use crate::diagnostics::Diagnostics;
use crate::model::ingress::Ingress;
use crate::work;
use std::collections::HashMap;

/// One `spec.tls` entry that gives some host its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsEntry {
    /// `namespace/name` of the Ingress.
    pub ingress: String,
    /// `spec.tls[i]`.
    pub field: String,
    /// The Ingress's namespace: where the Secret lives.
    pub namespace: String,
    /// `secretName`; None when the entry names none (the default certificate serves its hosts).
    pub secret: Option<String>,
}

impl TlsEntry {
    /// `namespace/secretName`, or None without a secret.
    pub fn secret_id(&self) -> Option<String> {
        self.secret.as_ref().map(|s| format!("{}/{s}", self.namespace))
    }

    fn same_certificate(&self, other: &TlsEntry) -> bool {
        (&self.namespace, &self.secret) == (&other.namespace, &other.secret)
    }
}

/// The hosts with TLS, each with the entry its certificate comes from.
#[derive(Debug, Default)]
pub struct TlsHosts {
    entries: Vec<TlsEntry>,
    /// Host -> index into `entries`.
    exact: HashMap<String, usize>,
    /// `*.parent` hosts, keyed by the parent.
    wildcard: HashMap<String, usize>,
    /// The default certificate: the oldest entry without hosts that names a secret.
    default: Option<usize>,
}

impl TlsHosts {
    /// Whether no host has TLS (no served Ingress has a `tls` section).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a certificate is configured for `host` (a route host: lower case, no port): the host
    /// itself or `*.<parent>`, as ingress-nginx looks it up.
    pub fn covers(&self, host: &str) -> bool {
        self.find(host).is_some()
    }

    /// The TLS host that covers `host` (itself or `*.<parent>`) and its entry.
    pub fn lookup(&self, host: &str) -> Option<(String, &TlsEntry)> {
        let (wildcard_parent, index) = self.find(host)?;
        let tls_host = match wildcard_parent {
            Some(parent) => format!("*.{parent}"),
            None => host.to_string(),
        };
        Some((tls_host, self.entries.get(index)?))
    }

    /// The entry covering `host`, and the parent when a wildcard does.
    fn find<'h>(&self, host: &'h str) -> Option<(Option<&'h str>, usize)> {
        if self.entries.is_empty() {
            return None;
        }
        work::add(host.len());
        if let Some(&i) = self.exact.get(host) {
            return Some((None, i));
        }
        let parent = wildcard_parent(host)?;
        work::add(parent.len());
        self.wildcard.get(parent).map(|&i| (Some(parent), i))
    }

    /// The entry of the default certificate (an entry without hosts), if any.
    pub fn default_entry(&self) -> Option<&TlsEntry> {
        self.entries.get(self.default?)
    }

    /// Every entry that gives a host TLS or is the default certificate, with the hosts it covers
    /// (`*.parent` for wildcards), sorted; oldest Ingress first.
    pub fn entries(&self) -> Vec<(&TlsEntry, Vec<String>)> {
        let mut hosts: Vec<Vec<String>> = vec![Vec::new(); self.entries.len()];
        for (host, &i) in &self.exact {
            if let Some(list) = hosts.get_mut(i) {
                list.push(host.clone());
            }
        }
        for (parent, &i) in &self.wildcard {
            if let Some(list) = hosts.get_mut(i) {
                list.push(format!("*.{parent}"));
            }
        }
        self.entries
            .iter()
            .zip(hosts)
            .enumerate()
            .filter(|(i, (_, hosts))| !hosts.is_empty() || self.default == Some(*i))
            .map(|(_, (entry, mut hosts))| {
                hosts.sort();
                (entry, hosts)
            })
            .collect()
    }

    /// The entry that gave TLS host `host` (as written: `*.parent` for a wildcard) its certificate.
    fn holder(&self, host: &str) -> Option<usize> {
        match host.strip_prefix("*.") {
            Some(parent) => self.wildcard.get(parent).copied(),
            None => self.exact.get(host).copied(),
        }
    }

    /// Gives TLS host `host` the certificate of entry `index` unless it has one; Err(the holder) when it
    /// has a different one.
    fn assign(&mut self, host: &str, index: usize) -> Result<(), usize> {
        if let Some(held) = self.holder(host) {
            return match (self.entries.get(held), self.entries.get(index)) {
                (Some(a), Some(b)) if !a.same_certificate(b) => Err(held),
                _ => Ok(()),
            };
        }
        match host.strip_prefix("*.") {
            Some(parent) => self.wildcard.insert(parent.to_string(), index),
            None => self.exact.insert(host.to_string(), index),
        };
        Ok(())
    }
}

/// Collects the TLS hosts of the served Ingresses (oldest first, no canaries).
pub(super) fn collect<'i>(ingresses: impl Iterator<Item = &'i Ingress>, diags: &mut Diagnostics) -> TlsHosts {
    let mut tls = TlsHosts::default();
    // Entries without hosts, to cover their Ingress's rule hosts once every listed host is placed.
    let mut hostless: Vec<(usize, &Ingress)> = Vec::new();
    for ingress in ingresses {
        for (i, entry) in ingress.tls.iter().enumerate() {
            let index = tls.entries.len();
            tls.entries.push(TlsEntry {
                ingress: ingress.id(),
                field: format!("spec.tls[{i}]"),
                namespace: ingress.namespace.clone(),
                secret: entry.secret_name.clone().filter(|s| !s.is_empty()),
            });
            if entry.hosts.is_empty() {
                hostless.push((index, ingress));
            }
            // The default certificate: the oldest entry without hosts that names a secret.
            if entry.hosts.is_empty() && tls.entries[index].secret.is_some() {
                match tls.default.and_then(|d| tls.entries.get(d)) {
                    None => tls.default = Some(index),
                    Some(first) if !first.same_certificate(&tls.entries[index]) => {
                        let (first, this) = (first.clone(), &tls.entries[index]);
                        diags.warning(
                            &this.ingress,
                            &this.field,
                            format!(
                                "the default certificate (a tls entry without hosts) is already {} of the older {} {}; \
                                 this one serves only this Ingress's own hosts",
                                describe(&first),
                                first.ingress,
                                first.field
                            ),
                        );
                    }
                    Some(_) => {}
                }
            }
            for host in &entry.hosts {
                if let Err(held) = tls.assign(host, index) {
                    let (holder, this) = (&tls.entries[held], &tls.entries[index]);
                    diags.warning(
                        &this.ingress,
                        &format!("{}.hosts", this.field),
                        format!(
                            "{host} already has {} from the older {} {}; {} is not used for it",
                            describe(holder),
                            holder.ingress,
                            holder.field,
                            describe(this)
                        ),
                    );
                }
            }
        }
    }
    // A rule host some entry lists keeps that entry's certificate.
    for (index, ingress) in hostless {
        for host in ingress.rules.iter().filter_map(|r| r.host.as_deref()) {
            let _ = tls.assign(host, index);
        }
    }
    tls
}

/// `the certificate of secret ns/name`, or what an entry without one gives.
fn describe(entry: &TlsEntry) -> String {
    match entry.secret_id() {
        Some(id) => format!("the certificate of secret {id}"),
        None => "TLS without a secretName (the default certificate)".to_string(),
    }
}
