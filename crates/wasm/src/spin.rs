//! Spin's locked application (`application/vnd.fermyon.spin.application.v1+config`): the
//! resolved `spin.toml` that `spin registry push` stores, either as the manifest config (Spin
//! 1.x) or as the last layer (Spin 2+, beside an OCI image config with `os: wasip1`).
//!
//! Its shape is spin's `LockedApp`: `spin_lock_version`, `metadata` (`name`, `version`,
//! `description`, `authors`, `trigger`), `triggers[]` (`trigger_type`, `trigger_config` with
//! `component` and `route`), `components[]` (`id`, `source.digest`), `variables`.

use serde_json::{Map, Value};

use crate::config::{push_unique, string, strings};
use crate::facts::{SpinApp, SpinComponent};

/// Most components and variables listed; a locked app is bounded by the config size limit,
/// this only keeps the stored facts proportionate.
const MAX_LISTED: usize = 1000;

pub(crate) fn spin_app(map: &Map<String, Value>) -> SpinApp {
    let metadata = map.get("metadata").and_then(Value::as_object);
    let meta = |key: &str| metadata.and_then(|m| string(m, key));
    let mut app = SpinApp {
        name: meta("name"),
        version: meta("version"),
        description: meta("description"),
        authors: metadata.map(|m| strings(m.get("authors"))).unwrap_or_default(),
        ..SpinApp::default()
    };
    let triggers = array(map, "triggers");
    if let Some(kind) =
        metadata.and_then(|m| m.get("trigger")).and_then(Value::as_object).and_then(|t| string(t, "type"))
    {
        push_unique(&mut app.trigger_types, [kind]);
    }
    for trigger in triggers.iter().filter_map(Value::as_object) {
        push_unique(&mut app.trigger_types, string(trigger, "trigger_type"));
    }
    for component in array(map, "components").iter().filter_map(Value::as_object).take(MAX_LISTED) {
        let Some(id) = string(component, "id") else { continue };
        let source_digest = component.get("source").and_then(Value::as_object).and_then(|s| string(s, "digest"));
        let route = triggers
            .iter()
            .filter_map(|t| t.get("trigger_config").and_then(Value::as_object))
            .find(|config| config.get("component").and_then(Value::as_str) == Some(id.as_str()))
            .and_then(|config| route(config.get("route")));
        app.components.push(SpinComponent { id, source_digest, route });
    }
    if let Some(variables) = map.get("variables").and_then(Value::as_object) {
        app.variables = variables.keys().take(MAX_LISTED).cloned().collect();
    }
    app
}

fn array<'a>(map: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    map.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// A route is a string (`/hello/...`) or, for private endpoints, `{"private": true}`.
fn route(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(route) => Some(route.clone()),
        Value::Object(object) if object.get("private") == Some(&Value::Bool(true)) => Some("(private)".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_locked_app_as_spin_registry_push_writes_it() {
        let json = r#"{
          "spin_lock_version": 1,
          "metadata": {"name": "hello", "version": "0.1.0", "description": "Says hello",
                       "authors": ["Jane <jane@example.com>"], "trigger": {"type": "http"}},
          "variables": {"greeting": {"default": "hi"}},
          "triggers": [
            {"id": "trigger--hello", "trigger_type": "http",
             "trigger_config": {"component": "hello", "route": "/hello/..."}},
            {"id": "trigger--admin", "trigger_type": "http",
             "trigger_config": {"component": "admin", "route": {"private": true}}}
          ],
          "components": [
            {"id": "hello", "source": {"content_type": "application/wasm",
              "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111"}},
            {"id": "admin", "source": {"content_type": "application/wasm", "digest": null}},
            {"source": {}}
          ]
        }"#;
        let map: Map<String, Value> = serde_json::from_str(json).unwrap();
        let app = spin_app(&map);
        assert_eq!(app.name.as_deref(), Some("hello"));
        assert_eq!(app.authors, vec!["Jane <jane@example.com>"]);
        assert_eq!(app.trigger_types, vec!["http"]);
        assert_eq!(app.variables, vec!["greeting"]);
        assert_eq!(app.components.len(), 2, "a component without an id is skipped");
        assert_eq!(app.components[0].route.as_deref(), Some("/hello/..."));
        assert!(app.components[0].source_digest.as_deref().unwrap().starts_with("sha256:1111"));
        assert_eq!(app.components[1].route.as_deref(), Some("(private)"));
        assert_eq!(app.components[1].source_digest, None);
    }

    #[test]
    fn an_empty_or_odd_locked_app_reads_as_empty() {
        let map: Map<String, Value> =
            serde_json::from_str(r#"{"metadata":null,"triggers":{},"components":"x"}"#).unwrap();
        assert_eq!(spin_app(&map), SpinApp::default());
    }
}
