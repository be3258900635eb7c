//! The replay's report: a summary, then the differences grouped by cause, as text or as one JSON object.

use super::canary_weights::WeightCheck;
use super::difference::{Rule, Side};
use super::tally::{Example, Tally, MAX_BAD_LINES};
use crate::cli::explain::{reason_name, reason_text};
use crate::cli::plural;
use ingress_wasm::decide::RouteTable;
use serde_json::{json, Value};

/// What the report says around the counts.
pub struct Run<'a> {
    pub logs: &'a [String],
    pub format: &'a str,
    pub has_host: bool,
    /// What the log cannot show, in sentences.
    pub not_compared: &'a [String],
    pub table: &'a RouteTable,
    pub tally: &'a Tally,
    pub weights: &'a [WeightCheck],
}

impl Run<'_> {
    /// Whether the log shows any request the router would treat differently.
    pub fn differs(&self) -> bool {
        self.tally.different > 0 || self.tally.ambiguous > 0 || self.weights.iter().any(|w| !w.within())
    }

    pub fn text(&self) -> Vec<String> {
        let t = self.tally;
        let mut lines = vec![format!(
            "replay:       {} in {}{}",
            plural(self.logs.len(), "log", "logs"),
            self.format,
            if self.has_host {
                ""
            } else {
                " (no host: each request is tried with every host of the configuration)"
            }
        )];
        lines.push(format!("lines:        {}", t.lines));
        lines.push(format!("requests:     {}", t.requests));
        lines.push(format!("identical:    {}", t.identical));
        lines.push(format!("different:    {}", t.different));
        lines.push(format!(
            "ambiguous:    {}{}",
            t.ambiguous,
            if t.ambiguous > 0 {
                " (no host routes them as logged, and the hosts disagree on where they go)"
            } else {
                ""
            }
        ));
        if t.not_routed > 0 {
            lines.push(format!(
                "not routed:   {} (no request line: nginx answered before routing)",
                t.not_routed
            ));
        }
        let kinds: Vec<String> = t
            .unparseable_kinds
            .iter()
            .map(|(kind, n)| format!("{n} {}", kind.as_str()))
            .collect();
        lines.push(if kinds.is_empty() {
            format!("unparseable:  {}", t.unparseable)
        } else {
            format!("unparseable:  {} ({})", t.unparseable, kinds.join(", "))
        });
        for bad in &t.bad_lines {
            lines.push(format!("  {}:{}: {}", bad.log, bad.line, bad.error));
        }
        if t.unparseable > MAX_BAD_LINES as u64 {
            lines.push(format!("  ... and {} more", t.unparseable - MAX_BAD_LINES as u64));
        }
        for check in self.weights {
            lines.push(format!("canary:       {}", self.weight_text(check)));
        }
        for note in self.not_compared {
            lines.push(format!("not compared: {note}"));
        }
        let groups = self.tally.sorted_groups();
        if !groups.is_empty() {
            lines.push(String::new());
            lines.push("differences by cause:".to_string());
        }
        for group in groups {
            let d = &group.difference;
            lines.push(String::new());
            lines.push(format!(
                "[{}] {}: {}",
                d.cause.as_str(),
                plural(
                    usize::try_from(group.count).unwrap_or(usize::MAX),
                    "request",
                    "requests"
                ),
                d.cause.describe()
            ));
            lines.push(format!("  old:      {}", d.old.label));
            lines.push(format!("  new:      {}", d.new.label));
            lines.push(format!("  rule:     {}", rule_text(self.table, &d.rule)));
            lines.push(format!("  example:  {}", example_text(&group.example)));
            if let Some(detail) = &group.example.detail {
                lines.push(format!("  detail:   {detail}"));
            }
        }
        for (cause, n) in &t.ungrouped {
            lines.push(format!(
                "[{}] {n} more requests (past {} groups, counted only)",
                cause.as_str(),
                t.groups.len()
            ));
        }
        if !t.ambiguous_groups.is_empty() {
            lines.push(String::new());
            lines.push("ambiguous:".to_string());
        }
        for group in &t.ambiguous_groups {
            lines.push(String::new());
            lines.push(format!(
                "{}: logged {}",
                plural(
                    usize::try_from(group.count).unwrap_or(usize::MAX),
                    "request",
                    "requests"
                ),
                group.ambiguity.old.label
            ));
            for (host, side) in &group.ambiguity.outcomes {
                lines.push(format!("  {host}: {}", side.label));
            }
            lines.push(format!("  example:  {}", example_text(&group.example)));
        }
        lines
    }

    fn weight_text(&self, check: &WeightCheck) -> String {
        let canary = self.table.canaries().get(check.canary);
        let name = canary.map_or("?", |c| c.ingress.as_str());
        let configured = format!(
            "canary-weight {} of {} ({:.1}%)",
            check.weight,
            check.total,
            check.expected * 100.0
        );
        let unknown = if check.unknown > 0 {
            format!(
                "; {} not weighed: the log lacks a header or cookie the canary reads",
                plural(
                    usize::try_from(check.unknown).unwrap_or(usize::MAX),
                    "request",
                    "requests"
                )
            )
        } else {
            String::new()
        };
        match check.share {
            Some(share) => format!(
                "{name}: {} of {} weighed requests went to the canary ({:.1}%); {configured}, allowed ±{:.1} points: {}{unknown}",
                check.to_canary,
                check.weighed,
                share * 100.0,
                check.allowed * 100.0,
                if check.within() { "within" } else { "OUTSIDE" }
            ),
            None => format!("{name}: no request could be weighed ({configured}){unknown}"),
        }
    }

    pub fn json(&self) -> Value {
        let t = self.tally;
        let groups: Vec<Value> = t
            .sorted_groups()
            .into_iter()
            .map(|g| {
                let d = &g.difference;
                json!({
                    "cause": d.cause.as_str(),
                    "description": d.cause.describe(),
                    "count": g.count,
                    "old": side_json(&d.old),
                    "new": side_json(&d.new),
                    "rule": rule_json(self.table, &d.rule),
                    "example": example_json(&g.example),
                })
            })
            .collect();
        let ambiguous: Vec<Value> = t
            .ambiguous_groups
            .iter()
            .map(|g| {
                let outcomes: Vec<Value> = g
                    .ambiguity
                    .outcomes
                    .iter()
                    .map(|(host, side)| json!({"host": host, "new": side_json(side)}))
                    .collect();
                json!({"count": g.count, "old": side_json(&g.ambiguity.old), "outcomes": outcomes,
                       "example": example_json(&g.example)})
            })
            .collect();
        let weights: Vec<Value> = self
            .weights
            .iter()
            .map(|w| {
                let canary = self.table.canaries().get(w.canary);
                json!({
                    "canary": canary.map(|c| c.ingress.as_str()),
                    "service": canary.map(|c| c.backend.service.as_str()),
                    "weight": w.weight, "total": w.total, "expected": w.expected,
                    "weighed": w.weighed, "toCanary": w.to_canary, "share": w.share,
                    "allowed": w.allowed, "within": w.within(), "notWeighed": w.unknown,
                })
            })
            .collect();
        let bad: Vec<Value> = t
            .bad_lines
            .iter()
            .map(|b| json!({"log": b.log, "line": b.line, "reason": b.error.kind.as_str(), "detail": b.error.detail}))
            .collect();
        let kinds: serde_json::Map<String, Value> = t
            .unparseable_kinds
            .iter()
            .map(|(kind, n)| (kind.as_str().to_string(), json!(n)))
            .collect();
        let ungrouped: serde_json::Map<String, Value> = t
            .ungrouped
            .iter()
            .map(|(cause, n)| (cause.as_str().to_string(), json!(n)))
            .collect();
        json!({
            "logs": self.logs,
            "format": self.format,
            "hostInLog": self.has_host,
            "summary": {
                "lines": t.lines, "requests": t.requests, "identical": t.identical,
                "different": t.different, "ambiguous": t.ambiguous, "notRouted": t.not_routed,
                "unparseable": t.unparseable,
            },
            "differs": self.differs(),
            "unparseable": {"byReason": kinds, "lines": bad},
            "differences": groups,
            "ungroupedDifferences": ungrouped,
            "ambiguous": ambiguous,
            "canaryWeights": weights,
            "notCompared": self.not_compared,
        })
    }
}

fn example_text(e: &Example) -> String {
    let host = e
        .host
        .as_ref()
        .map(|h| format!(" (host {h})"))
        .unwrap_or_default();
    format!("{}:{}: {} {}{host}", e.log, e.line, e.method, e.path)
}

fn example_json(e: &Example) -> Value {
    json!({"log": e.log, "line": e.line, "method": e.method, "path": e.path, "host": e.host,
           "detail": e.detail})
}

fn side_json(s: &Side) -> Value {
    json!({"upstream": s.upstream, "alternative": s.alternative, "status": s.status,
           "cluster": s.cluster, "label": s.label})
}

/// The rule that decided, in `explain`'s words.
fn rule_text(table: &RouteTable, rule: &Rule) -> String {
    let why = reason_text(rule.reason);
    let mut text = match rule.route.and_then(|id| table.route(id)) {
        Some(r) => match r.path_type {
            Some(path_type) => format!(
                "{} {} ({}, {}{}): {why}",
                r.ingress,
                r.field,
                r.path,
                path_type.as_str(),
                if r.regex { ", regular expression" } else { "" }
            ),
            None => format!("{} {}: {why}", r.ingress, r.field),
        },
        None => why.to_string(),
    };
    if let Some((choice, canary)) = rule
        .canary
        .and_then(|c| Some((c, table.canaries().get(c.canary)?)))
    {
        let side = if choice.to_canary {
            "the canary"
        } else {
            "the primary"
        };
        text.push_str(&format!(
            "; canary {}: {}: to {side}",
            canary.ingress,
            choice.rule.describe()
        ));
    }
    text
}

fn rule_json(table: &RouteTable, rule: &Rule) -> Value {
    let route = rule.route.and_then(|id| table.route(id));
    let canary = rule.canary.map(|c| {
        json!({"ingress": table.canaries().get(c.canary).map(|k| k.ingress.as_str()),
               "rule": c.rule.describe(), "toCanary": c.to_canary})
    });
    json!({
        "ingress": route.map(|r| r.ingress.as_str()),
        "field": route.map(|r| r.field.as_str()),
        "host": route.and_then(|r| r.host.as_deref()),
        "path": route.map(|r| r.path.as_str()),
        "pathType": route.and_then(|r| r.path_type).map(|t| t.as_str()),
        "regex": route.map(|r| r.regex),
        "reason": reason_name(rule.reason),
        "why": reason_text(rule.reason),
        "text": rule_text(table, rule),
        "canary": canary,
    })
}
