//! The agent's health answers (`orbit_health:snapshot/0`, `sample/1`) decoded into samples.

use super::sample::{now_ms, Counters, Memory, NodeSample, NodeSnapshot};
use crate::processes::ProcessSummary;
use crate::term::{as_f64, as_integer, as_list, as_text, as_tuple, as_u64, atom_names, map_get_atom};
use eetf::Term;

pub(super) fn parse_snapshot(t: &Term) -> Option<NodeSnapshot> {
    let get = |k: &str| map_get_atom(t, k);
    let mem = get("memory").filter(|m| matches!(m, Term::Map(_)))?;
    let mem_u = |k: &str| map_get_atom(mem, k).and_then(as_u64).unwrap_or(0);
    let u = |k: &str| get(k).and_then(as_u64);
    Some(NodeSnapshot {
        node: get("node").and_then(as_text)?,
        otp_release: get("otp_release").and_then(as_text)?,
        erts_version: get("erts_version").and_then(as_text)?,
        elixir_version: get("elixir_version").and_then(as_text).filter(|v| v != "undefined"),
        uptime_ms: u("uptime_ms")?,
        process_count: u("process_count")?,
        process_limit: u("process_limit")?,
        port_count: u("port_count")?,
        port_limit: u("port_limit")?,
        atom_count: u("atom_count")?,
        atom_limit: u("atom_limit")?,
        memory: Memory {
            total: mem_u("total"),
            processes: mem_u("processes"),
            binary: mem_u("binary"),
            ets: mem_u("ets"),
            atom: mem_u("atom"),
            code: mem_u("code"),
            system: mem_u("system"),
        },
        run_queue: u("run_queue")?,
        schedulers: u("schedulers")?,
        schedulers_online: u("schedulers_online")?,
        visible_nodes: atom_names(get("visible_nodes")?),
        hidden_nodes: atom_names(get("hidden_nodes")?),
    })
}

pub(super) fn parse_sample(node: &str, t: &Term) -> Option<NodeSample> {
    let snapshot = parse_snapshot(t)?;
    let get = |k: &str| map_get_atom(t, k);
    let u = |k: &str| get(k).and_then(as_u64);
    let procs = |k: &str| -> Vec<ProcessSummary> {
        match get(k).and_then(as_list) {
            Some(l) => l.iter().filter_map(|p| ProcessSummary::from_term(node, p)).collect(),
            None => Vec::new(),
        }
    };
    let scheduler_wall = match get("scheduler_wall_time").and_then(as_tuple) {
        Some([active, total]) => Some((as_u64(active)?, as_u64(total)?)),
        _ => None,
    };
    let node_time_ms = get("time_ms").and_then(as_integer)?;
    let utilisation = match get("scheduler_utilisation") {
        Some(Term::Float(f)) => Some(f.value.clamp(0.0, 1.0)),
        _ => None,
    };
    // Rates the node measured itself over the sample's window, if it was given one.
    let rates = get("rates");
    let rate = |k: &str| rates.and_then(|r| map_get_atom(r, k)).and_then(as_f64);
    Some(NodeSample {
        snapshot,
        taken_at_ms: now_ms(),
        memory_limit: u("memory_limit"),
        ets_count: u("ets_count").unwrap_or(0),
        ets_limit: u("ets_limit").unwrap_or(0),
        scheduler_utilisation: utilisation,
        reductions_per_sec: rate("reductions_per_sec"),
        io_input_per_sec: rate("io_input_per_sec"),
        io_output_per_sec: rate("io_output_per_sec"),
        rates_window_ms: rates.and_then(|r| map_get_atom(r, "window_ms")).and_then(as_u64),
        top_memory: procs("top_memory"),
        top_queue: procs("top_queue"),
        counters: Counters {
            node_time_ms,
            reductions: u("reductions").unwrap_or(0),
            io_input: u("io_input").unwrap_or(0),
            io_output: u("io_output").unwrap_or(0),
            scheduler_wall,
        },
    })
}
