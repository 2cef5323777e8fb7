//! JSON as people read it: one key or item per line, indented two spaces per level, but
//! never deeper than [`MAX_INDENT_LEVELS`]. A state machine nests four levels per Parallel
//! state (States, the state, Branches, the branch), so a large pipeline's definition nests
//! dozens of levels deep: indenting every level made a random 10,000-task definition 61 MB
//! (32 MB capped; 11 MB compact). Past the cap, lines keep the cap's indentation: still
//! valid JSON, still one line per key (what diffs need).

use serde::Serialize;
use serde_json::ser::Formatter;

/// The deepest indentation written, in levels of two spaces.
pub const MAX_INDENT_LEVELS: usize = 16;

/// `value` as capped pretty JSON.
pub fn to_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, CappedPretty::default());
    value.serialize(&mut serializer)?;
    // The serializer writes only UTF-8, so this never copies (a lossy conversion would copy
    // the whole text: 26 MB more at the peak of a 10,000-task plan).
    Ok(String::from_utf8(out)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
}

/// Compact JSON text (as serde_json writes it: no whitespace) as capped pretty JSON, the
/// same bytes [`to_pretty`] writes for its value, without building the value: a child
/// machine of a thousand Task states is reindented, not parsed.
pub fn pretty_from_compact(compact: &str) -> String {
    /// An open container: an object (expecting a key next, or its value) or an array.
    enum Open {
        Object { first: bool, key_next: bool },
        Array { first: bool },
    }
    let mut out: Vec<u8> = Vec::with_capacity(compact.len() * 2);
    let mut f = CappedPretty::default();
    let mut stack: Vec<Open> = Vec::new();
    let bytes = compact.as_bytes();
    let mut i = 0;
    // Writes go to a Vec: they cannot fail.
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b',' | b':' => {
                if byte == b':' {
                    let _ = f.begin_object_value(&mut out);
                }
                i += 1;
                continue;
            }
            b'}' | b']' => {
                let _ = if byte == b'}' {
                    f.end_object(&mut out)
                } else {
                    f.end_array(&mut out)
                };
                stack.pop();
                i += 1;
                ended_value(&mut f, &mut out, &mut stack);
                continue;
            }
            _ => {}
        }
        // A value, or an object's key, starts here.
        let is_key = match stack.last_mut() {
            Some(Open::Array { first }) => {
                let _ = f.begin_array_value(&mut out, std::mem::replace(first, false));
                false
            }
            Some(Open::Object { first, key_next }) if *key_next => {
                let _ = f.begin_object_key(&mut out, std::mem::replace(first, false));
                *key_next = false;
                true
            }
            _ => false,
        };
        match byte {
            b'{' => {
                let _ = f.begin_object(&mut out);
                stack.push(Open::Object {
                    first: true,
                    key_next: true,
                });
                i += 1;
            }
            b'[' => {
                let _ = f.begin_array(&mut out);
                stack.push(Open::Array { first: true });
                i += 1;
            }
            _ => {
                let start = i;
                if byte == b'"' {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i = (i + 1).min(bytes.len());
                } else {
                    while i < bytes.len() && !matches!(bytes[i], b',' | b'}' | b']' | b':') {
                        i += 1;
                    }
                }
                out.extend_from_slice(&bytes[start..i]);
                if !is_key {
                    ended_value(&mut f, &mut out, &mut stack);
                }
            }
        }
    }

    /// After a whole value: its container has a value, and an object expects a key.
    fn ended_value(f: &mut CappedPretty, out: &mut Vec<u8>, stack: &mut [Open]) {
        match stack.last_mut() {
            Some(Open::Array { .. }) => {
                let _ = f.end_array_value(out);
            }
            Some(Open::Object { key_next, .. }) => {
                let _ = f.end_object_value(out);
                *key_next = true;
            }
            None => {}
        }
    }
    String::from_utf8(out)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// serde_json's `PrettyFormatter`, with the indentation capped.
#[derive(Default)]
struct CappedPretty {
    depth: usize,
    has_value: bool,
}

impl CappedPretty {
    fn newline<W: ?Sized + std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(b"\n")?;
        for _ in 0..self.depth.min(MAX_INDENT_LEVELS) {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }

    fn open<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        bracket: &[u8],
    ) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        bracket: &[u8],
    ) -> std::io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.newline(writer)?;
        }
        writer.write_all(bracket)
    }

    fn item<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if !first {
            writer.write_all(b",")?;
        }
        self.newline(writer)
    }
}

impl Formatter for CappedPretty {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(writer, first)
    }

    fn end_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        _writer: &mut W,
    ) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(writer, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        _writer: &mut W,
    ) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_text_reindents_to_the_same_bytes() {
        let mut deep = json!({"leaf": [1, "a,b:c}", {"q": "\\\"]"}]});
        for level in 0..30 {
            deep = json!({"level": level, "next": deep, "empty": {}, "none": [], "x": [true, null, -1.5e3]});
        }
        let document: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/spaceflights.aws.pipeline.json"
        ))
        .expect("the fixture is JSON");
        let dag = crate::synthetic::random_dag(200, 4, 0.5, &mut crate::synthetic::Rng::new(5));
        let doc = crate::synthetic::doc_from_dag(&dag, &|i| format!("né.node \"{i}\""));
        let definition = crate::plan::draft(&doc, &crate::config::Config::default())
            .expect("plans")
            .definition;
        for value in [
            deep,
            document,
            definition,
            json!([]),
            json!("x"),
            json!({"a": {}}),
        ] {
            let compact = serde_json::to_string(&value).expect("serializes");
            assert_eq!(
                pretty_from_compact(&compact),
                to_pretty(&value).expect("serializes"),
                "{compact}"
            );
        }
    }

    #[test]
    fn shallow_json_is_exactly_serde_json_pretty() {
        for value in [
            json!({"a": [1, {"b": null}], "c": {}, "d": [], "e": "x\n\"y\""}),
            json!([]),
            json!("text"),
        ] {
            assert_eq!(
                to_pretty(&value).unwrap(),
                serde_json::to_string_pretty(&value).unwrap()
            );
        }
    }

    #[test]
    fn deep_json_stops_indenting_and_reads_back_the_same() {
        let mut value = json!({"leaf": [1, 2]});
        for level in 0..40 {
            value = json!({"level": level, "inner": value});
        }
        let text = to_pretty(&value).unwrap();
        let widest = text
            .lines()
            .map(|l| l.len() - l.trim_start().len())
            .max()
            .unwrap();
        assert_eq!(widest, 2 * MAX_INDENT_LEVELS);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            value
        );
        assert!(text.len() < serde_json::to_string_pretty(&value).unwrap().len());
    }
}
