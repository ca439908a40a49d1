//! `orbit trace calls` with a condition written as an Elixir function head, against a real cluster of
//! `fixtures/demo`: only the calls that match are shown, and what a match spec cannot express is refused
//! with the expression before anything is traced.

use orbit_test_harness::{run_within, TestCluster};
use std::process::{Command, Output};
use std::time::Duration;

fn orbit(nodes: &TestCluster, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orbit"));
    cmd.args(args).args(["--node", nodes.name(0), "--cookie", &nodes.cookie]).env("ORBIT_LOG", "error");
    run_within(&mut cmd, &format!("orbit {}", args.join(" ")), Duration::from_secs(120))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The trace's checks run on the nodes, nothing is left traced there: `{{all,false},0}` is no pattern on
/// `Bank.Fees.fee_for/1` and no trace session of Orbit's tracer (OTP 27+: it traces in one of its own).
fn untraced(nodes: &TestCluster, i: usize) -> String {
    let expr = "{erlang:trace_info({'Elixir.Bank.Fees', fee_for, 1}, all), \
                case code:ensure_loaded(trace) of \
                    {module, trace} -> length([S || {orbit_trace, _} = S <- trace:session_info(all)]); \
                    _ -> 0 \
                end}.";
    nodes.eval(i, expr).unwrap_or_else(|e| e).split_whitespace().collect()
}

#[test]
fn elixir_conditions_pick_the_calls_and_what_a_match_spec_cannot_express_is_refused() {
    let nodes = TestCluster::demo(2);

    // Calls on node 1 for as long as the trace may take to start and run: 50 and 151 do not match.
    let caller = {
        let (name, cookie) = (nodes.name(1).to_string(), nodes.cookie.clone());
        let expr = "[begin 'Elixir.Bank.Fees':fee_for(A), timer:sleep(20) end || _ <- lists:seq(1, 120), \
                    A <- [50, 150, 151, 300]], ok.";
        std::thread::spawn(move || orbit_test_harness::erl_call(&name, &cookie, expr))
    };
    let out = orbit(
        &nodes,
        &[
            "trace",
            "calls",
            "Bank.Fees.fee_for(amount) when amount > 100 and rem(amount, 2) == 0",
            "--limit",
            "6",
            "--duration",
            "20",
        ],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let calls: Vec<&str> = t.lines().filter(|l| l.contains(" call Bank.Fees.fee_for(")).collect();
    assert_eq!(calls.len(), 6, "{t}");
    assert!(calls.iter().all(|l| l.ends_with("fee_for(150)") || l.ends_with("fee_for(300)")), "{t}");
    assert!(calls.iter().all(|l| l.contains(nodes.name(1))), "the node of each call: {t}");
    let _ = caller.join();

    // What a match spec cannot express: refused, naming the expression, nothing traced.
    let out =
        orbit(&nodes, &["trace", "calls", "Bank.Fees.fee_for(amount) when String.length(amount) > 3", "--limit", "5"]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("`String.length(amount)` cannot be part of a match spec"), "{t}");
    let out = orbit(
        &nodes,
        &["trace", "calls", "Bank.Fees.fee_for(x) when x > 1", "--match", "fun([X]) -> true end", "--limit", "5"],
    );
    let t = text(&out);
    assert!(!out.status.success() && t.contains("has its own condition"), "{t}");
    for i in 0..2 {
        assert_eq!(untraced(&nodes, i), "{{all,false},0}", "node {i}");
    }
}
