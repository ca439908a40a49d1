//! `orbit profile`: where the whole cluster spends its time in chosen code, for a bounded window: the
//! top functions by own time (calls, µs/call, share of the cluster's profiled time, nodes), and the
//! sampled stacks as a flame graph (SVG), folded stacks and a speedscope file.

use crate::connect::ConnectArgs;
use beam::profile::{self, Profile, ProfileSpec, Sampling, Target};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// A module to profile: `Bank.Fees`, `bank_ledger`, `:bank_ledger` (repeatable).
    #[arg(long = "module", short = 'm', value_name = "MODULE")]
    modules: Vec<String>,
    /// Every loaded module of an application (repeatable).
    #[arg(long = "app", value_name = "APP")]
    apps: Vec<String>,
    /// Every loaded module whose name matches this regular expression, e.g. '^Bank\.' (repeatable).
    #[arg(long = "match", value_name = "REGEX")]
    patterns: Vec<String>,
    /// Profile only these nodes (name@host, or name when unambiguous); default every node.
    #[arg(long = "nodes", value_delimiter = ',', value_name = "NODE")]
    profile_nodes: Vec<String>,
    /// How long: 10s (the default), 500ms, 2m; at most 5 minutes. Each node ends its window by itself.
    #[arg(long, default_value = "10s", value_parser = profile::parse_duration)]
    duration: Duration,
    /// Which stacks to sample for the flame graph: every process on the CPU (`all`), only those in the
    /// profiled modules (`profiled`), or none (`off`).
    #[arg(long, value_enum, default_value_t = SampleArg::All)]
    sample: SampleArg,
    /// How often each node samples stacks; default every 10 ms, every 50 ms on OTP 27+ nodes.
    #[arg(long, value_parser = profile::parse_duration, value_name = "DURATION")]
    sample_interval: Option<Duration>,
    /// At most this many stacks per node per sample.
    #[arg(long, default_value_t = profile::DEFAULT_SAMPLE_MAX, value_name = "N")]
    sample_max: u32,
    /// Do not count memory per function (call_memory, OTP 26+).
    #[arg(long)]
    no_memory: bool,
    /// Rows in the table.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// The whole profile as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Write the flame graph of the sampled stacks, merged across nodes, as SVG.
    #[arg(long, value_name = "FILE")]
    flamegraph: Option<PathBuf>,
    /// Write the merged stacks as folded stacks (`a;b;c 12` per line), for flamegraph.pl or inferno.
    #[arg(long, value_name = "FILE")]
    folded: Option<PathBuf>,
    /// Write a speedscope file (https://www.speedscope.app): the cluster, then each node.
    #[arg(long, value_name = "FILE")]
    speedscope: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum SampleArg {
    All,
    Profiled,
    Off,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spec = spec(&args)?;
    // Listening from now on: a Ctrl-C while the profile starts ends it as soon as it has started (the
    // default action would kill orbit and leave the nodes to their own clean-up).
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let cluster = args.connect.connect_for(beam::agent::Group::Profiler.into()).await?;
    let run = match profile::start(&cluster, spec.clone()).await {
        Ok(r) => r,
        Err(e) => {
            cluster.disconnect().await;
            return Err(e.into());
        }
    };
    let memory = run.nodes().values().filter(|s| s.call_memory).count();
    eprintln!(
        "orbit: profiling {} on {} node(s) for {}: call time and calls{}{}; Ctrl-C ends it early",
        spec.describe(),
        run.nodes().len(),
        profile::time(spec.duration.as_micros() as u64),
        if memory > 0 { format!(", memory on {memory} node(s)") } else { String::new() },
        match spec.sampling {
            Sampling::Off => String::new(),
            _ => {
                let mut every: Vec<u64> = run.nodes().values().map(|s| s.sample_ms).collect();
                every.sort_unstable();
                every.dedup();
                let every: Vec<String> = every.iter().map(|ms| ms.to_string()).collect();
                format!(", stacks every {} ms", every.join("/"))
            }
        }
    );
    for (node, s) in run.nodes() {
        eprintln!(
            "orbit: {node}: {} module(s), {} function(s){}",
            s.modules.len(),
            s.functions,
            if s.session { ", in a trace session of its own" } else { "" }
        );
    }
    let deadline = run.deadline();
    let early = tokio::select! {
        _ = tokio::time::sleep_until(deadline) => false,
        _ = interrupt.recv() => true,
    };
    if early {
        eprintln!("orbit: ending the profile early…");
    }
    // After the deadline every node has ended its window: this only collects.
    let p = run.stop().await;
    cluster.disconnect().await;
    write_files(&args, &p, &spec)?;
    if args.json {
        println!("{}", serde_json::to_string(&p)?);
    } else {
        print!("{}", p.table(args.top));
        if p.functions.len() > args.top {
            println!("… {} more function(s) (--top N)", p.functions.len() - args.top);
        }
        println!("{}", p.summary_line());
        for n in &p.nodes {
            if let Some(e) = &n.error {
                eprintln!("orbit: {}: {e}", n.node);
            }
        }
    }
    Ok(if p.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

fn spec(args: &Args) -> anyhow::Result<ProfileSpec> {
    let mut targets: Vec<Target> = args.modules.iter().map(|m| Target::Module(m.clone())).collect();
    targets.extend(args.apps.iter().map(|a| Target::App(a.clone())));
    targets.extend(args.patterns.iter().map(|p| Target::Match(p.clone())));
    if targets.is_empty() {
        anyhow::bail!("name what to profile: --module Bank.Fees, --app bank or --match '^Bank\\.'");
    }
    if args.duration > profile::MAX_DURATION {
        anyhow::bail!("--duration is at most {} s", profile::MAX_DURATION.as_secs());
    }
    let mut spec = ProfileSpec::new(targets).with_duration(args.duration);
    if !args.profile_nodes.is_empty() {
        spec.nodes = Some(args.profile_nodes.clone());
    }
    spec.memory = !args.no_memory;
    spec.sampling = match args.sample {
        SampleArg::All => Sampling::Running,
        SampleArg::Profiled => Sampling::Profiled,
        SampleArg::Off => Sampling::Off,
    };
    spec.sample_interval = args.sample_interval.map(|d| d.max(Duration::from_millis(1)));
    spec.sample_max = args.sample_max;
    Ok(spec)
}

fn write_files(args: &Args, p: &Profile, spec: &ProfileSpec) -> anyhow::Result<()> {
    let title = format!("{} on {} node(s), {}", spec.describe(), p.nodes.len(), profile::time(p.window_us));
    let write = |path: &PathBuf, what: &str, text: String| -> anyhow::Result<()> {
        std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write the {what} to {}: {e}", path.display()))?;
        eprintln!("orbit: wrote the {what} to {}", path.display());
        Ok(())
    };
    if let Some(path) = &args.flamegraph {
        write(path, "flame graph", p.flamegraph_svg(&title))?;
    }
    if let Some(path) = &args.folded {
        write(path, "folded stacks", p.folded())?;
    }
    if let Some(path) = &args.speedscope {
        write(path, "speedscope file", serde_json::to_string(&p.speedscope(&title))?)?;
    }
    if (args.flamegraph.is_some() || args.folded.is_some() || args.speedscope.is_some()) && p.samples == 0 {
        eprintln!("orbit: no stack was sampled (no process was on the CPU in the profiled code, or --sample off)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn arguments() {
        Cli::command().debug_assert();
        let c = Cli::try_parse_from([
            "p",
            "--module",
            "Bank.Fees",
            "-m",
            "bank_ledger",
            "--duration",
            "5s",
            "--nodes",
            "a,b",
            "--sample",
            "profiled",
        ])
        .unwrap();
        let s = spec(&c.args).unwrap();
        assert_eq!(s.targets, vec![Target::Module("Bank.Fees".into()), Target::Module("bank_ledger".into())]);
        assert_eq!(s.duration, Duration::from_secs(5));
        assert_eq!(s.nodes, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(s.sampling, Sampling::Profiled);
        let c = Cli::try_parse_from(["p", "--app", "bank"]).unwrap();
        assert_eq!(spec(&c.args).unwrap().duration, profile::DEFAULT_DURATION);
        let c = Cli::try_parse_from(["p"]).unwrap();
        assert!(spec(&c.args).unwrap_err().to_string().contains("name what to profile"));
        let c = Cli::try_parse_from(["p", "-m", "X", "--duration", "10m"]).unwrap();
        assert!(spec(&c.args).unwrap_err().to_string().contains("at most 300 s"));
        assert!(Cli::try_parse_from(["p", "-m", "X", "--duration", "soon"]).is_err());
    }
}
