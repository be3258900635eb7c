//! Weighted canaries judged over the whole log: a draw cannot be replayed per request, but the share of
//! requests ingress-nginx sent to the canary can be compared with the canary's weight.

use super::replayer::CanarySample;
use ingress_wasm::decide::canary::CanaryId;
use ingress_wasm::decide::RouteTable;

/// What the log showed for one canary.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    /// Requests left to the weighted draw.
    weighed: u64,
    /// Of those, the ones ingress-nginx sent to the canary.
    to_canary: u64,
    /// Requests whose canary decision the log cannot show (a header or cookie it does not carry).
    unknown: u64,
}

/// The verdict on one canary's weight.
#[derive(Debug, Clone)]
pub struct WeightCheck {
    pub canary: CanaryId,
    pub weight: u64,
    pub total: u64,
    pub weighed: u64,
    pub to_canary: u64,
    pub unknown: u64,
    /// The configured share, 0 to 1.
    pub expected: f64,
    /// The logged share; None without weighed requests.
    pub share: Option<f64>,
    /// How far the share may be from the expected one: the tolerance plus three standard errors of
    /// a sample of this size.
    pub allowed: f64,
}

impl WeightCheck {
    pub fn within(&self) -> bool {
        self.share
            .is_none_or(|share| (share - self.expected).abs() <= self.allowed)
    }
}

#[derive(Debug)]
pub struct CanaryWeights {
    tallies: Vec<Tally>,
    /// Absolute tolerance on the share, 0 to 1.
    tolerance: f64,
}

impl CanaryWeights {
    pub fn new(canaries: usize, tolerance: f64) -> CanaryWeights {
        CanaryWeights {
            tallies: vec![Tally::default(); canaries],
            tolerance,
        }
    }

    pub fn add(&mut self, sample: CanarySample) {
        let Some(tally) = self.tallies.get_mut(sample.canary) else {
            return;
        };
        if !sample.weighed {
            tally.unknown += 1;
            return;
        }
        tally.weighed += 1;
        tally.to_canary += u64::from(sample.to_canary);
    }

    /// One check per canary the log showed a request of, or whose weight is a draw.
    pub fn checks(&self, table: &RouteTable) -> Vec<WeightCheck> {
        let mut checks = Vec::new();
        for (id, (tally, canary)) in self.tallies.iter().zip(table.canaries()).enumerate() {
            let (weight, total) = (canary.rules.weight, canary.rules.weight_total.max(1));
            let draws = weight > 0 && weight < total;
            if !draws || (tally.weighed == 0 && tally.unknown == 0) {
                continue;
            }
            let expected = weight as f64 / total as f64;
            let n = tally.weighed as f64;
            let share = (tally.weighed > 0).then(|| tally.to_canary as f64 / n);
            let noise = if tally.weighed > 0 {
                3.0 * (expected * (1.0 - expected) / n).sqrt()
            } else {
                0.0
            };
            checks.push(WeightCheck {
                canary: id,
                weight,
                total,
                weighed: tally.weighed,
                to_canary: tally.to_canary,
                unknown: tally.unknown,
                expected,
                share,
                allowed: self.tolerance + noise,
            });
        }
        checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let config = serde_json::json!({"kind": "List", "items": [
            {"metadata": {"name": "main"}, "spec": {"rules": [{"host": "a.io", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "v1", "port": {"number": 80}}}}]}}]}},
            {"metadata": {"name": "canary", "annotations": {"nginx.ingress.kubernetes.io/canary": "true",
                "nginx.ingress.kubernetes.io/canary-weight": "10"}},
             "spec": {"rules": [{"host": "a.io", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "v2", "port": {"number": 80}}}}]}}]}}]});
        ingress_wasm::load(config.to_string().as_bytes()).unwrap().table
    }

    fn weighed(to_canary: bool) -> CanarySample {
        CanarySample {
            canary: 0,
            weighed: true,
            to_canary,
        }
    }

    #[test]
    fn a_share_near_the_weight_is_within() {
        let table = table();
        let mut w = CanaryWeights::new(1, 0.02);
        (0..1000).for_each(|i| w.add(weighed(i % 10 == 0)));
        let check = &w.checks(&table)[0];
        assert_eq!(
            (check.weight, check.total, check.weighed, check.to_canary),
            (10, 100, 1000, 100)
        );
        assert!(check.within());
        // 3 standard errors of 1000 draws at 10% are 2.85 points: with 2 points of tolerance 14.8% is
        // within, 14.9% is not.
        let mut w = CanaryWeights::new(1, 0.02);
        (0..1000).for_each(|i| w.add(weighed(i < 148)));
        assert!(w.checks(&table)[0].within());
        let mut w = CanaryWeights::new(1, 0.02);
        (0..1000).for_each(|i| w.add(weighed(i < 149)));
        assert!(!w.checks(&table)[0].within());
    }

    #[test]
    fn unknown_requests_are_counted_apart() {
        let table = table();
        let mut w = CanaryWeights::new(1, 0.02);
        w.add(CanarySample {
            canary: 0,
            weighed: false,
            to_canary: true,
        });
        let check = &w.checks(&table)[0];
        assert_eq!((check.weighed, check.unknown, check.share), (0, 1, None));
        assert!(check.within());
        assert!(CanaryWeights::new(1, 0.02).checks(&table).is_empty());
    }
}
