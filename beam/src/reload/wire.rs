//! The agent's reload answers (`orbit_reload`) decoded, and the terms sent to it.

use super::model::{Diagnostic, DriftFilter, ModuleVersion, ReloadError, StageInfo};
use crate::names::{module_atom, module_display};
use crate::term::{
    as_atom, as_binary, as_integer, as_list, as_tuple, atom, binary, is_atom, list, map_get_atom, render_erlang, text,
    tuple, Limits,
};
use eetf::Term;
use std::collections::BTreeMap;

pub(super) fn parse_diagnostics(t: &Term) -> Vec<Diagnostic> {
    let Some(items) = as_list(t) else { return vec![] };
    items
        .iter()
        .filter_map(|d| match as_tuple(d) {
            Some([file, line, msg]) => Some(Diagnostic {
                file: text(file),
                line: as_integer(line).and_then(|l| u32::try_from(l).ok()).unwrap_or(0),
                message: text(msg),
            }),
            _ => None,
        })
        .collect()
}

/// `{ok, Stage, [Info]}` → Ok(Ok(..)); `{error, [{Mod, Reason}]}` → Ok(Err(text)).
#[allow(clippy::type_complexity)]
pub(super) fn parse_prepare(node: &str, reply: &Term) -> Result<Result<(Term, Vec<StageInfo>), String>, ReloadError> {
    let shape = || ReloadError::Shape { node: node.to_string(), what: "prepare".into(), detail: show(reply) };
    match as_tuple(reply) {
        Some([tag, stage, infos]) if is_atom(tag, "ok") => {
            let mut out = Vec::new();
            for i in as_list(infos).ok_or_else(shape)?.iter() {
                let module = map_get_atom(i, "module").and_then(as_atom).ok_or_else(shape)?.to_string();
                let md5 = map_get_atom(i, "md5").and_then(as_binary).map(hex).ok_or_else(shape)?;
                let previous_md5 = map_get_atom(i, "previous_md5").and_then(as_binary).map(hex);
                let old_code_procs = map_get_atom(i, "old_code_procs").map(pids).unwrap_or_default();
                out.push(StageInfo { module, md5, previous_md5, old_code_procs });
            }
            Ok(Ok((stage.clone(), out)))
        }
        Some([tag, errors]) if is_atom(tag, "error") => Ok(Err(describe_errors(errors))),
        _ => Err(shape()),
    }
}

/// `{ok, [#{module, md5, old_code_procs, killed}]}` → module, processes on old code, killed.
#[allow(clippy::type_complexity)]
pub(super) fn parse_commit(
    node: &str,
    reply: &Term,
) -> Result<Result<Vec<(String, Vec<String>, Vec<String>)>, String>, ReloadError> {
    let shape = || ReloadError::Shape { node: node.to_string(), what: "commit".into(), detail: show(reply) };
    match as_tuple(reply) {
        Some([tag, mods]) if is_atom(tag, "ok") => {
            let mut out = Vec::new();
            for m in as_list(mods).ok_or_else(shape)?.iter() {
                let module = map_get_atom(m, "module").and_then(as_atom).ok_or_else(shape)?.to_string();
                let old = map_get_atom(m, "old_code_procs").map(pids).unwrap_or_default();
                let killed = map_get_atom(m, "killed").map(pids).unwrap_or_default();
                out.push((module, old, killed));
            }
            Ok(Ok(out))
        }
        Some([tag, errors]) if is_atom(tag, "error") => Ok(Err(describe_errors(errors))),
        _ => Err(shape()),
    }
}

/// `{ok, [{Mod, {restored, Md5, Killed} | {removed, Killed} | {failed, Why}}]}` → (module, text, ok).
pub(super) fn parse_rollback(node: &str, reply: &Term) -> Result<Vec<(String, String, bool)>, ReloadError> {
    let shape = || ReloadError::Shape { node: node.to_string(), what: "rollback".into(), detail: show(reply) };
    let Some([tag, items]) = as_tuple(reply) else { return Err(shape()) };
    if !is_atom(tag, "ok") {
        return Err(shape());
    }
    let mut out = Vec::new();
    for item in as_list(items).ok_or_else(shape)?.iter() {
        let Some([m, outcome]) = as_tuple(item) else { return Err(shape()) };
        let module = as_atom(m).ok_or_else(shape)?.to_string();
        let (text, ok) = match as_tuple(outcome) {
            Some([t, md5, killed]) if is_atom(t, "restored") => {
                let k = pids(killed);
                let mut s = format!("restored {}", as_binary(md5).map(hex).unwrap_or_default());
                if !k.is_empty() {
                    s.push_str(&format!(" (killed {})", k.join(", ")));
                }
                (s, true)
            }
            Some([t, killed]) if is_atom(t, "removed") => {
                let k = pids(killed);
                let mut s = "removed (it was not loaded before)".to_string();
                if !k.is_empty() {
                    s.push_str(&format!(" (killed {})", k.join(", ")));
                }
                (s, true)
            }
            Some([t, why]) if is_atom(t, "failed") => (format!("not restored: {}", describe_reason(why)), false),
            _ => (show(outcome), false),
        };
        out.push((module, text, ok));
    }
    Ok(out)
}

/// `[{Mod, {loaded, Md5, File} | {not_loaded, DiskMd5 | none}}]`.
pub(super) fn parse_versions(node: &str, reply: &Term) -> Result<Vec<(String, ModuleVersion)>, ReloadError> {
    let shape = || ReloadError::Shape { node: node.to_string(), what: "versions".into(), detail: show(reply) };
    let mut out = Vec::new();
    for item in as_list(reply).ok_or_else(shape)?.iter() {
        let Some([m, v]) = as_tuple(item) else { return Err(shape()) };
        let module = as_atom(m).ok_or_else(shape)?.to_string();
        let version = match as_tuple(v) {
            Some([t, md5, _file]) if is_atom(t, "loaded") => {
                ModuleVersion::Loaded { md5: as_binary(md5).map(hex).ok_or_else(shape)? }
            }
            Some([t, disk]) if is_atom(t, "not_loaded") => {
                ModuleVersion::NotLoaded { on_disk: as_binary(disk).map(hex) }
            }
            _ => return Err(shape()),
        };
        out.push((module, version));
    }
    Ok(out)
}

/// `[{Mod, Reason}]` from the agent, in words.
pub(super) fn describe_errors(errors: &Term) -> String {
    match as_list(errors) {
        Some(items) => items
            .iter()
            .map(|e| match as_tuple(e) {
                Some([m, why]) => {
                    format!("{}: {}", as_atom(m).map(module_display).unwrap_or_else(|| show(m)), describe_reason(why))
                }
                _ => show(e),
            })
            .collect::<Vec<_>>()
            .join("; "),
        None => show(errors),
    }
}

pub(super) fn describe_reason(why: &Term) -> String {
    if let Some(a) = as_atom(why) {
        return match a {
            "sticky_directory" => "the module is sticky on this node (code:stick_mod/1); it cannot be replaced".into(),
            "not_purged" => "an old version is still loaded and in use".into(),
            "badfile" => "the node cannot load this binary (badfile: built for another OTP release?)".into(),
            "nofile" => "no such module".into(),
            "on_load_failure" => "the module's -on_load function failed".into(),
            "no_previous_binary" => "the previous version's binary is not available".into(),
            other => other.to_string(),
        };
    }
    match as_tuple(why) {
        // code:load_binary/3's own `{error, What}` (an -on_load that fails, a bad file) as the node passes it on.
        Some([tag, inner]) if is_atom(tag, "error") => describe_reason(inner),
        Some([tag, procs]) if is_atom(tag, "old_code_in_use") => format!(
            "processes still run an old version that would have to be purged: {} (reload with --purge, or orbit.reload's purge, to kill them)",
            pids(procs).join(", ")
        ),
        _ => show(why),
    }
}

pub(super) fn pids(t: &Term) -> Vec<String> {
    as_list(t)
        .map(|l| {
            l.iter()
                .filter_map(|p| match p {
                    Term::Pid(p) => Some(format!("<0.{}.{}>", p.id, p.serial)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn show(t: &Term) -> String {
    render_erlang(t, &Limits::default())
}

/// An Erlang string (a list of code points).
pub(super) fn charlist(s: &str) -> Term {
    if s.is_ascii() {
        return Term::from(eetf::ByteList::from(s));
    }
    list(s.chars().map(|c| crate::term::int(c as i64)).collect())
}

/// The `orbit_reload:loaded_md5s/1` filter for `filter`, as users write it normalised here for every
/// front end: an application with or without its `:`, a prefix in Elixir or Erlang form (`Bank.`,
/// `:bank_`, see [`module_atom`]).
pub(super) fn drift_filter_term(filter: &DriftFilter) -> Term {
    match filter {
        DriftFilter::All => atom("all"),
        DriftFilter::App(a) => tuple(vec![atom("app"), atom(a.trim().trim_start_matches(':'))]),
        DriftFilter::Prefix(p) => tuple(vec![atom("prefix"), binary(module_atom(p).into_bytes())]),
    }
}

/// `{ok, [{Mod, Md5 | not_loaded}]}` → module → version; `{error, {unknown_app, App}}` → `UnknownApp`.
pub(super) fn parse_loaded_md5s(node: &str, reply: &Term) -> Result<BTreeMap<String, ModuleVersion>, ReloadError> {
    let shape = || ReloadError::Shape { node: node.to_string(), what: "loaded_md5s".into(), detail: show(reply) };
    match as_tuple(reply) {
        Some([tag, items]) if is_atom(tag, "ok") => {
            let mut mods = BTreeMap::new();
            for item in as_list(items).ok_or_else(shape)?.iter() {
                let Some([m, v]) = as_tuple(item) else { return Err(shape()) };
                let module = as_atom(m).ok_or_else(shape)?.to_string();
                let version = match as_binary(v) {
                    Some(md5) => ModuleVersion::Loaded { md5: hex(md5) },
                    None => ModuleVersion::NotLoaded { on_disk: None },
                };
                mods.insert(module, version);
            }
            Ok(mods)
        }
        Some([tag, why]) if is_atom(tag, "error") => {
            if let Some([t, app]) = as_tuple(why) {
                if is_atom(t, "unknown_app") {
                    return Err(ReloadError::UnknownApp {
                        node: node.to_string(),
                        app: as_atom(app).unwrap_or("?").to_string(),
                    });
                }
            }
            Err(shape())
        }
        _ => Err(shape()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::int;

    #[test]
    fn drift_filters_are_normalised_for_every_front_end() {
        let prefix = |p: &str| drift_filter_term(&DriftFilter::Prefix(p.into()));
        let bytes = |p: &str| tuple(vec![atom("prefix"), binary(p.as_bytes().to_vec())]);
        assert_eq!(prefix("Bank."), bytes("Elixir.Bank."));
        assert_eq!(prefix("Elixir.Bank."), bytes("Elixir.Bank."));
        assert_eq!(prefix(":bank_"), bytes("bank_"));
        assert_eq!(prefix("bank_"), bytes("bank_"));
        let app = tuple(vec![atom("app"), atom("bank")]);
        assert_eq!(drift_filter_term(&DriftFilter::App(":bank".into())), app);
        assert_eq!(drift_filter_term(&DriftFilter::App("bank".into())), app);
    }

    /// An agent of another version (or a corrupted reply) answers in a shape this Orbit does not know:
    /// every parser ends in an error that names the node, the call and the answer, never a panic or a
    /// silently empty result.
    #[test]
    fn answers_of_unknown_shape_name_the_node_the_call_and_the_answer() {
        let ok = |t: Term| tuple(vec![atom("ok"), t]);
        let info = |m: Term| crate::term::map(vec![(atom("module"), m), (atom("md5"), binary(vec![1]))]);
        let cases: Vec<(&str, Term, Result<(), ReloadError>)> = vec![
            ("prepare", atom("ok"), parse_prepare("n@h", &atom("ok")).map(|_| ())),
            (
                "prepare",
                tuple(vec![atom("ok"), atom("stage"), atom("x")]),
                parse_prepare("n@h", &tuple(vec![atom("ok"), atom("stage"), atom("x")])).map(|_| ()),
            ),
            (
                "prepare",
                tuple(vec![atom("ok"), atom("stage"), list(vec![info(int(1))])]),
                parse_prepare("n@h", &tuple(vec![atom("ok"), atom("stage"), list(vec![info(int(1))])])).map(|_| ()),
            ),
            ("commit", atom("done"), parse_commit("n@h", &atom("done")).map(|_| ())),
            ("commit", ok(atom("x")), parse_commit("n@h", &ok(atom("x"))).map(|_| ())),
            ("commit", ok(list(vec![int(3)])), parse_commit("n@h", &ok(list(vec![int(3)]))).map(|_| ())),
            ("rollback", int(1), parse_rollback("n@h", &int(1)).map(|_| ())),
            ("rollback", tuple(vec![atom("no"), list(vec![])]), {
                parse_rollback("n@h", &tuple(vec![atom("no"), list(vec![])])).map(|_| ())
            }),
            ("rollback", ok(atom("x")), parse_rollback("n@h", &ok(atom("x"))).map(|_| ())),
            ("rollback", ok(list(vec![int(1)])), parse_rollback("n@h", &ok(list(vec![int(1)]))).map(|_| ())),
            ("rollback", ok(list(vec![tuple(vec![int(1), atom("x")])])), {
                parse_rollback("n@h", &ok(list(vec![tuple(vec![int(1), atom("x")])]))).map(|_| ())
            }),
            ("versions", atom("x"), parse_versions("n@h", &atom("x")).map(|_| ())),
            ("versions", list(vec![int(1)]), parse_versions("n@h", &list(vec![int(1)])).map(|_| ())),
            ("versions", list(vec![tuple(vec![int(1), atom("x")])]), {
                parse_versions("n@h", &list(vec![tuple(vec![int(1), atom("x")])])).map(|_| ())
            }),
            ("versions", list(vec![tuple(vec![atom("m"), atom("x")])]), {
                parse_versions("n@h", &list(vec![tuple(vec![atom("m"), atom("x")])])).map(|_| ())
            }),
            ("versions", list(vec![tuple(vec![atom("m"), tuple(vec![atom("loaded"), int(1), int(2)])])]), {
                let t = list(vec![tuple(vec![atom("m"), tuple(vec![atom("loaded"), int(1), int(2)])])]);
                parse_versions("n@h", &t).map(|_| ())
            }),
            ("loaded_md5s", atom("x"), parse_loaded_md5s("n@h", &atom("x")).map(|_| ())),
            ("loaded_md5s", ok(atom("x")), parse_loaded_md5s("n@h", &ok(atom("x"))).map(|_| ())),
            ("loaded_md5s", ok(list(vec![int(1)])), parse_loaded_md5s("n@h", &ok(list(vec![int(1)]))).map(|_| ())),
            ("loaded_md5s", ok(list(vec![tuple(vec![int(1), int(2)])])), {
                parse_loaded_md5s("n@h", &ok(list(vec![tuple(vec![int(1), int(2)])]))).map(|_| ())
            }),
            ("loaded_md5s", tuple(vec![atom("error"), atom("enoent")]), {
                parse_loaded_md5s("n@h", &tuple(vec![atom("error"), atom("enoent")])).map(|_| ())
            }),
        ];
        for (what, reply, result) in cases {
            let err = result.expect_err(what);
            let ReloadError::Shape { node, what: w, detail } = &err else { panic!("{what}: {err:?}") };
            assert_eq!((node.as_str(), w.as_str()), ("n@h", what));
            assert_eq!(detail, &show(&reply));
            assert_eq!(err.to_string(), format!("n@h: unexpected answer from {what}: {}", show(&reply)));
        }
        // An unknown application is not a shape error: it says which.
        let unknown = tuple(vec![atom("error"), tuple(vec![atom("unknown_app"), atom("bnk")])]);
        let err = parse_loaded_md5s("n@h", &unknown).unwrap_err();
        assert!(matches!(&err, ReloadError::UnknownApp { node, app } if node == "n@h" && app == "bnk"), "{err:?}");
    }

    /// A rollback's outcome per module, and the load errors of a node, as the report shows them.
    #[test]
    fn rollback_outcomes_and_load_errors_in_words() {
        let pid = Term::from(eetf::Pid::new("a@h", 9, 0, 1));
        let item = |m: &str, outcome: Term| tuple(vec![atom(m), outcome]);
        let reply = tuple(vec![
            atom("ok"),
            list(vec![
                item("m1", tuple(vec![atom("restored"), binary(vec![0xab]), list(vec![pid.clone()])])),
                item("m2", tuple(vec![atom("removed"), list(vec![pid.clone(), int(3)])])),
                item("m3", tuple(vec![atom("failed"), atom("not_purged")])),
                item("m4", atom("odd")),
            ]),
        ]);
        let out = parse_rollback("n@h", &reply).unwrap();
        assert_eq!(
            out,
            vec![
                ("m1".to_string(), "restored ab (killed <0.9.0>)".to_string(), true),
                ("m2".to_string(), "removed (it was not loaded before) (killed <0.9.0>)".to_string(), true),
                ("m3".to_string(), "not restored: an old version is still loaded and in use".to_string(), false),
                ("m4".to_string(), "odd".to_string(), false),
            ]
        );
        let errors = list(vec![
            tuple(vec![atom("Elixir.Bank.Fees"), tuple(vec![atom("error"), atom("on_load_failure")])]),
            tuple(vec![int(1), atom("badfile")]),
            atom("stray"),
        ]);
        assert_eq!(
            describe_errors(&errors),
            "Bank.Fees: the module's -on_load function failed; 1: the node cannot load this binary (badfile: built \
             for another OTP release?); stray"
        );
        assert_eq!(describe_errors(&atom("enoent")), "enoent");
        for (reason, words) in [
            ("nofile", "no such module"),
            ("no_previous_binary", "the previous version's binary is not available"),
            ("other", "other"),
        ] {
            assert_eq!(describe_reason(&atom(reason)), words);
        }
        assert_eq!(describe_reason(&tuple(vec![atom("x"), int(1)])), "{x,1}");
        let diagnostics = parse_diagnostics(&list(vec![
            tuple(vec![binary("lib/a.ex"), int(3), binary("undefined variable")]),
            atom("noise"),
        ]));
        assert_eq!(diagnostics.len(), 1);
        assert_eq!((diagnostics[0].line, diagnostics[0].message.as_str()), (3, "undefined variable"));
        assert!(parse_diagnostics(&atom("none")).is_empty());
        assert_eq!(charlist("café"), list("café".chars().map(|c| int(c as i64)).collect()));
    }

    #[test]
    fn reasons_in_words() {
        assert!(describe_reason(&atom("sticky_directory")).contains("sticky"));
        let pid = Term::from(eetf::Pid::new("a@h", 77, 0, 1));
        let r = describe_reason(&tuple(vec![atom("old_code_in_use"), list(vec![pid])]));
        assert!(r.contains("<0.77.0>") && r.contains("purge"), "{r}");
    }
}
