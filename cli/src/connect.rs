//! The connection options every cluster command shares, and turning them into a `Cluster`.

use anyhow::{bail, Context};
use beam::agent::Groups;
use beam::cluster::{Cluster, ClusterOptions};
use beam::link::{Cookie, NodeName, TlsSettings};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct ConnectArgs {
    /// A node of the cluster (name@host); repeat for more seeds. Default: ORBIT_NODE.
    #[arg(long = "node", short = 'n', env = "ORBIT_NODE", value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// The cluster's cookie. Default: ORBIT_COOKIE, then ~/.erlang.cookie.
    #[arg(long, conflicts_with = "cookie_file", hide_env_values = true)]
    pub cookie: Option<String>,
    /// A file holding the cookie (first line).
    #[arg(long)]
    pub cookie_file: Option<PathBuf>,
    /// Seconds to wait for each node to answer.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// TLS distribution (`-proto_dist inet_tls`). Any of these turns it on; epmd stays plain TCP.
    #[command(flatten)]
    pub tls: TlsSettings,
}

impl ConnectArgs {
    pub fn cookie(&self) -> anyhow::Result<Cookie> {
        if let Some(c) = &self.cookie {
            return Ok(Cookie::new(c.clone()));
        }
        if let Some(f) = &self.cookie_file {
            return Cookie::from_file(f).map_err(anyhow::Error::msg);
        }
        Cookie::from_environment().map_err(anyhow::Error::msg)
    }

    pub fn seeds(&self) -> anyhow::Result<Vec<NodeName>> {
        if self.nodes.is_empty() {
            bail!("name a node of the cluster: --node app@host (or set ORBIT_NODE)");
        }
        self.nodes.iter().map(|n| NodeName::parse(n.trim()).map_err(anyhow::Error::from)).collect()
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.clamp(0.1, 3600.0))
    }

    /// Joins the cluster with the agent's core, and gives discovered nodes up to the timeout to connect
    /// so that the first answer covers the whole cluster.
    pub async fn connect(&self) -> anyhow::Result<Cluster> {
        self.connect_for(Groups::NONE).await
    }

    /// Like [`connect`](Self::connect), also installing the agent `groups` this command needs.
    pub async fn connect_for(&self, groups: Groups) -> anyhow::Result<Cluster> {
        let cluster = self.join(groups).await?;
        cluster.settle(self.timeout()).await;
        Ok(cluster)
    }

    /// Joins the cluster through the seeds and returns at once: discovered nodes keep connecting (and
    /// being installed) in the background, each on its own.
    pub async fn join(&self, groups: Groups) -> anyhow::Result<Cluster> {
        let seeds = self.seeds()?;
        let cookie = self.cookie()?;
        let mut options = ClusterOptions { call_timeout: self.timeout(), groups, ..ClusterOptions::default() };
        options.link.connect_timeout = self.timeout();
        options.link.tls = self.tls.resolve_with_env()?;
        Cluster::connect(&seeds, cookie, options).await.context("cannot join the cluster")
    }
}
