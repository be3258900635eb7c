//! Prefix paths as a trie of path elements: a request path is walked once, element by element, so the
//! cost of finding the longest Prefix match is linear in the path's length whatever the number of rules
//! or the depth of the path (hashing every shorter prefix of the path, as a map of whole prefixes needs,
//! costs the square of its length).

use crate::work;
use std::collections::HashMap;

#[derive(Debug)]
pub struct PrefixTrie<V> {
    /// Node 0 is `/`.
    nodes: Vec<Node<V>>,
}

#[derive(Debug)]
struct Node<V> {
    children: HashMap<Box<str>, usize>,
    value: Option<V>,
}

impl<V> Node<V> {
    fn new() -> Self {
        Node {
            children: HashMap::new(),
            value: None,
        }
    }
}

impl<V> Default for PrefixTrie<V> {
    fn default() -> Self {
        PrefixTrie {
            nodes: vec![Node::new()],
        }
    }
}

/// The elements of a key or path with the end offset of each: `/a/b` -> (`a`, 2), (`b`, 4); `/` has none.
fn elements(path: &str) -> impl Iterator<Item = (&str, usize)> {
    let body = path.strip_prefix('/').unwrap_or(path);
    let mut end = path.len() - body.len();
    (!body.is_empty())
        .then(|| body.split('/'))
        .into_iter()
        .flatten()
        .map(move |element| {
            end += element.len();
            let item = (element, end);
            end += 1;
            item
        })
}

impl<V> PrefixTrie<V> {
    /// The value slot of `key` (a path without trailing slash, or `/`), created empty if missing.
    pub fn slot(&mut self, key: &str) -> &mut Option<V> {
        let mut node = 0;
        for (element, _) in elements(key) {
            let next = self.nodes.len();
            let child = *self.nodes[node].children.entry(element.into()).or_insert(next);
            if child == next {
                self.nodes.push(Node::new());
            }
            node = child;
        }
        &mut self.nodes[node].value
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        let mut node = 0;
        for (element, _) in elements(key) {
            node = *self.nodes[node].children.get(element)?;
        }
        self.nodes[node].value.as_ref()
    }

    /// The longest key that is an element-wise prefix of `path` (without trailing slash, or `/`), as
    /// (its length, its value). `skip_whole`: `path` itself does not count, only its proper prefixes
    /// (`/` always counts).
    pub fn longest(&self, path: &str, skip_whole: bool) -> Option<(usize, &V)> {
        let mut best = self.nodes[0].value.as_ref().map(|v| (1, v));
        let mut node = 0;
        for (element, end) in elements(path) {
            work::add(element.len());
            let Some(&child) = self.nodes[node].children.get(element) else {
                break;
            };
            node = child;
            if let Some(value) = self.nodes[node].value.as_ref() {
                if !(skip_whole && end == path.len()) {
                    best = Some((end, value));
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn trie(keys: &[&'static str]) -> PrefixTrie<&'static str> {
        let mut t = PrefixTrie::default();
        for k in keys {
            *t.slot(k) = Some(*k);
        }
        t
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn longest_element_prefix() {
        let t = trie(&["/", "/foo", "/foo/bar"]);
        assert_eq!(t.longest("/foo/bar/baz", false), Some((8, &"/foo/bar")));
        assert_eq!(t.longest("/foo/barbaz", false), Some((4, &"/foo")));
        assert_eq!(t.longest("/foobar", false), Some((1, &"/")));
        assert_eq!(t.longest("/foo", false), Some((4, &"/foo")));
        assert_eq!(t.longest("/foo", true), Some((1, &"/")));
        assert_eq!(t.longest("/", true), Some((1, &"/")));
        let t = trie(&["/a"]);
        assert_eq!(t.longest("/b", false), None);
        assert_eq!(t.get("/a"), Some(&"/a"));
        assert_eq!(t.get("/"), None);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn keys_with_empty_elements_never_match_canonical_paths() {
        let t = trie(&["/a//b"]);
        assert_eq!(t.longest("/a/b", false), None);
        assert_eq!(t.get("/a//b"), Some(&"/a//b"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn walk_is_linear_in_the_path() {
        let t = trie(&["/a", "/a/a", "/a/a/a"]);
        let path = "/a".repeat(30_000);
        work::take();
        assert_eq!(t.longest(&path, false), Some((6, &"/a/a/a")));
        assert!(work::take() <= path.len());
    }
}
