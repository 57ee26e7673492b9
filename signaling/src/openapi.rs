//! The hand-written OpenAPI 3.1 description served at `/api/v1/openapi.json`.

/// The document, `openapi.json`, compiled into the binary.
pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

    fn document() -> Value {
        serde_json::from_str(super::DOCUMENT).expect("openapi.json is JSON")
    }

    /// `(METHOD, /api/v1/path)` for every `` `METHOD /api/v1/…` `` in docs/api.md (its tables
    /// and its text), without query strings.
    fn documented() -> BTreeSet<(String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md");
        let md = std::fs::read_to_string(path).expect("docs/api.md");
        let mut out = BTreeSet::new();
        for span in md.split('`').skip(1).step_by(2) {
            let Some((method, rest)) = span.split_once(' ') else {
                continue;
            };
            if !METHODS.contains(&method) || !rest.starts_with("/api/v1/") {
                continue;
            }
            let path = rest.split('?').next().unwrap_or(rest).trim();
            out.insert((method.to_string(), path.to_string()));
        }
        out
    }

    /// `(METHOD, path)` of every operation in openapi.json.
    fn described(doc: &Value) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                let m = method.to_ascii_uppercase();
                if METHODS.contains(&m.as_str()) {
                    out.insert((m, path.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn every_documented_endpoint_is_described_and_back() {
        let doc = document();
        let docs = documented();
        let api = described(&doc);
        assert!(
            docs.len() >= 30,
            "docs/api.md names {} endpoints",
            docs.len()
        );
        let missing: Vec<_> = docs.difference(&api).collect();
        assert!(
            missing.is_empty(),
            "in docs/api.md, not in openapi.json: {missing:?}"
        );
        let undocumented: Vec<_> = api.difference(&docs).collect();
        assert!(
            undocumented.is_empty(),
            "in openapi.json, not in docs/api.md: {undocumented:?}"
        );
    }

    #[test]
    fn the_document_is_well_formed() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
        fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r);
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        for r in all {
            let pointer = r.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} resolves");
        }
        for (path, item) in doc["paths"].as_object().unwrap() {
            // Every {parameter} in a path is declared.
            let declared: BTreeSet<&str> = item
                .as_object()
                .unwrap()
                .values()
                .flat_map(|op| op["parameters"].as_array().into_iter().flatten())
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            for seg in path.split('/') {
                if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    assert!(declared.contains(name), "{path}: {name} declared");
                }
            }
            for (method, op) in item.as_object().unwrap() {
                assert!(op["summary"].is_string(), "{method} {path}: summary");
                assert!(op["responses"].is_object(), "{method} {path}: responses");
                assert!(
                    op["responses"]["429"].is_object(),
                    "{method} {path}: the rate limit's answer"
                );
            }
        }
    }
}
