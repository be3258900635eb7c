//! Which `app-root` a host answers `/` with. ingress-nginx writes the server-level
//! `if ($uri = /) { return 302 ...; }` once for every location of the server whose Ingress sets app-root,
//! in the server's location order (longest path first, then by path descending, then as created), and the
//! first one fires. A host's locations are its paths, plus the root location `/` that the first Ingress
//! naming the host creates with its own annotations (the first Prefix `/` path takes it over).

use crate::diagnostics::Diagnostics;
use crate::model::annotations::field_of;
use crate::model::ingress::PathType;

struct Candidate {
    path: String,
    app_root: Option<String>,
    ingress: String,
}

/// The app-root candidates of one host, collected while its paths are compiled.
#[derive(Default)]
pub(super) struct AppRoots {
    /// The root location, once some Ingress created it.
    root: Option<Candidate>,
    /// A Prefix `/` path took the root location over.
    root_taken: bool,
    paths: Vec<Candidate>,
}

impl AppRoots {
    /// The first Ingress naming the host creates its root location.
    pub(super) fn host_created(&mut self, ingress: &str, app_root: Option<&String>) {
        self.root = Some(Candidate {
            path: "/".to_string(),
            app_root: app_root.cloned(),
            ingress: ingress.to_string(),
        });
    }

    /// One path of the host (the first one of its path and type: later ones are not served).
    pub(super) fn path(&mut self, ingress: &str, path: &str, kind: PathType, app_root: Option<&String>) {
        let candidate = Candidate {
            path: path.to_string(),
            app_root: app_root.cloned(),
            ingress: ingress.to_string(),
        };
        if path == "/" && kind == PathType::Prefix {
            if !self.root_taken {
                self.root_taken = true;
                self.root = Some(candidate);
            }
            return;
        }
        self.paths.push(candidate);
    }

    /// The app-root `/` of the host redirects to, if any location asks for one; a differing app-root of
    /// another Ingress of the host is warned about.
    pub(super) fn choose(self, host: &str, diags: &mut Diagnostics) -> Option<String> {
        let candidates: Vec<&Candidate> = self
            .root
            .iter()
            .chain(&self.paths)
            .filter(|c| c.app_root.is_some())
            .collect();
        // The first in ingress-nginx's order: the greatest (length, path), the earliest of equals.
        let mut first = *candidates.first()?;
        for &c in &candidates {
            if (c.path.len(), &c.path) > (first.path.len(), &first.path) {
                first = c;
            }
        }
        let mut warned = vec![first.ingress.as_str()];
        for c in candidates {
            if c.app_root != first.app_root && !warned.contains(&c.ingress.as_str()) {
                warned.push(&c.ingress);
                diags.warning(
                    &c.ingress,
                    &field_of("app-root"),
                    format!(
                        "{host} already redirects / to {:?} by app-root of {} (path {:?}, first in ingress-nginx's \
                         location order); this one is not used",
                        first.app_root.as_deref().unwrap_or_default(),
                        first.ingress,
                        first.path
                    ),
                );
            }
        }
        first.app_root.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn root(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_longest_path_s_app_root_wins() {
        let mut roots = AppRoots::default();
        roots.host_created("ns/first", root("/first").as_ref());
        roots.path("ns/first", "/a", PathType::Prefix, root("/first").as_ref());
        roots.path("ns/other", "/longer", PathType::Prefix, root("/other").as_ref());
        roots.path("ns/plain", "/longest-path", PathType::Prefix, None);
        let mut diags = Diagnostics::default();
        assert_eq!(roots.choose("h", &mut diags).as_deref(), Some("/other"));
        let v = diags.into_vec();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].to_string().starts_with("ns/first: metadata.annotations.nginx.ingress.kubernetes.io/app-root: h already redirects / to \"/other\""));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_root_location_follows_the_first_prefix_slash() {
        let mut roots = AppRoots::default();
        roots.host_created("ns/first", root("/first").as_ref());
        roots.path("ns/slash", "/", PathType::Prefix, None);
        roots.path("ns/later", "/", PathType::Prefix, root("/later").as_ref());
        assert_eq!(roots.choose("h", &mut Diagnostics::default()), None);
        // Without a path of its own the first Ingress's app-root still answers (i2gw's "no root path").
        let mut roots = AppRoots::default();
        roots.host_created("ns/first", root("/first").as_ref());
        roots.path("ns/first", "/api", PathType::Exact, root("/first").as_ref());
        assert_eq!(
            roots.choose("h", &mut Diagnostics::default()).as_deref(),
            Some("/first")
        );
    }
}
