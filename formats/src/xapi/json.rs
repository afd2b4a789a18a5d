//! A JSON value read with the paths of the keys given twice in one object, which `serde_json::Value` would
//! silently drop (xAPI: "a Statement MUST use each property no more than one time").

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::validate::{child, item};

/// The value, with the last of each repeated key kept, and the JSON paths of the repeated keys.
pub(crate) struct Tracked {
    pub(crate) value: Value,
    pub(crate) repeated: Vec<String>,
}

impl<'de> Deserialize<'de> for Tracked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Tracked, D::Error> {
        let mut state = State { stack: Vec::new(), repeated: Vec::new() };
        let value = Node { state: &mut state }.deserialize(deserializer)?;
        Ok(Tracked { value, repeated: state.repeated })
    }
}

enum Segment {
    Key(String),
    Index(usize),
}

/// Where the reader is (the keys and indexes from the root), so a path is only built for a repeated key.
struct State {
    stack: Vec<Segment>,
    repeated: Vec<String>,
}

impl State {
    fn path(&self) -> String {
        self.stack.iter().fold("$".to_owned(), |path, segment| match segment {
            Segment::Key(key) => child(&path, key),
            Segment::Index(index) => item(&path, *index),
        })
    }
}

struct Node<'a> {
    state: &'a mut State,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        // The nesting limit stays serde_json's: it counts in the deserializer, whatever the visitor.
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            self.state.stack.push(Segment::Index(items.len()));
            let next = seq.next_element_seed(Node { state: &mut *self.state });
            self.state.stack.pop();
            match next? {
                Some(value) => items.push(value),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.state.stack.push(Segment::Key(key));
            let value = map.next_value_seed(Node { state: &mut *self.state });
            if value.is_ok() && matches!(self.state.stack.last(), Some(Segment::Key(key)) if object.contains_key(key)) {
                let path = self.state.path();
                self.state.repeated.push(path);
            }
            let Some(Segment::Key(key)) = self.state.stack.pop() else { unreachable!("the key pushed above") };
            object.insert(key, value?);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_found_at_any_depth_and_the_value_is_whole() {
        let text = r#"{"a": 1, "b": [{"c": 1, "c": 2}], "a": 3, "d": {"http://x/e": null, "http://x/e": {"f": [1.5, true, "s"]}}}"#;
        let tracked: Tracked = serde_json::from_str(text).unwrap();
        assert_eq!(tracked.repeated, ["$.b[0].c", "$.a", "$.d[\"http://x/e\"]"]);
        assert_eq!(tracked.value, serde_json::from_str::<Value>(text).unwrap());
    }
}
