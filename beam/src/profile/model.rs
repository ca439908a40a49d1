//! What a profile found, merged across the cluster: functions ranked by their own time, with calls,
//! µs per call, share of the cluster's profiled time and the split per node; and the sampled stacks,
//! merged, as folded stacks. Pure: built from each node's answer, unit-tested without nodes.

use super::flame::{self, Stacks};

type PerNode = Vec<(String, Counters)>;
use serde::Serialize;
use std::collections::BTreeMap;

/// A function, as the node names it: `Elixir.Bank.Fees`, `fee_for`, 1.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Mfa {
    pub module: String,
    pub function: String,
    pub arity: u8,
}

impl Mfa {
    pub fn new(module: impl Into<String>, function: impl Into<String>, arity: u8) -> Mfa {
        Mfa { module: module.into(), function: function.into(), arity }
    }

    /// As people write it: `Bank.Fees.fee_for/1` for Elixir modules, `bank_ledger:append/3` for Erlang
    /// ones; an anonymous function keeps the compiler's name (`Bank.Fees.-quotes/1-fun-0-/1`).
    pub fn display(&self) -> String {
        let anonymous = self.function.starts_with('-');
        match self.module.strip_prefix("Elixir.") {
            Some(_) if anonymous => {
                format!("{}.{}/{}", crate::names::module_display(&self.module), self.function, self.arity)
            }
            Some(_) => crate::trace::function_text(
                &self.module,
                &self.function,
                Some(u32::from(self.arity)),
                crate::names::Lang::Elixir,
            ),
            None if anonymous => format!("{}:{}/{}", self.module, self.function, self.arity),
            None => crate::trace::function_text(
                &self.module,
                &self.function,
                Some(u32::from(self.arity)),
                crate::names::Lang::Erlang,
            ),
        }
    }
}

/// Calls, own time and (OTP 26+) memory of one function, on one node or summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub calls: u64,
    /// Time in the function itself (and in what it calls that is not profiled), in microseconds.
    pub time_us: u64,
    /// Heap words allocated in the function; `None` where the node's OTP has no `call_memory`.
    pub words: Option<u64>,
}

impl Counters {
    fn add(&mut self, o: &Counters) {
        self.calls += o.calls;
        self.time_us += o.time_us;
        self.words = match (self.words, o.words) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }

    pub fn us_per_call(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.time_us as f64 / self.calls as f64
        }
    }
}

/// One node's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeProfile {
    pub node: String,
    pub otp_release: String,
    /// How long the node's window lasted.
    pub window_us: u64,
    /// Profiled in a trace session of its own (OTP 27+), else in the node's legacy session.
    pub session: bool,
    pub call_memory: bool,
    /// The modules profiled there (Erlang names).
    pub modules: Vec<String>,
    #[serde(serialize_with = "functions_as_list")]
    pub functions: BTreeMap<Mfa, Counters>,
    /// Sampled stacks, root first, with how many samples each.
    #[serde(skip)]
    pub stacks: Vec<(Vec<Mfa>, u64)>,
    pub samples: u64,
    pub ticks: u64,
    /// How often it sampled stacks.
    pub sample_ms: u64,
    /// Samples of stacks past the node's bound on distinct stacks (counted, not kept).
    pub other_stacks: u64,
    /// What went wrong reading the counters, if anything (the patterns were removed all the same).
    pub error: Option<String>,
}

fn functions_as_list<S: serde::Serializer>(m: &BTreeMap<Mfa, Counters>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Row<'a> {
        name: String,
        #[serde(flatten)]
        mfa: &'a Mfa,
        #[serde(flatten)]
        counters: &'a Counters,
    }
    s.collect_seq(m.iter().map(|(mfa, c)| Row { name: mfa.display(), mfa, counters: c }))
}

/// One function's part on one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeShare {
    pub node: String,
    #[serde(flatten)]
    pub counters: Counters,
    /// Its share of the function's time across the cluster.
    pub percent_of_function: f64,
}

/// A function across the cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionRow {
    /// As people write it (`Bank.Fees.fee_for/1`).
    pub name: String,
    pub mfa: Mfa,
    #[serde(flatten)]
    pub counters: Counters,
    pub us_per_call: f64,
    /// Share of the cluster's profiled time (the own time of every profiled function on every node).
    pub percent: f64,
    /// The nodes where it was called, most time first.
    pub nodes: Vec<NodeShare>,
}

impl FunctionRow {
    /// The node where it took the most time.
    pub fn hottest(&self) -> Option<&str> {
        self.nodes.first().map(|s| s.node.as_str())
    }

    /// `4.1% of cluster time · 41,200 calls · 2.3 µs/call · hottest on b@host`.
    pub fn lens_text(&self) -> String {
        let mut s = format!(
            "{} of cluster time · {} calls · {} µs/call",
            percent(self.percent),
            thousands(self.counters.calls),
            per_call(self.us_per_call)
        );
        if let Some(w) = self.counters.words.filter(|_| self.counters.calls > 0) {
            s.push_str(&format!(" · {} words/call", per_call(w as f64 / self.counters.calls as f64)));
        }
        if self.nodes.len() > 1 {
            if let Some(h) = self.hottest() {
                s.push_str(&format!(" · hottest on {h}"));
            }
        } else if let Some(h) = self.hottest() {
            s.push_str(&format!(" · on {h} only"));
        }
        s
    }
}

/// A node that gave no answer, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeFailure {
    pub node: String,
    pub reason: String,
}

/// The profile of the cluster: functions ranked by own time, merged and per node, and the stacks.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Profile {
    pub nodes: Vec<NodeProfile>,
    pub failed: Vec<NodeFailure>,
    /// Every function called during the window, most own time first.
    pub functions: Vec<FunctionRow>,
    pub total_time_us: u64,
    pub total_calls: u64,
    /// The longest node window.
    pub window_us: u64,
    /// Some node measured memory.
    pub call_memory: bool,
    /// Stack samples, all nodes.
    pub samples: u64,
}

impl Profile {
    /// Merges the nodes' answers.
    pub fn merge(mut nodes: Vec<NodeProfile>, mut failed: Vec<NodeFailure>) -> Profile {
        nodes.sort_by(|a, b| a.node.cmp(&b.node));
        failed.sort_by(|a, b| a.node.cmp(&b.node));
        let mut merged: BTreeMap<&Mfa, (Counters, PerNode)> = BTreeMap::new();
        for n in &nodes {
            for (mfa, c) in &n.functions {
                let e = merged.entry(mfa).or_default();
                e.0.add(c);
                e.1.push((n.node.clone(), *c));
            }
        }
        let total_time_us: u64 = merged.values().map(|(c, _)| c.time_us).sum();
        let total_calls: u64 = merged.values().map(|(c, _)| c.calls).sum();
        let mut functions: Vec<FunctionRow> = merged
            .into_iter()
            .map(|(mfa, (c, mut per_node))| {
                per_node.sort_by(|a, b| b.1.time_us.cmp(&a.1.time_us).then(b.1.calls.cmp(&a.1.calls)));
                FunctionRow {
                    name: mfa.display(),
                    mfa: mfa.clone(),
                    counters: c,
                    us_per_call: c.us_per_call(),
                    percent: ratio(c.time_us, total_time_us) * 100.0,
                    nodes: per_node
                        .into_iter()
                        .map(|(node, nc)| NodeShare {
                            node,
                            counters: nc,
                            percent_of_function: ratio(nc.time_us, c.time_us) * 100.0,
                        })
                        .collect(),
                }
            })
            .collect();
        functions.sort_by(|a, b| {
            b.counters
                .time_us
                .cmp(&a.counters.time_us)
                .then(b.counters.calls.cmp(&a.counters.calls))
                .then(a.mfa.cmp(&b.mfa))
        });
        Profile {
            window_us: nodes.iter().map(|n| n.window_us).max().unwrap_or(0),
            call_memory: nodes.iter().any(|n| n.call_memory),
            samples: nodes.iter().map(|n| n.samples).sum(),
            nodes,
            failed,
            functions,
            total_time_us,
            total_calls,
        }
    }

    /// The row of one function, if it was called.
    pub fn function(&self, module: &str, function: &str, arity: u8) -> Option<&FunctionRow> {
        self.functions.iter().find(|r| r.mfa.module == module && r.mfa.function == function && r.mfa.arity == arity)
    }

    /// The sampled stacks of every node merged (the same stack on two nodes counts once, with both
    /// counts), root first, frames as people write them; most samples first, then by stack.
    pub fn merged_stacks(&self) -> Stacks {
        let mut m: BTreeMap<Vec<String>, u64> = BTreeMap::new();
        for n in &self.nodes {
            for (frames, count) in &n.stacks {
                *m.entry(frames.iter().map(Mfa::display).collect()).or_default() += count;
            }
            if n.other_stacks > 0 {
                *m.entry(vec!["(other stacks)".to_string()]).or_default() += n.other_stacks;
            }
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// The merged stacks in the folded format of flamegraph.pl and inferno: `a;b;c 12` per line.
    pub fn folded(&self) -> String {
        folded(&self.merged_stacks())
    }

    /// The stacks per node, each under a root frame named after its node.
    pub fn folded_by_node(&self) -> String {
        let mut v = Vec::new();
        for n in &self.nodes {
            for (frames, count) in &n.stacks {
                let mut f = vec![n.node.clone()];
                f.extend(frames.iter().map(Mfa::display));
                v.push((f, *count));
            }
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        folded(&v)
    }

    /// An SVG flame graph of the merged stacks.
    pub fn flamegraph_svg(&self, title: &str) -> String {
        flame::svg(&self.merged_stacks(), title)
    }

    /// A speedscope file (https://www.speedscope.app/file-format-schema.json): the cluster's stacks
    /// merged, then one profile per node.
    pub fn speedscope(&self, name: &str) -> serde_json::Value {
        let mut profiles = vec![("cluster".to_string(), self.merged_stacks())];
        for n in &self.nodes {
            let stacks = n.stacks.iter().map(|(f, c)| (f.iter().map(Mfa::display).collect(), *c)).collect();
            profiles.push((n.node.clone(), stacks));
        }
        flame::speedscope(name, &profiles)
    }

    /// The top `limit` functions as a plain-text table: function, calls, own time, µs/call, % of the
    /// cluster's profiled time, [words/call], nodes (most time first).
    pub fn table(&self, limit: usize) -> String {
        let mut header = vec!["FUNCTION", "CALLS", "OWN TIME", "µs/CALL", "% CLUSTER"];
        if self.call_memory {
            header.push("WORDS/CALL");
        }
        header.push("NODES (calls)");
        let rows: Vec<Vec<String>> = self
            .functions
            .iter()
            .take(limit)
            .map(|r| {
                let mut row = vec![
                    r.name.clone(),
                    thousands(r.counters.calls),
                    time(r.counters.time_us),
                    per_call(r.us_per_call),
                    percent(r.percent),
                ];
                if self.call_memory {
                    row.push(match r.counters.words {
                        Some(w) if r.counters.calls > 0 => per_call(w as f64 / r.counters.calls as f64),
                        _ => "-".into(),
                    });
                }
                row.push(
                    r.nodes
                        .iter()
                        .map(|s| format!("{} ({})", s.node, thousands(s.counters.calls)))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                row
            })
            .collect();
        table(&header, &rows)
    }

    /// One line: what was profiled, where, for how long.
    pub fn summary_line(&self) -> String {
        let functions = self.functions.len();
        let mut s = format!(
            "{} function(s) called on {} node(s) in {}: {} calls, {} of own time",
            functions,
            self.nodes.len(),
            time(self.window_us),
            thousands(self.total_calls),
            time(self.total_time_us)
        );
        if self.samples > 0 {
            s.push_str(&format!(", {} stack samples", thousands(self.samples)));
        }
        for f in &self.failed {
            s.push_str(&format!("; {}: no answer ({})", f.node, f.reason));
        }
        s
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn folded(stacks: &[(Vec<String>, u64)]) -> String {
    let mut out = String::new();
    for (frames, count) in stacks {
        if frames.is_empty() || *count == 0 {
            continue;
        }
        // `;` separates frames and the last space the count: neither may appear in a frame.
        let f: Vec<String> = frames.iter().map(|f| f.replace(';', ":").replace(['\n', '\r'], " ")).collect();
        out.push_str(&f.join(";"));
        out.push(' ');
        out.push_str(&count.to_string());
        out.push('\n');
    }
    out
}

/// Reads folded stacks back (`a;b;c 12` per line); lines that are not are skipped.
pub fn parse_folded(text: &str) -> Stacks {
    text.lines()
        .filter_map(|l| {
            let (stack, count) = l.rsplit_once(' ')?;
            let count = count.trim().parse().ok()?;
            Some((stack.split(';').map(str::to_string).collect(), count))
        })
        .collect()
}

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `4.1%`, `0.03%`, `<0.01%`.
pub fn percent(p: f64) -> String {
    if p == 0.0 {
        "0%".into()
    } else if p < 0.01 {
        "<0.01%".into()
    } else if p < 1.0 {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

/// `2.3`, `0.41`, `1,204`.
pub fn per_call(v: f64) -> String {
    if v >= 1000.0 {
        thousands(v.round() as u64)
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `850 µs`, `12.3 ms`, `4.20 s`.
pub fn time(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} s", us as f64 / 1_000_000.0)
    }
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(width(c));
        }
    }
    // Numbers right-aligned (every column but the first and the last).
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(width(c));
            if i == last {
                s.push_str(c);
            } else if i == 0 {
                s.push_str(c);
                s.push_str(&" ".repeat(pad + 2));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
                s.push_str("  ");
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Frames<'a> = &'a [(&'a str, &'a str, u8)];

    fn node(name: &str, functions: &[(&str, &str, u8, u64, u64)], stacks: &[(Frames, u64)]) -> NodeProfile {
        NodeProfile {
            node: name.into(),
            otp_release: "25".into(),
            window_us: 5_000_000,
            functions: functions
                .iter()
                .map(|(m, f, a, calls, us)| {
                    (Mfa::new(*m, *f, *a), Counters { calls: *calls, time_us: *us, words: None })
                })
                .collect(),
            stacks: stacks
                .iter()
                .map(|(frames, c)| (frames.iter().map(|(m, f, a)| Mfa::new(*m, *f, *a)).collect(), *c))
                .collect(),
            samples: stacks.iter().map(|(_, c)| c).sum(),
            ..NodeProfile::default()
        }
    }

    fn demo() -> Profile {
        let fee = ("Elixir.Bank.Fees", "fee_for", 1);
        let a = node(
            "a@h",
            &[("Elixir.Bank.Fees", "fee_for", 1, 1000, 3000), ("bank_ledger", "append", 3, 10, 1000)],
            &[(&[("Elixir.Bank.LoadGen", "handle_info", 2), fee], 7)],
        );
        let b = node(
            "b@h",
            &[("Elixir.Bank.Fees", "fee_for", 1, 3000, 5000), ("Elixir.Bank.Fees", "describe", 1, 5, 1000)],
            &[(&[("Elixir.Bank.LoadGen", "handle_info", 2), fee], 3), (&[("lists", "seq", 2)], 1)],
        );
        Profile::merge(vec![b, a], vec![NodeFailure { node: "c@h".into(), reason: "down".into() }])
    }

    #[test]
    fn functions_are_merged_and_ranked_by_own_time() {
        let p = demo();
        assert_eq!(p.total_time_us, 10_000);
        assert_eq!(p.total_calls, 4015);
        let names: Vec<&str> = p.functions.iter().map(|r| r.name.as_str()).collect();
        // Equal times: more calls first.
        assert_eq!(names, ["Bank.Fees.fee_for/1", "bank_ledger:append/3", "Bank.Fees.describe/1"]);
        let fee = &p.functions[0];
        assert_eq!(fee.counters.calls, 4000);
        assert_eq!(fee.counters.time_us, 8000);
        assert!((fee.percent - 80.0).abs() < 1e-9);
        assert!((fee.us_per_call - 2.0).abs() < 1e-9);
        assert_eq!(fee.hottest(), Some("b@h"));
        assert_eq!(
            fee.nodes.iter().map(|s| (s.node.as_str(), s.counters.calls)).collect::<Vec<_>>(),
            [("b@h", 3000), ("a@h", 1000)]
        );
        assert!((fee.nodes[0].percent_of_function - 62.5).abs() < 1e-9);
        assert_eq!(p.function("Elixir.Bank.Fees", "fee_for", 1).unwrap().counters.calls, 4000);
        assert!(p.function("Elixir.Bank.Fees", "fee_for", 2).is_none());
        assert_eq!(p.nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(), ["a@h", "b@h"]);
        assert_eq!(p.failed[0].node, "c@h");
    }

    #[test]
    fn the_lens_says_share_calls_cost_and_where() {
        let p = demo();
        assert_eq!(p.functions[0].lens_text(), "80.0% of cluster time · 4,000 calls · 2.00 µs/call · hottest on b@h");
        assert_eq!(p.functions[1].lens_text(), "10.0% of cluster time · 10 calls · 100.0 µs/call · on a@h only");
    }

    #[test]
    fn stacks_merge_across_nodes_into_folded_lines() {
        let p = demo();
        let folded = p.folded();
        assert_eq!(folded, "Bank.LoadGen.handle_info/2;Bank.Fees.fee_for/1 10\nlists:seq/2 1\n");
        assert_eq!(parse_folded(&folded), p.merged_stacks());
        let by_node = p.folded_by_node();
        assert!(by_node.contains("a@h;Bank.LoadGen.handle_info/2;Bank.Fees.fee_for/1 7\n"), "{by_node}");
        assert!(by_node.contains("b@h;lists:seq/2 1\n"), "{by_node}");
    }

    #[test]
    fn the_table_has_a_row_per_function_with_its_nodes() {
        let t = demo().table(10);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("FUNCTION"), "{t}");
        assert!(lines[1].starts_with("Bank.Fees.fee_for/1"), "{t}");
        assert!(lines[1].contains("4,000") && lines[1].contains("8.0 ms") && lines[1].contains("80.0%"), "{t}");
        assert!(lines[1].ends_with("b@h (3,000), a@h (1,000)"), "{t}");
        assert_eq!(demo().table(1).lines().count(), 2);
        let s = demo().summary_line();
        assert!(s.starts_with("3 function(s) called on 2 node(s) in 5.00 s: 4,015 calls, 10.0 ms of own time"), "{s}");
        assert!(s.ends_with("c@h: no answer (down)"), "{s}");
    }

    #[test]
    fn names_and_units() {
        assert_eq!(Mfa::new("Elixir.Bank.Fees", "-quotes/1-fun-0-", 1).display(), "Bank.Fees.-quotes/1-fun-0-/1");
        assert_eq!(Mfa::new("lists", "-map/2-fun-0-", 1).display(), "lists:-map/2-fun-0-/1");
        assert_eq!(Mfa::new("Elixir.Bank.Fees", "valid?", 1).display(), "Bank.Fees.valid?/1");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(percent(0.001), "<0.01%");
        assert_eq!(percent(0.5), "0.50%");
        assert_eq!(percent(41.234), "41.2%");
        assert_eq!(per_call(2.345), "2.35");
        assert_eq!(per_call(12345.0), "12,345");
        assert_eq!(time(999), "999 µs");
        assert_eq!(time(12_345), "12.3 ms");
        assert_eq!(time(4_200_000), "4.20 s");
    }

    #[test]
    fn memory_is_summed_where_nodes_measured_it() {
        let mut a = node("a@h", &[("m", "f", 0, 10, 10)], &[]);
        a.functions.values_mut().for_each(|c| c.words = Some(100));
        a.call_memory = true;
        let b = node("b@h", &[("m", "f", 0, 10, 10)], &[]);
        let p = Profile::merge(vec![a, b], vec![]);
        assert!(p.call_memory);
        assert_eq!(p.functions[0].counters.words, Some(100));
        assert!(p.table(5).contains("WORDS/CALL"));
        assert!(p.functions[0].lens_text().contains("5.00 words/call"), "{}", p.functions[0].lens_text());
    }

    #[test]
    fn json_lists_functions_with_their_nodes() {
        let v = serde_json::to_value(demo()).unwrap();
        assert_eq!(v["functions"][0]["name"], "Bank.Fees.fee_for/1");
        assert_eq!(v["functions"][0]["calls"], 4000);
        assert_eq!(v["functions"][0]["nodes"][0]["node"], "b@h");
        assert_eq!(v["nodes"][0]["functions"][0]["name"], "Bank.Fees.fee_for/1");
        assert_eq!(v["nodes"][0]["functions"][0]["function"], "fee_for");
        assert_eq!(v["total_time_us"], 10000);
    }
}
