//! Canonical JSON: the bytes that are hashed and signed.
//!
//! The JSON Canonicalization Scheme (RFC 8785) restricted to what manifests hold: objects,
//! arrays, strings, booleans, null and integers (no floating-point numbers: a float is an
//! error). Object members are sorted by key (byte order; all keys are ASCII, where this is the
//! same as RFC 8785's UTF-16 order), no whitespace, strings escaped as RFC 8785 does (`\"`,
//! `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control characters as `\u00xx` with lower-case hex,
//! everything else as UTF-8), integers in plain decimal.

use serde_json::Value;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no canonical json for {0}")]
pub struct CanonicalError(pub String);

/// The canonical serialization of `value`.
pub fn to_canonical(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(1024);
    write(value, &mut out)?;
    Ok(out)
}

fn write(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else {
                return Err(CanonicalError(format!("the number {n}")));
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write(v, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_compact_and_escaped() {
        let v = json!({"b": [1, -2, true, null], "a": {"z": "x\"\\\n\u{1}é", "y": 0}});
        assert_eq!(
            String::from_utf8(to_canonical(&v).unwrap()).unwrap(),
            "{\"a\":{\"y\":0,\"z\":\"x\\\"\\\\\\n\\u0001é\"},\"b\":[1,-2,true,null]}"
        );
    }

    #[test]
    fn floats_are_refused() {
        assert!(to_canonical(&json!({"x": 1.5})).is_err());
    }

    #[test]
    fn parse_and_reserialize_is_stable() {
        let v = json!({"k": "v", "n": 18446744073709551615u64, "list": [{"b": 1, "a": 2}]});
        let once = to_canonical(&v).unwrap();
        let parsed: Value = serde_json::from_slice(&once).unwrap();
        assert_eq!(to_canonical(&parsed).unwrap(), once);
    }
}
