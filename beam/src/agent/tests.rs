use super::*;

#[test]
fn hash_changes_with_source() {
    assert_ne!(source_hash("a"), source_hash("b"));
    assert_eq!(source_hash("abc"), source_hash("abc"));
}

#[test]
fn stamp_follows_module_line() {
    let m = AgentModule { name: "x", source: "%% c\n-module(x).\n-export([]).\n", group: Group::Core };
    let s = stamped_source(&m);
    let lines: Vec<&str> = s.lines().collect();
    assert!(lines[1].starts_with("-module(x). -orbit_source_hash(\""));
    assert_eq!(lines[2], "-export([]).");
}

#[test]
fn every_module_has_a_group_and_the_core_comes_first() {
    assert_eq!(MODULES[0].name, "orbit_agent");
    let core: Vec<&str> = Group::Core.modules().map(|m| m.name).collect();
    assert_eq!(core, ["orbit_agent", "orbit_health", "orbit_procs"]);
    let dbg: Vec<&str> = Group::Debugger.modules().map(|m| m.name).collect();
    assert!(dbg.contains(&"orbit_dbg") && dbg.contains(&"orbit_dbg_cond"), "{dbg:?}");
    assert_eq!(group_of("orbit_trace"), Some(Group::Tracer));
    assert_eq!(group_of("orbit_reload"), Some(Group::Reload));
    assert_eq!(group_of("orbit_sandbox"), Some(Group::Sandbox));
    assert_eq!(group_of("orbit_profile"), Some(Group::Profiler));
    assert_eq!(group_of("lists"), None);
    // Every module in its own group; the tracers' shared helper also in the groups of its other callers.
    let shared = Groups::from(Group::Tracer).with(Group::Debugger).with(Group::Profiler);
    assert_eq!(MODULES.iter().find(|m| m.name == "orbit_trace_lib").map(|m| m.groups()), Some(shared));
    for g in [Group::Tracer, Group::Debugger, Group::Profiler] {
        assert!(g.modules().any(|m| m.name == "orbit_trace_lib"), "{}", g.name());
    }
    let total: usize = Group::ALL.iter().map(|g| g.modules().count()).sum();
    let extra: usize = MODULES.iter().map(|m| m.groups().iter().count() - 1).sum();
    assert_eq!(total, MODULES.len() + extra);
    assert_eq!(extra, 2);
}

#[test]
fn sources_need_no_preprocessor() {
    // A node with no binary for its release compiles the sources with erl_scan + erl_parse alone
    // (orbit_agent:compile/1): no macros, no includes, no conditional compilation.
    for m in MODULES {
        for (n, line) in m.source.lines().enumerate() {
            let code = line.split('%').next().unwrap_or("");
            let directive = ["-define", "-include", "-ifdef", "-ifndef", "-undef"].iter().any(|d| code.starts_with(d));
            let macro_use = code.match_indices('?').any(|(i, _)| {
                // `$?` is a character literal; a macro is `?NAME` or `?MODULE`.
                !code[..i].ends_with('$') && code[i + 1..].starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
            });
            assert!(!directive && !macro_use, "{}.erl:{}: needs the preprocessor: {line}", m.name, n + 1);
        }
    }
}

#[test]
fn group_sets() {
    let g = Groups::from(Group::Debugger).with(Group::Core);
    assert!(g.contains(Group::Core) && g.contains(Group::Debugger) && !g.contains(Group::Tracer));
    assert!(Groups::all().covers(g) && !g.covers(Groups::all()));
    assert!(g.covers(Groups::NONE));
    assert_eq!(g.to_string(), "core+debugger");
    assert_eq!(Groups::all().iter().count(), 6);
}

#[test]
fn disk_cache_is_keyed_by_release_and_hash_and_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("orbit-agent-cache-test-{}", std::process::id()));
    let cache = BinaryCache::new(Some(dir.clone()));
    let m = &MODULES[1];
    let path = cache.disk_path("25", m).unwrap();
    assert!(path.starts_with(dir.join("otp-25")), "{}", path.display());
    assert!(path.to_string_lossy().contains(&source_hash(m.source)));
    // Nothing odd from a node's answer makes it into the path.
    assert!(cache.disk_path("../../x", m).unwrap().starts_with(dir.join("otp-....x")));
    assert_eq!(cache.disk_path("/", m), None);
    assert_eq!(cache.read_disk("25", m), None);
    cache.write_disk("25", m, b"FOR1 not really a beam");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(cache.read_disk("25", m).as_deref(), Some(&b"FOR1 not really a beam"[..]));
    assert_eq!(cache.read_disk("26", m), None, "another release never gets this binary");
    // A file others may write is not trusted.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(cache.read_disk("25", m), None);
    // Nor is a file that is not a BEAM file.
    std::fs::write(&path, b"garbage").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(cache.read_disk("25", m), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn prebuilt_binaries_match_the_embedded_sources() {
    // Present when Erlang was installed at build time (as scripts/test and scripts/bench ensure).
    let Some((release, beams)) = prebuilt() else { return };
    assert!(!release.is_empty());
    for (name, beam) in beams {
        // build.rs compiles every file in agent/; only those in MODULES are ever offered to a node.
        let Some(m) = MODULES.iter().find(|m| m.name == *name) else { continue };
        assert!(beam.starts_with(b"FOR1"), "{name}");
        // The version stamp is in the binary: a node loading it reports this source's hash.
        let hash = source_hash(m.source);
        assert!(beam.windows(hash.len()).any(|w| w == hash.as_bytes()), "{name} carries {hash}");
    }
    let cache = BinaryCache::new(None);
    cache.add_prebuilt();
    assert_eq!(cache.get(release, beams[0].0).as_deref(), Some(beams[0].1));
}

#[test]
fn memory_cache_is_per_release() {
    let cache = BinaryCache::new(None);
    cache.insert("26", "orbit_health", vec![1, 2, 3]);
    assert_eq!(cache.get("26", "orbit_health"), Some(vec![1, 2, 3]));
    assert_eq!(cache.get("25", "orbit_health"), None);
    assert_eq!(cache.get("26", "orbit_procs"), None);
}

#[test]
fn agent_sources_declare_their_module() {
    for m in MODULES {
        assert!(m.source.contains(&format!("-module({}).", m.name)), "{}", m.name);
        assert!(!m.source.contains("?MODULE"), "{}: no preprocessor when installing from source", m.name);
    }
}

/// The source of `orbit_dbg_cond`: one exported `bN/1` per condition slot (as many as the interpreter
/// engine's `CONDITION_SLOTS`, `debugger/int_engine/breakpoints.rs`), each asking `orbit_dbg:condition/2`.
fn dbg_cond_source(slots: u32) -> String {
    let mut s = String::from(
        "%% Condition slots for the interpreter. int:test_at_break/3 takes {Module, Function} with no line or\n\
         %% breakpoint argument, so each breakpoint with a condition, hit count or log message gets a slot of its\n",
    );
    s.push_str(&format!(
        "%% own; each slot asks orbit_dbg:condition/2 about the spec stored for it. Generated: {slots} slots, by\n\
         %% dbg_cond_source in beam/src/agent/tests.rs (ORBIT_WRITE_DBG_COND=1 cargo test -p orbit-beam --lib\n\
         %% dbg_cond rewrites this file).\n"
    ));
    s.push_str("-module(orbit_dbg_cond).\n");
    s.push_str(
        "%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.\n",
    );
    s.push_str("-compile(nowarn_deprecated_catch).\n\n");
    let exports: Vec<String> = (1..=slots).map(|n| format!("b{n}/1")).collect();
    let rows: Vec<String> = exports.chunks(16).map(|row| row.join(", ")).collect();
    s.push_str(&format!("-export([{}]).\n\n", rows.join(",\n         ")));
    for n in 1..=slots {
        s.push_str(&format!("b{n}(Bs) -> orbit_dbg:condition({n}, Bs).\n"));
    }
    s
}

#[test]
fn dbg_cond_is_what_its_generator_writes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("agent/orbit_dbg_cond.erl");
    let generated = dbg_cond_source(256);
    if std::env::var_os("ORBIT_WRITE_DBG_COND").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let source = MODULES.iter().find(|m| m.name == "orbit_dbg_cond").unwrap().source;
    assert!(
        source == generated,
        "{} differs from dbg_cond_source: ORBIT_WRITE_DBG_COND=1 cargo test -p orbit-beam --lib dbg_cond",
        path.display()
    );
}
