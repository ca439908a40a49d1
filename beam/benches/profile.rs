//! What profiling costs a workload, and how fast a cluster's profile comes back.
//!
//! 1. Overhead: rounds of a CPU-bound workload on 3 nodes (`profbench_work`: each node in turn runs a
//!    process that builds lists and checksums them, a few calls of the module per step), timed on each
//!    node, in four ways within the same run, interleaved round by round (the profile covers all 3 nodes
//!    while each runs its part):
//!    - no profile;
//!    - an Orbit profile with `call_time` on the workload's module (and `call_memory` where the OTP has
//!      it), stacks sampled at the default rate;
//!    - an Orbit profile of a module the workload never calls, so the workload pays only for the
//!      sampler at its default rate (every 10 ms, 50 ms on OTP 27+; 200 processes looked at a tick);
//!    - OTP's own profiler run on each node itself around the round: `tprof` (call_time) on OTP 27+,
//!      `eprof` before.
//! 2. Scale: a profile of 10 and 20 nodes (`ORBIT_BENCH_PROFILE_SIZES`, default `10,20`): the time from
//!    the end of the window to the merged table (collect every node, merge, rank, render).
//!
//! Run with `scripts/bench` (or `cargo bench -p orbit-beam --bench profile`; `ORBIT_OTP=otp29` for
//! nodes of that root).

use beam::agent;
use beam::cluster::{Cluster, ClusterOptions};
use beam::profile::{self, ProfileSpec, Target};
use beam::term::{as_integer, atom, int};
use orbit_test_harness::TestCluster;
use std::time::{Duration, Instant};
mod common;
use common::{join, percentile, summary};

const ROUNDS: usize = 25;
const PROCS: i64 = 1;
const STEPS: i64 = 50_000;

const IDLE: &str = "-module(profbench_idle).\n-export([idle/0]).\nidle() -> ok.\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    None,
    CallTime,
    SamplingOnly,
    Native,
}

impl Mode {
    fn name(self, native: &str) -> String {
        match self {
            Mode::None => "no profile".into(),
            Mode::CallTime => "Orbit: call_time on the workload's module + stacks".into(),
            Mode::SamplingOnly => "Orbit: stack sampling only (default rate)".into(),
            Mode::Native => format!("{native} on each node, around the round"),
        }
    }
}

async fn load_modules(cluster: &Cluster) {
    for n in cluster.up_nodes() {
        let link = cluster.link(&n).unwrap();
        agent::load_from_source(&link, "profbench_work", include_str!("profbench_work.erl")).await.expect("work");
        agent::load_from_source(&link, "profbench_idle", IDLE).await.expect("idle");
    }
}

/// One round on each node in turn (so that 3 nodes on a small machine do not fight over its cores and
/// the figure is the workload's, not the scheduler's): each node's elapsed µs.
async fn round(cluster: &Cluster, mode: Mode, native: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for n in cluster.up_nodes() {
        let r = match mode {
            Mode::Native => {
                let args = vec![int(PROCS), int(STEPS), atom(native)];
                cluster.call(&n, "profbench_work", "native_round", args, Duration::from_secs(300)).await
            }
            _ => {
                let args = vec![int(PROCS), int(STEPS)];
                cluster.call(&n, "profbench_work", "round", args, Duration::from_secs(300)).await
            }
        };
        out.push(as_integer(&r.expect("a round")).unwrap_or(0) as f64);
    }
    out
}

fn spec(module: &str) -> ProfileSpec {
    ProfileSpec::new(vec![Target::Module(module.into())]).with_duration(Duration::from_secs(120))
}

async fn overhead() {
    let nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, ClusterOptions::default()).await;
    load_modules(&cluster).await;
    let otp: u32 = cluster.otp_release(nodes.name(0)).and_then(|r| r.parse().ok()).unwrap_or(25);
    let native = if otp >= 27 { "tprof" } else { "eprof" };
    let modes = [Mode::None, Mode::CallTime, Mode::SamplingOnly, Mode::Native];
    // Warm up: code loaded, caches filled.
    round(&cluster, Mode::None, native).await;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let mut functions = 0;
    let mut samples = 0;
    for r in 0..ROUNDS {
        // Rotate the order so no mode always runs first after a pause.
        for k in 0..modes.len() {
            let i = (k + r) % modes.len();
            let mode = modes[i];
            let run = match mode {
                Mode::CallTime => Some(profile::start(&cluster, spec("profbench_work")).await.expect("profile")),
                Mode::SamplingOnly => Some(profile::start(&cluster, spec("profbench_idle")).await.expect("profile")),
                _ => None,
            };
            times[i].extend(round(&cluster, mode, native).await);
            if let Some(run) = run {
                let p = run.stop().await;
                if mode == Mode::CallTime {
                    functions = p.functions.len();
                    samples += p.samples;
                }
            }
        }
    }
    println!("Workload: {PROCS} process x {STEPS} steps on each of 3 nodes in turn, {ROUNDS} rounds per way, interleaved; OTP {otp}");
    // The machine is shared: rounds are compared with the no-profile round of the same node in the same
    // pass (median of those paired ratios), and the fastest rounds with the fastest.
    println!("{:<58} {:>10} {:>10} {:>10} {:>12} {:>10}", "", "min", "p50", "p99", "paired p50", "min/min");
    let base_min = times[0].iter().cloned().fold(f64::MAX, f64::min);
    for (i, mode) in modes.iter().enumerate() {
        let (p50, p99) = summary(times[i].clone());
        let min = times[i].iter().cloned().fold(f64::MAX, f64::min);
        let ratios: Vec<f64> = times[i].iter().zip(&times[0]).map(|(t, b)| t / b).collect();
        let (paired, _) = summary(ratios);
        println!(
            "{:<58} {:>7.1} ms {:>7.1} ms {:>7.1} ms {:>11.3}x {:>9.3}x",
            mode.name(native),
            min / 1000.0,
            p50 / 1000.0,
            p99 / 1000.0,
            paired,
            min / base_min
        );
    }
    println!("(the call_time profile counted {functions} functions; {samples} stacks sampled in all its rounds)");
    cluster.disconnect().await;
}

async fn scale(size: usize) {
    let started = Instant::now();
    let nodes = TestCluster::erlang(size);
    let cluster = join(&nodes, ClusterOptions::default()).await;
    load_modules(&cluster).await;
    eprintln!("({size} nodes up in {:.1} s)", started.elapsed().as_secs_f64());
    let mut collect = Vec::new();
    let mut starts = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let run = profile::start(&cluster, spec("profbench_work").with_duration(Duration::from_secs(1)))
            .await
            .expect("profile starts");
        starts.push(t.elapsed().as_secs_f64() * 1000.0);
        // Some work on every node during the window.
        let work = cluster.call_all("profbench_work", "round", vec![int(1), int(2000)], Duration::from_secs(60));
        let (_, ()) = tokio::join!(work, tokio::time::sleep_until(run.deadline()));
        let t = Instant::now();
        let p = run.stop().await;
        let table = p.table(20);
        collect.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(p.nodes.len(), size, "{:?}", p.failed);
        assert!(table.contains("profbench_work:"), "{table}");
    }
    starts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    collect.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{size:>3} nodes: end of window -> merged table p50 {:.1} ms (max {:.1} ms); start p50 {:.1} ms",
        percentile(&collect, 0.5),
        collect[collect.len() - 1],
        percentile(&starts, 0.5)
    );
    cluster.disconnect().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    overhead().await;
    let sizes = std::env::var("ORBIT_BENCH_PROFILE_SIZES").unwrap_or_else(|_| "10,20".into());
    for size in sizes.split(',').filter_map(|s| s.trim().parse::<usize>().ok()) {
        scale(size).await;
    }
}
