//! Drawing the dashboard: `render(&App, &mut Frame)`, nothing else. Only the visible process rows are
//! built; sorting and filtering all of them happens here too ([`App::view`]), so it counts in a frame.
//!
//! ```text
//! orbit top — 3 node(s): 2 healthy, 1 no answer — 12:00:00 UTC — every 1s              READ-ONLY
//! ┌Nodes───────────────────────────────────────────────────────────────────────────────────┐
//! │  NODE   STATUS     CPU  RUNQ  MEMORY           PROCESSES  ALERTS                        │
//! │▶ a@h    healthy    12%     1  30.0 MiB (3%)            3       0                        │
//! └────────────────────────────────────────────────────────────────────────────────────────┘
//! ┌Alerts (1)──────────────────────────────────────────────────────────────────────────────┐
//! │degraded  Bank.Mailbox #PID<0.20.0> on b@h has 19,000 messages queued                    │
//! └────────────────────────────────────────────────────────────────────────────────────────┘
//! ┌Processes by memory — 1–5 of 5 — filter "bank" — node a@h────────────────────────────────┐
//! │NODE  PID            NAME OR INITIAL CALL   MEMORY▼  REDUCTIONS  QUEUE  CURRENT FUNCTION │
//! └────────────────────────────────────────────────────────────────────────────────────────┘
//! q quit · ↑↓ select · Enter inspect · k kill · / filter · n node · 1/2/3 sort · ? help
//! ```

use super::app::{App, NodeRow, NodeState, SortKey};
use crate::output::bytes;
use beam::health::group_digits;
use beam::processes::{Fetched, ProcessInfo, ProcessRef};
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

/// Where each part goes on a screen of `area`.
struct Areas {
    header: Rect,
    nodes: Rect,
    alerts: Rect,
    main: Rect,
    footer: Rect,
}

fn layout(app: &App, area: Rect) -> Areas {
    let s = &app.snapshot;
    let alert_lines = s.alerts.len() + usize::from(s.partition.is_some());
    // Nodes: every node if it fits in a third of the screen; alerts: up to 4 lines.
    let nodes_h = (s.nodes.len().max(1) as u16 + 3).min((area.height / 3).max(4));
    let alerts_h = (alert_lines.clamp(1, 4) as u16) + 2;
    let [header, nodes, alerts, main, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(nodes_h),
        Constraint::Length(alerts_h),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas { header, nodes, alerts, main, footer }
}

/// Rows the process table shows at the app's terminal size (also the page for PgUp/PgDn).
pub fn process_rows(app: &App) -> usize {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    // Borders, then the column header.
    layout(app, area).main.height.saturating_sub(3) as usize
}

/// Draws the whole dashboard.
pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let a = layout(app, area);
    header(app, frame, a.header);
    nodes(app, frame, a.nodes);
    alerts(app, frame, a.alerts);
    match &app.inspect {
        Some(_) => inspect(app, frame, a.main),
        None => processes(app, frame, a.main),
    }
    footer(app, frame, a.footer);
    if let Some(t) = &app.confirm {
        let text = vec![
            Line::from(format!("Kill {t}?")),
            Line::from(""),
            Line::from("It gets exit signal :kill (it cannot trap it)."),
            Line::from(vec![
                Span::styled("y", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" kill    "),
                Span::styled("n", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" / Esc cancel"),
            ]),
        ];
        popup(frame, area, " Kill process ", text, Color::Red);
    } else if app.help {
        popup(frame, area, " Keys ", help_lines(), Color::Cyan);
    }
}

fn state_style(s: NodeState) -> Style {
    match s {
        NodeState::Healthy => Style::new().fg(Color::Green),
        NodeState::Degraded => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        NodeState::Critical => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        NodeState::Down => Style::new().fg(Color::Red),
        NodeState::NoAnswer => Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
    }
}

fn header(app: &App, frame: &mut Frame, area: Rect) {
    let s = &app.snapshot;
    let mut tally: Vec<(NodeState, usize)> = Vec::new();
    for n in &s.nodes {
        match tally.iter_mut().find(|(st, _)| *st == n.state) {
            Some((_, c)) => *c += 1,
            None => tally.push((n.state, 1)),
        }
    }
    tally.sort_by_key(|(st, _)| *st as u8);
    let summary: Vec<String> = tally.iter().map(|(st, c)| format!("{c} {}", st.text())).collect();
    let mut spans = vec![
        Span::styled("orbit top", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            " — {} node(s): {} — {} UTC — every {}s",
            s.nodes.len(),
            if summary.is_empty() { "none yet".to_string() } else { summary.join(", ") },
            if s.time.is_empty() { "--:--:--" } else { &s.time },
            fmt_secs(app.interval.as_secs_f64()),
        )),
    ];
    if s.waiting {
        spans.push(Span::styled(" — waiting for the first samples…", Style::new().fg(Color::Yellow)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
    if app.read_only && area.width > 20 {
        let tag = " READ-ONLY ";
        let r = Rect::new(area.right().saturating_sub(tag.len() as u16), area.y, tag.len() as u16, 1);
        frame.render_widget(Paragraph::new(Span::styled(tag, Style::new().fg(Color::Black).bg(Color::Yellow))), r);
    }
}

fn fmt_secs(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as u64)
    } else {
        format!("{v:.1}")
    }
}

fn nodes(app: &App, frame: &mut Frame, area: Rect) {
    let s = &app.snapshot;
    let header = Row::new(
        ["", "NODE", "STATUS", "CPU", "RUNQ", "MEMORY", "PROCESSES", "ALERTS", "NOTE"].map(Cell::from).to_vec(),
    )
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = s.nodes.iter().map(|n| node_row(app, n));
    let name_w = s.nodes.iter().map(|n| n.name.chars().count()).max().unwrap_or(4).clamp(4, 40) as u16;
    let widths = [
        Constraint::Length(1),
        Constraint::Length(name_w),
        Constraint::Length(9),
        Constraint::Length(4),
        Constraint::Length(5),
        Constraint::Length(16),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Fill(1),
    ];
    let title = match &app.node {
        Some(n) => format!("Nodes — showing the processes of {n} (n: next node)"),
        None => "Nodes".to_string(),
    };
    let table = Table::new(rows, widths).header(header).block(Block::bordered().title(title)).column_spacing(1);
    frame.render_widget(table, area);
}

fn node_row<'a>(app: &App, n: &'a NodeRow) -> Row<'a> {
    let picked = app.node.as_deref() == Some(n.name.as_str());
    let dash = || "-".to_string();
    let (live, note) = match n.state {
        NodeState::Down | NodeState::NoAnswer => (false, n.reason.clone().unwrap_or_default()),
        _ => (true, String::new()),
    };
    let memory = match (n.memory, n.memory_limit) {
        (Some(m), Some(l)) if l > 0 => format!("{} ({:.0}%)", bytes(m), 100.0 * m as f64 / l as f64),
        (Some(m), _) => bytes(m),
        _ => dash(),
    };
    let cells = vec![
        Cell::from(if picked { "▶" } else { " " }),
        Cell::from(n.name.as_str()),
        Cell::from(Span::styled(n.state.text(), state_style(n.state))),
        right(if live { n.cpu.map(|c| format!("{:.0}%", c * 100.0)).unwrap_or_else(dash) } else { dash() }),
        right(if live { n.run_queue.map(group_digits).unwrap_or_else(dash) } else { dash() }),
        right(if live { memory } else { dash() }),
        right(if live { n.processes.map(group_digits).unwrap_or_else(dash) } else { dash() }),
        right(n.alerts.to_string()),
        Cell::from(note),
    ];
    let row = Row::new(cells);
    if picked {
        row.style(Style::new().add_modifier(Modifier::BOLD))
    } else {
        row
    }
}

fn right<'a>(s: String) -> Cell<'a> {
    Cell::from(Line::from(s).alignment(Alignment::Right))
}

fn alerts(app: &App, frame: &mut Frame, area: Rect) {
    let s = &app.snapshot;
    let mut lines: Vec<Line> = Vec::new();
    if let Some(p) = &s.partition {
        lines.push(Line::from(Span::styled(
            format!("PARTITION {p}"),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )));
    }
    for a in &s.alerts {
        let style = match a.level.as_str() {
            "critical" => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            "degraded" => Style::new().fg(Color::Yellow),
            _ => Style::new().fg(Color::Cyan),
        };
        lines.push(Line::from(vec![Span::styled(format!("{:<9}", a.level), style), Span::raw(a.text.as_str())]));
    }
    let count = lines.len();
    let room = area.height.saturating_sub(2) as usize;
    if count == 0 {
        lines.push(Line::from(Span::styled("none", Style::new().fg(Color::DarkGray))));
    } else if count > room && room > 0 {
        lines.truncate(room - 1);
        lines.push(Line::from(format!("… and {} more", count - (room - 1))));
    }
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(format!("Alerts ({count})"))), area);
}

fn processes(app: &App, frame: &mut Frame, area: Rect) {
    let rows_h = area.height.saturating_sub(3) as usize;
    let view = app.view(rows_h);
    let s = &app.snapshot;
    let mut title = format!("Processes by {}", app.sort.name());
    if view.total > 0 {
        title.push_str(&format!(
            " — {}–{} of {}",
            group_digits(view.offset as u64 + 1),
            group_digits((view.offset + view.rows.len()) as u64),
            group_digits(view.total as u64)
        ));
    } else {
        title.push_str(" — none");
    }
    if !app.filter.trim().is_empty() {
        title.push_str(&format!(" — filter {:?}", app.filter.trim()));
    }
    if let Some(n) = &app.node {
        title.push_str(&format!(" — node {n}"));
    }
    let mark = |k: SortKey, name: &'static str| -> Cell<'static> {
        if app.sort == k {
            Cell::from(Line::from(format!("{name}▼")).alignment(Alignment::Right))
                .style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD))
        } else {
            Cell::from(Line::from(name).alignment(Alignment::Right))
        }
    };
    let header = Row::new(vec![
        Cell::from("NODE"),
        Cell::from("PID"),
        Cell::from("NAME OR INITIAL CALL"),
        mark(SortKey::Memory, "MEMORY"),
        mark(SortKey::Reductions, "REDUCTIONS"),
        mark(SortKey::Queue, "QUEUE"),
        Cell::from("CURRENT FUNCTION"),
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let name_w = s.nodes.iter().map(|n| n.name.chars().count()).max().unwrap_or(4).clamp(4, 32) as u16;
    let selected_style = Style::new().add_modifier(Modifier::REVERSED);
    let rows = view.rows.iter().enumerate().map(|(i, p)| {
        let node = s.nodes.get(p.node as usize).map(|n| n.name.as_str()).unwrap_or("?");
        let row = Row::new(vec![
            Cell::from(node),
            Cell::from(p.pid.as_str()),
            Cell::from(p.label.as_str()),
            right(bytes(p.memory)),
            right(group_digits(p.reductions)),
            right(group_digits(p.queue)),
            Cell::from(p.current.as_str()),
        ]);
        if view.selected == Some(view.offset + i) {
            row.style(selected_style)
        } else {
            row
        }
    });
    // Fixed columns first; of the rest, the name gets three fifths (at least 24 columns when there are),
    // the current function what is left.
    let fixed = [name_w, 15, 10, 11, 7];
    let spare = area.width.saturating_sub(2 + 6 + fixed.iter().sum::<u16>());
    let label_w = (spare * 3 / 5).max(spare.min(24));
    let widths = [
        Constraint::Length(fixed[0]),
        Constraint::Length(fixed[1]),
        Constraint::Length(label_w),
        Constraint::Length(fixed[2]),
        Constraint::Length(fixed[3]),
        Constraint::Length(fixed[4]),
        Constraint::Length(spare - label_w),
    ];
    let table = Table::new(rows, widths).header(header).block(Block::bordered().title(title)).column_spacing(1);
    frame.render_widget(table, area);
    if view.total == 0 && area.height > 3 {
        let why = if s.waiting {
            "waiting for the first listing…"
        } else if app.filter.trim().is_empty() && app.node.is_none() {
            "no processes listed yet"
        } else {
            "no process matches (Esc clears the filter and the node)"
        };
        let r = Rect::new(area.x + 1, area.y + 2, area.width.saturating_sub(2), 1);
        frame.render_widget(Paragraph::new(Span::styled(why, Style::new().fg(Color::DarkGray))), r);
    }
}

fn inspect(app: &App, frame: &mut Frame, area: Rect) {
    let Some(ins) = &app.inspect else { return };
    let lines: Vec<Line> = match &ins.info {
        None => vec![Line::from(Span::styled("reading the process…", Style::new().fg(Color::DarkGray)))],
        Some(Err(e)) => vec![Line::from(Span::styled(e.clone(), Style::new().fg(Color::Red)))],
        Some(Ok(info)) => inspect_lines(info).into_iter().map(Line::from).collect(),
    };
    let total = lines.len();
    let room = area.height.saturating_sub(2) as usize;
    let scroll = ins.scroll.min(total.saturating_sub(room.max(1)));
    let title = if total > room {
        format!("{} — lines {}–{} of {}", ins.target, scroll + 1, (scroll + room).min(total), total)
    } else {
        ins.target.to_string()
    };
    let shown: Vec<Line> = lines.into_iter().skip(scroll).take(room).collect();
    frame.render_widget(Paragraph::new(shown).block(Block::bordered().title(title)).wrap(Wrap { trim: false }), area);
}

/// The inspect view's text: what `orbit inspect` prints.
pub fn inspect_lines(p: &ProcessInfo) -> Vec<String> {
    let mfa = |m: &Option<beam::processes::Mfa>| m.as_ref().map(|m| m.elixir()).unwrap_or_else(|| "-".into());
    let mut out = Vec::new();
    out.push(match beam::processes::process_name(p.registered_name.as_deref(), p.process_label.as_deref()) {
        Some(n) => format!("{} on {} ({n})", p.pid, p.node),
        None => format!("{} on {}", p.pid, p.node),
    });
    let rows = [
        ("status", p.status.clone()),
        ("initial call", mfa(&p.initial_call)),
        ("current function", mfa(&p.current_function)),
        ("message queue", group_digits(p.message_queue_len)),
        ("memory", bytes(p.memory)),
        (
            "heap / total / stack",
            format!(
                "{} / {} / {} words",
                group_digits(p.heap_size),
                group_digits(p.total_heap_size),
                group_digits(p.stack_size)
            ),
        ),
        ("reductions", group_digits(p.reductions)),
        ("trap exit", p.trap_exit.to_string()),
        ("priority", p.priority.clone()),
        ("group leader", p.group_leader.as_ref().map(|g| g.to_string()).unwrap_or_else(|| "-".into())),
        ("ancestors", if p.ancestors.is_empty() { "-".into() } else { p.ancestors.join(", ") }),
    ];
    for (k, v) in rows {
        out.push(format!("  {k:<20} {v}"));
    }
    out.push("Stacktrace:".into());
    if p.stacktrace.is_empty() {
        out.push("  (none)".into());
    }
    out.extend(p.stacktrace.iter().map(|f| format!("  {f}")));
    let refs = |out: &mut Vec<String>, title: &str, list: &[ProcessRef]| {
        out.push(format!("{title} ({}):", list.len()));
        out.extend(list.iter().map(|r| format!("  {r}")));
    };
    refs(&mut out, "Links", &p.links);
    refs(&mut out, "Monitors", &p.monitors);
    refs(&mut out, "Monitored by", &p.monitored_by);
    let fetched = |out: &mut Vec<String>, f: &Fetched| match f {
        Fetched::Value { value, .. } => out.extend(value.lines().map(|l| format!("  {l}"))),
        Fetched::Skipped => out.push("  (not asked for)".into()),
        Fetched::Unavailable { reason } => out.push(format!("  ({reason})")),
    };
    out.push("State:".into());
    fetched(&mut out, &p.state);
    out.push(format!("Messages ({}):", group_digits(p.message_queue_len)));
    fetched(&mut out, &p.messages);
    out
}

fn footer(app: &App, frame: &mut Frame, area: Rect) {
    let key = |k: &'static str| Span::styled(k, Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD));
    let line = if app.editing_filter {
        Line::from(vec![
            Span::raw("filter (name or module): "),
            Span::styled(format!("{}▏", app.filter), Style::new().add_modifier(Modifier::BOLD)),
            Span::styled("  Enter keeps it · Esc clears it", Style::new().fg(Color::DarkGray)),
        ])
    } else if let Some(m) = &app.message {
        let style = if m.error { Style::new().fg(Color::Red).add_modifier(Modifier::BOLD) } else { Style::new() };
        Line::from(Span::styled(m.text.as_str(), style))
    } else if app.inspect.is_some() {
        Line::from(vec![
            key("Esc"),
            Span::raw(" back · "),
            key("↑↓"),
            Span::raw(" scroll · "),
            key("r"),
            Span::raw(" read again · "),
            key("k"),
            Span::raw(" kill · "),
            key("q"),
            Span::raw(" quit"),
        ])
    } else {
        Line::from(vec![
            key("q"),
            Span::raw(" quit · "),
            key("↑↓"),
            Span::raw(" select · "),
            key("Enter"),
            Span::raw(" inspect · "),
            key("k"),
            Span::raw(" kill · "),
            key("/"),
            Span::raw(" filter · "),
            key("n"),
            Span::raw(" node · "),
            key("1"),
            Span::raw(" memory "),
            key("2"),
            Span::raw(" reductions "),
            key("3"),
            Span::raw(" queue · "),
            key("?"),
            Span::raw(" help"),
        ])
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn help_lines() -> Vec<Line<'static>> {
    [
        ("↑ ↓ PgUp PgDn Home End", "select a process"),
        ("Enter or i", "inspect the selected process (Esc goes back, r reads it again)"),
        ("k", "kill the selected process (asks first; refused in read-only mode)"),
        ("1 2 3, s", "sort by memory, reductions, queue length; s: the next one"),
        ("/", "filter by name or module (Enter keeps it, Esc clears it)"),
        ("n N", "show one node's processes, the next or previous node; then all again"),
        ("Esc", "clear the filter and the node"),
        ("q, Ctrl-C", "quit"),
    ]
    .into_iter()
    .map(|(k, what)| {
        Line::from(vec![
            Span::styled(format!("{k:<24}"), Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)),
            Span::raw(what),
        ])
    })
    .chain([Line::from(""), Line::from(Span::styled("any key closes this", Style::new().fg(Color::DarkGray)))])
    .collect()
}

fn popup(frame: &mut Frame, area: Rect, title: &str, text: Vec<Line>, color: Color) {
    let width = text.iter().map(|l| l.width() as u16).max().unwrap_or(10).saturating_add(4).min(area.width);
    let height = (text.len() as u16 + 2).min(area.height);
    let r = Rect::new(area.x + (area.width - width) / 2, area.y + (area.height - height) / 2, width, height);
    frame.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title.to_string())
        .border_style(Style::new().fg(color).add_modifier(Modifier::BOLD));
    frame.render_widget(Paragraph::new(text).block(block).wrap(Wrap { trim: false }), r);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::app::tests::{app, ch, key};
    use crate::dashboard::app::{Action, Snapshot};
    use crossterm::event::{Event, KeyCode};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use std::sync::Arc;

    /// The screen as text, one string per row.
    fn screen(app: &App) -> Vec<String> {
        let (w, h) = app.size;
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| render(app, f)).unwrap();
        let buf = t.backend().buffer().clone();
        (0..h)
            .map(|y| {
                let mut line = String::new();
                let mut x = 0;
                while x < w {
                    let sym = buf[(x, y)].symbol();
                    line.push_str(sym);
                    x += 1;
                }
                line.trim_end().to_string()
            })
            .collect()
    }

    fn find(lines: &[String], what: &str) -> Option<usize> {
        lines.iter().position(|l| l.contains(what))
    }

    #[test]
    fn the_dashboard_shows_nodes_alerts_and_processes_in_order() {
        let app = app();
        let s = screen(&app);
        let text = s.join("\n");
        assert!(s[0].starts_with("orbit top — 3 node(s): 1 healthy, 1 DEGRADED, 1 no answer — 12:00:00 UTC"), "{text}");
        assert!(text.contains("no answer") && text.contains("timeout"), "{text}");
        let a = find(&s, "a@h ").unwrap();
        assert!(s[a].contains("12%") && s[a].contains("30.0 MiB (3%)"), "{}", s[a]);
        assert!(text.contains("Alerts (1)") && text.contains("19,000 messages queued"), "{text}");
        assert!(text.contains("Processes by memory — 1–5 of 5"), "{text}");
        assert!(text.contains("MEMORY▼"), "{text}");
        // Most memory first.
        let mailbox = find(&s, "Bank.Mailbox  ").or_else(|| find(&s, "Bank.Mailbox ")).unwrap();
        let code_server = find(&s, ":code_server").unwrap();
        let init = find(&s, "Bank.Account.init/1").unwrap();
        assert!(mailbox < code_server && code_server < init, "{text}");
        assert!(s[mailbox].contains("3.8 MiB") && s[mailbox].contains("19,000"), "{}", s[mailbox]);
        assert!(s.last().unwrap().contains("q quit"), "{text}");
    }

    #[test]
    fn the_selected_row_is_highlighted() {
        let mut app = app();
        app.handle_key(key(KeyCode::Down));
        let (w, h) = app.size;
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| render(&app, f)).unwrap();
        let s = screen(&app);
        let y = find(&s, ":code_server").unwrap() as u16;
        let buf = t.backend().buffer();
        assert!(buf[(5, y)].modifier.contains(Modifier::REVERSED), "the selected row is reversed");
        let other = find(&s, "Bank.Ledger").unwrap() as u16;
        assert!(!buf[(5, other)].modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn sorting_and_filtering_show_in_the_table() {
        let mut app = app();
        app.handle_key(ch('2'));
        let s = screen(&app);
        assert!(s.join("\n").contains("REDUCTIONS▼"));
        assert!(find(&s, "Bank.Account.init/1").unwrap() < find(&s, "Bank.Ledger").unwrap());
        app.handle_key(ch('/'));
        for c in "ledger".chars() {
            app.handle_key(ch(c));
        }
        let s = screen(&app);
        let text = s.join("\n");
        assert!(text.contains("filter (name or module): ledger"), "{text}");
        assert!(text.contains("— 1–1 of 1 — filter \"ledger\""), "{text}");
        assert!(find(&s, "Bank.Mailbox").is_none_or(|i| s[i].contains("Alerts") || s[i].contains("queued")));
        app.handle_key(ch('x'));
        let text = screen(&app).join("\n");
        assert!(text.contains("no process matches"), "{text}");
    }

    #[test]
    fn the_kill_confirmation_and_the_read_only_refusal_are_drawn() {
        let mut app = app();
        app.handle_key(ch('k'));
        let text = screen(&app).join("\n");
        assert!(text.contains("Kill #PID<0.20.0> (Bank.Mailbox) on b@h?"), "{text}");
        assert!(text.contains("y kill") && text.contains("n / Esc cancel"), "{text}");
        app.handle_key(ch('n'));
        let s = screen(&app);
        assert!(s.last().unwrap().contains("kill of #PID<0.20.0> (Bank.Mailbox) on b@h cancelled"), "{s:?}");

        let mut app = self::app();
        app.read_only = true;
        let s = screen(&app);
        assert!(s[0].ends_with("READ-ONLY"), "{}", s[0]);
        app.handle_key(ch('k'));
        let s = screen(&app);
        assert!(s.last().unwrap().starts_with("kill refused: Orbit is in read-only mode"), "{s:?}");
        assert!(!s.join("\n").contains("Kill #PID"));
    }

    #[test]
    fn a_resize_redraws_to_the_new_size() {
        let mut app = app();
        let big = screen(&app);
        assert_eq!(big.len(), 40);
        assert_eq!(app.handle_event(&Event::Resize(70, 16)), Action::Redraw);
        let small = screen(&app);
        assert_eq!(small.len(), 16);
        assert!(small.iter().all(|l| l.chars().count() <= 70));
        assert!(small.last().unwrap().starts_with("q quit"), "{small:?}");
        // Fewer rows fit: the title says which are shown, and the selection stays in view.
        let rows = process_rows(&app);
        assert!(rows < 5, "{rows}");
        app.handle_key(key(KeyCode::End));
        let small = screen(&app);
        let text = small.join("\n");
        assert!(text.contains(&format!("{}–5 of 5", 5 - rows + 1)), "{text}");
        assert!(text.contains("#PID<0.21.0>"), "the last row is selected and shown: {text}");
        // Tiny terminals do not panic.
        for (w, h) in [(1, 1), (10, 3), (30, 8), (0, 0)] {
            app.handle_event(&Event::Resize(w, h));
            let _ = screen(&app);
        }
    }

    #[test]
    fn the_inspect_view_replaces_the_table() {
        let mut app = app();
        let Action::Inspect(t) = app.handle_key(key(KeyCode::Enter)) else { panic!() };
        let text = screen(&app).join("\n");
        assert!(text.contains("reading the process…"), "{text}");
        let info = ProcessInfo {
            node: "b@h".into(),
            pid: "#PID<0.20.0>".into(),
            pid_term: None,
            registered_name: Some("Bank.Mailbox".into()),
            process_label: None,
            status: "waiting".into(),
            message_queue_len: 19_000,
            memory: 4_000_000,
            heap_size: 10,
            total_heap_size: 20,
            stack_size: 3,
            reductions: 5,
            trap_exit: false,
            priority: "normal".into(),
            group_leader: None,
            current_function: None,
            initial_call: None,
            stacktrace: vec![],
            links: vec![ProcessRef { node: "b@h".into(), id: "#PID<0.19.0>".into() }],
            monitors: vec![],
            monitored_by: vec![],
            ancestors: vec!["Bank.Supervisor".into()],
            otp: true,
            messages: Fetched::Unavailable { reason: "19,000 messages: more than 20".into() },
            state: Fetched::Value { value: "%{count: 1}".into(), term: None },
        };
        app.inspect_done(&t, Ok(info));
        let text = screen(&app).join("\n");
        assert!(text.contains("#PID<0.20.0> on b@h (Bank.Mailbox)"), "{text}");
        assert!(text.contains("message queue        19,000"), "{text}");
        assert!(text.contains("Links (1):") && text.contains("#PID<0.19.0> on b@h"), "{text}");
        assert!(text.contains("%{count: 1}"), "{text}");
        assert!(text.contains("Esc back"), "{text}");
        assert!(!text.contains("NAME OR INITIAL CALL"), "{text}");
        app.handle_key(key(KeyCode::Esc));
        assert!(screen(&app).join("\n").contains("NAME OR INITIAL CALL"));
    }

    #[test]
    fn before_the_first_sample_it_says_it_is_waiting() {
        let app = App::new(false, (100, 20));
        let text = screen(&app).join("\n");
        assert!(text.contains("waiting for the first samples"), "{text}");
        let mut app = App::new(false, (100, 20));
        app.set_snapshot(Arc::new(Snapshot::default()));
        assert!(screen(&app).join("\n").contains("no processes listed yet"));
    }

    #[test]
    fn help_lists_the_keys() {
        let mut app = app();
        app.handle_key(ch('?'));
        let text = screen(&app).join("\n");
        assert!(text.contains("sort by memory, reductions, queue length"), "{text}");
        assert!(text.contains("read-only"), "{text}");
    }
}
