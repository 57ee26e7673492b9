//! The hand-written OpenAPI 3.1 description served at `/api/v1/openapi.json`.

pub const DOCUMENT: &str = include_str!("openapi.json");
