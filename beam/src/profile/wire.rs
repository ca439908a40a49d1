//! What `orbit_profile` takes and answers, as terms: the spec Orbit sends, and the check and result
//! each node sends back.

use super::model::{Counters, Mfa, NodeProfile};
use super::{Sampling, Target};
use crate::term::{as_atom, as_integer, as_list, as_str, as_tuple, atom, binary, int, list, map, map_get_atom, tuple};
use eetf::Term;

/// The spec as `orbit_profile:check/1` and `start/1` take it.
#[allow(clippy::too_many_arguments)]
pub(super) fn spec_term(
    id: &eetf::Pid,
    owner: &str,
    targets: &[Target],
    duration_ms: u64,
    memory: bool,
    sampling: Sampling,
    sample_ms: Option<u64>,
    sample_max: u32,
    exclude: &[&str],
) -> Term {
    let targets = targets
        .iter()
        .map(|t| match t {
            Target::Module(m) => tuple(vec![atom("module"), atom(crate::names::module_atom(m))]),
            Target::App(a) => tuple(vec![atom("app"), atom(a.trim_start_matches(':'))]),
            Target::Match(p) => tuple(vec![atom("match"), binary(p.as_bytes())]),
        })
        .collect();
    let sample = match sampling {
        Sampling::Off => "none",
        Sampling::Running => "all",
        Sampling::Profiled => "profiled",
    };
    map(vec![
        (atom("id"), Term::from(id.clone())),
        (atom("owner"), atom(owner)),
        (atom("targets"), list(targets)),
        (atom("duration_ms"), int(duration_ms as i64)),
        (atom("memory"), atom(if memory { "true" } else { "false" })),
        (atom("sample"), atom(sample)),
        (atom("sample_ms"), sample_ms.map(|ms| int(ms as i64)).unwrap_or_else(|| atom("default"))),
        (atom("sample_max"), int(i64::from(sample_max))),
        (atom("exclude"), list(exclude.iter().map(atom).collect())),
    ])
}

/// One node's answer to `check/1`: per target, the modules found and those missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NodeCheck {
    /// Per target, in the spec's order: modules found, and the modules named but not loaded (`None`: an
    /// application the node does not know).
    pub targets: Vec<(Vec<String>, Option<Vec<String>>)>,
    pub functions: u64,
}

pub(super) fn decode_check(info: &Term) -> Option<NodeCheck> {
    let targets = as_list(map_get_atom(info, "targets")?)?
        .iter()
        .map(|t| {
            let [_, found, missing] = as_tuple(t)? else { return None };
            let found = atoms(found)?;
            let missing = if as_atom(missing) == Some("unknown") { None } else { Some(atoms(missing)?) };
            Some((found, missing))
        })
        .collect::<Option<Vec<_>>>()?;
    let functions = map_get_atom(info, "functions").and_then(as_integer).unwrap_or(0).max(0) as u64;
    Some(NodeCheck { targets, functions })
}

fn atoms(t: &Term) -> Option<Vec<String>> {
    as_list(t)?.iter().map(|a| as_atom(a).map(str::to_string)).collect()
}

/// What `start/1` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeStart {
    pub modules: Vec<String>,
    pub functions: u64,
    pub call_memory: bool,
    /// In a trace session of its own (OTP 27+).
    pub session: bool,
    /// How often the node samples stacks.
    pub sample_ms: u64,
}

pub(super) fn decode_start(info: &Term) -> NodeStart {
    NodeStart {
        modules: map_get_atom(info, "modules").and_then(atoms).unwrap_or_default(),
        functions: map_get_atom(info, "functions").and_then(as_integer).unwrap_or(0).max(0) as u64,
        call_memory: map_get_atom(info, "call_memory").and_then(as_atom) == Some("true"),
        session: map_get_atom(info, "session").and_then(as_atom) == Some("true"),
        sample_ms: map_get_atom(info, "sample_ms").and_then(as_integer).unwrap_or(0).max(0) as u64,
    }
}

fn count(t: Option<&Term>) -> u64 {
    t.and_then(as_integer).unwrap_or(0).max(0) as u64
}

fn mfa(t: &Term) -> Option<Mfa> {
    let [m, f, a] = as_tuple(t)? else { return None };
    Some(Mfa::new(as_atom(m)?, as_atom(f)?, u8::try_from(as_integer(a)?).ok()?))
}

/// One node's result of `collect/2`.
pub(super) fn decode_result(node: &str, r: &Term) -> Option<NodeProfile> {
    let functions = as_list(map_get_atom(r, "functions").unwrap_or(&list(vec![])))?
        .iter()
        .filter_map(|row| {
            let [m, f, a, calls, us, words] = as_tuple(row)? else { return None };
            let key = Mfa::new(as_atom(m)?, as_atom(f)?, u8::try_from(as_integer(a)?).ok()?);
            let c = Counters {
                calls: as_integer(calls)?.max(0) as u64,
                time_us: as_integer(us)?.max(0) as u64,
                words: as_integer(words).map(|w| w.max(0) as u64),
            };
            Some((key, c))
        })
        .collect();
    let stacks = map_get_atom(r, "stacks")
        .and_then(as_list)
        .map(|l| {
            l.iter()
                .filter_map(|s| {
                    let [frames, n] = as_tuple(s)? else { return None };
                    let frames = as_list(frames)?.iter().map(mfa).collect::<Option<Vec<_>>>()?;
                    Some((frames, as_integer(n)?.max(0) as u64))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(NodeProfile {
        node: node.to_string(),
        otp_release: map_get_atom(r, "otp_release").and_then(as_str).unwrap_or_default().to_string(),
        window_us: count(map_get_atom(r, "window_us")),
        session: map_get_atom(r, "session").and_then(as_atom) == Some("true"),
        call_memory: map_get_atom(r, "call_memory").and_then(as_atom) == Some("true"),
        modules: map_get_atom(r, "modules").and_then(atoms).unwrap_or_default(),
        functions,
        stacks,
        samples: count(map_get_atom(r, "samples")),
        ticks: count(map_get_atom(r, "ticks")),
        sample_ms: count(map_get_atom(r, "sample_ms")),
        other_stacks: count(map_get_atom(r, "other_stacks")),
        error: map_get_atom(r, "error").and_then(as_str).map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_decodes() {
        let f = |m: &str, fun: &str, a: i64, c: i64, us: i64, w: Term| {
            tuple(vec![atom(m), atom(fun), int(a), int(c), int(us), w])
        };
        let r = map(vec![
            (
                atom("functions"),
                list(vec![
                    f("Elixir.Bank.Fees", "fee_for", 1, 10, 25, atom("undefined")),
                    f("lists", "seq", 2, 3, 4, int(99)),
                ]),
            ),
            (
                atom("stacks"),
                list(vec![tuple(vec![
                    list(vec![tuple(vec![atom("a"), atom("b"), int(0)]), tuple(vec![atom("c"), atom("d"), int(1)])]),
                    int(7),
                ])]),
            ),
            (atom("window_us"), int(5_000_123)),
            (atom("call_memory"), atom("true")),
            (atom("session"), atom("false")),
            (atom("modules"), list(vec![atom("lists")])),
            (atom("samples"), int(7)),
            (atom("ticks"), int(500)),
            (atom("other_stacks"), int(0)),
            (atom("otp_release"), binary("26")),
        ]);
        let n = decode_result("a@h", &r).unwrap();
        assert_eq!(n.functions.len(), 2);
        let fee = &n.functions[&Mfa::new("Elixir.Bank.Fees", "fee_for", 1)];
        assert_eq!((fee.calls, fee.time_us, fee.words), (10, 25, None));
        assert_eq!(n.functions[&Mfa::new("lists", "seq", 2)].words, Some(99));
        assert_eq!(n.stacks, vec![(vec![Mfa::new("a", "b", 0), Mfa::new("c", "d", 1)], 7)]);
        assert_eq!((n.window_us, n.call_memory, n.session, n.samples, n.ticks), (5_000_123, true, false, 7, 500));
        assert_eq!(n.otp_release, "26");
    }

    #[test]
    fn a_check_decodes() {
        let info = map(vec![
            (
                atom("targets"),
                list(vec![
                    tuple(vec![atom("x"), list(vec![atom("Elixir.Bank.Fees")]), list(vec![])]),
                    tuple(vec![atom("y"), list(vec![]), atom("unknown")]),
                ]),
            ),
            (atom("functions"), int(12)),
        ]);
        let c = decode_check(&info).unwrap();
        assert_eq!(c.targets, vec![(vec!["Elixir.Bank.Fees".to_string()], Some(vec![])), (vec![], None)]);
        assert_eq!(c.functions, 12);
    }
}
