//! Ingresses -> RouteTable.
use crate::diagnostics::Diagnostics;
use crate::ingress::Ingress;
use crate::route::{Reason, RouteId, RouteTable};
use crate::settings::{Semantics, Settings};
use std::collections::HashMap;

#[derive(Debug)]
pub struct HostTable {
    pub(crate) default: Option<RouteId>,
}

pub enum PathMatch {
    Route(RouteId, Reason),
    SlashRedirect,
    None,
}

impl HostTable {
    pub fn find(&self, _path: &str, _semantics: Semantics) -> PathMatch {
        PathMatch::None
    }
}

pub fn compile(_ingresses: Vec<Ingress>, settings: &Settings, _diags: &mut Diagnostics) -> RouteTable {
    RouteTable {
        semantics: settings.semantics,
        cluster_header: settings.cluster_header.clone(),
        routes: Vec::new(),
        exact_hosts: HashMap::new(),
        wildcard_hosts: HashMap::new(),
        hostless: None,
        default_backend: None,
    }
}
