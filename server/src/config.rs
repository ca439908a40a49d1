//! Settings: `.orbit.toml` in the workspace root, then `initializationOptions`, then
//! `workspace/configuration` (section `orbit`); later sources win key by key. Command-line values are the
//! lowest-priority defaults.

use beam::link::TlsSettings;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings as a source gives them: every key optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub nodes: Option<Vec<String>>,
    pub cookie: Option<String>,
    pub cookie_file: Option<String>,
    pub auto_reload_on_save: Option<bool>,
    pub refresh_interval_ms: Option<u64>,
    pub mailbox_warning: Option<u64>,
    pub mailbox_critical: Option<u64>,
    pub memory_warning: Option<u64>,
    pub trace_limit: Option<u64>,
    /// TLS distribution: `sslDistOptfile`, `tlsCert`, `tlsKey`, `tlsCa`, `tlsVerify`, `tlsServerName`, as
    /// `orbit --ssl-dist-optfile`, `--tls-cert`, …; `ORBIT_TLS_*` when none is set.
    #[serde(flatten)]
    pub tls: TlsSettings,
    /// Observe only (`beam::read_only`): reload, sandbox operations and unbounded traces are refused.
    pub read_only: Option<bool>,
}

impl Settings {
    /// `over`'s keys win.
    pub fn merge(self, over: Settings) -> Settings {
        Settings {
            nodes: over.nodes.or(self.nodes),
            cookie: over.cookie.or(self.cookie),
            cookie_file: over.cookie_file.or(self.cookie_file),
            auto_reload_on_save: over.auto_reload_on_save.or(self.auto_reload_on_save),
            refresh_interval_ms: over.refresh_interval_ms.or(self.refresh_interval_ms),
            mailbox_warning: over.mailbox_warning.or(self.mailbox_warning),
            mailbox_critical: over.mailbox_critical.or(self.mailbox_critical),
            memory_warning: over.memory_warning.or(self.memory_warning),
            trace_limit: over.trace_limit.or(self.trace_limit),
            tls: self.tls.merge(over.tls),
            read_only: over.read_only.or(self.read_only),
        }
    }

    /// From `initializationOptions` or a `workspace/configuration` answer: the settings object itself, or
    /// one wrapping it under `orbit`. Anything else (null, wrong types) gives no settings and a reason.
    pub fn from_json(value: &Value) -> Result<Settings, String> {
        let v = match value.get("orbit") {
            Some(inner) if inner.is_object() => inner,
            _ => value,
        };
        if v.is_null() {
            return Ok(Settings::default());
        }
        serde_json::from_value(v.clone()).map_err(|e| format!("orbit settings: {e}"))
    }

    pub fn from_toml(text: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|e| format!(".orbit.toml: {e}"))
    }

    /// `.orbit.toml` in `root`, if there is one.
    pub fn from_workspace(root: &Path) -> Result<Settings, String> {
        let path = root.join(".orbit.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => Settings::from_toml(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

/// Settings with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub nodes: Vec<String>,
    pub cookie: Option<String>,
    pub cookie_file: Option<PathBuf>,
    pub auto_reload_on_save: bool,
    pub refresh_interval: Duration,
    pub mailbox_warning: u64,
    pub mailbox_critical: u64,
    pub memory_warning: u64,
    pub trace_limit: u64,
    /// TLS distribution settings, `ORBIT_TLS_*` filled in; read (files and all) at each connect.
    pub tls: TlsSettings,
    pub read_only: bool,
}

impl Config {
    pub fn resolve(s: &Settings) -> Config {
        let nodes = s.nodes.clone().unwrap_or_else(|| {
            std::env::var("ORBIT_NODE")
                .map(|v| v.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect())
                .unwrap_or_default()
        });
        let mailbox_warning = s.mailbox_warning.unwrap_or(1000).max(1);
        Config {
            nodes,
            cookie: s.cookie.clone(),
            cookie_file: s.cookie_file.as_ref().map(PathBuf::from),
            auto_reload_on_save: s.auto_reload_on_save.unwrap_or(false),
            refresh_interval: Duration::from_millis(s.refresh_interval_ms.unwrap_or(2000).clamp(200, 600_000)),
            mailbox_warning,
            mailbox_critical: s.mailbox_critical.unwrap_or(10_000).max(mailbox_warning),
            memory_warning: s.memory_warning.unwrap_or(50_000_000),
            trace_limit: s.trace_limit.unwrap_or(100).clamp(1, 100_000),
            tls: s.tls.clone().with_env(),
            read_only: s.read_only.unwrap_or(false),
        }
    }

    /// What identifies the cluster connection: when it changes, the server reconnects.
    pub fn connection_key(&self) -> (Vec<String>, Option<String>, Option<PathBuf>, bool, TlsSettings) {
        (self.nodes.clone(), self.cookie.clone(), self.cookie_file.clone(), self.read_only, self.tls.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_sources_win_key_by_key() {
        let file = Settings::from_toml("nodes = [\"a@h\"]\ncookieFile = \"/c\"\nmailboxWarning = 5\n").unwrap();
        let init = Settings::from_json(&json!({"orbit": {"cookie": "secret", "mailboxWarning": 7}})).unwrap();
        let conf = Settings::from_json(&json!({"autoReloadOnSave": true})).unwrap();
        let c = Config::resolve(&file.merge(init).merge(conf));
        assert_eq!(c.nodes, vec!["a@h".to_string()]);
        assert_eq!(c.cookie.as_deref(), Some("secret"));
        assert_eq!(c.cookie_file, Some(PathBuf::from("/c")));
        assert_eq!(c.mailbox_warning, 7);
        assert!(c.auto_reload_on_save);
        assert_eq!(c.trace_limit, 100);
    }

    #[test]
    fn bad_settings_are_reported_not_panicked_on() {
        assert!(Settings::from_json(&json!({"nodes": 3})).is_err());
        assert!(Settings::from_toml("nodes = ").is_err());
        assert_eq!(Settings::from_json(&Value::Null).unwrap(), Settings::default());
    }

    #[test]
    fn tls_settings_are_the_cli_keys() {
        let file = Settings::from_toml("sslDistOptfile = \"/etc/ssl_dist.conf\"\ntlsCa = \"/ca.pem\"\n").unwrap();
        let init = Settings::from_json(&json!({"tlsCa": "/other-ca.pem", "tlsServerName": "disable"})).unwrap();
        let c = Config::resolve(&file.merge(init));
        assert_eq!(c.tls.ssl_dist_optfile.as_deref(), Some("/etc/ssl_dist.conf"));
        assert_eq!(c.tls.ca.as_deref(), Some("/other-ca.pem"));
        assert_eq!(c.tls.server_name.as_deref(), Some("disable"));
    }
}
