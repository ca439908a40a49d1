//! The project's own build output (`_build/<env>/lib/<app>/ebin`) and the beams in it built from a source.

use super::beam_file::beam_source;
use crate::names::Lang;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The beams built from `source` (as their compile info says), when every one of them is newer than the
/// source: `(module, path, bytes)`. `None` when there are none, or one is older.
pub(super) fn build_beams(
    source: &Path,
    source_modified: Option<SystemTime>,
) -> Option<Vec<(String, PathBuf, Vec<u8>)>> {
    let source_modified = source_modified?;
    let ebins = ebin_dirs(source);
    let stem = source.file_stem()?.to_str()?.to_string();
    let is_erlang = Lang::of_source(source) == Some(Lang::Erlang);
    let mut found: BTreeMap<String, (PathBuf, SystemTime, Vec<u8>)> = BTreeMap::new();
    for ebin in ebins {
        let candidates: Vec<PathBuf> = if is_erlang {
            vec![ebin.join(format!("{stem}.beam"))]
        } else {
            match std::fs::read_dir(&ebin) {
                Ok(rd) => rd
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.extension().is_some_and(|e| e == "beam")
                            && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("Elixir."))
                    })
                    .collect(),
                Err(_) => continue,
            }
        };
        for path in candidates {
            let Ok(bytes) = std::fs::read(&path) else { continue };
            if beam_source(&bytes).map(PathBuf::from).and_then(|p| p.canonicalize().ok()).as_deref() != Some(source) {
                continue;
            }
            let Some(modified) = std::fs::metadata(&path).and_then(|m| m.modified()).ok() else { continue };
            let module = path.file_stem()?.to_str()?.to_string();
            match found.get(&module) {
                Some((_, t, _)) if *t >= modified => {}
                _ => {
                    found.insert(module, (path, modified, bytes));
                }
            }
        }
    }
    if found.is_empty() || found.values().any(|(_, t, _)| *t <= source_modified) {
        return None;
    }
    Some(found.into_iter().map(|(m, (p, _, b))| (m, p, b)).collect())
}

/// `_build/<env>/lib/<app>/ebin` of the nearest project above `source`: the app named in the nearest
/// `mix.exs` (or every app when none can be read), under the nearest `_build`.
pub fn ebin_dirs(source: &Path) -> Vec<PathBuf> {
    let mut app: Option<String> = None;
    let mut dir = source.parent();
    while let Some(d) = dir {
        if app.is_none() {
            if let Ok(mix) = std::fs::read_to_string(d.join("mix.exs")) {
                app = mix_app_name(&mix);
            }
        }
        let build = d.join("_build");
        if build.is_dir() {
            let mut out = Vec::new();
            for env in std::fs::read_dir(&build).into_iter().flatten().flatten() {
                let lib = env.path().join("lib");
                match &app {
                    Some(a) => out.push(lib.join(a).join("ebin")),
                    None => out
                        .extend(std::fs::read_dir(&lib).into_iter().flatten().flatten().map(|e| e.path().join("ebin"))),
                }
            }
            out.retain(|p| p.is_dir());
            return out;
        }
        dir = d.parent();
    }
    Vec::new()
}

/// The newest `<module>.beam` of the project's build output for `source` ([`ebin_dirs`]), with its
/// modification time: what the project's build has of a module.
pub fn newest_beam(source: &Path, module: &str) -> Option<(PathBuf, SystemTime)> {
    let file = format!("{module}.beam");
    let mut best: Option<(SystemTime, PathBuf)> = None;
    for ebin in ebin_dirs(source) {
        let beam = ebin.join(&file);
        if let Ok(t) = std::fs::metadata(&beam).and_then(|m| m.modified()) {
            if best.as_ref().is_none_or(|(b, _)| t > *b) {
                best = Some((t, beam));
            }
        }
    }
    best.map(|(t, beam)| (beam, t))
}

pub(super) fn mix_app_name(mix: &str) -> Option<String> {
    let i = mix.find("app:")?;
    let rest = mix[i + 4..].trim_start().strip_prefix(':')?;
    let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_build_of_a_source_is_its_apps() {
        let root = std::env::temp_dir().join(format!("orbit_build_output_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let src = root.join("lib/bank/fees.ex");
        std::fs::create_dir_all(src.parent().unwrap()).unwrap();
        std::fs::write(&src, "defmodule Bank.Fees do end").unwrap();
        for app in ["bank", "other"] {
            let ebin = root.join("_build/dev/lib").join(app).join("ebin");
            std::fs::create_dir_all(&ebin).unwrap();
            std::fs::write(ebin.join("Elixir.Bank.Fees.beam"), app).unwrap();
            // `other` is written last, so its beam is the newest of all.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // No mix.exs: every app of the build, the newest beam.
        let (beam, _) = newest_beam(&src, "Elixir.Bank.Fees").unwrap();
        assert!(beam.ends_with("other/ebin/Elixir.Bank.Fees.beam"), "{}", beam.display());
        // mix.exs names the app: only its beams.
        std::fs::write(root.join("mix.exs"), "def project do\n [app: :bank, version: \"0.1.0\"]").unwrap();
        assert_eq!(ebin_dirs(&src), vec![root.join("_build/dev/lib/bank/ebin")]);
        let (beam, _) = newest_beam(&src, "Elixir.Bank.Fees").unwrap();
        assert!(beam.ends_with("bank/ebin/Elixir.Bank.Fees.beam"), "{}", beam.display());
        assert_eq!(newest_beam(&src, "Elixir.Bank.Nope"), None);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn mix_app_names() {
        assert_eq!(mix_app_name("def project do\n [\n app: :bank,\n version: \"0.1.0\"").as_deref(), Some("bank"));
        assert_eq!(mix_app_name("nothing here"), None);
    }
}
