//! The version stamp of an agent module, shared with the build script (which compiles the agent ahead of
//! time when Erlang is installed): both must produce byte-identical sources.

/// FNV-1a over the source: stable across builds and platforms, unlike `DefaultHasher`.
pub fn source_hash(source: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in source.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// The source as installed: `-orbit_source_hash("…").` joins the `-module` line, so compiler line
/// numbers stay true.
pub fn stamped_source(source: &str) -> String {
    let attr = format!(" -orbit_source_hash(\"{}\").", source_hash(source));
    let mut out = String::with_capacity(source.len() + attr.len() + 1);
    let mut done = false;
    for line in source.lines() {
        out.push_str(line);
        if !done && line.trim_start().starts_with("-module(") {
            out.push_str(&attr);
            done = true;
        }
        out.push('\n');
    }
    out
}
