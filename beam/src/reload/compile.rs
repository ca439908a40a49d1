//! The build phase of a reload: each source read once, then taken from `_build` when its beams there are
//! newer, or compiled on one node (`orbit_reload:compile/3`, which loads nothing).

use super::build_output::build_beams;
use super::model::{BuiltModule, Diagnostic, Origin, ReloadError, ReloadOptions, ReloadProgress};
use super::ops::report;
use super::wire::{hex, parse_diagnostics, show};
use crate::cluster::Cluster;
use crate::names::Lang;
use crate::term::{as_atom, as_binary, as_list, as_tuple, atom, binary, is_atom};
use eetf::Term;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A source file read from disk.
#[derive(Debug, Clone)]
pub(super) struct Source {
    pub(super) path: PathBuf,
    pub(super) kind: Lang,
    pub(super) text: Vec<u8>,
    pub(super) modified: Option<SystemTime>,
}

pub(super) fn read_source(path: &Path) -> Result<Source, ReloadError> {
    let kind = Lang::of_source(path).ok_or_else(|| ReloadError::Unsupported(path.display().to_string()))?;
    let io = |e: std::io::Error| ReloadError::Io { path: path.display().to_string(), error: e.to_string() };
    let path = path.canonicalize().map_err(io)?;
    let text = std::fs::read(&path).map_err(io)?;
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    Ok(Source { path, kind, text, modified })
}

/// A module ready to stage: its atom, the file name to load it under, the binary.
#[derive(Debug, Clone)]
pub(super) struct Binary {
    pub(super) module: String,
    pub(super) file: String,
    pub(super) bytes: Vec<u8>,
}

pub(super) type Built = (Vec<BuiltModule>, Vec<Binary>, Vec<Diagnostic>);

/// Phase 1 of a reload: every module of every source, as built modules (for the report) and binaries (to
/// stage), with the compiler's warnings. A compile error anywhere is an `Err`: nothing is staged.
pub(super) async fn build(
    cluster: &Cluster,
    sources: &[Source],
    targets: &[String],
    options: &ReloadOptions,
) -> Result<Built, ReloadError> {
    let mut built: Vec<BuiltModule> = Vec::new();
    let mut binaries: Vec<Binary> = Vec::new();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    let mut elixir_node: Option<String> = None;
    for src in sources {
        let file = src.path.display().to_string();
        if options.use_build {
            if let Some(beams) = build_beams(&src.path, src.modified) {
                report(
                    options,
                    ReloadProgress::UsingBuild {
                        file: file.clone(),
                        beams: beams.iter().map(|(_, p, _)| p.display().to_string()).collect(),
                    },
                );
                for (module, path, bytes) in beams {
                    let beam = path.display().to_string();
                    built.push(BuiltModule {
                        module: module.clone(),
                        md5: String::new(),
                        source: file.clone(),
                        origin: Origin::Build { beam: beam.clone() },
                    });
                    binaries.push(Binary { module, file: beam, bytes });
                }
                continue;
            }
        }
        let node = match (&options.compile_node, src.kind) {
            (Some(n), _) => n.clone(),
            (None, Lang::Erlang) => targets[0].clone(),
            (None, Lang::Elixir) => match &elixir_node {
                Some(n) => n.clone(),
                None => {
                    let n = find_elixir_node(cluster, targets, options.timeout)
                        .await
                        .ok_or_else(|| ReloadError::NoElixir { file: file.clone() })?;
                    elixir_node = Some(n.clone());
                    n
                }
            },
        };
        report(options, ReloadProgress::Compiling { file: file.clone(), node: node.clone() });
        let args = vec![atom(src.kind.as_str()), binary(src.text.clone()), binary(file.as_bytes().to_vec())];
        let reply = cluster.call(&node, "orbit_reload", "compile", args, options.timeout).await?;
        let shape = || ReloadError::Shape { node: node.clone(), what: "compile".into(), detail: show(&reply) };
        match as_tuple(&reply) {
            Some([tag, mods, warns]) if is_atom(tag, "ok") => {
                warnings.extend(parse_diagnostics(warns));
                for m in as_list(mods).ok_or_else(shape)?.iter() {
                    let Some([name, Term::Binary(bin), md5]) = as_tuple(m) else { return Err(shape()) };
                    let module = as_atom(name).ok_or_else(shape)?.to_string();
                    built.push(BuiltModule {
                        module: module.clone(),
                        md5: hex(as_binary(md5).unwrap_or_default()),
                        source: file.clone(),
                        origin: Origin::Compiled { node: node.clone() },
                    });
                    // Removed from `binaries` if a later source defines the module again.
                    binaries.retain(|b| b.module != module);
                    binaries.push(Binary { module, file: file.clone(), bytes: bin.bytes.clone() });
                }
            }
            Some([tag, errs, warns]) if is_atom(tag, "error") => {
                errors.extend(parse_diagnostics(errs));
                warnings.extend(parse_diagnostics(warns));
            }
            _ => return Err(shape()),
        }
    }
    if !errors.is_empty() {
        return Err(ReloadError::Compile { diagnostics: errors });
    }
    // One entry per module, the last source that defines it winning.
    let mut seen = BTreeSet::new();
    let mut dedup: Vec<BuiltModule> = built.into_iter().rev().filter(|m| seen.insert(m.module.clone())).collect();
    dedup.reverse();
    let mut seen = BTreeSet::new();
    let mut bins: Vec<Binary> = binaries.into_iter().rev().filter(|b| seen.insert(b.module.clone())).collect();
    bins.reverse();
    Ok((dedup, bins, warnings))
}

pub(super) async fn find_elixir_node(cluster: &Cluster, targets: &[String], timeout: Duration) -> Option<String> {
    for n in targets {
        if let Ok(t) = cluster.call(n, "orbit_reload", "has_elixir", vec![], timeout).await {
            if is_atom(&t, "true") {
                return Some(n.clone());
            }
        }
    }
    None
}
