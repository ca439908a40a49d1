//! Orbit's own `attach` and `launch` arguments.
//!
//! The specification leaves these to each debug adapter. The doc comments of the fields below are
//! the descriptions of the JSON schemas returned by [`attach_schema`] and [`launch_schema`], from
//! which the VS Code extension's `configurationAttributes` are generated: write them for users.
//!
//! Unknown fields are ignored: VS Code adds `type`, `request`, `name`, `__sessionId`,
//! `__configurationTarget` and more to every configuration.

use std::collections::HashMap;

use schemars::gen::SchemaSettings;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The command `launch` runs in `projectDir` when none is given.
pub const DEFAULT_LAUNCH_COMMAND: &str = "mix run --no-halt";

/// Attach to a running BEAM (Elixir/Erlang) cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "Attach to a running BEAM cluster")]
pub struct AttachArguments {
    /// Full name of the node to connect to, e.g. `app@127.0.0.1` or `app@myhost`. The rest of the
    /// cluster is discovered from it.
    #[schemars(example = "example_node")]
    pub node: String,
    /// Further nodes to connect to directly (full names), for clusters whose nodes do not all see
    /// each other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<String>>,
    /// The Erlang distribution cookie. If neither `cookie` nor `cookieFile` is given: the
    /// `ORBIT_COOKIE` environment variable, then `~/.erlang.cookie`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// Path of a file that holds the distribution cookie (used when `cookie` is not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_file: Option<String>,
    /// Root of the Mix or rebar3 project whose sources the cluster runs; used to find source
    /// files and resolve relative paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_project_dir")]
    pub project_dir: Option<String>,
    /// Maps path prefixes as the nodes see them (in compiled modules' `compile_info`) to local path
    /// prefixes, e.g. `{"/app": "${workspaceFolder}"}` when the cluster runs in a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_map: Option<HashMap<String, String>>,
    /// Modules to interpret (make debuggable) up front, as module names or globs such as `MyApp.*`
    /// or `my_app_*`. By default only the modules that get breakpoints are interpreted, when they do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpret: Option<Vec<String>>,
    /// Modules never to interpret, as module names or globs; applied after `interpret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
    /// Hold the processes that wait for a paused one (the caller of the GenServer.call it serves, an
    /// :erpc/:rpc caller) while it is paused, on nodes whose OTP (29 on) stops a suspended process's
    /// clock, so their timeouts do not run out. On by default; `false` lets them time out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_callers: Option<bool>,
    /// Observe only: refuse everything that would change a node (breakpoints that need the interpreter,
    /// pause, setting variables, evaluating anything but a pure read) with an error that names the mode.
    /// Tracepoints (log points on a function's first line) still work. Also on when the environment
    /// has `ORBIT_READ_ONLY=1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// The distribution tick time in milliseconds: how long a silent connection lasts before it
    /// is considered down. Should match the cluster's `net_ticktime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_time_ms: Option<u64>,
    // The six TLS keys are declared here for the schema; attach reads them with beam's TlsSettings.
    /// TLS distribution (`-proto_dist inet_tls`): the cluster's `-ssl_dist_optfile`, read as Erlang reads
    /// it (its `client` options, then the `server` options' `certfile`, `keyfile` and `cacertfile`).
    /// `tlsCert`, `tlsKey`, `tlsCa`, `tlsVerify` and `tlsServerName` override what it says. When no TLS key
    /// is given, the `ORBIT_TLS_*` environment variables are read instead (`ORBIT_TLS_OPTFILE`,
    /// `ORBIT_TLS_CERT`, …). epmd stays plain TCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_dist_optfile: Option<String>,
    /// TLS distribution: Orbit's certificate (PEM), for nodes that check their peers (`verify_peer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    /// TLS distribution: the key of `tlsCert` (PEM); by default looked for in `tlsCert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
    /// TLS distribution: the CA certificates (PEM) that must have signed the nodes' certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<String>,
    /// TLS distribution: `verify_peer` (the default when a CA is given) or `verify_none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^verify_(peer|none)$"))]
    pub tls_verify: Option<String>,
    /// TLS distribution: the name the nodes' certificates must hold, instead of the host of each node
    /// name; `disable` checks the certificate chain only (Erlang's `server_name_indication`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    /// Log points that Orbit serves with tracing instead of the interpreter (tracepoints: a log point
    /// on a function's `def` line whose message uses only its arguments, or a function breakpoint
    /// written `Mod.fun/arity log message`) print at most this many lines per second on each node;
    /// beyond it one line per second says how many calls were dropped. 100 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_point_rate: Option<u32>,
    /// Set by the client when the session is restarted: the `restart` value of the `terminated`
    /// event that asked for it.
    #[serde(rename = "__restart", default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub restart: Option<Value>,
}

/// Start a BEAM cluster from a project and debug it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "Launch a BEAM cluster and debug it")]
pub struct LaunchArguments {
    /// Root of the Mix or rebar3 project to run, usually `${workspaceFolder}`; `command` runs
    /// there.
    pub project_dir: String,
    /// How many nodes to start: a count (nodes get unique names `orbit_<run>_1`, `orbit_<run>_2`,
    /// ...) or a list of short node names. One node by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<NodesSpec>,
    /// The command each node runs, in `projectDir`: Orbit starts `elixir --sname NAME --cookie COOKIE
    /// -S <command>`, after one `mix compile` when the command is a mix task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_command")]
    pub command: Option<String>,
    /// Extra environment variables for every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<HashMap<String, String>>,
    /// The distribution cookie the nodes share. A random one by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// Modules to interpret (make debuggable) up front, as module names or globs such as `MyApp.*`
    /// or `my_app_*`. By default only the modules that get breakpoints are interpreted, when they do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpret: Option<Vec<String>>,
    /// Modules never to interpret, as module names or globs; applied after `interpret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
    /// Hold the processes that wait for a paused one (the caller of the GenServer.call it serves, an
    /// :erpc/:rpc caller) while it is paused, on nodes whose OTP (29 on) stops a suspended process's
    /// clock, so their timeouts do not run out. On by default; `false` lets them time out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_callers: Option<bool>,
    /// Observe only: refuse everything that would change a node (breakpoints that need the interpreter,
    /// pause, setting variables, evaluating anything but a pure read) with an error that names the mode.
    /// Tracepoints (log points on a function's first line) still work. Also on when the environment
    /// has `ORBIT_READ_ONLY=1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Maps path prefixes as the nodes see them to local path prefixes (rarely needed for a local
    /// launch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_map: Option<HashMap<String, String>>,
    /// Log points that Orbit serves with tracing instead of the interpreter (tracepoints: a log point
    /// on a function's `def` line whose message uses only its arguments, or a function breakpoint
    /// written `Mod.fun/arity log message`) print at most this many lines per second on each node;
    /// beyond it one line per second says how many calls were dropped. 100 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_point_rate: Option<u32>,
    /// Set by the client for "Run Without Debugging": start the nodes but do not debug them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub no_debug: Option<bool>,
    /// Set by the client when the session is restarted: the `restart` value of the `terminated`
    /// event that asked for it.
    #[serde(rename = "__restart", default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub restart: Option<Value>,
}

impl LaunchArguments {
    /// The command to run: `command`, or [`DEFAULT_LAUNCH_COMMAND`].
    pub fn command_or_default(&self) -> &str {
        self.command.as_deref().unwrap_or(DEFAULT_LAUNCH_COMMAND)
    }
}

/// The nodes a `launch` starts: a count, or a list of short node names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum NodesSpec {
    /// Start this many nodes, with unique generated names.
    Count(u32),
    /// Start one node per short name (e.g. `["a", "b"]`).
    Names(Vec<String>),
}

impl<'de> Deserialize<'de> for NodesSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodesVisitor;

        impl<'de> serde::de::Visitor<'de> for NodesVisitor {
            type Value = NodesSpec;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a node count or a list of short node names")
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NodesSpec, E> {
                u32::try_from(v)
                    .map(NodesSpec::Count)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<NodesSpec, E> {
                u32::try_from(v)
                    .map(NodesSpec::Count)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<NodesSpec, A::Error> {
                let mut names = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(NodesSpec::Names(names))
            }
        }

        deserializer.deserialize_any(NodesVisitor)
    }
}

impl NodesSpec {
    /// The short names of the nodes to start (`orbit1`, `orbit2`, ... for a count).
    pub fn short_names(&self) -> Vec<String> {
        match self {
            Self::Count(n) => (1..=*n).map(|i| format!("orbit{i}")).collect(),
            Self::Names(names) => names.clone(),
        }
    }
}

fn example_node() -> &'static str {
    "app@127.0.0.1"
}

fn default_project_dir() -> Option<String> {
    Some("${workspaceFolder}".to_owned())
}

fn default_command() -> Option<String> {
    Some(DEFAULT_LAUNCH_COMMAND.to_owned())
}

/// JSON schema of the `attach` configuration ([`AttachArguments`]): an object schema with
/// `properties`, `required`, descriptions and defaults, sub-schemas inlined and without `$schema`,
/// ready for a VS Code extension's `configurationAttributes.attach`.
pub fn attach_schema() -> Value {
    schema_of::<AttachArguments>()
}

/// JSON schema of the `launch` configuration ([`LaunchArguments`]), in the same form as
/// [`attach_schema`].
pub fn launch_schema() -> Value {
    schema_of::<LaunchArguments>()
}

fn schema_of<T: JsonSchema>() -> Value {
    let settings = SchemaSettings::draft07().with(|s| {
        s.option_nullable = false;
        s.option_add_null_type = false;
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    let schema = settings.into_generator().into_root_schema_for::<T>();
    serde_json::to_value(schema).unwrap_or(Value::Null)
}
