//! Per-Ingress last-known-good: which version of each Ingress a sync delivers.
//!
//! The whole input is loaded with the filter's own loader. When it has errors, each Ingress an error
//! names is an offender: a changed Ingress goes back to the version last delivered, a new one is left
//! out, and the set is loaded again, until it loads. Errors between Ingresses (two backends given one
//! cluster name, ...) name one of them; when a changed or new Ingress is among the offenders only those
//! are acted on, so an Ingress that was already serving is never dropped because a newcomer collides
//! with it. Errors that name no Ingress (the settings, a malformed list) refuse the whole update.

use ingress_wasm::config::{load_value, Compiled};
use ingress_wasm::model::ingress::{is_dns_label, is_dns_subdomain};
use ingress_wasm::Diagnostic;
use serde_json::Value;
use std::collections::BTreeMap;

/// What happened to an Ingress whose current version could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its last delivered version keeps serving.
    KeptOld,
    /// Not delivered at all (new, or its last version no longer fits either).
    LeftOut,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::KeptOld => "kept",
            Outcome::LeftOut => "left out",
        }
    }
}

/// One Ingress that was not delivered as given, with the errors that refused it.
#[derive(Debug, Clone)]
pub struct Refused {
    pub ingress: String,
    pub outcome: Outcome,
    pub problems: Vec<Diagnostic>,
}

/// The set to deliver.
#[derive(Debug)]
pub struct Selection {
    /// The plugin configuration with the delivered Ingresses.
    pub config: Value,
    pub compiled: Compiled,
    /// The delivered version of each named Ingress (the next sync's last-known-good).
    pub delivered: BTreeMap<String, Value>,
    pub refused: Vec<Refused>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Current,
    Previous,
}

struct Candidate {
    /// `namespace/name`, or `items[i]` (its place in the input) when it has no valid name.
    name: String,
    value: Value,
    origin: Origin,
}

/// The id the loader names an Ingress by at `position` (as `model::ingress::parse_ingress` does).
pub fn ingress_id(value: &Value, position: usize) -> String {
    let metadata = value.get("metadata").and_then(Value::as_object);
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let namespace = match metadata.and_then(|m| m.get("namespace")).filter(|n| !n.is_null()) {
        None => Some("default"),
        Some(ns) => ns.as_str(),
    };
    match namespace {
        Some(ns) if is_dns_label(ns) && is_dns_subdomain(name) => format!("{ns}/{name}"),
        _ => format!("items[{position}]"),
    }
}

/// Adds `change` to `candidates` if the set still loads with it, else its previous version if that
/// fits, else nothing; records what was refused with the errors its trial gave.
fn admit_one(
    base: &Value,
    candidates: &mut Vec<Candidate>,
    change: Candidate,
    previous: &BTreeMap<String, Value>,
    refused: &mut Vec<Refused>,
) {
    let trial = |value: &Value| {
        let mut values: Vec<Value> = candidates.iter().map(|c| c.value.clone()).collect();
        values.push(value.clone());
        load_value(&with_items(base, values)).err()
    };
    let Some(problems) = trial(&change.value) else {
        candidates.push(change);
        return;
    };
    let problems: Vec<Diagnostic> = problems.into_iter().filter(Diagnostic::is_error).collect();
    let fits = previous.get(&change.name).filter(|old| trial(old).is_none());
    let outcome = match fits {
        Some(old) => {
            candidates.push(Candidate {
                name: change.name.clone(),
                value: old.clone(),
                origin: Origin::Previous,
            });
            Outcome::KeptOld
        }
        None => Outcome::LeftOut,
    };
    refused.push(Refused {
        ingress: change.name,
        outcome,
        problems,
    });
}

/// The plugin configuration `base` (settings, secrets, endpoints) carrying `items`.
fn with_items(base: &Value, items: Vec<Value>) -> Value {
    let mut config = base.clone();
    config["ingresses"] = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    config
}

/// Chooses, per Ingress, the version to deliver. `base`: the plugin configuration without Ingresses;
/// `items`: the current Ingresses; `previous`: the versions the last sync delivered. `Err`: the errors
/// no Ingress can be blamed for (nothing is delivered).
pub fn select(
    base: &Value,
    items: Vec<Value>,
    previous: &BTreeMap<String, Value>,
) -> Result<Selection, Vec<Diagnostic>> {
    let mut candidates: Vec<Candidate> = items
        .into_iter()
        .enumerate()
        .map(|(i, value)| Candidate {
            name: ingress_id(&value, i),
            value,
            origin: Origin::Current,
        })
        .collect();
    let mut refused: Vec<Refused> = Vec::new();
    let mut isolated = false;
    // Each round reverts or removes at least one candidate, and each candidate can be reverted once.
    for _ in 0..=2 * candidates.len() + 1 {
        let values: Vec<Value> = candidates.iter().map(|c| c.value.clone()).collect();
        let config = with_items(base, values);
        let problems = match load_value(&config) {
            Ok(compiled) => {
                let delivered = candidates
                    .into_iter()
                    .filter(|c| !c.name.starts_with("items["))
                    .map(|c| (c.name, c.value))
                    .collect();
                return Ok(Selection {
                    config,
                    compiled,
                    delivered,
                    refused,
                });
            }
            Err(problems) => problems,
        };
        let errors: Vec<&Diagnostic> = problems.iter().filter(|d| d.is_error()).collect();
        // The loader's name of each candidate at its current place.
        let ids: Vec<String> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| ingress_id(&c.value, i))
            .collect();
        let offenders: Vec<usize> = (0..candidates.len())
            .filter(|&i| errors.iter().any(|d| d.object == ids[i]))
            .collect();
        if offenders.is_empty() {
            return Err(problems);
        }
        let is_change = |i: &usize| {
            let c = &candidates[*i];
            c.origin == Origin::Current && previous.get(&c.name) != Some(&c.value)
        };
        let changed: Vec<usize> = offenders.iter().copied().filter(is_change).collect();
        let changes: Vec<usize> = (0..candidates.len()).filter(is_change).collect();
        if changed.is_empty() && !changes.is_empty() && !isolated {
            isolated = true;
            // The errors name Ingresses that were serving, yet others changed: take the changes out and
            // put them back one at a time, keeping those the set still loads with.
            let mut pending = Vec::with_capacity(changes.len());
            let mut i = 0;
            candidates.retain(|c| {
                i += 1;
                if changes.contains(&(i - 1)) {
                    pending.push(Candidate {
                        name: c.name.clone(),
                        value: c.value.clone(),
                        origin: c.origin.clone(),
                    });
                    false
                } else {
                    true
                }
            });
            for change in pending {
                admit_one(base, &mut candidates, change, previous, &mut refused);
            }
            continue;
        }
        let acted = if changed.is_empty() { offenders } else { changed };
        let mut remove = Vec::new();
        for i in acted {
            let own: Vec<Diagnostic> = errors
                .iter()
                .filter(|d| d.object == ids[i])
                .map(|d| (*d).clone())
                .collect();
            let candidate = &mut candidates[i];
            let old = previous
                .get(&candidate.name)
                .filter(|old| candidate.origin == Origin::Current && **old != candidate.value);
            match old {
                Some(old) => {
                    candidate.value = old.clone();
                    candidate.origin = Origin::Previous;
                    refused.push(Refused {
                        ingress: candidate.name.clone(),
                        outcome: Outcome::KeptOld,
                        problems: own,
                    });
                }
                None => {
                    remove.push(i);
                    match refused.iter_mut().find(|r| r.ingress == candidate.name) {
                        Some(r) => {
                            r.outcome = Outcome::LeftOut;
                            r.problems.extend(own);
                        }
                        None => refused.push(Refused {
                            ingress: candidate.name.clone(),
                            outcome: Outcome::LeftOut,
                            problems: own,
                        }),
                    }
                }
            }
        }
        let mut i = 0;
        candidates.retain(|_| {
            i += 1;
            !remove.contains(&(i - 1))
        });
    }
    Err(vec![Diagnostic::error(
        "config",
        "",
        "no valid subset of the Ingresses was found",
    )])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    fn ingress(name: &str, host: &str, path_type: &str, service: &str) -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": path_type,
                "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}
        })
    }

    fn base() -> Value {
        json!({"ingresses": []})
    }

    fn hosts(s: &Selection) -> Vec<String> {
        let mut h: Vec<String> = s
            .compiled
            .table
            .routes()
            .iter()
            .map(|r| format!("{} {}", r.ingress, r.path))
            .collect();
        h.sort();
        h
    }

    #[test]
    fn everything_valid_is_delivered() {
        let s = select(
            &base(),
            vec![
                ingress("a", "a.test", "Prefix", "a"),
                ingress("b", "b.test", "Prefix", "b"),
            ],
            &BTreeMap::new(),
        )
        .unwrap();
        assert!(s.refused.is_empty());
        assert_eq!(s.delivered.len(), 2);
        assert_eq!(s.compiled.table.routes().len(), 2);
    }

    #[test]
    fn an_invalid_update_keeps_the_previous_version_and_a_new_invalid_one_is_left_out() {
        let good_b = ingress("b", "b.test", "Prefix", "b");
        let previous = BTreeMap::from([("ns/b".to_string(), good_b.clone())]);
        let s = select(
            &base(),
            vec![
                ingress("a", "a.test", "Prefix", "a"),
                ingress("b", "b.test", "Prefx", "b2"),
                ingress("c", "c.test", "Prefx", "c"),
            ],
            &previous,
        )
        .unwrap();
        assert_eq!(s.delivered.get("ns/b"), Some(&good_b));
        assert!(!s.delivered.contains_key("ns/c"));
        assert_eq!(s.refused.len(), 2);
        let b = s.refused.iter().find(|r| r.ingress == "ns/b").unwrap();
        assert_eq!(b.outcome, Outcome::KeptOld);
        assert_eq!(b.problems[0].field, "spec.rules[0].http.paths[0].pathType");
        let c = s.refused.iter().find(|r| r.ingress == "ns/c").unwrap();
        assert_eq!(c.outcome, Outcome::LeftOut);
        let routes: Vec<String> = hosts(&s);
        assert_eq!(routes, vec!["ns/a /".to_string(), "ns/b /".to_string()]);
    }

    #[test]
    fn a_newcomer_that_collides_is_blamed_not_the_ingress_already_serving() {
        // A template without {port}: two ports of one service would share a cluster name.
        let settings = json!({"ingresses": [], "settings": {"clusterTemplate": "{namespace}-{service}"}});
        let mut serving = ingress("a", "a.test", "Prefix", "svc");
        let mut newcomer = ingress("z", "z.test", "Prefix", "svc");
        serving["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"] = json!(81);
        newcomer["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"] = json!(82);
        let previous = BTreeMap::from([("ns/a".to_string(), serving.clone())]);
        // The newcomer comes first, so the loader names the serving Ingress as the second owner.
        let s = select(&settings, vec![newcomer, serving.clone()], &previous).unwrap();
        assert_eq!(s.delivered.get("ns/a"), Some(&serving));
        assert_eq!(s.refused.len(), 1, "{:?}", s.refused);
        assert_eq!(s.refused[0].ingress, "ns/z");
        assert_eq!(s.refused[0].outcome, Outcome::LeftOut);
    }

    #[test]
    fn errors_no_ingress_can_be_blamed_for_refuse_the_update() {
        let broken = json!({"ingresses": [], "settings": {"semantics": "nginx-ish"}});
        let e = select(
            &broken,
            vec![ingress("a", "a.test", "Prefix", "a")],
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(e.iter().any(|d| d.is_error() && d.object == "settings"), "{e:?}");
    }

    #[test]
    fn ids_follow_the_loader() {
        assert_eq!(ingress_id(&json!({"metadata": {"name": "x"}}), 3), "default/x");
        assert_eq!(ingress_id(&json!({"metadata": {"name": "X_"}}), 3), "items[3]");
        assert_eq!(ingress_id(&json!({}), 0), "items[0]");
    }
}
