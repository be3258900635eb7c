//! How a request reaches its backend, beyond the cluster: what Envoy needs per backend (its cluster:
//! protocol, TLS, connect timeout, Service or endpoints) and per location (its route: read and send
//! timeouts, error pages from a default backend).
//!
//! Envoy has one route that forwards to the cluster the filter names, so per-location settings live in
//! extra routes, one per distinct [`LocationProfile`], that `render envoy` writes; the filter selects a
//! location's profile route with [`LOCATION_HEADER`] (stripped before the upstream; a client's copy is
//! removed). Locations without any of these annotations keep the default route and cost nothing. For
//! the error pages' `X-Original-URI` the filter keeps the request's path in Envoy's filter state
//! ([`ORIGINAL_URI_PROPERTY`]), which Envoy's `custom_response` filter reads when it fetches the page.

use super::Backend;
use crate::model::annotations::upstream::{
    BackendProtocol, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_SEND_TIMEOUT,
};

/// Request header naming the profile route of a location (its index in
/// [`RouteTable::location_profiles`](super::RouteTable::location_profiles)).
pub const LOCATION_HEADER: &str = "x-ingress-location";
/// Filter state the filter sets to the request's path on locations with custom error pages; Envoy reads
/// it as `%FILTER_STATE(wasm.ingress_original_uri:PLAIN)%`.
pub const ORIGINAL_URI_PROPERTY: &str = "ingress_original_uri";

/// What Envoy's cluster for one backend needs; one value per backend (per upstream, as in ingress-nginx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterSettings {
    pub protocol: BackendProtocol,
    /// `service-upstream`: the cluster targets the Service's DNS name, never its endpoints.
    pub service_upstream: bool,
    /// `proxy-connect-timeout`, seconds.
    pub connect_timeout: u32,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            protocol: BackendProtocol::Http,
            service_upstream: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// The Envoy route settings of a set of locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationProfile {
    /// `proxy-read-timeout`, seconds: the longest wait for the next bytes of the response.
    pub read_timeout: u32,
    /// `proxy-send-timeout`, seconds.
    pub send_timeout: u32,
    pub error_pages: Option<ErrorPages>,
}

impl Default for LocationProfile {
    fn default() -> Self {
        LocationProfile {
            read_timeout: DEFAULT_READ_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            error_pages: None,
        }
    }
}

/// Where a location's error responses come from, and what ingress-nginx tells that backend about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPages {
    /// The default backend (the `default-backend` Service, else the catch-all default backend).
    pub backend: Backend,
    /// `custom-http-errors`: responses with these statuses are replaced by the default backend's answer
    /// to `GET /` with `X-Code: <status>`.
    pub codes: Vec<u16>,
    /// `default-backend` is set: when the location's backend cannot be reached (Envoy finds no endpoint,
    /// or none accepts the connection) the request goes there with `X-Code: 503`.
    pub when_unreachable: bool,
    /// `X-Namespace`, `X-Ingress-Name`, `X-Service-Name`, `X-Service-Port` (the location's).
    pub namespace: String,
    pub ingress_name: String,
    pub service: String,
    pub service_port: String,
}

/// The location part of a route's policy: which profile route serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamLocation {
    /// Index in the route table's location profiles.
    pub profile: usize,
    /// The profile has custom error pages: keep the request's path for their `X-Original-URI`.
    pub keeps_original_uri: bool,
}

impl UpstreamLocation {
    /// The content phase: names the profile route and keeps the original URI when error pages need it.
    /// `original_uri` is the path and query as the client sent them.
    pub(crate) fn apply(
        &self,
        original_uri: &str,
        headers: &mut Vec<(&'static str, String)>,
        properties: &mut Vec<(&'static str, String)>,
    ) {
        headers.push((LOCATION_HEADER, self.profile.to_string()));
        if self.keeps_original_uri {
            properties.push((ORIGINAL_URI_PROPERTY, original_uri.to_string()));
        }
    }
}
