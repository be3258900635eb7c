//! An Ingress's location annotations -> the [`Policy`] of each of its routes. Each annotation family
//! adds its part here.

use crate::decide::policy::Policy;
use crate::model::annotations::IngressOptions;

/// The policy of a route of an Ingress with these options; None when no rule applies.
pub(super) fn build(options: &IngressOptions) -> Option<Box<Policy>> {
    let policy = Policy {
        ssl_redirect: options.ssl_redirect,
    };
    (!policy.is_empty()).then(|| Box::new(policy))
}
