//! Orbit's own LSP messages.

use serde_json::Value;

/// `orbit/clusterStatus` (client → server, no params): the `orbit/clusterHealth` object.
pub enum ClusterStatus {}

impl lsp_types::request::Request for ClusterStatus {
    type Params = Option<Value>;
    type Result = Value;
    const METHOD: &'static str = "orbit/clusterStatus";
}

/// `orbit/clusterHealth` (server → client): the whole picture, sent when it changes.
pub enum ClusterHealth {}

impl lsp_types::notification::Notification for ClusterHealth {
    type Params = Value;
    const METHOD: &'static str = "orbit/clusterHealth";
}
