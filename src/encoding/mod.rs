//! Small encodings the session-affinity cookie needs, written here rather than pulled in as crates (each
//! crate costs bytes in the module that ships in a ConfigMap): MD5 (ingress-nginx's cookie keys), base64
//! (Envoy's session header) and nginx's cookie date.

pub mod base64;
pub mod cookie_time;
pub mod md5;
