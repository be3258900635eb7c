//! `upstream-vhost`: the Host header a location sends upstream instead of the client's (ingress-nginx's
//! `proxy_set_header Host "<value>"`). The variables of the location (`$service_name`, `$namespace`,
//! ...) are filled in once per route; `$host` and `$http_host` per request.

use super::{RouteInfo, Target};
use crate::model::annotations::hosts::{VhostPart, VhostVariable};

/// The upstream Host of one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamHost {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// `$host`.
    RequestHost,
    /// `$http_host`.
    RequestAuthority,
}

impl UpstreamHost {
    /// The annotation's parts with the route's own variables filled in.
    pub fn for_route(written: &[VhostPart], route: &RouteInfo) -> UpstreamHost {
        let ingress_name = route
            .ingress
            .split_once('/')
            .map_or(route.ingress.as_str(), |(_, name)| name);
        let mut parts: Vec<Part> = Vec::new();
        for part in written {
            let text = match part {
                VhostPart::Text(text) => text.as_str(),
                VhostPart::Variable(VhostVariable::Namespace) => route.backend.namespace.as_str(),
                VhostPart::Variable(VhostVariable::IngressName) => ingress_name,
                VhostPart::Variable(VhostVariable::ServiceName) => route.backend.service.as_str(),
                VhostPart::Variable(VhostVariable::ServicePort) => route.backend.port.as_str(),
                VhostPart::Variable(VhostVariable::Host) => {
                    parts.push(Part::RequestHost);
                    continue;
                }
                VhostPart::Variable(VhostVariable::HttpHost) => {
                    parts.push(Part::RequestAuthority);
                    continue;
                }
            };
            match parts.last_mut() {
                Some(Part::Text(previous)) => previous.push_str(text),
                _ => parts.push(Part::Text(text.to_string())),
            }
        }
        UpstreamHost { parts }
    }

    /// The Host header for this request.
    pub(crate) fn value(&self, target: &Target<'_, '_>) -> String {
        let mut value = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => value.push_str(text),
                Part::RequestHost => value.push_str(target.host),
                Part::RequestAuthority => value.push_str(target.authority),
            }
        }
        value
    }
}
