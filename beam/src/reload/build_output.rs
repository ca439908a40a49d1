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
pub(super) fn ebin_dirs(source: &Path) -> Vec<PathBuf> {
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
    fn mix_app_names() {
        assert_eq!(mix_app_name("def project do\n [\n app: :bank,\n version: \"0.1.0\"").as_deref(), Some("bank"));
        assert_eq!(mix_app_name("nothing here"), None);
    }
}
