//! The dashboard's state and what each key does to it. Pure: no terminal, no cluster, no clock. The loop
//! in `live.rs` feeds it snapshots ([`App::set_snapshot`]) and terminal events ([`App::handle_event`]),
//! and carries out the [`Action`] each event returns.

use beam::processes::ProcessInfo;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::sync::Arc;
use std::time::Duration;

/// What the process table is sorted by (descending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Memory,
    Reductions,
    Queue,
}

impl SortKey {
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Memory => "memory",
            SortKey::Reductions => "reductions",
            SortKey::Queue => "queue",
        }
    }

    pub fn next(self) -> SortKey {
        match self {
            SortKey::Memory => SortKey::Reductions,
            SortKey::Reductions => SortKey::Queue,
            SortKey::Queue => SortKey::Memory,
        }
    }

    pub fn of(self, p: &ProcRow) -> u64 {
        match self {
            SortKey::Memory => p.memory,
            SortKey::Reductions => p.reductions,
            SortKey::Queue => p.queue,
        }
    }
}

/// A node's state as the dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Healthy,
    Degraded,
    Critical,
    /// Orbit's connection to it is closed.
    Down,
    /// Connected, but it did not answer the last sample or process listing in time.
    NoAnswer,
}

impl NodeState {
    pub fn text(self) -> &'static str {
        match self {
            NodeState::Healthy => "healthy",
            NodeState::Degraded => "DEGRADED",
            NodeState::Critical => "CRITICAL",
            NodeState::Down => "down",
            NodeState::NoAnswer => "no answer",
        }
    }
}

/// One node's line.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub name: String,
    pub state: NodeState,
    /// Why it is down or not answering.
    pub reason: Option<String>,
    /// Scheduler utilisation, 0 to 1.
    pub cpu: Option<f64>,
    pub run_queue: Option<u64>,
    pub memory: Option<u64>,
    pub memory_limit: Option<u64>,
    pub processes: Option<u64>,
    pub alerts: usize,
}

impl NodeRow {
    /// A node known by name only (no sample yet).
    pub fn named(name: impl Into<String>, state: NodeState) -> NodeRow {
        NodeRow {
            name: name.into(),
            state,
            reason: None,
            cpu: None,
            run_queue: None,
            memory: None,
            memory_limit: None,
            processes: None,
            alerts: 0,
        }
    }
}

/// One process's line.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcRow {
    /// Index of its node in [`Snapshot::nodes`].
    pub node: u16,
    /// `#PID<0.123.0>` as its own node prints it.
    pub pid: String,
    /// Registered name, else initial call, else pid.
    pub label: String,
    pub memory: u64,
    pub reductions: u64,
    pub queue: u64,
    /// Current function, `Mod.fun/arity`.
    pub current: String,
    /// What the filter looks at, lower case: label, current function, initial call, pid.
    search: String,
}

impl ProcRow {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        node: u16,
        pid: String,
        label: String,
        current: String,
        initial_call: &str,
        memory: u64,
        reductions: u64,
        queue: u64,
    ) -> ProcRow {
        let search = format!("{label}\u{1}{current}\u{1}{initial_call}\u{1}{pid}").to_lowercase();
        ProcRow { node, pid, label, memory, reductions, queue, current, search }
    }

    /// The same row, on the node at `node` in [`Snapshot::nodes`].
    pub fn on_node(&self, node: u16) -> ProcRow {
        ProcRow { node, ..self.clone() }
    }

    /// Whether the filter (already lower case) matches its name, initial call, current function or pid.
    pub fn matches(&self, needle: &str) -> bool {
        self.search.contains(needle)
    }
}

/// An active alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertLine {
    /// `warning`, `degraded`, `critical`.
    pub level: String,
    pub text: String,
}

/// What the dashboard shows, as of one moment. Built off the render path (by the refresh task).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Time of day (UTC) it was taken, `HH:MM:SS`.
    pub time: String,
    pub nodes: Vec<NodeRow>,
    /// Every node's processes as fetched (each node sends its top ones for the current sort and filter).
    pub processes: Vec<ProcRow>,
    pub alerts: Vec<AlertLine>,
    pub partition: Option<String>,
    /// No sample has arrived yet.
    pub waiting: bool,
}

/// A process picked in the table: what the inspect view and a kill act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub node: String,
    pub pid: String,
    pub label: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.label.is_empty() || self.label == self.pid {
            write!(f, "{} on {}", self.pid, self.node)
        } else {
            write!(f, "{} ({}) on {}", self.pid, self.label, self.node)
        }
    }
}

/// The inspect view of one process.
#[derive(Debug, Clone)]
pub struct Inspect {
    pub target: Target,
    /// `None` while it is being read.
    pub info: Option<Result<ProcessInfo, String>>,
    /// First line shown.
    pub scroll: usize,
}

/// A line for the footer: what just happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

/// What the refresh task needs to know to fetch the right processes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    pub sort: SortKey,
    /// Name or module text (matched case-insensitively); empty for none.
    pub filter: String,
}

/// What the loop does after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing changed.
    None,
    /// Draw again.
    Redraw,
    /// Leave the dashboard.
    Quit,
    /// Sort or filter changed: draw again, and tell the refresh task ([`App::query`]).
    QueryChanged,
    /// Read this process for the inspect view (then [`App::inspect_done`]).
    Inspect(Target),
    /// Kill this process, confirmed (then [`App::kill_done`]).
    Kill(Target),
}

/// The dashboard's whole state.
#[derive(Debug, Clone)]
pub struct App {
    pub snapshot: Arc<Snapshot>,
    pub sort: SortKey,
    pub filter: String,
    /// Typing into the filter.
    pub editing_filter: bool,
    /// Only this node's processes.
    pub node: Option<String>,
    /// Position of the selected row among the matching processes.
    pub selected: usize,
    /// First process row shown.
    pub offset: usize,
    pub inspect: Option<Inspect>,
    /// A kill waiting for `y` or `n`.
    pub confirm: Option<Target>,
    pub help: bool,
    /// Kills are refused (`ORBIT_READ_ONLY=1`).
    pub read_only: bool,
    pub message: Option<Message>,
    /// Terminal columns and rows.
    pub size: (u16, u16),
    /// Time between refreshes, for the header.
    pub interval: Duration,
}

/// Processes in table order, as far down as needed to fill the visible rows.
#[derive(Debug)]
pub struct ProcView<'a> {
    /// Matching processes (after the node and the filter).
    pub total: usize,
    /// Position of `rows[0]` among them.
    pub offset: usize,
    /// Position of the selected row, when any process matches.
    pub selected: Option<usize>,
    pub rows: Vec<&'a ProcRow>,
}

impl App {
    pub fn new(read_only: bool, size: (u16, u16)) -> App {
        App {
            snapshot: Arc::new(Snapshot { waiting: true, ..Snapshot::default() }),
            sort: SortKey::Memory,
            filter: String::new(),
            editing_filter: false,
            node: None,
            selected: 0,
            offset: 0,
            inspect: None,
            confirm: None,
            help: false,
            read_only,
            message: None,
            size,
            interval: Duration::from_secs(1),
        }
    }

    pub fn set_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        self.snapshot = snapshot;
        self.clamp_selection();
    }

    pub fn query(&self) -> Query {
        Query { sort: self.sort, filter: self.filter.trim().to_string() }
    }

    /// Index of the picked node in the snapshot; `Err` when a node is picked that the snapshot lacks.
    fn node_index(&self) -> Result<Option<u16>, ()> {
        match &self.node {
            None => Ok(None),
            Some(n) => self.snapshot.nodes.iter().position(|r| &r.name == n).map(|i| Some(i as u16)).ok_or(()),
        }
    }

    /// Sorts and filters every process of the snapshot and returns the `rows` visible ones. This is the
    /// work of a frame: the filter runs over all processes, and the sort is partial (only as far as the
    /// last visible row).
    pub fn view(&self, rows: usize) -> ProcView<'_> {
        let procs = &self.snapshot.processes;
        let needle = self.filter.trim().to_lowercase();
        let key = self.sort;
        let mut m: Vec<(u64, u32)> = match self.node_index() {
            Err(()) => Vec::new(),
            Ok(node) => procs
                .iter()
                .enumerate()
                .filter(|(_, p)| node.is_none_or(|n| p.node == n) && (needle.is_empty() || p.matches(&needle)))
                .map(|(i, p)| (key.of(p), i as u32))
                .collect(),
        };
        let total = m.len();
        if total == 0 {
            return ProcView { total, offset: 0, selected: None, rows: Vec::new() };
        }
        let selected = self.selected.min(total - 1);
        let offset = visible_offset(self.offset, selected, rows).min(total - 1);
        if rows == 0 {
            return ProcView { total, offset, selected: Some(selected), rows: Vec::new() };
        }
        let end = (offset + rows).min(total);
        // Largest first; ties in snapshot order (node, then as the node sent them).
        let order = |a: &(u64, u32), b: &(u64, u32)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if end < total {
            m.select_nth_unstable_by(end - 1, order);
            m.truncate(end);
        }
        m.sort_unstable_by(order);
        let rows = m[offset..end].iter().map(|&(_, i)| &procs[i as usize]).collect();
        ProcView { total, offset, selected: Some(selected), rows }
    }

    /// How many processes match the node and the filter.
    pub fn matching(&self) -> usize {
        let needle = self.filter.trim().to_lowercase();
        match self.node_index() {
            Err(()) => 0,
            Ok(node) => self
                .snapshot
                .processes
                .iter()
                .filter(|p| node.is_none_or(|n| p.node == n) && (needle.is_empty() || p.matches(&needle)))
                .count(),
        }
    }

    /// The selected process, if any.
    pub fn selected_target(&self) -> Option<Target> {
        let view = self.view(1);
        let p = view.rows.first()?;
        Some(Target {
            node: self.snapshot.nodes.get(p.node as usize).map(|n| n.name.clone()).unwrap_or_default(),
            pid: p.pid.clone(),
            label: p.label.clone(),
        })
    }

    /// Rows of the process table at the current terminal size.
    fn page(&self) -> usize {
        crate::dashboard::ui::process_rows(self).max(1)
    }

    fn clamp_selection(&mut self) {
        let total = self.matching();
        self.selected = self.selected.min(total.saturating_sub(1));
        self.offset = visible_offset(self.offset, self.selected, self.page());
    }

    fn select(&mut self, to: usize) {
        self.selected = to;
        self.clamp_selection();
    }

    /// Terminal events: keys and resizes.
    pub fn handle_event(&mut self, event: &Event) -> Action {
        match event {
            Event::Key(key) => self.handle_key(*key),
            Event::Resize(w, h) => {
                self.size = (*w, *h);
                self.clamp_selection();
                Action::Redraw
            }
            _ => Action::None,
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('d')) {
            return Action::Quit;
        }
        if let Some(target) = self.confirm.clone() {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.confirm = None;
                    self.message = Some(Message { text: format!("killing {target}…"), error: false });
                    Action::Kill(target)
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.confirm = None;
                    self.message = Some(Message { text: format!("kill of {target} cancelled"), error: false });
                    Action::Redraw
                }
                _ => Action::None,
            };
        }
        if self.help {
            self.help = false;
            return Action::Redraw;
        }
        if self.editing_filter {
            return self.filter_key(key, ctrl);
        }
        let had_message = self.message.take().is_some();
        let action = if self.inspect.is_some() { self.inspect_key(key) } else { self.list_key(key) };
        match action {
            Action::None if had_message => Action::Redraw,
            a => a,
        }
    }

    fn filter_key(&mut self, key: KeyEvent, ctrl: bool) -> Action {
        match key.code {
            KeyCode::Enter => {
                self.editing_filter = false;
                Action::Redraw
            }
            KeyCode::Esc => {
                self.editing_filter = false;
                self.filter.clear();
                self.select(0);
                Action::QueryChanged
            }
            KeyCode::Backspace => {
                if self.filter.pop().is_none() {
                    return Action::None;
                }
                self.select(0);
                Action::QueryChanged
            }
            KeyCode::Char('u') if ctrl => {
                self.filter.clear();
                self.select(0);
                Action::QueryChanged
            }
            KeyCode::Char(c) if !ctrl => {
                self.filter.push(c);
                self.select(0);
                Action::QueryChanged
            }
            _ => Action::None,
        }
    }

    fn list_key(&mut self, key: KeyEvent) -> Action {
        let page = self.page();
        match key.code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Char('?') => {
                self.help = true;
                Action::Redraw
            }
            KeyCode::Char('1') => self.sort_by(SortKey::Memory),
            KeyCode::Char('2') => self.sort_by(SortKey::Reductions),
            KeyCode::Char('3') => self.sort_by(SortKey::Queue),
            KeyCode::Char('s') => self.sort_by(self.sort.next()),
            KeyCode::Char('/') => {
                self.editing_filter = true;
                Action::Redraw
            }
            KeyCode::Char('n') => self.pick_node(true),
            KeyCode::Char('N') => self.pick_node(false),
            KeyCode::Esc if !self.filter.is_empty() || self.node.is_some() => {
                self.filter.clear();
                self.node = None;
                self.select(0);
                Action::QueryChanged
            }
            KeyCode::Down => self.moved(self.selected.saturating_add(1)),
            KeyCode::Up => self.moved(self.selected.saturating_sub(1)),
            KeyCode::PageDown => self.moved(self.selected.saturating_add(page)),
            KeyCode::PageUp => self.moved(self.selected.saturating_sub(page)),
            KeyCode::Home => self.moved(0),
            KeyCode::End => self.moved(usize::MAX),
            KeyCode::Enter | KeyCode::Char('i') => match self.selected_target() {
                Some(t) => {
                    self.inspect = Some(Inspect { target: t.clone(), info: None, scroll: 0 });
                    Action::Inspect(t)
                }
                None => self.say("no process selected", true),
            },
            KeyCode::Char('k') => match self.selected_target() {
                Some(t) => self.ask_kill(t),
                None => self.say("no process selected", true),
            },
            _ => Action::None,
        }
    }

    fn inspect_key(&mut self, key: KeyEvent) -> Action {
        let page = self.page();
        let Some(ins) = self.inspect.as_mut() else { return Action::None };
        match key.code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left => {
                self.inspect = None;
                Action::Redraw
            }
            KeyCode::Down => {
                ins.scroll = ins.scroll.saturating_add(1);
                Action::Redraw
            }
            KeyCode::Up => {
                ins.scroll = ins.scroll.saturating_sub(1);
                Action::Redraw
            }
            KeyCode::PageDown => {
                ins.scroll = ins.scroll.saturating_add(page);
                Action::Redraw
            }
            KeyCode::PageUp => {
                ins.scroll = ins.scroll.saturating_sub(page);
                Action::Redraw
            }
            KeyCode::Home => {
                ins.scroll = 0;
                Action::Redraw
            }
            KeyCode::Char('r') => Action::Inspect(ins.target.clone()),
            KeyCode::Char('k') => {
                let t = ins.target.clone();
                self.ask_kill(t)
            }
            KeyCode::Char('?') => {
                self.help = true;
                Action::Redraw
            }
            _ => Action::None,
        }
    }

    fn sort_by(&mut self, key: SortKey) -> Action {
        if self.sort == key {
            return Action::None;
        }
        self.sort = key;
        self.select(0);
        Action::QueryChanged
    }

    /// Cycles through all nodes, then each node in turn.
    fn pick_node(&mut self, forward: bool) -> Action {
        let names: Vec<&str> = self.snapshot.nodes.iter().map(|n| n.name.as_str()).collect();
        if names.is_empty() {
            return Action::None;
        }
        let at = self.node.as_deref().and_then(|n| names.iter().position(|x| *x == n));
        let next = match (at, forward) {
            (None, true) => Some(0),
            (None, false) => Some(names.len() - 1),
            (Some(i), true) if i + 1 < names.len() => Some(i + 1),
            (Some(i), false) if i > 0 => Some(i - 1),
            _ => None,
        };
        self.node = next.map(|i| names[i].to_string());
        self.select(0);
        Action::Redraw
    }

    fn moved(&mut self, to: usize) -> Action {
        let before = (self.selected, self.offset);
        self.select(to);
        if (self.selected, self.offset) == before {
            Action::None
        } else {
            Action::Redraw
        }
    }

    fn ask_kill(&mut self, target: Target) -> Action {
        if self.read_only {
            return self.say(format!("kill refused: {}; {target} was not touched", beam::read_only::MODE), true);
        }
        self.confirm = Some(target);
        Action::Redraw
    }

    fn say(&mut self, text: impl Into<String>, error: bool) -> Action {
        self.message = Some(Message { text: text.into(), error });
        Action::Redraw
    }

    /// The answer to [`Action::Inspect`]; ignored when the view was closed or moved to another process.
    pub fn inspect_done(&mut self, target: &Target, info: Result<ProcessInfo, String>) {
        if let Some(ins) = self.inspect.as_mut().filter(|i| &i.target == target) {
            ins.info = Some(info);
        }
    }

    /// The answer to [`Action::Kill`]: what became of the process, or why it could not be killed.
    pub fn kill_done(&mut self, outcome: Result<String, String>) {
        self.message = Some(match outcome {
            Ok(text) => Message { text, error: false },
            Err(text) => Message { text, error: true },
        });
    }
}

/// The first visible row so that `selected` is in view, moving as little as possible from `offset`.
fn visible_offset(offset: usize, selected: usize, rows: usize) -> usize {
    let rows = rows.max(1);
    if selected < offset {
        selected
    } else if selected >= offset + rows {
        selected + 1 - rows
    } else {
        offset
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crossterm::event::KeyEventState;

    pub(crate) fn key(code: KeyCode) -> KeyEvent {
        KeyEvent { code, modifiers: KeyModifiers::NONE, kind: KeyEventKind::Press, state: KeyEventState::NONE }
    }

    pub(crate) fn ch(c: char) -> KeyEvent {
        key(KeyCode::Char(c))
    }

    /// Three nodes; on each, processes whose memory, reductions and queue rank differently.
    pub(crate) fn sample() -> Snapshot {
        let nodes = vec![
            NodeRow {
                cpu: Some(0.12),
                run_queue: Some(1),
                memory: Some(30 << 20),
                memory_limit: Some(1 << 30),
                processes: Some(3),
                ..NodeRow::named("a@h", NodeState::Healthy)
            },
            NodeRow {
                run_queue: Some(0),
                memory: Some(40 << 20),
                processes: Some(2),
                alerts: 1,
                ..NodeRow::named("b@h", NodeState::Degraded)
            },
            NodeRow { reason: Some("timeout".into()), ..NodeRow::named("c@h", NodeState::NoAnswer) },
        ];
        let p = |node: u16, id: u32, label: &str, current: &str, mem: u64, reds: u64, q: u64| {
            ProcRow::new(node, format!("#PID<0.{id}.0>"), label.into(), current.into(), "", mem, reds, q)
        };
        let processes = vec![
            p(0, 10, ":code_server", ":code_server.loop/1", 500_000, 10, 0),
            p(0, 11, "Bank.Ledger", "Bank.Ledger.handle_call/3", 300_000, 9_000, 2),
            p(0, 12, ":rex", ":gen_server.loop/7", 100_000, 50, 0),
            p(1, 20, "Bank.Mailbox", "Process.sleep/1", 4_000_000, 5, 19_000),
            p(1, 21, "Bank.Account.init/1", ":gen_server.loop/7", 2_000, 70_000, 1),
        ];
        Snapshot {
            time: "12:00:00".into(),
            nodes,
            processes,
            alerts: vec![AlertLine {
                level: "degraded".into(),
                text: "Bank.Mailbox #PID<0.20.0> on b@h has 19,000 messages queued (threshold 10,000)".into(),
            }],
            partition: None,
            waiting: false,
        }
    }

    pub(crate) fn app() -> App {
        let mut app = App::new(false, (120, 40));
        app.set_snapshot(Arc::new(sample()));
        app
    }

    fn pids(app: &App) -> Vec<String> {
        app.view(100).rows.iter().map(|p| p.pid.clone()).collect()
    }

    #[test]
    fn sort_keys_change_the_order() {
        let mut app = app();
        assert_eq!(pids(&app)[0], "#PID<0.20.0>", "memory first by default");
        assert_eq!(app.handle_key(ch('2')), Action::QueryChanged);
        assert_eq!(app.sort, SortKey::Reductions);
        assert_eq!(pids(&app), ["#PID<0.21.0>", "#PID<0.11.0>", "#PID<0.12.0>", "#PID<0.10.0>", "#PID<0.20.0>"]);
        assert_eq!(app.handle_key(ch('3')), Action::QueryChanged);
        assert_eq!(pids(&app)[..2], ["#PID<0.20.0>", "#PID<0.11.0>"]);
        // `s` cycles: queue → memory.
        assert_eq!(app.handle_key(ch('s')), Action::QueryChanged);
        assert_eq!(app.sort, SortKey::Memory);
        assert_eq!(pids(&app), ["#PID<0.20.0>", "#PID<0.10.0>", "#PID<0.11.0>", "#PID<0.12.0>", "#PID<0.21.0>"]);
        // The same key again changes nothing.
        assert_eq!(app.handle_key(ch('1')), Action::None);
    }

    #[test]
    fn the_filter_narrows_rows_by_name_or_module() {
        let mut app = app();
        assert_eq!(app.handle_key(ch('/')), Action::Redraw);
        assert!(app.editing_filter);
        for c in "bank.".chars() {
            assert_eq!(app.handle_key(ch(c)), Action::QueryChanged);
        }
        assert_eq!(app.query().filter, "bank.");
        assert_eq!(pids(&app), ["#PID<0.20.0>", "#PID<0.11.0>", "#PID<0.21.0>"]);
        // While typing, `q` is text, not quit.
        assert_eq!(app.handle_key(ch('q')), Action::QueryChanged);
        assert_eq!(app.view(10).total, 0);
        assert_eq!(app.handle_key(key(KeyCode::Backspace)), Action::QueryChanged);
        assert_eq!(app.handle_key(key(KeyCode::Enter)), Action::Redraw);
        assert!(!app.editing_filter);
        // By module of the current function.
        app.filter = "gen_server".into();
        assert_eq!(pids(&app), ["#PID<0.12.0>", "#PID<0.21.0>"]);
        // Esc clears it.
        assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::QueryChanged);
        assert_eq!(app.view(10).total, 5);
    }

    #[test]
    fn a_node_can_be_picked_in_turn() {
        let mut app = app();
        assert_eq!(app.handle_key(ch('n')), Action::Redraw);
        assert_eq!(app.node.as_deref(), Some("a@h"));
        assert_eq!(pids(&app), ["#PID<0.10.0>", "#PID<0.11.0>", "#PID<0.12.0>"]);
        app.handle_key(ch('n'));
        assert_eq!(pids(&app), ["#PID<0.20.0>", "#PID<0.21.0>"]);
        app.handle_key(ch('n'));
        assert_eq!(app.node.as_deref(), Some("c@h"));
        assert_eq!(app.view(10).total, 0, "the node that does not answer has no rows");
        app.handle_key(ch('n'));
        assert_eq!(app.node, None, "then every node again");
        app.handle_key(ch('N'));
        assert_eq!(app.node.as_deref(), Some("c@h"));
    }

    #[test]
    fn selection_moves_and_stays_in_view() {
        let mut app = app();
        assert_eq!(app.handle_key(key(KeyCode::Up)), Action::None, "already at the top");
        assert_eq!(app.handle_key(key(KeyCode::Down)), Action::Redraw);
        assert_eq!(app.selected_target().unwrap().pid, "#PID<0.10.0>");
        app.handle_key(key(KeyCode::End));
        assert_eq!(app.selected, 4);
        assert_eq!(app.handle_key(key(KeyCode::Down)), Action::None, "already at the bottom");
        // A small terminal: the selection scrolls the table.
        app.handle_event(&Event::Resize(80, 12));
        let rows = crate::dashboard::ui::process_rows(&app);
        let view = app.view(rows);
        assert!(view.offset <= 4 && 4 < view.offset + view.rows.len().max(1), "{view:?}");
        app.handle_key(key(KeyCode::Home));
        assert_eq!((app.selected, app.offset), (0, 0));
    }

    #[test]
    fn kill_asks_first_and_n_cancels() {
        let mut app = app();
        assert_eq!(app.handle_key(ch('k')), Action::Redraw);
        let target = app.confirm.clone().expect("a confirmation");
        assert_eq!(target.pid, "#PID<0.20.0>");
        assert_eq!(target.node, "b@h");
        // Other keys do nothing while it asks.
        assert_eq!(app.handle_key(ch('q')), Action::None);
        assert_eq!(app.handle_key(key(KeyCode::Down)), Action::None);
        assert_eq!(app.handle_key(ch('n')), Action::Redraw);
        assert!(app.confirm.is_none());
        assert!(app.message.as_ref().unwrap().text.contains("cancelled"));
        // Asked again, `y` kills that process.
        app.handle_key(ch('k'));
        assert_eq!(app.handle_key(ch('y')), Action::Kill(target.clone()));
        assert!(app.confirm.is_none());
        app.kill_done(Ok(format!("{} exited: :killed", target.pid)));
        assert!(!app.message.as_ref().unwrap().error);
    }

    #[test]
    fn read_only_refuses_kill_and_names_the_mode() {
        let mut app = app();
        app.read_only = true;
        assert_eq!(app.handle_key(ch('k')), Action::Redraw);
        assert!(app.confirm.is_none(), "no confirmation in read-only mode");
        let m = app.message.clone().unwrap();
        assert!(m.error);
        assert!(m.text.contains("read-only mode") && m.text.contains("ORBIT_READ_ONLY=1"), "{}", m.text);
        // From the inspect view too.
        app.handle_key(key(KeyCode::Enter));
        assert_eq!(app.handle_key(ch('k')), Action::Redraw);
        assert!(app.confirm.is_none());
    }

    #[test]
    fn enter_opens_the_inspect_view_and_esc_closes_it() {
        let mut app = app();
        app.handle_key(key(KeyCode::Down));
        let action = app.handle_key(key(KeyCode::Enter));
        let Action::Inspect(t) = action else { panic!("{action:?}") };
        assert_eq!((t.node.as_str(), t.pid.as_str(), t.label.as_str()), ("a@h", "#PID<0.10.0>", ":code_server"));
        assert!(app.inspect.as_ref().unwrap().info.is_none());
        app.inspect_done(&t, Err("no process #PID<0.10.0> on a@h (it may have exited)".into()));
        assert!(app.inspect.as_ref().unwrap().info.is_some());
        assert_eq!(app.handle_key(ch('r')), Action::Inspect(t.clone()), "r reads it again");
        assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::Redraw);
        assert!(app.inspect.is_none());
        // An answer for a view that was closed is dropped.
        app.inspect_done(&t, Err("late".into()));
        assert!(app.inspect.is_none());
    }

    #[test]
    fn quit_from_the_list_from_inspect_and_with_ctrl_c_while_typing() {
        let mut app = app();
        assert_eq!(app.handle_key(ch('q')), Action::Quit);
        app.handle_key(key(KeyCode::Enter));
        assert_eq!(app.handle_key(ch('q')), Action::Quit);
        let mut app = self::app();
        app.handle_key(ch('/'));
        let ctrl_c = KeyEvent { modifiers: KeyModifiers::CONTROL, ..ch('c') };
        assert_eq!(app.handle_key(ctrl_c), Action::Quit);
        // Key releases are not presses.
        let release = KeyEvent { kind: KeyEventKind::Release, ..ch('q') };
        assert_eq!(self::app().handle_key(release), Action::None);
    }

    #[test]
    fn help_opens_and_any_key_closes_it() {
        let mut app = app();
        assert_eq!(app.handle_key(ch('?')), Action::Redraw);
        assert!(app.help);
        assert_eq!(app.handle_key(ch('q')), Action::Redraw, "q closes the help, it does not quit");
        assert!(!app.help);
    }

    #[test]
    fn a_new_snapshot_keeps_the_selection_within_the_rows() {
        let mut app = app();
        app.handle_key(key(KeyCode::End));
        let mut s = sample();
        s.processes.truncate(2);
        app.set_snapshot(Arc::new(s));
        assert_eq!(app.selected, 1);
        app.set_snapshot(Arc::new(Snapshot::default()));
        assert_eq!(app.selected, 0);
        assert!(app.selected_target().is_none());
        assert_eq!(app.handle_key(ch('k')), Action::Redraw);
        assert!(app.confirm.is_none());
    }
}
