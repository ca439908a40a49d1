//! Tests of the protocol types against the DAP specification.
//!
//! `testdata/spec_samples.json` was generated from the specification's JSON schema
//! (`debugAdapterProtocol.json` of microsoft/debug-adapter-protocol): for each type, an object that
//! sets every property the schema defines (first enum value for enums, nested types filled in the
//! same way). A type that drops or misnames a field fails its round trip.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::requests::Request as _;
use super::*;

fn spec_samples() -> serde_json::Map<String, Value> {
    match serde_json::from_str(include_str!("testdata/spec_samples.json")) {
        Ok(Value::Object(map)) => map,
        other => panic!("bad spec samples: {other:?}"),
    }
}

/// Deserializes `value` as `T` and serializes it back: the result must be identical.
fn round_trip<T: Serialize + DeserializeOwned>(name: &str, value: &Value) {
    let typed: T = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(&back, value, "{name} does not round-trip: some field is missing or misnamed");
}

#[test]
fn every_spec_field_round_trips() {
    let samples = spec_samples();
    let mut checked = 0;
    macro_rules! check {
        ($($key:literal => $ty:ty,)*) => {
            $(
                let sample = samples.get($key).unwrap_or_else(|| panic!("no sample {}", $key));
                round_trip::<$ty>($key, sample);
                checked += 1;
            )*
        };
    }
    check! {
        "Source" => Source,
        "Checksum" => Checksum,
        "BreakpointLocation" => BreakpointLocation,
        "SourceBreakpoint" => SourceBreakpoint,
        "FunctionBreakpoint" => FunctionBreakpoint,
        "Breakpoint" => Breakpoint,
        "ExceptionBreakpointsFilter" => ExceptionBreakpointsFilter,
        "ExceptionFilterOptions" => ExceptionFilterOptions,
        "ExceptionOptions" => ExceptionOptions,
        "ExceptionPathSegment" => ExceptionPathSegment,
        "Capabilities" => Capabilities,
        "ColumnDescriptor" => ColumnDescriptor,
        "BreakpointMode" => BreakpointMode,
        "Thread" => Thread,
        "StackFrame" => StackFrame,
        "ValueFormat" => ValueFormat,
        "StackFrameFormat" => StackFrameFormat,
        "Scope" => Scope,
        "Variable" => Variable,
        "VariablePresentationHint" => VariablePresentationHint,
        "Message" => Message,
        "InitializeRequestArguments" => InitializeRequestArguments,
        "SetBreakpointsArguments" => SetBreakpointsArguments,
        "SetFunctionBreakpointsArguments" => SetFunctionBreakpointsArguments,
        "SetExceptionBreakpointsArguments" => SetExceptionBreakpointsArguments,
        "BreakpointLocationsArguments" => BreakpointLocationsArguments,
        "ConfigurationDoneArguments" => ConfigurationDoneArguments,
        "LoadedSourcesArguments" => LoadedSourcesArguments,
        "StackTraceArguments" => StackTraceArguments,
        "ScopesArguments" => ScopesArguments,
        "VariablesArguments" => VariablesArguments,
        "SetVariableArguments" => SetVariableArguments,
        "EvaluateArguments" => EvaluateArguments,
        "SourceArguments" => SourceArguments,
        "ContinueArguments" => ContinueArguments,
        "NextArguments" => NextArguments,
        "StepInArguments" => StepInArguments,
        "StepOutArguments" => StepOutArguments,
        "PauseArguments" => PauseArguments,
        "DisconnectArguments" => DisconnectArguments,
        "TerminateArguments" => TerminateArguments,
        "SetBreakpointsResponse.body" => SetBreakpointsResponse,
        "SetFunctionBreakpointsResponse.body" => SetFunctionBreakpointsResponse,
        "SetExceptionBreakpointsResponse.body" => SetExceptionBreakpointsResponse,
        "BreakpointLocationsResponse.body" => BreakpointLocationsResponse,
        "ThreadsResponse.body" => ThreadsResponse,
        "StackTraceResponse.body" => StackTraceResponse,
        "ScopesResponse.body" => ScopesResponse,
        "VariablesResponse.body" => VariablesResponse,
        "SetVariableResponse.body" => SetVariableResponse,
        "EvaluateResponse.body" => EvaluateResponse,
        "ContinueResponse.body" => ContinueResponse,
        "SourceResponse.body" => SourceResponse,
        "LoadedSourcesResponse.body" => LoadedSourcesResponse,
        "ErrorResponse.body" => ErrorResponseBody,
        "StoppedEvent.body" => StoppedEventBody,
        "ContinuedEvent.body" => ContinuedEventBody,
        "ThreadEvent.body" => ThreadEventBody,
        "OutputEvent.body" => OutputEventBody,
        "BreakpointEvent.body" => BreakpointEventBody,
        "TerminatedEvent.body" => TerminatedEventBody,
        "ExitedEvent.body" => ExitedEventBody,
        "LoadedSourceEvent.body" => LoadedSourceEventBody,
    }
    assert_eq!(checked, samples.len(), "every sample is checked");
}

#[test]
fn spec_overview_next_request() {
    // The example of the specification's overview, byte for byte: its Content-Length of 119
    // counts CRLF line breaks inside the pretty-printed JSON.
    let body = "{\n    \"seq\": 153,\n    \"type\": \"request\",\n    \"command\": \"next\",\n    \"arguments\": {\n        \"threadId\": 3\n    }\n}"
        .replace('\n', "\r\n");
    assert_eq!(body.len(), 119, "the overview says Content-Length: 119");
    let ProtocolMessage::Request(request) = serde_json::from_str(&body).unwrap() else { panic!("not a request") };
    assert_eq!(request.seq, 153);
    assert!(request.is::<requests::Next>());
    let args = request.parse_arguments::<requests::Next>().unwrap();
    assert_eq!(args, NextArguments { thread_id: 3, single_thread: None, granularity: None });
}

/// Messages as VS Code and the specification's examples put them on the wire.
const CAPTURED: &[&str] = &[
    r#"{"command":"initialize","arguments":{"clientID":"vscode","clientName":"Visual Studio Code","adapterID":"orbit","pathFormat":"path","linesStartAt1":true,"columnsStartAt1":true,"supportsVariableType":true,"supportsVariablePaging":true,"supportsRunInTerminalRequest":true,"locale":"en","supportsProgressReporting":true,"supportsInvalidatedEvent":true,"supportsMemoryReferences":true,"supportsArgsCanBeInterpretedByShell":true,"supportsMemoryEvent":true,"supportsStartDebuggingRequest":true,"supportsANSIStyling":true},"type":"request","seq":1}"#,
    r#"{"seq":1,"type":"response","request_seq":1,"command":"initialize","success":true,"body":{"supportsConfigurationDoneRequest":true,"supportsConditionalBreakpoints":true,"supportsHitConditionalBreakpoints":true,"supportsLogPoints":true,"supportsEvaluateForHovers":true,"exceptionBreakpointFilters":[{"filter":"crash","label":"Process crashes","default":true}],"supportsLoadedSourcesRequest":true,"supportTerminateDebuggee":true}}"#,
    r#"{"seq":2,"type":"event","event":"initialized"}"#,
    r#"{"command":"setBreakpoints","arguments":{"source":{"name":"greeter.ex","path":"/home/u/app/lib/greeter.ex"},"lines":[12,20],"breakpoints":[{"line":12},{"line":20,"condition":"n > 3","hitCondition":"2","logMessage":"n = {n}"}],"sourceModified":false},"type":"request","seq":3}"#,
    r#"{"seq":3,"type":"response","request_seq":3,"command":"setBreakpoints","success":true,"body":{"breakpoints":[{"id":1,"verified":true,"line":12},{"id":2,"verified":false,"message":"module not loaded","reason":"pending"}]}}"#,
    r#"{"command":"configurationDone","type":"request","seq":4}"#,
    r#"{"seq":4,"type":"response","request_seq":4,"command":"configurationDone","success":true}"#,
    r#"{"seq":5,"type":"event","event":"stopped","body":{"reason":"breakpoint","threadId":1,"allThreadsStopped":false,"hitBreakpointIds":[1]}}"#,
    r#"{"command":"stackTrace","arguments":{"threadId":1,"startFrame":0,"levels":20},"type":"request","seq":5}"#,
    r#"{"seq":6,"type":"response","request_seq":5,"command":"stackTrace","success":true,"body":{"stackFrames":[{"id":1000,"name":"Greeter.hello/1","source":{"name":"greeter.ex","path":"/home/u/app/lib/greeter.ex"},"line":12,"column":1,"moduleId":"Elixir.Greeter"}],"totalFrames":1}}"#,
    r#"{"seq":7,"type":"response","request_seq":6,"command":"scopes","success":true,"body":{"scopes":[{"name":"Locals","presentationHint":"locals","variablesReference":1001,"namedVariables":2,"expensive":false}]}}"#,
    r#"{"seq":8,"type":"response","request_seq":7,"command":"variables","success":true,"body":{"variables":[{"name":"n","value":"4","type":"integer","evaluateName":"n","variablesReference":0},{"name":"state","value":"%{count: 1}","variablesReference":1002,"namedVariables":1,"presentationHint":{"kind":"data","attributes":["readOnly"]}}]}}"#,
    r#"{"seq":9,"type":"event","event":"output","body":{"category":"stdout","output":"hello\n","source":{"path":"/home/u/app/lib/greeter.ex"},"line":12,"group":"start","data":{"node":"a@h"}}}"#,
    r#"{"seq":10,"type":"response","request_seq":8,"command":"evaluate","success":false,"message":"notStopped","body":{"error":{"id":2001,"format":"Cannot evaluate {expr}: not stopped","variables":{"expr":"x"},"showUser":true}}}"#,
    r#"{"seq":11,"type":"event","event":"breakpoint","body":{"reason":"changed","breakpoint":{"id":2,"verified":true,"line":21}}}"#,
    r#"{"seq":12,"type":"event","event":"thread","body":{"reason":"exited","threadId":4}}"#,
    r#"{"seq":13,"type":"event","event":"terminated"}"#,
    r#"{"seq":14,"type":"event","event":"exited","body":{"exitCode":0}}"#,
    r#"{"command":"disconnect","arguments":{"restart":false,"terminateDebuggee":true},"type":"request","seq":9}"#,
];

#[test]
fn captured_messages_round_trip() {
    for text in CAPTURED {
        let value: Value = serde_json::from_str(text).unwrap();
        let message: ProtocolMessage = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(serde_json::to_value(&message).unwrap(), value, "{text}");
        // The typed payloads round-trip too.
        match &message {
            ProtocolMessage::Request(r) => typed_request_round_trip(r),
            ProtocolMessage::Response(r) if r.success => typed_response_round_trip(r),
            ProtocolMessage::Response(r) => {
                let error = r.parse_error_body().unwrap().error.unwrap();
                assert_eq!(serde_json::to_value(ErrorResponseBody { error: Some(error) }).unwrap(), value["body"]);
            }
            ProtocolMessage::Event(e) => typed_event_round_trip(e),
        }
    }
}

fn typed_request_round_trip(request: &Request) {
    fn check<R: requests::Request>(request: &Request) {
        let args = request.parse_arguments::<R>().unwrap();
        let again = Request::typed::<R>(request.seq, &args).unwrap();
        if request.arguments.is_null() {
            assert_eq!(again.arguments, json!({}));
        } else {
            assert_eq!(again, *request);
        }
    }
    match request.command.as_str() {
        requests::Initialize::COMMAND => check::<requests::Initialize>(request),
        requests::SetBreakpoints::COMMAND => check::<requests::SetBreakpoints>(request),
        requests::ConfigurationDone::COMMAND => check::<requests::ConfigurationDone>(request),
        requests::StackTrace::COMMAND => check::<requests::StackTrace>(request),
        requests::Disconnect::COMMAND => check::<requests::Disconnect>(request),
        other => panic!("unexpected {other}"),
    }
}

fn typed_response_round_trip(response: &Response) {
    fn check<R: requests::Request>(response: &Response) {
        let body = response.parse_body::<R>().unwrap();
        let request = Request::new(response.request_seq, R::COMMAND, Value::Null);
        assert_eq!(Response::ok::<R>(response.seq, &request, &body).unwrap(), *response);
    }
    match response.command.as_str() {
        requests::Initialize::COMMAND => check::<requests::Initialize>(response),
        requests::SetBreakpoints::COMMAND => check::<requests::SetBreakpoints>(response),
        requests::ConfigurationDone::COMMAND => check::<requests::ConfigurationDone>(response),
        requests::StackTrace::COMMAND => check::<requests::StackTrace>(response),
        requests::Scopes::COMMAND => check::<requests::Scopes>(response),
        requests::Variables::COMMAND => check::<requests::Variables>(response),
        other => panic!("unexpected {other}"),
    }
}

fn typed_event_round_trip(event: &Event) {
    fn check<B: events::EventBody + std::fmt::Debug>(event: &Event) {
        assert!(event.is::<B>());
        let body = event.parse_body::<B>().unwrap();
        assert_eq!(Event::from_body(event.seq, &body).unwrap(), *event, "{body:?}");
    }
    match event.event.as_str() {
        "initialized" => check::<InitializedEvent>(event),
        "stopped" => check::<StoppedEventBody>(event),
        "output" => check::<OutputEventBody>(event),
        "breakpoint" => check::<BreakpointEventBody>(event),
        "thread" => check::<ThreadEventBody>(event),
        "terminated" => {
            // An absent body parses as the empty body; that serializes as `{}`.
            assert!(event.parse_body::<TerminatedEventBody>().unwrap().restart.is_none());
        }
        "exited" => check::<ExitedEventBody>(event),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn camel_case_names_on_the_wire() {
    let bp = SourceBreakpoint {
        line: 3,
        hit_condition: Some("2".into()),
        log_message: Some("x".into()),
        ..Default::default()
    };
    assert_eq!(serde_json::to_value(&bp).unwrap(), json!({"line": 3, "hitCondition": "2", "logMessage": "x"}));

    let var = Variable {
        name: "x".into(),
        value: "1".into(),
        type_: Some("integer".into()),
        variables_reference: 0,
        evaluate_name: Some("x".into()),
        named_variables: Some(0),
        indexed_variables: Some(2),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&var).unwrap(),
        json!({"name": "x", "value": "1", "type": "integer", "variablesReference": 0, "evaluateName": "x",
               "namedVariables": 0, "indexedVariables": 2})
    );

    let caps = Capabilities {
        supports_conditional_breakpoints: Some(true),
        supports_hit_conditional_breakpoints: Some(true),
        supports_configuration_done_request: Some(true),
        support_terminate_debuggee: Some(true),
        supports_ansi_styling: Some(false),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&caps).unwrap(),
        json!({"supportsConditionalBreakpoints": true, "supportsHitConditionalBreakpoints": true,
               "supportsConfigurationDoneRequest": true, "supportTerminateDebuggee": true,
               "supportsANSIStyling": false})
    );

    let init: InitializeRequestArguments =
        serde_json::from_value(json!({"clientID": "vscode", "adapterID": "orbit", "linesStartAt1": true})).unwrap();
    assert_eq!(init.client_id.as_deref(), Some("vscode"));
    assert_eq!(init.adapter_id, "orbit");
    assert_eq!(init.lines_start_at1, Some(true));

    let request = Request::new(4, "threads", Value::Null);
    let response = Response::ok::<requests::Threads>(9, &request, &ThreadsResponse { threads: vec![] }).unwrap();
    assert_eq!(
        serde_json::to_value(ProtocolMessage::from(response)).unwrap(),
        json!({"type": "response", "seq": 9, "request_seq": 4, "success": true, "command": "threads",
               "body": {"threads": []}})
    );
}

#[test]
fn absent_optional_fields_are_not_serialized() {
    let frame = StackFrame { id: 1, name: "f".into(), line: 0, column: 0, ..Default::default() };
    assert_eq!(serde_json::to_value(&frame).unwrap(), json!({"id": 1, "name": "f", "line": 0, "column": 0}));
    assert_eq!(serde_json::to_value(Source::default()).unwrap(), json!({}));
    let event = Event::from_body(1, &InitializedEvent).unwrap();
    assert_eq!(
        serde_json::to_value(ProtocolMessage::Event(event)).unwrap(),
        json!({"type": "event", "seq": 1, "event": "initialized"})
    );
    let request = Request::new(2, "next", json!({"threadId": 1}));
    let response = Response::ok::<requests::Next>(3, &request, &()).unwrap();
    assert_eq!(response.body, None);
}

#[test]
fn unknown_fields_are_tolerated() {
    let attach = json!({
        "type": "orbit", "request": "attach", "name": "Attach to app", "__sessionId": "8c1f",
        "__configurationTarget": 6, "node": "app@127.0.0.1", "cookie": "secret", "someFutureField": [1, 2]
    });
    let request = Request::new(2, "attach", attach);
    let args = request.parse_arguments::<requests::Attach>().unwrap();
    assert_eq!(args.node, "app@127.0.0.1");
    assert_eq!(args.cookie.as_deref(), Some("secret"));

    let message: ProtocolMessage = serde_json::from_value(json!({
        "seq": 1, "type": "request", "command": "setBreakpoints", "someEnvelopeExtra": true,
        "arguments": {"source": {"path": "/a.ex", "vscodeExtra": 1}, "breakpoints": [{"line": 1, "mode": "x", "new": 2}]}
    }))
    .unwrap();
    let ProtocolMessage::Request(request) = message else { panic!() };
    let args = request.parse_arguments::<requests::SetBreakpoints>().unwrap();
    assert_eq!(args.breakpoints.unwrap()[0].line, 1);
}

#[test]
fn unknown_enum_values_are_kept() {
    let body: StoppedEventBody = serde_json::from_value(json!({"reason": "something new"})).unwrap();
    assert_eq!(body.reason, StoppedReason::Other("something new".into()));
    assert_eq!(serde_json::to_value(&body).unwrap(), json!({"reason": "something new"}));
    let body: StoppedEventBody = serde_json::from_value(json!({"reason": "function breakpoint"})).unwrap();
    assert_eq!(body.reason, StoppedReason::FunctionBreakpoint);
    assert_eq!(OutputCategory::from("stderr"), OutputCategory::Stderr);
    assert_eq!(ChecksumAlgorithm::Sha256.to_string(), "SHA256");
}

#[test]
fn malformed_arguments_name_the_field() {
    let request = Request::new(
        3,
        "setBreakpoints",
        json!({"source": {"path": "/a.ex"}, "breakpoints": [{"line": 1}, {"line": "ten"}]}),
    );
    let error = request.parse_arguments::<requests::SetBreakpoints>().unwrap_err();
    assert_eq!(error.path, "breakpoints[1].line");
    let text = error.to_string();
    assert!(text.contains("`setBreakpoints` arguments") && text.contains("breakpoints[1].line"), "{text}");

    let request = Request::new(4, "attach", json!({"cookie": "c"}));
    let text = request.parse_arguments::<requests::Attach>().unwrap_err().to_string();
    assert!(text.contains("missing field `node`"), "{text}");

    let request = Request::new(5, "attach", json!({"node": "a@b", "tickTimeMs": "soon"}));
    let error = request.parse_arguments::<requests::Attach>().unwrap_err();
    assert_eq!(error.path, "tickTimeMs");

    let request = Request::new(6, "launch", json!({"projectDir": "/p", "nodes": "three"}));
    let error = request.parse_arguments::<requests::Launch>().unwrap_err();
    assert_eq!(error.path, "nodes");
    assert!(error.to_string().contains("a node count or a list of short node names"), "{error}");

    let request = Request::new(7, "stackTrace", Value::Null);
    let text = request.parse_arguments::<requests::StackTrace>().unwrap_err().to_string();
    assert!(text.contains("missing field `threadId`"), "{text}");

    let request = Request::new(8, "scopes", json!([1, 2]));
    assert!(request.parse_arguments::<requests::Scopes>().is_err());
}

#[test]
fn requests_without_arguments_accept_none() {
    for command in ["configurationDone", "threads", "loadedSources", "disconnect", "terminate"] {
        let request = Request::new(1, command, Value::Null);
        match command {
            "configurationDone" => drop(request.parse_arguments::<requests::ConfigurationDone>().unwrap()),
            "threads" => drop(request.parse_arguments::<requests::Threads>().unwrap()),
            "loadedSources" => drop(request.parse_arguments::<requests::LoadedSources>().unwrap()),
            "disconnect" => {
                assert_eq!(request.parse_arguments::<requests::Disconnect>().unwrap(), DisconnectArguments::default())
            }
            _ => drop(request.parse_arguments::<requests::Terminate>().unwrap()),
        }
    }
}

#[test]
fn command_list_is_complete() {
    let expected = [
        "initialize",
        "attach",
        "launch",
        "setBreakpoints",
        "setFunctionBreakpoints",
        "setExceptionBreakpoints",
        "configurationDone",
        "breakpointLocations",
        "threads",
        "stackTrace",
        "scopes",
        "variables",
        "setVariable",
        "evaluate",
        "continue",
        "next",
        "stepIn",
        "stepOut",
        "pause",
        "source",
        "loadedSources",
        "disconnect",
        "terminate",
    ];
    assert_eq!(requests::COMMANDS, expected);
    assert_eq!(events::EVENTS.len(), 9);
}

#[test]
fn error_responses() {
    let request = Request::new(12, "evaluate", json!({"expression": "x"}));
    let response = Response::error(40, &request, "not stopped");
    assert_eq!(
        serde_json::to_value(ProtocolMessage::Response(response)).unwrap(),
        json!({"type": "response", "seq": 40, "request_seq": 12, "success": false, "command": "evaluate",
               "message": "not stopped", "body": {"error": {"id": 1, "format": "not stopped", "showUser": true}}})
    );
    let response = Response::error_for(41, 13, "", "invalid DAP message");
    assert_eq!(response.command, "");
    assert!(!response.success);
}

#[test]
fn attach_and_launch_arguments() {
    let args: AttachArguments = serde_json::from_value(json!({
        "node": "a@h", "nodes": ["b@h"], "cookieFile": "/c", "projectDir": "/p",
        "sourceMap": {"/app": "/home/u/app"}, "interpret": ["MyApp.*"], "exclude": ["MyApp.Repo"],
        "tickTimeMs": 15000, "__restart": {"x": 1}
    }))
    .unwrap();
    assert_eq!(args.cookie_file.as_deref(), Some("/c"));
    assert_eq!(args.project_dir.as_deref(), Some("/p"));
    assert_eq!(args.source_map.as_ref().unwrap()["/app"], "/home/u/app");
    assert_eq!(args.tick_time_ms, Some(15000));
    assert_eq!(args.restart, Some(json!({"x": 1})));

    let launch: LaunchArguments = serde_json::from_value(json!({"projectDir": "/p", "nodes": 3})).unwrap();
    assert_eq!(launch.nodes, Some(NodesSpec::Count(3)));
    assert_eq!(launch.nodes.as_ref().unwrap().short_names(), ["orbit1", "orbit2", "orbit3"]);
    assert_eq!(launch.command_or_default(), "mix run --no-halt");
    let launch: LaunchArguments = serde_json::from_value(json!({
        "projectDir": "/p", "nodes": ["a", "b"], "command": "iex -S mix", "env": {"MIX_ENV": "dev"},
        "noDebug": true
    }))
    .unwrap();
    assert_eq!(launch.nodes, Some(NodesSpec::Names(vec!["a".into(), "b".into()])));
    assert_eq!(launch.command_or_default(), "iex -S mix");
    assert_eq!(launch.env.as_ref().unwrap()["MIX_ENV"], "dev");
    assert_eq!(launch.no_debug, Some(true));
    assert_eq!(serde_json::to_value(&launch).unwrap()["nodes"], json!(["a", "b"]));
    assert!(serde_json::from_value::<LaunchArguments>(json!({"projectDir": "/p", "nodes": -1})).is_err());
}

#[test]
fn the_tls_keys_are_read_by_tls_settings() {
    // attach reads the TLS keys with beam's TlsSettings (as the language server reads its settings);
    // AttachArguments declares the same keys for the extension's schema.
    let config = json!({
        "node": "a@h", "sslDistOptfile": "/o", "tlsCert": "/c.pem", "tlsKey": "/k.pem", "tlsCa": "/ca.pem",
        "tlsVerify": "verify_none", "tlsServerName": "disable"
    });
    let tls: beam::link::TlsSettings = serde_json::from_value(config.clone()).unwrap();
    let args: AttachArguments = serde_json::from_value(config).unwrap();
    assert_eq!(
        [tls.ssl_dist_optfile, tls.cert, tls.key, tls.ca, tls.verify, tls.server_name],
        [args.ssl_dist_optfile, args.tls_cert, args.tls_key, args.tls_ca, args.tls_verify, args.tls_server_name]
    );
    let props = attach_schema()["properties"].as_object().unwrap().clone();
    for key in ["sslDistOptfile", "tlsCert", "tlsKey", "tlsCa", "tlsVerify", "tlsServerName"] {
        assert!(props.contains_key(key), "the schema declares {key}");
    }
}

#[test]
fn schemas_for_the_extension() {
    let attach = attach_schema();
    assert_eq!(attach["type"], "object");
    assert_eq!(attach["required"], json!(["node"]));
    let props = attach["properties"].as_object().unwrap();
    for key in
        ["node", "nodes", "cookie", "cookieFile", "projectDir", "sourceMap", "interpret", "exclude", "tickTimeMs"]
    {
        let description = props[key]["description"].as_str().unwrap_or_default();
        assert!(!description.is_empty(), "{key} has no description");
    }
    assert!(!props.contains_key("__restart"));
    assert_eq!(props["cookie"]["type"], "string", "no null type for options");
    assert_eq!(props["projectDir"]["default"], "${workspaceFolder}");
    assert_eq!(props["sourceMap"]["additionalProperties"]["type"], "string");

    let launch = launch_schema();
    let props = launch["properties"].as_object().unwrap();
    assert_eq!(launch["required"], json!(["projectDir"]));
    assert_eq!(props["command"]["default"], "mix run --no-halt");
    assert!(!props.contains_key("noDebug"));
    let nodes = props["nodes"].to_string();
    assert!(nodes.contains("integer") && nodes.contains("array"), "{nodes}");

    for schema in [&attach, &launch] {
        let text = schema.to_string();
        assert!(!text.contains("$ref") && !text.contains("$schema"), "{text}");
        assert!(schema["description"].as_str().is_some_and(|d| !d.is_empty()));
    }
}

#[test]
fn seq_accessors() {
    let mut message = ProtocolMessage::from(Event::new(1, "output", None));
    message.set_seq(42);
    assert_eq!(message.seq(), 42);
}

#[test]
#[ignore = "prints the schemas"]
fn print_schemas() {
    println!("{}", serde_json::to_string_pretty(&attach_schema()).unwrap());
    println!("{}", serde_json::to_string_pretty(&launch_schema()).unwrap());
}
