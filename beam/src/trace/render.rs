//! Trace output: one line per event, a summary as text, JSON, and the message flow as a Mermaid sequence
//! diagram or a Graphviz DOT graph.

use super::event::{Destination, EventKind, TraceEvent};
use super::flow::{match_messages, pid_text, process_name, MessageFlow, Participant, Summary};
use super::pattern::{function_text, module_text};
use crate::names::Lang;
use crate::term::{render_elixir_with, render_erlang_with, Limits, RenderContext};
use eetf::Term;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// How much of each argument, value or message a line shows.
pub const LINE_LIMITS: Limits = Limits { max_depth: 6, max_items: 12, max_bytes: 200 };
/// How much of a message a diagram label shows.
pub const LABEL_LIMITS: Limits = Limits { max_depth: 3, max_items: 4, max_bytes: 40 };
/// Most arrows a sequence diagram draws; the rest are counted in a note.
pub const MAX_DIAGRAM_ARROWS: usize = 400;

/// A term in `syntax`, with pids of `node` printed as that node prints them.
pub fn term_text(t: &Term, node: &str, syntax: Lang, limits: Limits) -> String {
    let ctx = RenderContext { limits, local_node: Some(node.to_string()), ..RenderContext::default() };
    match syntax {
        Lang::Elixir => render_elixir_with(t, &ctx),
        Lang::Erlang => render_erlang_with(t, &ctx),
    }
}

/// `HH:MM:SS.micros` (UTC) of a timestamp in microseconds since the epoch.
pub fn time_of_day(ts_us: i64) -> String {
    let secs = ts_us.div_euclid(1_000_000);
    let micros = ts_us.rem_euclid(1_000_000);
    let day = secs.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}.{micros:06}", day / 3600, (day / 60) % 60, day % 60)
}

/// One line for one event: time, node, process, then what happened.
pub fn event_line(e: &TraceEvent, syntax: Lang) -> String {
    let who = match &e.process.name {
        Some(n) => process_name(n, syntax),
        None => pid_text(&e.process.pid, syntax),
    };
    let t = |term: &Term| term_text(term, &e.node, syntax, LINE_LIMITS);
    let what = match &e.kind {
        EventKind::Call { module, function, args } => {
            let args: Vec<String> = args.iter().map(t).collect();
            let f = function_text(module, function, None, syntax);
            let head = f.strip_suffix("/_").unwrap_or(&f);
            format!("call {head}({})", args.join(", "))
        }
        EventKind::Return { module, function, arity, value } => {
            format!("return {} -> {}", function_text(module, function, Some(*arity), syntax), t(value))
        }
        EventKind::Exception { module, function, arity, class, reason } => {
            format!("raise {} {class}: {}", function_text(module, function, Some(*arity), syntax), t(reason))
        }
        EventKind::Send { to, message, delivered, .. } => {
            let dest = destination_text(to, &e.node, syntax);
            let dead = if *delivered { "" } else { " (no such process)" };
            format!("send {dest}{dead}: {}", t(message))
        }
        EventKind::Receive { message, .. } => format!("recv {}", t(message)),
        EventKind::Other { detail } => format!("other {}", t(detail)),
    };
    format!("{} {} {who} {what}", time_of_day(e.ts_us), e.node)
}

fn destination_text(d: &Destination, node: &str, syntax: Lang) -> String {
    match d {
        Destination::Process(p) => {
            let who = match &p.name {
                Some(n) => process_name(n, syntax),
                None => pid_text(&p.pid, syntax),
            };
            if p.node() == node {
                who
            } else {
                format!("{who} on {}", p.node())
            }
        }
        Destination::Name { name, node: at } if at == node => process_name(name, syntax),
        Destination::Name { name, node: at } => format!("{} on {at}", process_name(name, syntax)),
        Destination::Other(t) => term_text(t, node, syntax, LINE_LIMITS),
    }
}

/// The summary as text: calls per function, top talkers, messages per pair (at most `top` rows each).
pub fn summary_text(s: &Summary, top: usize) -> String {
    let mut out = String::new();
    let per_node: Vec<String> = s.events_per_node.iter().map(|c| format!("{} {}", c.name, c.count)).collect();
    let _ = writeln!(
        out,
        "{} events ({})",
        s.events,
        if per_node.is_empty() { "none".into() } else { per_node.join(", ") }
    );
    if !s.calls.is_empty() {
        let _ = writeln!(out, "calls per function ({} returns, {} exceptions):", s.returns, s.exceptions);
        for c in s.calls.iter().take(top) {
            let _ = writeln!(out, "  {:>8}  {}", c.count, c.name);
        }
    }
    if s.messages > 0 {
        let _ = writeln!(out, "messages: {} ({} with both ends traced)", s.messages, s.matched_messages);
        let _ = writeln!(out, "top talkers (sent + received):");
        for c in s.top_talkers.iter().take(top) {
            let _ = writeln!(out, "  {:>8}  {}", c.count, c.name);
        }
        let _ = writeln!(out, "messages per pair:");
        for p in s.pairs.iter().take(top) {
            let _ = writeln!(out, "  {:>8}  {} -> {}", p.count, p.from, p.to);
        }
    }
    out
}

/// One event as JSON, terms rendered as text in `syntax`.
pub fn event_json(e: &TraceEvent, syntax: Lang) -> serde_json::Value {
    use serde_json::json;
    let t = |term: &Term| term_text(term, &e.node, syntax, LINE_LIMITS);
    let mut v = json!({
        "node": e.node,
        "ts_us": e.ts_us,
        "pid": pid_text(&e.process.pid, Lang::Erlang),
        "name": e.process.name.as_deref().map(|n| process_name(n, syntax)),
    });
    let extra = match &e.kind {
        EventKind::Call { module, function, args } => json!({
            "kind": "call",
            "module": module_text(module, syntax),
            "function": function,
            "arity": args.len(),
            "args": args.iter().map(t).collect::<Vec<_>>(),
        }),
        EventKind::Return { module, function, arity, value } => json!({
            "kind": "return", "module": module_text(module, syntax), "function": function, "arity": arity,
            "value": t(value),
        }),
        EventKind::Exception { module, function, arity, class, reason } => json!({
            "kind": "exception", "module": module_text(module, syntax), "function": function, "arity": arity,
            "class": class, "reason": t(reason),
        }),
        EventKind::Send { to, message, hash, delivered } => json!({
            "kind": "send", "to": destination_text(to, &e.node, syntax), "message": t(message), "hash": hash,
            "delivered": delivered,
        }),
        EventKind::Receive { message, hash } => json!({ "kind": "receive", "message": t(message), "hash": hash }),
        EventKind::Other { detail } => json!({ "kind": "other", "detail": t(detail) }),
    };
    if let (Some(o), serde_json::Value::Object(x)) = (v.as_object_mut(), extra) {
        o.extend(x);
    }
    v
}

/// Participants in order of first appearance, with short ids (`P1`, `P2`, …) and labels.
struct Cast {
    ids: HashMap<String, String>,
    order: Vec<(String, String, String)>, // id, label, node
}

impl Cast {
    fn new() -> Cast {
        Cast { ids: HashMap::new(), order: Vec::new() }
    }

    fn id(&mut self, p: Option<&Participant>, syntax: Lang) -> String {
        let (key, label, node) = match p {
            Some(p) => (p.key(), p.label(syntax), p.node.clone()),
            None => ("?".to_string(), "(untraced)".to_string(), String::new()),
        };
        if let Some(id) = self.ids.get(&key) {
            return id.clone();
        }
        let id = format!("P{}", self.order.len() + 1);
        self.ids.insert(key, id.clone());
        self.order.push((id.clone(), label, node));
        id
    }
}

/// Text safe inside a Mermaid label: no line breaks, and the characters Mermaid reads as syntax written
/// as its entity codes (`#59;` for `;` and so on).
pub fn mermaid_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#60;"),
            '>' => out.push_str("#62;"),
            '%' => out.push_str("#37;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The events as a Mermaid sequence diagram: one participant per process, one arrow per message
/// (`->>` paired, `-)` receiver not traced, `-x` no such process, `-->>` sender not traced) and a note
/// per call.
pub fn mermaid(events: &[TraceEvent], syntax: Lang) -> String {
    let flows = match_messages(events);
    let mut cast = Cast::new();
    let mut body = String::new();
    let mut items: Vec<(i64, Item)> = flows.iter().map(|f| (f.at_us(), Item::Flow(f))).collect();
    for e in events {
        if let EventKind::Call { .. } | EventKind::Exception { .. } = e.kind {
            items.push((e.ts_us, Item::Event(e)));
        }
    }
    items.sort_by_key(|(t, _)| *t);
    let total = items.len();
    for (_, item) in items.iter().take(MAX_DIAGRAM_ARROWS) {
        match item {
            Item::Flow(f) => {
                let from = cast.id(f.from.as_ref(), syntax);
                let to = cast.id(f.to.as_ref(), syntax);
                let arrow = if !f.delivered {
                    "-x"
                } else if f.from.is_none() {
                    "-->>"
                } else if f.received_us.is_none() {
                    "-)"
                } else {
                    "->>"
                };
                let node = f.from.as_ref().or(f.to.as_ref()).map(|p| p.node.clone()).unwrap_or_default();
                let label = mermaid_escape(&term_text(&f.message, &node, syntax, LABEL_LIMITS));
                let _ = writeln!(body, "    {from}{arrow}{to}: {}", if label.is_empty() { " ".into() } else { label });
            }
            Item::Event(e) => {
                let p = Participant {
                    node: e.node.clone(),
                    pid: Some(e.process.pid.clone()),
                    name: e.process.name.clone(),
                };
                let id = cast.id(Some(&p), syntax);
                let text = match &e.kind {
                    EventKind::Call { module, function, args } => {
                        function_text(module, function, Some(args.len() as u32), syntax)
                    }
                    EventKind::Exception { module, function, arity, class, .. } => {
                        format!("{} raised {class}", function_text(module, function, Some(*arity), syntax))
                    }
                    _ => continue,
                };
                let _ = writeln!(body, "    Note over {id}: {}", mermaid_escape(&text));
            }
        }
    }
    let mut out = String::from("sequenceDiagram\n");
    for (id, label, _) in &cast.order {
        let _ = writeln!(out, "    participant {id} as {}", mermaid_escape(label));
    }
    out.push_str(&body);
    if total > MAX_DIAGRAM_ARROWS {
        if let Some((first, _, _)) = cast.order.first() {
            let _ = writeln!(out, "    Note over {first}: {} more not drawn", total - MAX_DIAGRAM_ARROWS);
        }
    }
    out
}

enum Item<'a> {
    Flow(&'a MessageFlow),
    Event(&'a TraceEvent),
}

/// A string literal for DOT.
pub fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The events as a Graphviz DOT digraph: processes grouped by node, one edge per (sender, receiver) with
/// the number of messages and the first message, and dashed edges from processes to the functions they
/// called.
pub fn dot(events: &[TraceEvent], syntax: Lang) -> String {
    let flows = match_messages(events);
    let mut cast = Cast::new();
    let mut edges: BTreeMap<(String, String), (u64, String)> = BTreeMap::new();
    for f in &flows {
        let from = cast.id(f.from.as_ref(), syntax);
        let to = cast.id(f.to.as_ref(), syntax);
        let node = f.from.as_ref().or(f.to.as_ref()).map(|p| p.node.clone()).unwrap_or_default();
        let e = edges.entry((from, to)).or_insert_with(|| (0, term_text(&f.message, &node, syntax, LABEL_LIMITS)));
        e.0 += 1;
    }
    let mut calls: BTreeMap<(String, String), u64> = BTreeMap::new();
    for e in events {
        if let EventKind::Call { module, function, args } = &e.kind {
            let p =
                Participant { node: e.node.clone(), pid: Some(e.process.pid.clone()), name: e.process.name.clone() };
            let id = cast.id(Some(&p), syntax);
            *calls.entry((id, function_text(module, function, Some(args.len() as u32), syntax))).or_default() += 1;
        }
    }
    let mut out =
        String::from("digraph orbit_trace {\n    rankdir=LR;\n    node [shape=box, fontname=\"monospace\"];\n");
    let mut by_node: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (id, label, node) in &cast.order {
        by_node.entry(node.as_str()).or_default().push((id, label));
    }
    for (i, (node, members)) in by_node.iter().enumerate() {
        if node.is_empty() {
            for (id, label) in members {
                let _ = writeln!(out, "    {id} [label={}, style=dashed];", dot_quote(label));
            }
            continue;
        }
        let _ = writeln!(out, "    subgraph cluster_{i} {{\n        label={};", dot_quote(node));
        for (id, label) in members {
            let _ = writeln!(out, "        {id} [label={}];", dot_quote(label));
        }
        out.push_str("    }\n");
    }
    let mut functions: BTreeMap<&str, String> = BTreeMap::new();
    for (_, f) in calls.keys() {
        let n = functions.len() + 1;
        functions.entry(f.as_str()).or_insert_with(|| format!("F{n}"));
    }
    for (f, id) in &functions {
        let _ = writeln!(out, "    {id} [label={}, shape=ellipse];", dot_quote(f));
    }
    for ((from, to), (count, sample)) in &edges {
        let label = if *count == 1 { sample.clone() } else { format!("{count} × e.g. {sample}") };
        let _ = writeln!(out, "    {from} -> {to} [label={}];", dot_quote(&label));
    }
    for ((who, f), count) in &calls {
        let _ = writeln!(
            out,
            "    {who} -> {} [label={}, style=dashed];",
            functions[f.as_str()],
            dot_quote(&format!("{count} call{}", if *count == 1 { "" } else { "s" }))
        );
    }
    out.push_str("}\n");
    out
}

/// A structural check of a sequence diagram as [`mermaid`] writes it: every line a known statement,
/// every arrow and note naming declared participants, no label carrying raw syntax characters.
pub fn check_mermaid(m: &str) -> Result<(), String> {
    let mut lines = m.lines();
    if lines.next() != Some("sequenceDiagram") {
        return Err("the first line is not `sequenceDiagram`".into());
    }
    let mut declared = std::collections::HashSet::new();
    // Entity codes (`#60;`) are how labels spell syntax characters; anything else raw is an error.
    let raw = |t: &str| {
        let mut rest = t;
        while let Some(i) = rest.find(['#', ';', '<', '>']) {
            let tail = &rest[i..];
            let digits = tail[1..].chars().take_while(char::is_ascii_digit).count();
            if tail.starts_with('#') && digits > 0 && tail[1 + digits..].starts_with(';') {
                rest = &tail[2 + digits..];
            } else {
                return true;
            }
        }
        false
    };
    for line in lines {
        let bad = |why: &str| Err(format!("{why}: {line:?}"));
        let Some(l) = line.strip_prefix("    ") else { return bad("not indented") };
        if let Some(rest) = l.strip_prefix("participant ") {
            let Some((id, label)) = rest.split_once(" as ") else { return bad("participant without alias") };
            if !(id.starts_with('P') && id.len() > 1 && id[1..].chars().all(|c| c.is_ascii_digit())) {
                return bad("participant id");
            }
            if label.is_empty() || raw(label) {
                return bad("participant label");
            }
            declared.insert(id.to_string());
        } else if let Some(rest) = l.strip_prefix("Note over ") {
            let Some((id, text)) = rest.split_once(": ") else { return bad("note without text") };
            if !declared.contains(id) || raw(text) {
                return bad("note");
            }
        } else {
            let Some((arrow_part, text)) = l.split_once(": ") else { return bad("unknown statement") };
            let Some(arrow) = ["-->>", "->>", "-)", "-x"].into_iter().find(|a| arrow_part.contains(a)) else {
                return bad("no arrow");
            };
            let (a, b) = arrow_part.split_once(arrow).unwrap_or_default();
            if !declared.contains(a) || !declared.contains(b) {
                return bad("arrow between undeclared participants");
            }
            if raw(text) {
                return bad("unescaped label");
            }
        }
    }
    Ok(())
}

/// A structural check of a graph as [`dot`] writes it: balanced braces, every statement ended, every
/// string closed.
pub fn check_dot(d: &str) -> Result<(), String> {
    if !d.starts_with("digraph orbit_trace {\n") || !d.ends_with("}\n") {
        return Err("not a `digraph orbit_trace { … }`".into());
    }
    let mut depth = 0i32;
    for line in d.lines() {
        let mut in_str = false;
        let mut escaped = false;
        for c in line.chars() {
            if in_str {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_str = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => in_str = true,
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
        }
        let t = line.trim();
        if in_str {
            return Err(format!("unclosed string: {line:?}"));
        }
        if !(t.ends_with('{') || t.ends_with('}') || t.ends_with(';')) {
            return Err(format!("unended statement: {line:?}"));
        }
        if depth < 0 {
            return Err(format!("unbalanced braces at {line:?}"));
        }
    }
    if depth != 0 {
        return Err("unbalanced braces".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::event::TracedProcess;
    use super::super::flow::tests::{pid, recv, send};

    use super::*;
    use crate::term::{atom, binary, int, tuple};

    fn sample() -> Vec<TraceEvent> {
        vec![
            send(
                "a@h",
                10,
                5,
                Destination::Process(TracedProcess { pid: pid("b@h", 9), name: None }),
                tuple(vec![atom("deposit"), binary("a;b#c<d>\"e\\f\ng")]),
                1,
            ),
            recv(
                "b@h",
                20,
                9,
                Some("Elixir.Bank.Ledger"),
                tuple(vec![atom("deposit"), binary("a;b#c<d>\"e\\f\ng")]),
                1,
            ),
            send("a@h", 30, 5, Destination::Process(TracedProcess { pid: pid("c@h", 1), name: None }), int(1), 2),
            recv("b@h", 40, 9, Some("Elixir.Bank.Ledger"), atom("from_afar"), 3),
            TraceEvent {
                node: "a@h".into(),
                ts_us: 50,
                process: TracedProcess { pid: pid("a@h", 5), name: None },
                kind: EventKind::Call {
                    module: "bank_ledger".into(),
                    function: "append".into(),
                    args: vec![int(1), int(2)],
                },
            },
        ]
    }

    #[test]
    fn lines_read_well() {
        let e = &sample()[4];
        assert_eq!(event_line(e, Lang::Elixir), "00:00:00.000050 a@h #PID<0.5.0> call :bank_ledger.append(1, 2)");
        assert_eq!(event_line(e, Lang::Erlang), "00:00:00.000050 a@h <0.5.0> call bank_ledger:append(1, 2)");
        let s = event_line(&sample()[0], Lang::Elixir);
        assert!(s.contains("send #PID<0.9.0> on b@h: {:deposit, "), "{s}");
        assert_eq!(time_of_day(3_723_000_001), "01:02:03.000001");
        let j = event_json(e, Lang::Elixir);
        assert_eq!(j["kind"], "call");
        assert_eq!(j["args"][1], "2");
        assert_eq!(j["module"], ":bank_ledger");
    }

    #[test]
    fn mermaid_is_well_formed_and_escaped() {
        let m = mermaid(&sample(), Lang::Elixir);
        check_mermaid(&m).unwrap();
        assert!(m.contains("P1->>P2: {:deposit, \"a#59;b#35;c#60;d#62;"), "{m}");
        assert!(m.contains("P1-)P3: 1"), "{m}");
        assert!(m.contains("-->>P2: :from_afar"), "{m}");
        assert!(m.contains("Note over P1: :bank_ledger.append/2"), "{m}");
        assert!(m.contains("participant P2 as Bank.Ledger (b@h)"), "{m}");
    }

    /// Every kind of event reads as a line and as JSON the way `orbit trace` prints it: receives, sends
    /// to a name here and on another node, to a process that did not exist, to an alias, and what the
    /// tracer reports that is none of these.
    #[test]
    fn receives_sends_to_names_and_other_events_read_well() {
        let on = |kind: EventKind, name: Option<&str>| TraceEvent {
            node: "a@h".into(),
            ts_us: 1_000_000,
            process: TracedProcess { pid: pid("a@h", 5), name: name.map(Into::into) },
            kind,
        };
        let send = |to: Destination, delivered: bool| {
            on(EventKind::Send { to, message: atom("ping"), hash: 7, delivered }, Some("Elixir.Bank.Ledger"))
        };
        let name = |n: &str, node: &str| Destination::Name { name: n.into(), node: node.into() };
        let named = Destination::Process(TracedProcess { pid: pid("b@h", 9), name: Some("bank_mailbox".into()) });
        let cases = [
            (on(EventKind::Receive { message: atom("hi"), hash: 1 }, None), "#PID<0.5.0> recv :hi"),
            (
                on(EventKind::Other { detail: tuple(vec![atom("gc_start"), int(1)]) }, None),
                "#PID<0.5.0> other {:gc_start, 1}",
            ),
            (send(name("Elixir.Bank.Ledger", "a@h"), true), "Bank.Ledger send Bank.Ledger: :ping"),
            (send(name("bank_mailbox", "b@h"), true), "Bank.Ledger send :bank_mailbox on b@h: :ping"),
            (send(named, false), "Bank.Ledger send :bank_mailbox on b@h (no such process): :ping"),
            (send(Destination::Other(atom("alias")), true), "Bank.Ledger send :alias: :ping"),
        ];
        for (e, want) in &cases {
            assert_eq!(event_line(e, Lang::Elixir), format!("00:00:01.000000 a@h {want}"));
        }
        let j = event_json(&cases[0].0, Lang::Erlang);
        assert_eq!(
            (j["kind"].as_str(), j["message"].as_str(), j["hash"].as_u64()),
            (Some("receive"), Some("hi"), Some(1))
        );
        let j = event_json(&cases[1].0, Lang::Erlang);
        assert_eq!((j["kind"].as_str(), j["detail"].as_str()), (Some("other"), Some("{gc_start,1}")));
        let j = event_json(&cases[3].0, Lang::Erlang);
        assert_eq!(j["to"].as_str(), Some("bank_mailbox on b@h"));
    }

    /// The summary lists messages, top talkers and pairs once there are messages.
    #[test]
    fn the_summary_counts_messages_talkers_and_pairs() {
        let s = super::super::flow::summarize(&sample(), Lang::Elixir);
        let text = summary_text(&s, 10);
        assert!(text.starts_with("5 events (a@h 3, b@h 2)\n"), "{text}");
        assert!(
            text.contains("calls per function (0 returns, 0 exceptions):\n         1  :bank_ledger.append/2\n"),
            "{text}"
        );
        assert!(text.contains("messages: 3 (1 with both ends traced)\ntop talkers (sent + received):\n"), "{text}");
        assert!(text.contains("messages per pair:\n"), "{text}");
        assert!(summary_text(&super::super::flow::summarize(&[], Lang::Elixir), 10).starts_with("0 events (none)"));
    }

    /// The checkers the diagram tests rely on refuse each kind of broken diagram, naming the line: a
    /// checker that let these through would pass any output.
    #[test]
    fn the_diagram_checkers_refuse_broken_diagrams() {
        let ok = "sequenceDiagram\n    participant P1 as a (a@h)\n    participant P2 as b (b@h)\n";
        let refused = |body: &str| check_mermaid(&format!("{ok}{body}\n")).unwrap_err();
        assert_eq!(check_mermaid("graph TD\n").unwrap_err(), "the first line is not `sequenceDiagram`");
        assert_eq!(refused("P1->>P2: x"), r#"not indented: "P1->>P2: x""#);
        assert_eq!(refused("    participant P3"), r#"participant without alias: "    participant P3""#);
        assert_eq!(refused("    participant X1 as x"), r#"participant id: "    participant X1 as x""#);
        assert_eq!(refused("    participant P3 as a<b"), r#"participant label: "    participant P3 as a<b""#);
        assert_eq!(refused("    participant P3 as a #5 b"), r#"participant label: "    participant P3 as a #5 b""#);
        assert_eq!(refused("    Note over P1"), r#"note without text: "    Note over P1""#);
        assert_eq!(refused("    Note over P9: x"), r#"note: "    Note over P9: x""#);
        assert_eq!(refused("    Note over P1: a;b"), r#"note: "    Note over P1: a;b""#);
        assert_eq!(refused("    P1->>P2"), r#"unknown statement: "    P1->>P2""#);
        assert_eq!(refused("    P1=>P2: x"), r#"no arrow: "    P1=>P2: x""#);
        assert_eq!(refused("    P1->>P7: x"), r#"arrow between undeclared participants: "    P1->>P7: x""#);
        assert_eq!(refused("    P1-xP2: #60;a>"), r##"unescaped label: "    P1-xP2: #60;a>""##);
        check_mermaid(&format!("{ok}    P1-xP2: #60;a#62;\n    Note over P2: #35;\n")).unwrap();

        let graph = |body: &str| format!("digraph orbit_trace {{\n{body}\n}}\n");
        assert_eq!(check_dot("graph g {\n}\n").unwrap_err(), "not a `digraph orbit_trace { … }`");
        assert_eq!(check_dot(&graph("  P1 [label=\"a]")).unwrap_err(), r#"unclosed string: "  P1 [label=\"a]""#);
        assert_eq!(check_dot(&graph("  P1 -> P2")).unwrap_err(), r#"unended statement: "  P1 -> P2""#);
        assert_eq!(check_dot(&graph("  subgraph a {")).unwrap_err(), "unbalanced braces");
        assert_eq!(check_dot(&graph("  };\n  };")).unwrap_err(), r#"unbalanced braces at "  };""#);
        check_dot(&graph("  P1 [label=\"}{ \\\" ;\"];")).unwrap();
    }

    #[test]
    fn dot_is_well_formed_and_escaped() {
        let d = dot(&sample(), Lang::Erlang);
        check_dot(&d).unwrap();
        assert!(d.contains("subgraph cluster_"), "{d}");
        assert!(d.contains(r#"P1 -> P2 [label="{deposit,<<\"a;b#c<d>\\\"e\\\\f\\ng\">>}"];"#), "escaped: {d}");
        assert!(d.contains("[label=\"bank_ledger:append/2\", shape=ellipse]"), "{d}");
        if std::process::Command::new("dot").arg("-V").output().is_ok() {
            use std::io::Write;
            let mut child = std::process::Command::new("dot")
                .arg("-Tsvg")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(d.as_bytes()).unwrap();
            assert!(child.wait().unwrap().success(), "dot accepts it");
        }
    }
}
