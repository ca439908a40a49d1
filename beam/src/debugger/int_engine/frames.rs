//! Stacks and scopes: the ids the editor gets for frames and for variables references (valid until the
//! thread moves on), a stopped or suspended thread's stack, and a frame's scopes.

use super::step_into::MarkerFrame;
use super::threads::ThreadState;
use super::util::{ok_value, rpc_err};
use super::{IntEngine, CALL};
use crate::debugger::names::{function_display, Lang};
use crate::debugger::{DebugError, FrameInfo, ScopeInfo};
use crate::term::{as_atom, as_integer, as_list, as_str, as_tuple};
use eetf::Term;
use std::collections::HashMap;
use std::path::Path;

/// What a frame id stands for.
#[derive(Debug, Clone, Copy)]
pub(super) struct FrameRef {
    pub(super) thread: i64,
    /// The interpreter's stack level; `None` for the top frame (its current bindings).
    pub(super) sp: Option<i64>,
    pub(super) lang: Lang,
    /// False for frames of a suspended process that is not interpreted: no variables.
    pub(super) interpreted: bool,
}

/// What a variables reference points at.
#[derive(Debug, Clone)]
pub(super) enum VarRoot {
    /// The variables of a frame.
    Frame { thread: i64, sp: Option<i64>, lang: Lang },
    /// A process's info (the "Process" scope).
    Process { thread: i64 },
    /// Part of a value: `root` on the node, then `path`.
    Value { node: String, root: Term, path: Vec<Term>, lang: Lang, is_struct: bool, kind: String },
}

/// Frame ids and variables references handed to the editor (one counter for both).
pub(super) struct Frames {
    frames: HashMap<i64, FrameRef>,
    vars: HashMap<i64, VarRoot>,
    next_ref: i64,
}

impl Default for Frames {
    fn default() -> Self {
        Frames { frames: HashMap::new(), vars: HashMap::new(), next_ref: 1 }
    }
}

impl Frames {
    fn next(&mut self) -> i64 {
        let r = self.next_ref;
        self.next_ref += 1;
        r
    }

    pub(super) fn new_frame(&mut self, frame: FrameRef) -> i64 {
        let id = self.next();
        self.frames.insert(id, frame);
        id
    }

    pub(super) fn new_ref(&mut self, root: VarRoot) -> i64 {
        let r = self.next();
        self.vars.insert(r, root);
        r
    }

    pub(super) fn frame(&self, id: i64) -> Result<FrameRef, DebugError> {
        self.frames
            .get(&id)
            .copied()
            .ok_or_else(|| DebugError(format!("no frame {id} (the process may have moved on)")))
    }

    pub(super) fn root(&self, reference: i64) -> Option<&VarRoot> {
        self.vars.get(&reference)
    }

    /// Forgets the frames and variables of a thread that moved on (parts of values stay expandable).
    pub(super) fn invalidate(&mut self, thread: i64) {
        self.frames.retain(|_, f| f.thread != thread);
        self.vars.retain(|_, root| match root {
            VarRoot::Frame { thread: t, .. } | VarRoot::Process { thread: t } => *t != thread,
            VarRoot::Value { .. } => true,
        });
    }
}

impl IntEngine {
    pub(super) async fn stack_trace(&mut self, thread: i64) -> Result<Vec<FrameInfo>, DebugError> {
        let t = self.threads.live(thread)?;
        let node = t.node.clone();
        let pid = t.pid.clone();
        let meta = t.meta.clone();
        let state = t.state.clone();
        let mut out = Vec::new();
        // A caller waiting for the answer of a process it stepped into: that process first.
        if let ThreadState::Awaiting { .. } = state {
            if let Some(marker) = self.awaiting_frame(thread) {
                out.push(self.marker_frame(marker, thread));
            }
        }
        match state {
            ThreadState::Stopped { ref module, line, .. }
            | ThreadState::Awaiting { ref module, line, .. }
            | ThreadState::PostMortem { module: Some(ref module), line: Some(line), .. } => {
                let meta = meta
                    .clone()
                    .ok_or_else(|| DebugError::new("the interpreter has not answered for this process yet"))?;
                let r = self
                    .cluster
                    .call(&node, "orbit_dbg", "stack", vec![Term::from(meta)], CALL)
                    .await
                    .map_err(rpc_err)?;
                let frames = ok_value(&r).and_then(|v| as_list(&v[0]).map(|l| l.to_vec())).unwrap_or_default();
                let first = out.len();
                for (i, f) in frames.iter().enumerate() {
                    let Some([le, m, fun, arity, fline]) = as_tuple(f).and_then(|t| <&[Term; 5]>::try_from(t).ok())
                    else {
                        continue;
                    };
                    let (Some(le), Some(m), Some(fun), Some(arity)) =
                        (as_integer(le), as_atom(m), as_atom(fun), as_integer(arity))
                    else {
                        continue;
                    };
                    let fline = if i == 0 && m == module { line } else { as_integer(fline).unwrap_or(0) as u32 };
                    let lang = Lang::of_module(m);
                    let id = self.frames.new_frame(FrameRef {
                        thread,
                        sp: if i == 0 { None } else { Some(le) },
                        lang,
                        interpreted: true,
                    });
                    // A post-mortem meta knows the module of the frame that crashed but not its function.
                    let name = if fun == "undefined" && i == 0 {
                        self.modules.function_at(m, fline)
                    } else {
                        function_display(m, fun, arity as u32)
                    };
                    out.push(FrameInfo {
                        id,
                        name,
                        source: self.modules.path_of(m).map(Path::to_path_buf),
                        line: fline,
                        subtle: false,
                    });
                }
                if out.len() == first {
                    // The post-mortem meta may know no stack: show where it crashed.
                    let id = self.frames.new_frame(FrameRef {
                        thread,
                        sp: None,
                        lang: Lang::of_module(module),
                        interpreted: true,
                    });
                    out.push(FrameInfo {
                        id,
                        name: self.modules.function_at(module, line),
                        source: self.modules.path_of(module).map(Path::to_path_buf),
                        line,
                        subtle: false,
                    });
                }
            }
            ThreadState::Suspended | ThreadState::PostMortem { .. } => {
                let r = self
                    .cluster
                    .call(&node, "orbit_dbg", "current_stack", vec![Term::from(pid)], CALL)
                    .await
                    .map_err(rpc_err)?;
                let frames = ok_value(&r).and_then(|v| as_list(&v[0]).map(|l| l.to_vec())).unwrap_or_default();
                for f in frames {
                    let Some([m, fun, arity, file, line]) = as_tuple(&f).and_then(|t| <&[Term; 5]>::try_from(t).ok())
                    else {
                        continue;
                    };
                    let (Some(m), Some(fun), Some(arity)) = (as_atom(m), as_atom(fun), as_integer(arity)) else {
                        continue;
                    };
                    let id = self.frames.new_frame(FrameRef {
                        thread,
                        sp: None,
                        lang: Lang::of_module(m),
                        interpreted: false,
                    });
                    let source = self
                        .modules
                        .path_of(m)
                        .map(Path::to_path_buf)
                        .or_else(|| as_str(file).map(|f| self.local_path(f)));
                    out.push(FrameInfo {
                        id,
                        name: function_display(m, fun, arity as u32),
                        source,
                        line: as_integer(line).unwrap_or(0) as u32,
                        subtle: true,
                    });
                }
            }
            ThreadState::Running | ThreadState::Idle { .. } | ThreadState::Exited => {
                return Err(DebugError(format!("thread {thread} is running: pause it to see its stack")));
            }
        }
        // Who waits for this process's answer (a GenServer.call, an :erpc call), below its own frames.
        if let (ThreadState::Stopped { .. }, Some(meta)) = (&state, &meta) {
            if let Some(marker) = self.called_by_frame(&node, meta).await {
                out.push(self.marker_frame(marker, thread));
            }
        }
        Ok(out)
    }

    /// A frame that stands for another process (`→ awaiting …`, `← GenServer.call from …`) in the stack of
    /// `owner`: no variables of its own; its Process scope is the other process's when Orbit shows it as
    /// a thread (else the owner's); it opens the other process's place in the editor.
    fn marker_frame(&mut self, marker: MarkerFrame, owner: i64) -> FrameInfo {
        let MarkerFrame { name, thread, place } = marker;
        let lang = place.as_ref().map(|(m, _)| Lang::of_module(m)).unwrap_or(Lang::Elixir);
        let id =
            self.frames.new_frame(FrameRef { thread: thread.unwrap_or(owner), sp: None, lang, interpreted: false });
        FrameInfo {
            id,
            name,
            source: place.as_ref().and_then(|(m, _)| self.modules.path_of(m).map(Path::to_path_buf)),
            line: place.map(|(_, l)| l).unwrap_or(0),
            subtle: true,
        }
    }

    pub(super) async fn scopes(&mut self, frame: i64) -> Result<Vec<ScopeInfo>, DebugError> {
        let f = self.frames.frame(frame)?;
        let mut out = Vec::new();
        if f.interpreted {
            let r = self.frames.new_ref(VarRoot::Frame { thread: f.thread, sp: f.sp, lang: f.lang });
            out.push(ScopeInfo {
                name: "Locals".into(),
                variables_reference: r,
                named_variables: None,
                expensive: false,
            });
        }
        let r = self.frames.new_ref(VarRoot::Process { thread: f.thread });
        out.push(ScopeInfo { name: "Process".into(), variables_reference: r, named_variables: None, expensive: false });
        Ok(out)
    }
}
