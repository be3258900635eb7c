//! The router's access refusals that a log cannot judge. Source ranges refuse a client whose address is
//! unknown (403), basic auth a request without credentials (401); ingress-nginx judged the real address
//! and the real credentials. A log shows the address when its format has `$remote_addr`, and credentials
//! never (unless it logs `$http_authorization`). Such a refusal is compared as the location treats a
//! client it lets in: ingress-nginx forwarding to the location's backend is identical when the backend is
//! the same, and ingress-nginx refusing with the status of a check the log cannot judge is identical too.

use super::context::LoggedHeaders;
use ingress_wasm::decide::{Decision, Reason, RouteId, RouteInfo};

/// What the log lacks to judge an access refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unseen {
    /// `$remote_addr`: source ranges refused an unknown client.
    ClientAddress,
    /// The `Authorization` header: basic auth refused a request without credentials.
    Credentials,
}

/// A refusal of a route's access phase for want of what the log cannot show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnseenAccess {
    pub unseen: Unseen,
    pub route: RouteId,
    pub status: u16,
}

impl UnseenAccess {
    /// The refusal `decision` is, when the log cannot judge it.
    pub fn of(
        decision: &Decision<'_>,
        client_known: bool,
        headers: LoggedHeaders<'_, '_>,
    ) -> Option<UnseenAccess> {
        let Decision::Respond { status, trace, .. } = decision else {
            return None;
        };
        let unseen = match trace.reason {
            Reason::SourceDenied if !client_known => Unseen::ClientAddress,
            Reason::Unauthorized if !headers.knows("authorization") => Unseen::Credentials,
            _ => return None,
        };
        Some(UnseenAccess {
            unseen,
            route: trace.route?,
            status: *status,
        })
    }

    /// Whether ingress-nginx's own answer `status` is one the location gives a request the log cannot
    /// judge: this refusal, or, once an unknown client is let in, basic auth's 401.
    pub fn explains(&self, status: u16, route: Option<&RouteInfo>) -> bool {
        let behind_the_ranges = self.unseen == Unseen::ClientAddress
            && status == 401
            && route
                .and_then(|r| r.policy.as_ref())
                .is_some_and(|p| p.basic_auth.is_some());
        status == self.status || behind_the_ranges
    }

    /// The new side in words: the backend the request reaches once let in.
    pub fn label(&self, upstream: &str) -> String {
        match self.unseen {
            Unseen::ClientAddress => format!(
                "{upstream} if the client is let in (the log has no client address; {} to an unknown one)",
                self.status
            ),
            Unseen::Credentials => format!(
                "{upstream} once authenticated (the log has no credentials; {} without them)",
                self.status
            ),
        }
    }
}

/// 401 and 403: nginx's access phase refused the client (source ranges, basic auth), which the
/// configuration decides. nginx's other answers inside a location (a limit, a client that left, a backend
/// without endpoints) are not routing's.
pub fn is_access_refusal(status: u16) -> bool {
    matches!(status, 401 | 403)
}
