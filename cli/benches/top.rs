//! One frame of `orbit top`'s dashboard for 20 nodes × 10,000 processes (200,000 rows in the snapshot):
//! filtering and sorting all of them (a partial sort, as far as the last visible row) and drawing the
//! visible rows, through ratatui's `TestBackend` at 200 × 60. Each frame is timed from the start of the
//! draw to the end of the buffer diff, which is all the work a frame does except the terminal's write.
//!
//! Run with `scripts/bench` (or `cargo bench -p orbit-cli --bench top`). Prints p50/p99 per case.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use orbit_cli::dashboard::{render, App, NodeRow, NodeState, ProcRow, Snapshot};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::sync::Arc;
use std::time::Instant;

const NODES: usize = 20;
const PER_NODE: usize = 10_000;
const FRAMES: usize = 60;
const SIZE: (u16, u16) = (200, 60);

/// xorshift64*: the same data on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn snapshot() -> Snapshot {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let functions = [":gen_server.loop/7", "Process.sleep/1", ":prim_inet.recv0/3", "Bank.Ledger.handle_call/3"];
    let nodes: Vec<NodeRow> = (0..NODES)
        .map(|i| NodeRow {
            cpu: Some(0.1 + i as f64 / 100.0),
            run_queue: Some(i as u64 % 3),
            memory: Some((200 + i as u64) << 20),
            memory_limit: Some(16 << 30),
            processes: Some(PER_NODE as u64),
            ..NodeRow::named(format!("bank_{i:02}@bench-host"), NodeState::Healthy)
        })
        .collect();
    let mut processes = Vec::with_capacity(NODES * PER_NODE);
    for n in 0..NODES {
        for p in 0..PER_NODE {
            let r = rng.next();
            let label = match p % 10 {
                0 => format!("Bank.Account.{p}"),
                1 => format!("Bank.Worker.{}", p % 97),
                _ => "Bank.Account.init/1".to_string(),
            };
            processes.push(ProcRow::new(
                n as u16,
                format!("#PID<0.{}.0>", 100 + p),
                label,
                functions[(r % 4) as usize].to_string(),
                "Bank.Account.init/1",
                2_000 + (r >> 8) % 5_000_000,
                (r >> 16) % 10_000_000,
                if p % 1_000 == 0 { (r >> 24) % 50_000 } else { 0 },
            ));
        }
    }
    Snapshot { time: "12:00:00".into(), nodes, processes, alerts: vec![], partition: None, waiting: false }
}

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent { code: c, modifiers: KeyModifiers::NONE, kind: KeyEventKind::Press, state: KeyEventState::NONE }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (percentile(&v, 0.50), percentile(&v, 0.99))
}

fn main() {
    let built = Instant::now();
    let snap = Arc::new(snapshot());
    let build_ms = built.elapsed().as_secs_f64() * 1e3;
    let mut terminal = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).unwrap();
    // Each case: keys that set it up, from a fresh app.
    let cases: Vec<(&str, Vec<KeyEvent>)> = vec![
        ("by memory, every process", vec![]),
        ("by reductions, every process", vec![key(KeyCode::Char('2'))]),
        ("by queue, every process", vec![key(KeyCode::Char('3'))]),
        (
            "filter \"bank.worker\" (10% match)",
            std::iter::once(key(KeyCode::Char('/')))
                .chain("bank.worker".chars().map(|c| key(KeyCode::Char(c))))
                .chain([key(KeyCode::Enter)])
                .collect(),
        ),
        ("one node picked", vec![key(KeyCode::Char('n'))]),
        ("last row selected (a full sort)", vec![key(KeyCode::End)]),
    ];
    println!(
        "orbit top frame, {NODES} nodes x {PER_NODE} processes ({} rows), {}x{} terminal, {FRAMES} frames per case (ms):",
        NODES * PER_NODE,
        SIZE.0,
        SIZE.1
    );
    let mut all = Vec::new();
    for (name, keys) in cases {
        let mut app = App::new(false, SIZE);
        app.set_snapshot(snap.clone());
        for k in keys {
            app.handle_key(k);
        }
        // Warm up, then time; a new snapshot each frame, as the refresh task sends them.
        terminal.draw(|f| render(&app, f)).unwrap();
        let mut times = Vec::with_capacity(FRAMES);
        for _ in 0..FRAMES {
            app.set_snapshot(snap.clone());
            let t0 = Instant::now();
            terminal.draw(|f| render(&app, f)).unwrap();
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        let shown = terminal.backend().buffer().content().iter().filter(|c| c.symbol() == "#").count();
        assert!(shown > 10, "{name}: rows were drawn");
        all.extend(times.iter().copied());
        let (p50, p99) = summary(times);
        println!("  {name:<36} p50 {p50:8.2}   p99 {p99:8.2}");
    }
    let (p50, p99) = summary(all);
    println!("  {:<36} p50 {p50:8.2}   p99 {p99:8.2}   (target < 100 ms)", "every frame");
    println!("  (building the 200,000-row snapshot, off the render path: {build_ms:.0} ms)");
}
