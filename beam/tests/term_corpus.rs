//! Checks the renderers and the term order against the real thing: `tests/term_corpus.exs` builds a few
//! hundred terms in Elixir and records what `inspect/2` and `io_lib:format("~0tp", …)` print for each,
//! and how a set of terms compare pairwise; every term must render, and every pair compare, the same here.
//!
//! Needs `elixir` (1.14, the version the renderer follows) on PATH; set `ORBIT_SKIP_BEAM_TESTS=1` to skip.
//!
//! The one thing compared loosely: `inspect` writes an anonymous function as
//! `#Function<3.1234/1 in Mod.fun/2>`, naming the function that defined it, which the term does not
//! carry. Orbit writes `#Function<3.1234/1 in Mod>`, so the part after the module is skipped.

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use std::cmp::Ordering;

use beam::term::{
    as_integer, as_list, as_str, as_tuple, compare, compare_exact, render_elixir_with, render_erlang_with, Limits,
    RenderContext,
};
use eetf::Term;

struct Entry {
    label: String,
    term: Term,
    inspected: String,
    erlang: String,
}

struct Corpus {
    entries: Vec<Entry>,
    ctx: RenderContext,
    order_terms: Vec<Term>,
    /// `(i, j, standard, exact)`: how term `i` compares with term `j`.
    order: Vec<(usize, usize, Ordering, Ordering)>,
}

fn skip() -> bool {
    std::env::var("ORBIT_SKIP_BEAM_TESTS").as_deref() == Ok("1")
}

/// The corpus, built once per test run.
fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(build_corpus)
}

fn build_corpus() -> Corpus {
    let version = Command::new("elixir").arg("--version").output().unwrap_or_else(|e| {
        panic!("cannot run `elixir` ({e}): install Elixir 1.14 or set ORBIT_SKIP_BEAM_TESTS=1 to skip this test")
    });
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    if !version.contains("Elixir 1.14") {
        eprintln!("warning: the renderer follows Elixir 1.14, this is: {}", version.trim());
    }

    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("orbit-term-corpus-{}.bin", std::process::id()));
    let status = Command::new("elixir")
        .args(["--erl", "+pc unicode", "tests/term_corpus.exs"])
        .arg(&out)
        .current_dir(dir)
        .status()
        .expect("run elixir");
    assert!(status.success(), "tests/term_corpus.exs failed: {status}");
    let decoded = Term::decode(File::open(&out).expect("open corpus")).expect("decode corpus");
    let _ = std::fs::remove_file(&out);

    let [entries, struct_fields, order_terms, order] = as_tuple(&decoded).expect("corpus tuple") else {
        panic!("corpus is not {{entries, struct_fields, order_terms, order}}")
    };
    let mut ctx = RenderContext::new(Limits::unlimited());
    for s in as_list(struct_fields).expect("struct_fields list").iter() {
        let [module, fields] = as_tuple(s).expect("{module, fields}") else { panic!("bad struct entry") };
        let fields =
            as_list(fields).expect("field list").iter().map(|f| as_str(f).expect("field").to_string()).collect();
        ctx.struct_fields.insert(as_str(module).expect("module").to_string(), fields);
    }
    let entries = as_list(entries)
        .expect("entries list")
        .iter()
        .map(|e| {
            let [label, term, inspected, erlang] = as_tuple(e).expect("entry tuple") else { panic!("bad entry") };
            Entry {
                label: as_str(label).expect("label").to_string(),
                term: term.clone(),
                inspected: as_str(inspected).expect("inspected").to_string(),
                erlang: as_str(erlang).expect("erlang").to_string(),
            }
        })
        .collect();
    let ordering = |t: &Term| as_integer(t).expect("comparison").cmp(&0);
    let order = as_list(order)
        .expect("order list")
        .iter()
        .map(|p| {
            let [i, j, standard, exact] = as_tuple(p).expect("order tuple") else { panic!("bad order entry") };
            let index = |t: &Term| usize::try_from(as_integer(t).expect("index")).expect("index");
            (index(i), index(j), ordering(standard), ordering(exact))
        })
        .collect();
    let order_terms = as_list(order_terms).expect("order terms").into_owned();
    Corpus { entries, ctx, order_terms, order }
}

/// Whether `ours` matches `theirs`, skipping in `theirs` the defining function's name that follows the
/// module in each `#Function<… in Mod`.
fn same_modulo_fun_names(ours: &str, theirs: &str) -> bool {
    const FUN: &str = "#Function<";
    let (mut o, mut t) = (ours, theirs);
    loop {
        let Some(start) = o.find(FUN) else {
            return o == t;
        };
        let Some(len) = o[start..].find('>') else {
            return o == t;
        };
        // Our `#Function<…>` without its `>` must appear in theirs, followed by `.name/arity>` or `>`.
        let head = &o[..start + len];
        if !t.starts_with(head) {
            return false;
        }
        let rest = &t[head.len()..];
        if !(rest.starts_with('.') || rest.starts_with('>')) {
            return false;
        }
        let Some(close) = rest.find('>') else {
            return false;
        };
        o = &o[start + len + 1..];
        t = &rest[close + 1..];
    }
}

fn report(what: &str, mismatches: &[String], total: usize) {
    for m in mismatches {
        eprintln!("{m}");
    }
    assert!(mismatches.is_empty(), "{} of {total} {what}", mismatches.len());
}

#[test]
fn elixir_rendering_matches_inspect() {
    if skip() {
        eprintln!("skipped: ORBIT_SKIP_BEAM_TESTS=1");
        return;
    }
    let corpus = corpus();
    assert!(corpus.entries.len() >= 300, "corpus has only {} terms", corpus.entries.len());
    let mismatches: Vec<String> = corpus
        .entries
        .iter()
        .filter_map(|e| {
            let ours = render_elixir_with(&e.term, &corpus.ctx);
            (!same_modulo_fun_names(&ours, &e.inspected))
                .then(|| format!("[{}]\n  inspect: {}\n  orbit:   {}", e.label, e.inspected, ours))
        })
        .collect();
    report("terms render differently from Elixir's inspect", &mismatches, corpus.entries.len());
}

#[test]
fn erlang_rendering_matches_io_lib() {
    if skip() {
        eprintln!("skipped: ORBIT_SKIP_BEAM_TESTS=1");
        return;
    }
    let corpus = corpus();
    let mismatches: Vec<String> = corpus
        .entries
        .iter()
        .filter_map(|e| {
            let ours = render_erlang_with(&e.term, &corpus.ctx);
            (ours != e.erlang).then(|| format!("[{}]\n  ~0tp:  {}\n  orbit: {}", e.label, e.erlang, ours))
        })
        .collect();
    report("terms render differently from io_lib's ~0tp", &mismatches, corpus.entries.len());
}

#[test]
fn term_order_matches_the_beam() {
    if skip() {
        eprintln!("skipped: ORBIT_SKIP_BEAM_TESTS=1");
        return;
    }
    let corpus = corpus();
    let terms = &corpus.order_terms;
    assert!(corpus.order.len() >= 50 * 50, "only {} pairs to compare", corpus.order.len());
    let show = |t: &Term| render_erlang_with(t, &corpus.ctx);
    let mut mismatches = Vec::new();
    for &(i, j, standard, exact) in &corpus.order {
        let (a, b) = (&terms[i], &terms[j]);
        let (ours, ours_exact) = (compare(a, b), compare_exact(a, b));
        if ours != standard || ours_exact != exact {
            mismatches.push(format!(
                "{} vs {}: BEAM {standard:?}/{exact:?} (standard/exact), orbit {ours:?}/{ours_exact:?}",
                show(a),
                show(b)
            ));
        }
    }
    report("pairs compare differently than on the BEAM", &mismatches, corpus.order.len());
}

#[test]
fn fun_name_comparison() {
    assert!(same_modulo_fun_names("#Function<1.2/1 in M>", "#Function<1.2/1 in M.f/2>"));
    assert!(same_modulo_fun_names("[#Function<1.2/1 in M>, 1]", "[#Function<1.2/1 in M.\"a b\"/0>, 1]"));
    assert!(same_modulo_fun_names("#Function<1.2/1 in :erl_eval>", "#Function<1.2/1 in :erl_eval>"));
    assert!(!same_modulo_fun_names("#Function<1.2/1 in M>", "#Function<1.2/1 in MX.f/2>"));
    assert!(!same_modulo_fun_names("#Function<1.2/1 in M> x", "#Function<1.2/1 in M.f/2> y"));
}
