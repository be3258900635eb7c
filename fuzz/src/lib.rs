//! Shared parts of the fuzz targets: structured Ingress and request generation, the example
//! configurations, and the invariants every routing decision must keep. The targets panic when an
//! invariant breaks: that is how libFuzzer learns of a finding.

pub mod canonical;
pub mod decision;
pub mod examples;
pub mod generate;
