//! The VS Code extension's debugger schema (`editors/vscode/package.json`,
//! `contributes.debuggers[type=orbit].configurationAttributes`) must be exactly what the adapter
//! accepts: [`attach_schema`] and [`launch_schema`], generated from the serde types.
//!
//! After changing `AttachArguments` or `LaunchArguments`, regenerate the manifest with
//! `ORBIT_BLESS_SCHEMA=1 cargo test -p orbit-adapter --test schema_matches_vscode`.

use std::path::PathBuf;

use orbit_adapter::protocol::{attach_schema, launch_schema, AttachArguments, LaunchArguments};
use serde_json::{json, Value};

fn manifest_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../editors/vscode/package.json")
}

/// Numbers as f64, so that `0` and `0.0` (which JSON tools rewrite freely) compare equal.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Number(n) => n.as_f64().map(Value::from).unwrap_or_else(|| v.clone()),
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect()),
        other => other.clone(),
    }
}

fn expected() -> Value {
    json!({ "attach": attach_schema(), "launch": launch_schema() })
}

#[test]
fn vscode_configuration_attributes_match_the_adapter_schemas() {
    let path = manifest_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut manifest: Value = serde_json::from_str(&text).expect("package.json is JSON");
    let debuggers = manifest["contributes"]["debuggers"].as_array_mut().expect("contributes.debuggers");
    let orbit = debuggers.iter_mut().find(|d| d["type"] == "orbit").expect("a debugger of type orbit");
    if std::env::var_os("ORBIT_BLESS_SCHEMA").is_some() {
        orbit["configurationAttributes"] = expected();
        let mut out = serde_json::to_string_pretty(&manifest).expect("serialize");
        out.push('\n');
        std::fs::write(&path, out).expect("write package.json");
        return;
    }
    let actual = &orbit["configurationAttributes"];
    for request in ["attach", "launch"] {
        assert_eq!(
            canonical(&actual[request]),
            canonical(&expected()[request]),
            "editors/vscode/package.json's configurationAttributes.{request} differs from the adapter's schema; \
             regenerate with ORBIT_BLESS_SCHEMA=1 cargo test -p orbit-adapter --test schema_matches_vscode"
        );
    }
    let props = actual["attach"]["properties"].as_object().expect("attach properties");
    assert!(props.contains_key("node") && props.contains_key("cookieFile"), "attach: {props:?}");
    let required = actual["launch"]["required"].as_array().expect("launch required");
    assert!(required.contains(&json!("projectDir")), "launch requires projectDir");
}

/// The configurations the extension offers (initial configurations and snippets) parse as the
/// adapter's arguments, and use only attributes the schema lists.
#[test]
fn vscode_initial_configurations_and_snippets_parse_as_adapter_arguments() {
    let path = manifest_path();
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("package.json")).expect("JSON");
    let orbit = manifest["contributes"]["debuggers"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["type"] == "orbit"))
        .expect("a debugger of type orbit");
    let mut configs: Vec<&Value> =
        orbit["initialConfigurations"].as_array().expect("initialConfigurations").iter().collect();
    configs
        .extend(orbit["configurationSnippets"].as_array().expect("configurationSnippets").iter().map(|s| &s["body"]));
    assert!(configs.len() >= 4);
    for c in configs {
        let request = c["request"].as_str().expect("request");
        let schema = expected()[request].clone();
        for key in c.as_object().expect("object").keys() {
            assert!(
                ["type", "request", "name"].contains(&key.as_str()) || schema["properties"].get(key).is_some(),
                "{request} configuration uses {key}, which the adapter does not accept"
            );
        }
        match request {
            "attach" => drop(serde_json::from_value::<AttachArguments>(c.clone()).expect("attach arguments")),
            "launch" => drop(serde_json::from_value::<LaunchArguments>(c.clone()).expect("launch arguments")),
            other => panic!("unknown request {other}"),
        }
    }
}
