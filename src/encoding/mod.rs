//! Small encodings and hashes, written here rather than pulled in as crates (each crate costs bytes in the
//! module that ships in a ConfigMap): MD5 (ingress-nginx's cookie keys), base64 (Envoy's session header),
//! nginx's cookie date, and the password hashes nginx's `auth_basic` verifies (bcrypt over Blowfish,
//! MD5-crypt, SHA-1).

pub mod base64;
pub mod bcrypt;
mod blowfish;
pub mod cookie_time;
pub mod md5;
pub mod md5_crypt;
pub mod sha1;
