//! Session cookies in a logged `Cookie` header: ingress-nginx's cookie is `<name>=<key>|<backend key>`,
//! the backend key `md5hex(md5hex(upstream) .. upstream)`, so a cookie names the upstream it belongs to
//! whatever the cookie is called.

use ingress_wasm::decide::affinity::backend_key;
use std::collections::HashMap;

/// Backend keys remembered; a log naming more upstreams computes the rest again.
const MAX_KEYS: usize = 4096;

#[derive(Debug, Default)]
pub struct SessionKeys {
    keys: HashMap<String, String>,
}

impl SessionKeys {
    /// The name of a cookie in `cookie_header` that holds a session of `upstream`.
    pub fn cookie_of<'h>(&mut self, cookie_header: &'h str, upstream: &str) -> Option<&'h str> {
        if !cookie_header.contains('|') {
            return None;
        }
        let key = match self.keys.get(upstream) {
            Some(key) => key.clone(),
            None => {
                let key = backend_key(upstream);
                if self.keys.len() < MAX_KEYS {
                    self.keys.insert(upstream.to_string(), key.clone());
                }
                key
            }
        };
        cookie_header.split(';').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let mut parts = value.trim().split('|');
            parts.next()?;
            (parts.next()? == key).then(|| name.trim())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_of_an_upstream() {
        let key = backend_key("nginx-chat-8443");
        let header = format!("a=1; route=abc|{key}; b=x|y");
        let mut keys = SessionKeys::default();
        assert_eq!(keys.cookie_of(&header, "nginx-chat-8443"), Some("route"));
        assert_eq!(keys.cookie_of(&header, "nginx-chat-80"), None);
        assert_eq!(keys.cookie_of("route=abc", "nginx-chat-8443"), None);
    }
}
