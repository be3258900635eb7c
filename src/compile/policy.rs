//! An Ingress's location annotations -> the [`Policy`] of each of its routes. Each annotation family
//! adds its part here.

use crate::decide::policy::Policy;
use crate::model::annotations::IngressOptions;
use crate::model::settings::Settings;

/// The policy of a route of an Ingress with these options; None when no rule applies.
pub(super) fn build(options: &IngressOptions, settings: &Settings) -> Option<Box<Policy>> {
    let mut policy = Policy {
        ssl_redirect: options.ssl_redirect,
        ..Policy::default()
    };
    let body_limit = options.body_limit.unwrap_or(settings.proxy_body_size);
    policy.body_limit = Some(body_limit).filter(|l| !l.is_unlimited());
    policy.source_ranges = options.source_ranges.resolve(settings);
    policy.basic_auth = options.basic_auth.clone();
    (!policy.is_empty()).then(|| Box::new(policy))
}
