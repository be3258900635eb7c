//! An Ingress's location annotations -> the [`Policy`] of each of its routes. Each annotation family
//! adds its part here.

use crate::decide::cors::Cors;
use crate::decide::policy::Policy;
use crate::decide::upstream_host::UpstreamHost;
use crate::decide::RouteInfo;
use crate::model::annotations::IngressOptions;
use crate::model::settings::Settings;

/// The policy of `route` of an Ingress with these options; None when no rule applies.
pub(super) fn build(options: &IngressOptions, route: &RouteInfo, settings: &Settings) -> Option<Box<Policy>> {
    let mut policy = Policy {
        cors: options.cors.as_ref().map(Cors::new),
        redirect: options.redirect.location.clone(),
        upstream_host: options
            .hosts
            .upstream_vhost
            .as_ref()
            .map(|written| UpstreamHost::for_route(written, route)),
        ssl_redirect: options.ssl_redirect,
        ..Policy::default()
    };
    let body_limit = options.body_limit.unwrap_or(settings.proxy_body_size);
    policy.body_limit = Some(body_limit).filter(|l| !l.is_unlimited());
    policy.source_ranges = options.source_ranges.resolve(settings);
    policy.basic_auth = options.basic_auth.clone();
    (!policy.is_empty()).then(|| Box::new(policy))
}
