//! The modules Orbit debugs: which module comes from which file, each module's executable lines and
//! functions, and interpreting modules node by node (also on nodes that join later).

use super::util::{module_matches, no_debugger_text, ok_value, output, text};
use super::IntEngine;
use crate::debugger::names::{function_display, module_display};
use crate::debugger::sources::SourceIndex;
use crate::debugger::DebugError;
use crate::read_only::Change;
use crate::rpc::RpcError;
use crate::term::{as_atom, as_integer, as_list, as_str, as_tuple, atom, is_atom, list};
use eetf::Term;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// A module's code as breakpoints need it.
#[derive(Debug, Clone)]
pub(super) struct ModuleLines {
    pub(super) lines: Vec<u32>,
    /// (name, arity, first line, last line)
    pub(super) functions: Vec<(String, u32, u32, u32)>,
    /// (name, arity) → first line of each clause's body
    pub(super) clauses: HashMap<(String, u32), Vec<u32>>,
}

#[derive(Debug, Clone)]
struct Interpreted {
    md5: Term,
    nodes: BTreeSet<String>,
    /// Up nodes that could not load the module yet (a node that joined while it was still starting:
    /// its application's code path comes a moment after its distribution), where the node's keeper
    /// interprets it as soon as it can (`orbit_dbg:interpret_when_loadable/2`).
    not_loaded: BTreeSet<String>,
}

/// What the engine knows of the cluster's modules.
#[derive(Default)]
pub(super) struct Modules {
    index: SourceIndex,
    lines: HashMap<String, ModuleLines>,
    interpreted: BTreeMap<String, Interpreted>,
    /// Modules put into the interpreter server only for a step into another process (see step_into.rs),
    /// with their md5: interpreted on a node for the step alone, forgotten by the server at clean-up.
    for_steps: BTreeMap<String, Term>,
}

impl Modules {
    pub(super) fn path_of(&self, module: &str) -> Option<&Path> {
        self.index.path_of(module)
    }

    pub(super) fn modules_for(&self, file: &Path) -> Vec<String> {
        self.index.modules_for(file)
    }

    pub(super) fn has_lines(&self, module: &str) -> bool {
        self.lines.contains_key(module)
    }

    /// Every module Orbit put into the interpreter server (what the clean-up undoes).
    pub(super) fn in_server(&self) -> impl Iterator<Item = &String> {
        self.interpreted.keys().chain(self.for_steps.keys().filter(|m| !self.interpreted.contains_key(*m)))
    }

    pub(super) fn interpreted_on(&self, module: &str, node: &str) -> bool {
        self.interpreted.get(module).is_some_and(|i| i.nodes.contains(node))
    }

    /// The md5 of `module` as the interpreter server holds it, if Orbit put it there.
    pub(super) fn server_md5(&self, module: &str) -> Option<Term> {
        self.interpreted.get(module).map(|i| i.md5.clone()).or_else(|| self.for_steps.get(module).cloned())
    }

    pub(super) fn loaded_for_step(&mut self, module: &str, md5: Term) {
        self.for_steps.insert(module.to_string(), md5);
    }

    /// The function around `line`, as the user reads it (the module alone if its lines are unknown).
    pub(super) fn function_at(&self, module: &str, line: u32) -> String {
        if let Some(ml) = self.lines.get(module) {
            if let Some((f, a, _, _)) = ml.functions.iter().find(|(_, _, first, last)| *first <= line && line <= *last)
            {
                return function_display(module, f, *a);
            }
        }
        module_display(module)
    }

    pub(super) fn loaded_sources(&self) -> Vec<PathBuf> {
        let set: BTreeSet<PathBuf> = self.index.paths().map(|(_, p)| p.clone()).collect();
        set.into_iter().collect()
    }
}

impl IntEngine {
    /// Learns which module comes from which file, from every node.
    pub(super) async fn refresh_index(&mut self) {
        let skip = list(vec![]);
        let nodes = self.awake(self.cluster.up_nodes());
        let answers =
            futures::future::join_all(nodes.iter().map(|n| async {
                (n.clone(), self.node_call(n, "orbit_dbg", "source_index", vec![skip.clone()]).await)
            }))
            .await;
        let mut index = SourceIndex::default();
        for (_node, answer) in answers {
            let Ok(answer) = answer else { continue };
            let Some(items) = as_list(&answer) else { continue };
            for item in items.iter() {
                if let Some([m, src]) =
                    as_tuple(item).map(|t| t as &[Term]).and_then(|t| <&[Term; 2]>::try_from(t).ok())
                {
                    if let (Some(m), Some(src)) = (as_atom(m), as_str(src)) {
                        index.insert(m.to_string(), self.local_path(src));
                    }
                }
            }
        }
        // A release's beams are stripped of their compile info, so its nodes name no source: take the
        // project's own build for the modules no node named.
        // Only those the entry node can load: a module of a node still starting is not there yet, and its
        // breakpoint waits for it as for any module not loaded yet.
        if let Some(dir) = &self.config.project_dir {
            let missing: Vec<(String, String)> =
                project_sources(dir).into_iter().filter(|(m, _)| index.path_of(m).is_none()).collect();
            if !missing.is_empty() {
                let mods = list(missing.iter().map(|(m, _)| atom(m)).collect());
                let loadable = self.node_call(&self.entry, "orbit_dbg", "loadable", vec![mods]).await.ok();
                let loadable: BTreeSet<String> = loadable
                    .as_ref()
                    .and_then(as_list)
                    .map(|l| l.iter().filter_map(as_atom).map(str::to_string).collect())
                    .unwrap_or_default();
                for (module, source) in missing.into_iter().filter(|(m, _)| loadable.contains(m)) {
                    index.insert(module, self.local_path(&source));
                }
            }
        }
        self.modules.index = index;
    }

    /// A node's source path as a local one: the source map, then relative paths against the project.
    pub(super) fn local_path(&self, node_path: &str) -> PathBuf {
        let mapped = self.config.source_map.to_local(node_path);
        if mapped.is_relative() {
            if let Some(dir) = &self.config.project_dir {
                return dir.join(mapped);
            }
        }
        mapped
    }

    /// Interprets the modules the `interpret` globs of the configuration name.
    pub(super) async fn interpret_up_front(&mut self) {
        let globs = self.config.interpret.clone();
        if !globs.is_empty() {
            let modules: Vec<String> = self
                .modules
                .index
                .paths()
                .map(|(m, _)| m.clone())
                .filter(|m| globs.iter().any(|g| module_matches(g, m)))
                .collect();
            for m in modules {
                // Native nodes ready it for native steps; the interpreter only where some node needs it.
                if self.any_native() {
                    let cluster = self.cluster.clone();
                    let notes = self.native.prepare_everywhere(&cluster, &m).await;
                    self.pending_events.extend(notes.into_iter().map(|l| output(format!("{l}\n"))));
                }
                if self.uses_interpreter() {
                    // What the user asked for by name: why it is not interpreted (somewhere) is theirs to see.
                    let lines = match self.interpret(&m).await {
                        Ok(notes) => notes,
                        Err(e) => vec![e.0],
                    };
                    self.pending_events.extend(lines.into_iter().map(|l| output(format!("{l}\n"))));
                }
            }
        }
    }

    pub(super) async fn module_lines(&mut self, module: &str) -> Result<ModuleLines, DebugError> {
        if let Some(l) = self.modules.lines.get(module) {
            return Ok(l.clone());
        }
        let mut last_err = None;
        let mut nodes = vec![self.entry.clone()];
        nodes.extend(self.cluster.up_nodes().into_iter().filter(|n| *n != self.entry));
        let mut asks: Vec<(String, Vec<Term>)> = nodes.into_iter().map(|n| (n, vec![atom(module)])).collect();
        // Last, the project's own build of it, read on the entry node: a release's beams have no debug info.
        if let Some(bin) =
            self.config.project_dir.as_deref().and_then(|d| crate::debugger::sources::project_beam(d, module))
        {
            asks.push((self.entry.clone(), vec![atom(module), Term::Binary(bin.into())]));
        }
        for (node, args) in asks {
            let r = match self.node_call(&node, "orbit_dbg", "module_lines", args).await {
                Ok(r) => r,
                Err(e) => {
                    last_err = Some(e.to_string());
                    continue;
                }
            };
            match ok_value(&r) {
                Some([info]) => {
                    let lines = crate::term::map_get_atom(info, "lines")
                        .and_then(as_list)
                        .map(|l| l.iter().filter_map(as_integer).map(|x| x as u32).collect())
                        .unwrap_or_default();
                    let functions = crate::term::map_get_atom(info, "functions")
                        .and_then(as_list)
                        .map(|l| {
                            l.iter()
                                .filter_map(|f| {
                                    let [name, arity, first, last] = as_tuple(f)? else { return None };
                                    Some((
                                        as_atom(name)?.to_string(),
                                        as_integer(arity)? as u32,
                                        as_integer(first)? as u32,
                                        as_integer(last)? as u32,
                                    ))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let clauses = crate::term::map_get_atom(info, "clauses")
                        .and_then(as_list)
                        .map(|l| {
                            l.iter()
                                .filter_map(|c| {
                                    let [name, arity, lines] = as_tuple(c)? else { return None };
                                    let lines =
                                        as_list(lines)?.iter().filter_map(as_integer).map(|x| x as u32).collect();
                                    Some(((as_atom(name)?.to_string(), as_integer(arity)? as u32), lines))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let ml = ModuleLines { lines, functions, clauses };
                    self.modules.lines.insert(module.to_string(), ml.clone());
                    return Ok(ml);
                }
                _ => last_err = Some(format!("{node}: {}", text(&r))),
            }
        }
        let why = last_err.unwrap_or_default();
        let hint = if why.contains("no_debug_info") {
            " (compiled without debug info: releases strip it by default, set `strip_beams: false`)"
        } else {
            ""
        };
        Err(DebugError(format!("cannot read the code of {}: {why}{hint}", module_display(module))))
    }

    /// Makes `module` interpreted on every node that runs the same version of it.
    pub(super) async fn interpret(&mut self, module: &str) -> Result<Vec<String>, DebugError> {
        if self.modules.interpreted.contains_key(module) {
            return Ok(Vec::new());
        }
        self.cluster.refuse(Change::Interpret { module: &module_display(module) })?;
        if let Some(g) = self.config.exclude.iter().find(|g| module_matches(g, module)) {
            return Err(DebugError(format!("{} is excluded from debugging by `exclude: {g}`", module_display(module))));
        }
        let server = self.interpreter()?.0.clone();
        // From the entry node's object code, else from the first node that has it (a node still starting
        // may not have its application's code path yet).
        let mut nodes = vec![self.entry.clone()];
        nodes.extend(self.awake(self.cluster.up_nodes()).into_iter().filter(|n| *n != self.entry));
        let mut failures = Vec::new();
        let mut md5 = None;
        for node in &nodes {
            let args = vec![Term::from(server.clone()), atom(module)];
            match self.node_call(node, "orbit_dbg", "load_into_server", args).await {
                Ok(load) => match ok_value(&load) {
                    Some([m]) => {
                        md5 = Some(m.clone());
                        break;
                    }
                    _ => failures.push((node.clone(), text(&load))),
                },
                Err(e) => failures.push((node.clone(), e.to_string())),
            }
        }
        let Some(md5) = md5 else {
            if failures.iter().all(|(_, why)| why.contains("no_beam") || why.contains("not_loaded")) {
                // Pending, as a breakpoint in a module no node has loaded yet (retried on every tick).
                return Err(DebugError(format!(
                    "no module {} is loadable on any node yet; the breakpoint will hold when one is",
                    module_display(module)
                )));
            }
            let (node, why) = failures.into_iter().next().unwrap_or_default();
            return Err(DebugError(format!("cannot interpret {} on {node}: {why}", module_display(module))));
        };
        let mut state = Interpreted { md5: md5.clone(), nodes: BTreeSet::new(), not_loaded: BTreeSet::new() };
        let notes = self.interpret_on_nodes(module, &md5, &self.cluster.up_nodes(), &mut state).await;
        self.modules.interpreted.insert(module.to_string(), state);
        self.register_cleanup_everywhere().await;
        Ok(notes)
    }

    /// Makes every module Orbit interpreted interpreted on `node` too (a node that joined). Returns how
    /// many modules that is, and console lines.
    pub(super) async fn interpret_all_on(&mut self, node: &str) -> (usize, Vec<String>) {
        let mut lines = Vec::new();
        let mods: Vec<(String, Term)> =
            self.modules.interpreted.iter().map(|(m, s)| (m.clone(), s.md5.clone())).collect();
        let node = node.to_string();
        for (m, md5) in &mods {
            let mut done = Interpreted { md5: md5.clone(), nodes: BTreeSet::new(), not_loaded: BTreeSet::new() };
            lines.extend(self.interpret_on_nodes(m, md5, std::slice::from_ref(&node), &mut done).await);
            if let Some(s) = self.modules.interpreted.get_mut(m) {
                s.nodes.extend(done.nodes);
                s.not_loaded.extend(done.not_loaded);
            }
        }
        (mods.len(), lines)
    }

    /// Whether a module Orbit interprets waits to be loadable on `node`.
    pub(super) fn waits_on(&self, node: &str) -> bool {
        self.modules.interpreted.values().any(|s| s.not_loaded.contains(node))
    }

    /// A node's watcher interpreted `module` there once it could load it (see `interpret_on_nodes`).
    /// Returns a console line.
    pub(super) fn interpreted_late(&mut self, node: &str, module: &str, result: &Term) -> Option<String> {
        let state = self.modules.interpreted.get_mut(module)?;
        if !state.not_loaded.remove(node) {
            return None;
        }
        if is_atom(result, "ok") {
            state.nodes.insert(node.to_string());
            Some(format!("{node}: breakpoints in {} now hold there too", module_display(module)))
        } else {
            let why = self.refusal_text(node, result);
            Some(format!("{node}: breakpoints in {} do not hold there: {why}", module_display(module)))
        }
    }

    /// Why `orbit_dbg:interpret/2` refused a module on `node`, as the user reads it.
    pub(super) fn refusal_text(&self, node: &str, refusal: &Term) -> String {
        let first_is = |r: &Term, tag: &str| as_tuple(r).and_then(|x| x.first()).is_some_and(|x| is_atom(x, tag));
        match as_tuple(refusal) {
            Some([_, r]) if is_atom(r, "no_server") => format!(
                "it does not see OTP's interpreter server on {} (global names)",
                self.server.as_ref().map_or("another node", |s| s.node.as_str())
            ),
            Some([_, r]) if first_is(r, "no_debugger") => {
                format!("{}; tracepoints (log points) still hold there", no_debugger_text(node, 1))
            }
            Some([_, r]) if first_is(r, "other_version") => {
                format!("it runs another version of it than {}", self.entry)
            }
            _ => text(refusal),
        }
    }

    async fn interpret_on_nodes(
        &self,
        module: &str,
        md5: &Term,
        nodes: &[String],
        state: &mut Interpreted,
    ) -> Vec<String> {
        // Nodes with native breakpoints never interpret (see `native`).
        let nodes: Vec<String> = nodes.iter().filter(|n| !self.is_native_node(n)).cloned().collect();
        let answers = futures::future::join_all(nodes.iter().map(|n| async move {
            (n.clone(), self.node_call(n, "orbit_dbg", "interpret", vec![atom(module), md5.clone()]).await)
        }))
        .await;
        let mut notes = Vec::new();
        let mut watch = Vec::new();
        for (node, answer) in answers {
            match answer {
                Ok(t) if is_atom(&t, "ok") => {
                    state.nodes.insert(node);
                }
                Ok(t) => {
                    if matches!(as_tuple(&t), Some([_, r]) if is_atom(r, "not_loaded")) {
                        watch.push(node.clone());
                        continue;
                    }
                    let why = self.refusal_text(&node, &t);
                    notes.push(format!("{node}: breakpoints in {} do not hold there: {why}", module_display(module)));
                }
                // Asleep: interpreted again when it answers (the console names it once).
                Err(RpcError::Timeout { .. }) => {}
                Err(e) => notes.push(format!("{node}: {e}")),
            }
        }
        for node in watch {
            let args = vec![atom(module), md5.clone()];
            match self.node_call(&node, "orbit_dbg", "interpret_when_loadable", args).await {
                Ok(t) if is_atom(&t, "ok") => {
                    state.not_loaded.insert(node);
                }
                Ok(t) => notes.push(format!(
                    "{node}: breakpoints in {} do not hold there: {}",
                    module_display(module),
                    text(&t)
                )),
                Err(e) => notes.push(format!("{node}: {e}")),
            }
        }
        notes
    }
}

/// (module, source) of every beam under the project's `_build/<env>/lib/<app>/ebin` that records its source.
fn project_sources(project: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let read = |p: PathBuf| std::fs::read_dir(p).into_iter().flatten().flatten().map(|e| e.path());
    for env in read(project.join("_build")) {
        for app in read(env.join("lib")) {
            for beam in read(app.join("ebin")).filter(|p| p.extension().is_some_and(|e| e == "beam")) {
                let Some(module) = beam.file_stem().and_then(|s| s.to_str()) else { continue };
                let Ok(bytes) = std::fs::read(&beam) else { continue };
                if let Some(source) = crate::reload::beam_source(&bytes) {
                    out.push((module.to_string(), source));
                }
            }
        }
    }
    out
}
