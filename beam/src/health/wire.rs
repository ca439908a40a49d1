//! The agent's health answers (`orbit_health:snapshot/0`, `sample/1`) decoded into samples.

use super::sample::{now_ms, Counters, Memory, NodeSample, NodeSnapshot};
use crate::processes::ProcessSummary;
use eetf::Term;
use std::collections::BTreeMap;

pub(super) fn parse_snapshot(t: &Term) -> Option<NodeSnapshot> {
    let m = as_map(t)?;
    let mem = as_map(m.get("memory")?)?;
    let mem_u = |k: &str| mem.get(k).and_then(as_u64).unwrap_or(0);
    let u = |k: &str| m.get(k).and_then(as_u64);
    Some(NodeSnapshot {
        node: m.get("node").and_then(as_text)?,
        otp_release: m.get("otp_release").and_then(as_text)?,
        erts_version: m.get("erts_version").and_then(as_text)?,
        elixir_version: m.get("elixir_version").and_then(as_text).filter(|v| v != "undefined"),
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
        visible_nodes: atoms(m.get("visible_nodes")?),
        hidden_nodes: atoms(m.get("hidden_nodes")?),
    })
}

/// A map with atom keys, keyed by the atom's name.
fn as_map(t: &Term) -> Option<BTreeMap<String, &Term>> {
    let Term::Map(m) = t else { return None };
    Some(
        m.map
            .iter()
            .filter_map(|(k, v)| match k {
                Term::Atom(a) => Some((a.name.clone(), v)),
                _ => None,
            })
            .collect(),
    )
}

fn as_u64(t: &&Term) -> Option<u64> {
    match t {
        Term::FixInteger(i) => u64::try_from(i.value).ok(),
        Term::BigInteger(b) => u64::try_from(&b.value).ok(),
        _ => None,
    }
}

fn as_f64(t: &Term) -> Option<f64> {
    match t {
        Term::Float(f) => Some(f.value),
        Term::FixInteger(i) => Some(i.value as f64),
        Term::BigInteger(b) => b.value.to_string().parse().ok(),
        _ => None,
    }
}

fn as_text(t: &&Term) -> Option<String> {
    match t {
        Term::Binary(b) => Some(String::from_utf8_lossy(&b.bytes).into_owned()),
        Term::Atom(a) => Some(a.name.clone()),
        Term::ByteList(b) => Some(String::from_utf8_lossy(&b.bytes).into_owned()),
        _ => None,
    }
}

fn atoms(t: &Term) -> Vec<String> {
    match t {
        Term::List(l) => l
            .elements
            .iter()
            .filter_map(|e| match e {
                Term::Atom(a) => Some(a.name.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}
pub(super) fn parse_sample(node: &str, t: &Term) -> Option<NodeSample> {
    let snapshot = parse_snapshot(t)?;
    let m = as_map(t)?;
    let u = |k: &str| m.get(k).and_then(as_u64);
    let procs = |k: &str| -> Vec<ProcessSummary> {
        match m.get(k) {
            Some(Term::List(l)) => l.elements.iter().filter_map(|p| ProcessSummary::from_term(node, p)).collect(),
            _ => Vec::new(),
        }
    };
    let scheduler_wall = match m.get("scheduler_wall_time") {
        Some(Term::Tuple(tu)) if tu.elements.len() == 2 => Some((as_u64(&&tu.elements[0])?, as_u64(&&tu.elements[1])?)),
        _ => None,
    };
    let node_time_ms = m.get("time_ms").and_then(|t| crate::term::as_integer(t))?;
    let utilisation = match m.get("scheduler_utilisation") {
        Some(Term::Float(f)) => Some(f.value.clamp(0.0, 1.0)),
        _ => None,
    };
    // Rates the node measured itself over the sample's window, if it was given one.
    let rates = m.get("rates").and_then(|r| as_map(r));
    let rate = |k: &str| rates.as_ref().and_then(|r| r.get(k)).and_then(|t| as_f64(t));
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
        rates_window_ms: rates.as_ref().and_then(|r| r.get("window_ms")).and_then(as_u64),
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
