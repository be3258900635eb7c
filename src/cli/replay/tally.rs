//! Counting a replay in bounded memory: totals, differences grouped by cause with one example each, the
//! first unparseable lines, the canary shares.

use super::canary_weights::CanaryWeights;
use super::difference::{clip, Cause, Difference, Side};
use super::line_error::{LineError, LineErrorKind};
use super::replayer::{Ambiguity, Replayed, Verdict};
use crate::cli::explain::reason_name;
use std::collections::{BTreeMap, HashMap};

/// Distinct groups kept; further differences are only counted, per cause.
const MAX_GROUPS: usize = 500;
/// Unparseable lines named one by one.
pub const MAX_BAD_LINES: usize = 20;

/// Where a request was logged, and what it asked.
#[derive(Debug, Clone)]
pub struct Example {
    pub log: String,
    pub line: u64,
    pub method: String,
    pub path: String,
    /// The logged host, or the host tried; None when the log names none and no host is meant.
    pub host: Option<String>,
    pub detail: Option<String>,
}

impl Example {
    fn clipped(mut self) -> Example {
        clip(&mut self.method);
        clip(&mut self.path);
        self.host.iter_mut().for_each(clip);
        self.detail.iter_mut().for_each(clip);
        self
    }
}

#[derive(Debug)]
pub struct Group {
    pub difference: Difference,
    pub count: u64,
    pub example: Example,
}

#[derive(Debug)]
pub struct AmbiguousGroup {
    pub ambiguity: Ambiguity,
    pub count: u64,
    pub example: Example,
}

#[derive(Debug)]
pub struct BadLine {
    pub log: String,
    pub line: u64,
    pub error: LineError,
}

/// Groups of differences: one per cause, old side, new side and deciding route (or, without a route,
/// the reason).
type GroupKey = (Cause, String, String, Option<usize>, &'static str);

#[derive(Debug)]
pub struct Tally {
    pub lines: u64,
    pub requests: u64,
    pub identical: u64,
    pub different: u64,
    pub ambiguous: u64,
    pub not_routed: u64,
    pub unparseable: u64,
    pub unparseable_kinds: BTreeMap<LineErrorKind, u64>,
    pub bad_lines: Vec<BadLine>,
    pub groups: Vec<Group>,
    index: HashMap<GroupKey, usize>,
    /// Differences past [`MAX_GROUPS`], per cause.
    pub ungrouped: BTreeMap<Cause, u64>,
    pub ambiguous_groups: Vec<AmbiguousGroup>,
    ambiguous_index: HashMap<(Side, Vec<String>), usize>,
    pub canaries: CanaryWeights,
}

impl Tally {
    pub fn new(canaries: CanaryWeights) -> Tally {
        Tally {
            lines: 0,
            requests: 0,
            identical: 0,
            different: 0,
            ambiguous: 0,
            not_routed: 0,
            unparseable: 0,
            unparseable_kinds: BTreeMap::new(),
            bad_lines: Vec::new(),
            groups: Vec::new(),
            index: HashMap::new(),
            ungrouped: BTreeMap::new(),
            ambiguous_groups: Vec::new(),
            ambiguous_index: HashMap::new(),
            canaries,
        }
    }

    pub fn bad_line(&mut self, log: &str, line: u64, error: LineError) {
        self.unparseable += 1;
        *self.unparseable_kinds.entry(error.kind).or_default() += 1;
        if self.bad_lines.len() < MAX_BAD_LINES {
            self.bad_lines.push(BadLine {
                log: log.to_string(),
                line,
                error,
            });
        }
    }

    /// `example` is built only when the request is the first of a new group.
    pub fn add(
        &mut self,
        replayed: Replayed,
        example: impl FnOnce(Option<String>, Option<String>) -> Example,
    ) {
        self.requests += 1;
        if let Some(sample) = replayed.canary {
            self.canaries.add(sample);
        }
        match replayed.verdict {
            Verdict::Identical => self.identical += 1,
            Verdict::Different(mut d) => {
                self.different += 1;
                d.clip();
                let key = (
                    d.cause,
                    d.old.label.clone(),
                    d.new.label.clone(),
                    d.rule.route,
                    if d.rule.route.is_some() {
                        ""
                    } else {
                        reason_name(d.rule.reason)
                    },
                );
                if let Some(&i) = self.index.get(&key) {
                    if let Some(group) = self.groups.get_mut(i) {
                        group.count += 1;
                    }
                } else if self.groups.len() < MAX_GROUPS {
                    let example = example(d.detail.clone(), Some(d.host.clone())).clipped();
                    self.index.insert(key, self.groups.len());
                    self.groups.push(Group {
                        difference: *d,
                        count: 1,
                        example,
                    });
                } else {
                    *self.ungrouped.entry(d.cause).or_default() += 1;
                }
            }
            Verdict::Ambiguous(mut a) => {
                self.ambiguous += 1;
                a.clip();
                let labels: Vec<String> = a.outcomes.iter().map(|(_, side)| side.label.clone()).collect();
                let key = (a.old.clone(), labels);
                if let Some(&i) = self.ambiguous_index.get(&key) {
                    if let Some(group) = self.ambiguous_groups.get_mut(i) {
                        group.count += 1;
                    }
                } else if self.ambiguous_groups.len() < MAX_GROUPS {
                    let example = example(None, None).clipped();
                    self.ambiguous_index.insert(key, self.ambiguous_groups.len());
                    self.ambiguous_groups.push(AmbiguousGroup {
                        ambiguity: *a,
                        count: 1,
                        example,
                    });
                }
            }
        }
    }

    /// Groups in the report's order: by cause, then the most frequent first.
    pub fn sorted_groups(&self) -> Vec<&Group> {
        let mut groups: Vec<&Group> = self.groups.iter().collect();
        groups.sort_by(|a, b| {
            (a.difference.cause, std::cmp::Reverse(a.count))
                .cmp(&(b.difference.cause, std::cmp::Reverse(b.count)))
        });
        groups
    }
}
