//! Hot code reload and drift, against real 3-node clusters of the demo bank.
//!
//! Sources are copied to a temporary directory before they are changed: fixtures/ is never modified.

use beam::cluster::{Cluster, NodeUnavailable};
use beam::reload::{
    self, DriftFilter, DriftKind, ModuleVersion, NodeOutcome, OnNodeDown, Origin, ReloadError, ReloadOptions,
    ReloadOutcome, ReloadProgress,
};
use orbit_test_harness::{demo_dir, unique_name, TestCluster};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
mod common;
use common::join;

const FEES: &str = "Elixir.Bank.Fees";

/// A fresh temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = std::env::temp_dir().join(unique_name("orbit_reload_test"));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fixture_fees() -> PathBuf {
    demo_dir().join("lib/bank/fees.ex")
}

/// fees.ex with `fee_for/1` of a positive amount returning `fee + extra`.
fn fees_source(extra: u32) -> String {
    let original = std::fs::read_to_string(fixture_fees()).unwrap();
    let changed = original.replacen("    fee\n  end", &format!("    fee + {extra}\n  end"), 1);
    assert_ne!(original, changed, "fees.ex changed shape: update this test");
    changed
}

/// `Bank.Fees.fee_for(500)` on node `i` (5 in the fixture).
fn fee_on(nodes: &TestCluster, i: usize) -> String {
    nodes.eval(i, "'Elixir.Bank.Fees':fee_for(500).").unwrap()
}

/// The md5 node `i` runs of `module`, hex, or "not_loaded".
fn md5_on(nodes: &TestCluster, i: usize, module: &str) -> String {
    let expr = format!(
        "case code:is_loaded('{module}') of false -> not_loaded; _ -> \
         lists:flatten([io_lib:format(\"~2.16.0b\", [B]) || <<B>> <= erlang:get_module_info('{module}', md5)]) end."
    );
    nodes.eval(i, &expr).unwrap().trim_matches('"').to_string()
}

fn reload_opts() -> ReloadOptions {
    ReloadOptions { timeout: Duration::from_secs(60), ..ReloadOptions::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_module_reaches_every_node_with_one_md5_and_build_beams_are_used_when_newer() {
    let nodes = TestCluster::demo(3);
    let cluster = join(&nodes, 0).await;
    for i in 0..3 {
        assert_eq!(fee_on(&nodes, i), "5");
    }
    let original = md5_on(&nodes, 0, FEES);

    let dir = TempDir::new();
    let file = dir.write("fees.ex", &fees_source(1000));
    let steps = Arc::new(Mutex::new(Vec::new()));
    let seen = steps.clone();
    let opts = ReloadOptions {
        progress: Some(Arc::new(move |p: &ReloadProgress| seen.lock().unwrap().push(p.clone()))),
        ..reload_opts()
    };
    let report = reload::reload(&cluster, std::slice::from_ref(&file), &opts).await.expect("reload");
    assert_eq!(report.outcome, ReloadOutcome::Loaded, "{report:#?}");
    assert!(report.consistent, "{report:#?}");
    assert_eq!(report.modules.len(), 1);
    let built = &report.modules[0];
    assert_eq!(built.module, FEES);
    assert!(matches!(built.origin, Origin::Compiled { .. }), "{:?}", built.origin);
    assert_ne!(built.md5, original);
    assert_eq!(report.nodes.len(), 3);
    for n in &report.nodes {
        assert_eq!(n.outcome, NodeOutcome::Loaded, "{n:?}");
        assert_eq!(n.modules[0].md5.as_deref(), Some(built.md5.as_str()));
        assert_eq!(n.modules[0].previous_md5.as_deref(), Some(original.as_str()));
    }
    // Checked from the nodes themselves: same md5 everywhere, new behaviour everywhere.
    for i in 0..3 {
        assert_eq!(md5_on(&nodes, i, FEES), built.md5);
        assert_eq!(fee_on(&nodes, i), "1005");
    }
    // The debugger needs the abstract code: the loaded binary (kept by the agent for rollbacks) has it.
    let has_debug_info = nodes.eval(
        1,
        "[{_, _, _, Bin}] = ets:lookup(orbit_reload_store, 'Elixir.Bank.Fees'), \
         {ok, {_, [{debug_info, {debug_info_v1, _, _}}]}} = beam_lib:chunks(Bin, [debug_info]), true.",
    );
    assert_eq!(has_debug_info.as_deref(), Ok("true"));
    // module_info(compile) names the file that was reloaded.
    let src = nodes.eval(1, "proplists:get_value(source, 'Elixir.Bank.Fees':module_info(compile)).").unwrap();
    assert!(src.contains(&file.file_name().unwrap().to_string_lossy().to_string()), "{src}");
    let steps = steps.lock().unwrap().clone();
    let phase = |p: &ReloadProgress| std::mem::discriminant(p);
    let order: Vec<_> = steps.iter().map(phase).collect();
    let staged = order.iter().position(|d| *d == phase(&ReloadProgress::Staged { nodes: vec![] })).unwrap();
    let loading = order.iter().position(|d| *d == phase(&ReloadProgress::Loading { nodes: vec![] })).unwrap();
    assert!(staged < loading, "{steps:?}");

    // The fixture's own source has newer beams in _build: those are loaded, not a fresh compile.
    let report = reload::reload(&cluster, &[fixture_fees()], &reload_opts()).await.expect("reload from _build");
    assert_eq!(report.outcome, ReloadOutcome::Loaded, "{report:#?}");
    assert!(matches!(&report.modules[0].origin, Origin::Build { beam } if beam.ends_with("Elixir.Bank.Fees.beam")));
    assert_eq!(report.modules[0].md5, original);
    for i in 0..3 {
        assert_eq!(md5_on(&nodes, i, FEES), original);
        assert_eq!(fee_on(&nodes, i), "5");
    }
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_shows_a_node_on_another_version_and_a_reload_fixes_it() {
    let nodes = TestCluster::demo(3);
    let cluster = join(&nodes, 0).await;
    for i in 0..3 {
        fee_on(&nodes, i); // loads Bank.Fees everywhere
    }
    let app = DriftFilter::App("bank".into());
    let t = Duration::from_secs(30);
    let before = reload::drift(&cluster, &app, None, t).await.unwrap();
    assert!(before.module(FEES).is_none(), "{before:#?}");
    assert!(before.checked >= 10, "every module of :bank is compared: {before:#?}");

    let dir = TempDir::new();
    let file = dir.write("fees.ex", &fees_source(7));
    let one = nodes.name(0).to_string();
    let opts = ReloadOptions { nodes: Some(vec![one.clone()]), ..reload_opts() };
    let report = reload::reload(&cluster, std::slice::from_ref(&file), &opts).await.unwrap();
    assert_eq!(report.outcome, ReloadOutcome::Loaded);
    assert_eq!(report.nodes.len(), 1);
    assert_eq!(fee_on(&nodes, 0), "12");
    assert_eq!(fee_on(&nodes, 1), "5");

    for filter in [app.clone(), DriftFilter::Prefix("Elixir.Bank.".into()), DriftFilter::All] {
        let drift = reload::drift(&cluster, &filter, None, t).await.unwrap();
        let fees = drift.module(FEES).unwrap_or_else(|| panic!("{filter:?}: {drift:#?}"));
        assert_eq!(fees.kind, DriftKind::Different);
        assert_eq!(fees.versions.len(), 3);
        let v0 = &fees.versions[&one];
        let v1 = &fees.versions[nodes.name(1)];
        assert!(matches!((v0, v1), (ModuleVersion::Loaded { md5: a }, ModuleVersion::Loaded { md5: b }) if a != b));
        assert_eq!(fees.versions[nodes.name(1)], fees.versions[nodes.name(2)]);
        assert!(drift.modules.iter().all(|m| !m.module.starts_with("orbit_")), "Orbit's agent is not drift");
    }

    let report = reload::reload(&cluster, &[file], &reload_opts()).await.unwrap();
    assert_eq!(report.outcome, ReloadOutcome::Loaded);
    assert!(report.consistent);
    let after = reload::drift(&cluster, &app, None, t).await.unwrap();
    assert!(after.module(FEES).is_none(), "{after:#?}");
    for i in 0..3 {
        assert_eq!(fee_on(&nodes, i), "12");
    }
    let err = reload::drift(&cluster, &DriftFilter::App("no_such_app".into()), None, t).await.unwrap_err();
    assert!(matches!(err, ReloadError::UnknownApp { .. }), "{err}");
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_error_loads_nothing_anywhere_and_bad_inputs_are_named() {
    let nodes = TestCluster::demo(3);
    let cluster = join(&nodes, 0).await;
    for i in 0..3 {
        fee_on(&nodes, i); // modules load lazily: load it everywhere first
    }
    let original: Vec<String> = (0..3).map(|i| md5_on(&nodes, i, FEES)).collect();
    let dir = TempDir::new();

    // A good file and a broken one: the good one is not loaded either.
    let good = dir.write("fees.ex", &fees_source(3));
    let broken_text = "defmodule Bank.Broken do\n  def f(x) do\n    x +\n  end\nend\n";
    let broken = dir.write("broken.ex", broken_text);
    let err = reload::reload(&cluster, &[good.clone(), broken.clone()], &reload_opts()).await.unwrap_err();
    let ReloadError::Compile { diagnostics } = &err else { panic!("expected a compile error, got {err}") };
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let d = &diagnostics[0];
    assert!(d.file.ends_with("broken.ex"), "{d:?}");
    assert!(d.line == 3 || d.line == 4, "the error is on the line of the `+` or the next: {d:?}");
    assert!(err.to_string().contains("broken.ex:"), "{err}");
    for (i, md5) in original.iter().enumerate() {
        assert_eq!(&md5_on(&nodes, i, FEES), md5, "node {i} loaded nothing");
        assert_eq!(fee_on(&nodes, i), "5");
        assert_eq!(md5_on(&nodes, i, "Elixir.Bank.Broken"), "not_loaded");
    }

    // An Erlang error names its line too.
    let erl =
        dir.write("orbit_t_bad.erl", "-module(orbit_t_bad).\n-export([f/0]).\nf() ->\n    undefined_var.\ng( ->\n");
    let err = reload::reload(&cluster, &[erl], &reload_opts()).await.unwrap_err();
    let ReloadError::Compile { diagnostics } = &err else { panic!("{err}") };
    assert!(diagnostics.iter().any(|d| d.line == 5 && d.file.ends_with("orbit_t_bad.erl")), "{diagnostics:?}");
    for i in 0..3 {
        assert_eq!(md5_on(&nodes, i, "orbit_t_bad"), "not_loaded");
    }

    // Bad inputs.
    let err = reload::reload(&cluster, &[], &reload_opts()).await.unwrap_err();
    assert!(matches!(err, ReloadError::NoFiles));
    let err = reload::reload(&cluster, &[dir.0.join("missing.ex")], &reload_opts()).await.unwrap_err();
    assert!(matches!(err, ReloadError::Io { .. }) && err.to_string().contains("missing.ex"), "{err}");
    let txt = dir.write("notes.txt", "hello");
    let err = reload::reload(&cluster, &[txt], &reload_opts()).await.unwrap_err();
    assert!(matches!(err, ReloadError::Unsupported(_)), "{err}");
    let opts = ReloadOptions { nodes: Some(vec!["nobody@nowhere".into()]), ..reload_opts() };
    let err = reload::reload(&cluster, &[good], &opts).await.unwrap_err();
    assert!(
        matches!(err, ReloadError::Unavailable(NodeUnavailable::Unknown { .. }))
            && err.to_string().contains("nobody@nowhere"),
        "{err}"
    );
    cluster.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_after_staging_is_reported_and_the_others_finish_or_roll_back() {
    let started = TestCluster::demo(3);
    let cluster = join(&started, 0).await;
    let names = started.names();
    let nodes = Arc::new(Mutex::new(started));
    let original = md5_on(&nodes.lock().unwrap(), 0, FEES);
    let dir = TempDir::new();

    // Node 2 dies once every node has staged the code; the others load it (default policy).
    let file = dir.write("fees.ex", &fees_source(100));
    let hook = kill_when_staged(nodes.clone(), 2);
    let opts = ReloadOptions { progress: Some(hook), ..reload_opts() };
    let report = reload::reload(&cluster, &[file], &opts).await.unwrap();
    assert_eq!(report.outcome, ReloadOutcome::Partial, "{report:#?}");
    let dead = report.node(&names[2]).unwrap();
    assert_eq!(dead.outcome, NodeOutcome::Down, "{dead:?}");
    assert!(dead.error.as_deref().unwrap_or("").contains("went down"), "{dead:?}");
    let new_md5 = report.modules[0].md5.clone();
    for (i, name) in names.iter().enumerate().take(2) {
        assert_eq!(report.node(name).unwrap().outcome, NodeOutcome::Loaded);
        assert_eq!(md5_on(&nodes.lock().unwrap(), i, FEES), new_md5);
        assert_eq!(fee_on(&nodes.lock().unwrap(), i), "105");
    }
    assert!(report.consistent);
    assert_ne!(new_md5, original);

    // With RollBack, node 1 dying makes node 0 go back to what it ran.
    wait_until_down(&cluster, &names[2]).await;
    let file = dir.write("fees.ex", &fees_source(200));
    let hook = kill_when_staged(nodes.clone(), 1);
    let opts = ReloadOptions { progress: Some(hook), on_node_down: OnNodeDown::RollBack, ..reload_opts() };
    let report = reload::reload(&cluster, &[file], &opts).await.unwrap();
    assert_eq!(report.outcome, ReloadOutcome::RolledBack, "{report:#?}");
    assert_eq!(report.node(&names[1]).unwrap().outcome, NodeOutcome::Down);
    let survivor = report.node(&names[0]).unwrap();
    assert_eq!(survivor.outcome, NodeOutcome::RolledBack, "{survivor:?}");
    assert_eq!(survivor.modules[0].md5.as_deref(), Some(new_md5.as_str()));
    assert!(survivor.modules[0].rollback.as_deref().unwrap_or("").starts_with("restored"), "{survivor:?}");
    assert_eq!(md5_on(&nodes.lock().unwrap(), 0, FEES), new_md5);
    assert_eq!(fee_on(&nodes.lock().unwrap(), 0), "105");
    cluster.disconnect().await;
}

/// A progress hook that kills node `i` when the reload reports that every node has staged the code.
fn kill_when_staged(nodes: Arc<Mutex<TestCluster>>, i: usize) -> reload::ProgressFn {
    Arc::new(move |p: &ReloadProgress| {
        if let ReloadProgress::Staged { .. } = p {
            nodes.lock().unwrap().nodes[i].kill();
        }
    })
}

async fn wait_until_down(cluster: &Cluster, node: &str) {
    for _ in 0..400 {
        if !cluster.up_nodes().iter().any(|n| n == node) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{node} still up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_refuses_the_load_rolls_back_the_nodes_that_loaded() {
    let started = TestCluster::demo(3);
    let cluster = join(&started, 0).await;
    let names = started.names();
    let nodes = Arc::new(Mutex::new(started));
    let original: Vec<String> = {
        let n = nodes.lock().unwrap();
        // Loaded everywhere first: a module that is not loaded cannot be made sticky.
        (0..3).map(|i| (fee_on(&n, i), md5_on(&n, i, FEES)).1).collect()
    };
    let dir = TempDir::new();
    let file = dir.write("fees.ex", &fees_source(9));
    // Between staging and loading, node 1 makes the module sticky: its load fails.
    let n = nodes.clone();
    let hook: reload::ProgressFn = Arc::new(move |p: &ReloadProgress| {
        if let ReloadProgress::Staged { .. } = p {
            assert_eq!(n.lock().unwrap().eval(1, "code:stick_mod('Elixir.Bank.Fees').").unwrap(), "true");
        }
    });
    let opts = ReloadOptions { progress: Some(hook), ..reload_opts() };
    let report = reload::reload(&cluster, std::slice::from_ref(&file), &opts).await.unwrap();
    assert_eq!(report.outcome, ReloadOutcome::RolledBack, "{report:#?}");
    let refused = report.node(&names[1]).unwrap();
    assert_eq!(refused.outcome, NodeOutcome::Failed);
    assert!(refused.error.as_deref().unwrap_or("").contains("sticky"), "{refused:?}");
    for i in [0, 2] {
        let r = report.node(&names[i]).unwrap();
        assert_eq!(r.outcome, NodeOutcome::RolledBack, "{r:?}");
    }
    assert!(report.consistent, "{report:#?}");
    for (i, md5) in original.iter().enumerate() {
        assert_eq!(&md5_on(&nodes.lock().unwrap(), i, FEES), md5, "node {i} runs what it ran before");
        assert_eq!(fee_on(&nodes.lock().unwrap(), i), "5");
    }
    // Once the module is not sticky, the same reload goes through.
    nodes.lock().unwrap().eval(1, "code:unstick_mod('Elixir.Bank.Fees').").unwrap();
    let report = reload::reload(&cluster, &[file], &reload_opts()).await.unwrap();
    assert_eq!(report.outcome, ReloadOutcome::Loaded, "{report:#?}");
    for i in 0..3 {
        assert_eq!(fee_on(&nodes.lock().unwrap(), i), "14");
    }
    cluster.disconnect().await;
}

const LOOPER: &str = "-module(orbit_t_looper).
-export([start/0, loop/0, version/0]).
-define(VERSION, VSN).

version() -> ?VERSION.

%% A process that stays in this version of the module: its receive is a local call.
start() -> register(orbit_t_looper, spawn(fun loop/0)), ok.

loop() ->
    receive
        stop -> ok
    end.
";

fn looper(dir: &TempDir, version: u32) -> PathBuf {
    dir.write("orbit_t_looper.erl", &LOOPER.replace("VSN", &version.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_code_still_in_use_is_reported_and_purged_only_when_asked() {
    let nodes = TestCluster::demo(3);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    let dir = TempDir::new();

    // v1, a new module (Erlang, with a macro): loaded everywhere.
    let report = reload::reload(&cluster, &[looper(&dir, 1)], &reload_opts()).await.unwrap();
    assert_eq!(report.outcome, ReloadOutcome::Loaded, "{report:#?}");
    assert!(report.nodes.iter().all(|n| n.modules[0].previous_md5.is_none()));
    assert_eq!(nodes.eval(2, "orbit_t_looper:version().").unwrap(), "1");
    assert_eq!(nodes.eval(0, "orbit_t_looper:start().").unwrap(), "ok");
    let pid = nodes.eval(0, "pid_to_list(whereis(orbit_t_looper)).").unwrap().trim_matches('"').to_string();

    // v2: the looper on node 0 still runs v1, which is reported and left alone.
    let report = reload::reload(&cluster, &[looper(&dir, 2)], &reload_opts()).await.unwrap();
    assert_eq!(report.outcome, ReloadOutcome::Loaded, "{report:#?}");
    let n0 = report.node(&names[0]).unwrap();
    assert_eq!(n0.modules[0].old_code_processes, vec![pid.clone()], "{n0:?}");
    assert!(n0.modules[0].killed.is_empty());
    assert!(report.node(&names[1]).unwrap().modules[0].old_code_processes.is_empty());
    assert_eq!(nodes.eval(0, "is_process_alive(whereis(orbit_t_looper)).").unwrap(), "true");
    let v2 = report.modules[0].md5.clone();

    // v3 would have to purge v1 and kill the looper: refused everywhere unless asked.
    let report = reload::reload(&cluster, &[looper(&dir, 3)], &reload_opts()).await.unwrap();
    assert_eq!(report.outcome, ReloadOutcome::Aborted, "{report:#?}");
    let n0 = report.node(&names[0]).unwrap();
    assert_eq!(n0.outcome, NodeOutcome::Failed);
    assert!(n0.error.as_deref().unwrap_or("").contains(&pid), "{n0:?}");
    for (i, name) in names.iter().enumerate() {
        assert_eq!(md5_on(&nodes, i, "orbit_t_looper"), v2, "nothing loaded on node {i}");
        assert_ne!(report.node(name).unwrap().outcome, NodeOutcome::Loaded);
    }

    let opts = ReloadOptions { purge: true, ..reload_opts() };
    let report = reload::reload(&cluster, &[looper(&dir, 3)], &opts).await.unwrap();
    assert_eq!(report.outcome, ReloadOutcome::Loaded, "{report:#?}");
    assert_eq!(report.node(&names[0]).unwrap().modules[0].killed, vec![pid], "{report:#?}");
    assert_eq!(nodes.eval(0, "whereis(orbit_t_looper).").unwrap(), "undefined");
    for i in 0..3 {
        assert_eq!(nodes.eval(i, "orbit_t_looper:version().").unwrap(), "3");
    }
    cluster.disconnect().await;
}

const REFUSER: &str = "-module(orbit_t_refuser).
-export([hello/0]).
-on_load(init/0).

%% Refuses to load on a node whose kernel environment says so.
init() ->
    case application:get_env(kernel, orbit_t_refuse) of
        {ok, true} -> refused_here;
        _ -> ok
    end.

hello() -> world.
";

/// A module new to the cluster whose `-on_load` refuses on one node: that node says why in words, and the
/// nodes that had loaded it remove it again (it was not loaded before), so no node runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_module_refused_by_its_on_load_on_one_node_is_removed_everywhere() {
    let nodes = TestCluster::erlang(3);
    let cluster = join(&nodes, 0).await;
    let names = nodes.names();
    assert_eq!(nodes.eval(1, "application:set_env(kernel, orbit_t_refuse, true).").as_deref(), Ok("ok"));
    let dir = TempDir::new();
    let file = dir.write("orbit_t_refuser.erl", REFUSER);
    let report = reload::reload(&cluster, std::slice::from_ref(&file), &reload_opts()).await.unwrap();
    assert_eq!(report.outcome, ReloadOutcome::RolledBack, "{report:#?}");
    let refused = report.node(&names[1]).unwrap();
    assert_eq!(refused.outcome, NodeOutcome::Failed, "{refused:?}");
    assert!(refused.error.as_deref().unwrap_or("").contains("-on_load function failed"), "{refused:?}");
    for i in [0, 2] {
        let r = report.node(&names[i]).unwrap();
        assert_eq!(r.outcome, NodeOutcome::RolledBack, "{r:?}");
        let rollback = r.modules[0].rollback.as_deref().unwrap_or("");
        assert_eq!(rollback, "removed (it was not loaded before)", "{r:?}");
    }
    for i in 0..3 {
        assert_eq!(md5_on(&nodes, i, "orbit_t_refuser"), "not_loaded", "node {i}");
    }
    // Allowed everywhere, the same reload loads it on every node.
    nodes.eval(1, "application:unset_env(kernel, orbit_t_refuse).").unwrap();
    let report = reload::reload(&cluster, &[file], &reload_opts()).await.unwrap();
    assert_eq!(report.outcome, ReloadOutcome::Loaded, "{report:#?}");
    for i in 0..3 {
        assert_eq!(nodes.eval(i, "orbit_t_refuser:hello().").as_deref(), Ok("world"));
    }
    cluster.disconnect().await;
}

/// A reload cancelled once its code is built loads nothing anywhere; one cancelled while the nodes stage
/// it ends their stages and loads nothing either. Each node's line says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_reload_loads_nothing_anywhere() {
    let nodes = TestCluster::erlang(2);
    let cluster = join(&nodes, 0).await;
    let dir = TempDir::new();
    for (while_staging, says) in [(false, "cancelled"), (true, "cancelled before loading")] {
        let token = tokio_util::sync::CancellationToken::new();
        let cancel = token.clone();
        let progress: reload::ProgressFn = Arc::new(move |p: &ReloadProgress| {
            let now = match p {
                ReloadProgress::Compiled { .. } => !while_staging,
                ReloadProgress::Staging { .. } => while_staging,
                _ => false,
            };
            if now {
                cancel.cancel();
            }
        });
        let options = ReloadOptions { progress: Some(progress), cancel: Some(token), ..reload_opts() };
        let report = reload::reload(&cluster, &[looper(&dir, 1)], &options).await.unwrap();
        assert_eq!(report.outcome, ReloadOutcome::Aborted, "{report:#?}");
        assert_eq!(report.nodes.len(), 2);
        for n in &report.nodes {
            assert_eq!((n.outcome, n.error.as_deref()), (NodeOutcome::NotLoaded, Some(says)), "{n:?}");
        }
        for i in 0..2 {
            assert_eq!(md5_on(&nodes, i, "orbit_t_looper"), "not_loaded", "node {i}");
        }
    }
    cluster.disconnect().await;
}
