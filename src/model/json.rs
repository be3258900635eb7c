//! Configuration documents read into JSON values, refusing duplicate keys.
//!
//! `{"pathType": "Exact", "pathType": "Prefix"}` means one thing to one reader and another to the next
//! (most keep the last value, some the first, kubectl's strict validation refuses it), so what a reviewer
//! or a policy tool saw need not be what is served: the loader refuses it, naming the field. Works with
//! any serde deserializer, so the CLI reads YAML documents by the same rule.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// Why a document could not be read.
#[derive(Debug)]
pub enum ReadError<E> {
    /// A key appears twice in one object. `field` is its path from the document's root
    /// (`items[0].spec.rules[0].host`); `detail` is the reader's message (with line and column).
    DuplicateKey { field: String, detail: String },
    /// The reader's own error: syntax, nesting deeper than its limit, ...
    Syntax(E),
}

/// Reads one value, refusing duplicate keys.
pub fn read_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, ReadError<D::Error>> {
    let trail = Trail::default();
    Strict { trail: &trail }
        .deserialize(deserializer)
        .map_err(|e| match trail.path() {
            Some(field) => ReadError::DuplicateKey {
                field,
                detail: e.to_string(),
            },
            None => ReadError::Syntax(e),
        })
}

enum Segment {
    Key(String),
    Index(usize),
}

/// The path to a duplicate key, collected innermost first while the error travels up; empty (None)
/// for every other error, so reading valid input allocates nothing for it.
#[derive(Default)]
struct Trail {
    segments: RefCell<Option<Vec<Segment>>>,
}

impl Trail {
    fn start(&self, key: String) {
        *self.segments.borrow_mut() = Some(vec![Segment::Key(key)]);
    }

    fn push(&self, segment: Segment) {
        if let Some(segments) = self.segments.borrow_mut().as_mut() {
            segments.push(segment);
        }
    }

    fn path(&self) -> Option<String> {
        let segments = self.segments.borrow_mut().take()?;
        let mut path = String::new();
        for segment in segments.iter().rev() {
            match segment {
                Segment::Key(key) if path.is_empty() => path.push_str(key),
                Segment::Key(key) => {
                    path.push('.');
                    path.push_str(key);
                }
                Segment::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        Some(path)
    }
}

#[derive(Clone, Copy)]
struct Strict<'t> {
    trail: &'t Trail,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // As serde_json's own Value: a YAML .nan or .inf has no JSON number and reads as null.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            match seq.next_element_seed(self) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(Value::Array(items)),
                Err(e) => {
                    self.trail.push(Segment::Index(items.len()));
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let message = format!("duplicate key {key:?}");
                self.trail.start(key);
                return Err(de::Error::custom(message));
            }
            match map.next_value_seed(self) {
                Ok(value) => {
                    object.insert(key, value);
                }
                Err(e) => {
                    self.trail.push(Segment::Key(key));
                    return Err(e);
                }
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn read(text: &str) -> Result<Value, ReadError<serde_json::Error>> {
        read_value(&mut serde_json::Deserializer::from_str(text))
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn reads_what_serde_json_reads() {
        let text = r#"{"a": [1, -2, 3.5, "x", true, null, {"b": {}}], "c": 18446744073709551615}"#;
        assert_eq!(read(text).unwrap(), serde_json::from_str::<Value>(text).unwrap());
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn duplicate_keys_are_named_by_their_path() {
        let text = r#"{"items": [{"metadata": {"name": "a"}}, {"spec": {"rules": [{}, {"host": "a", "host": "b"}]}}]}"#;
        match read(text) {
            Err(ReadError::DuplicateKey { field, detail }) => {
                assert_eq!(field, "items[1].spec.rules[1].host");
                assert!(detail.starts_with("duplicate key \"host\" at line 1"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        // Equal keys in different objects are fine.
        assert!(read(r#"{"a": {"k": 1}, "b": {"k": 1}}"#).is_ok());
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn other_errors_are_the_readers_own() {
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        for (text, what) in [("{\"a\": }", "expected value"), (&deep[..], "recursion limit")] {
            match read(text) {
                Err(ReadError::Syntax(e)) => assert!(e.to_string().contains(what), "{e}"),
                other => panic!("{other:?}"),
            }
        }
    }
}
