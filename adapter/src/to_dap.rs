//! The engine's answers as DAP types. Conversions live here and nowhere else.

use crate::protocol::{
    Breakpoint, OutputCategory, OutputEventBody, Scope, Source, StackFrame, StoppedEventBody, StoppedReason, Thread,
    Variable,
};
use beam::debugger::{self as dbg, StopReason};
use std::path::Path;

pub fn source(path: &Path) -> Source {
    Source {
        name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
        path: Some(path.to_string_lossy().into_owned()),
        ..Default::default()
    }
}

pub fn breakpoint(b: &dbg::BreakpointStatus) -> Breakpoint {
    Breakpoint {
        id: Some(b.id),
        verified: b.verified,
        message: b.message.clone(),
        source: b.source.as_deref().map(source),
        line: b.line.map(i64::from),
        ..Default::default()
    }
}

pub fn thread(t: &dbg::ThreadInfo) -> Thread {
    Thread { id: t.id, name: t.name.clone() }
}

pub fn frame(f: &dbg::FrameInfo) -> StackFrame {
    StackFrame {
        id: f.id,
        name: f.name.clone(),
        source: f.source.as_deref().map(source),
        line: i64::from(f.line),
        column: 1,
        presentation_hint: f.subtle.then(|| "subtle".into()),
        ..Default::default()
    }
}

pub fn scope(s: &dbg::ScopeInfo) -> Scope {
    Scope {
        name: s.name.clone(),
        presentation_hint: (s.name == "Locals").then(|| "locals".into()),
        variables_reference: s.variables_reference,
        named_variables: s.named_variables.map(|n| n as i64),
        expensive: s.expensive,
        ..Default::default()
    }
}

pub fn variable(v: &dbg::VariableInfo) -> Variable {
    Variable {
        name: v.name.clone(),
        value: v.value.clone(),
        type_: v.type_name.clone(),
        evaluate_name: v.evaluate_name.clone(),
        variables_reference: v.variables_reference,
        named_variables: v.named_variables.map(|n| n as i64),
        indexed_variables: v.indexed_variables.map(|n| n as i64),
        ..Default::default()
    }
}

pub fn stopped(
    thread: i64,
    reason: StopReason,
    description: &str,
    text: &Option<String>,
    bps: &[i64],
) -> StoppedEventBody {
    StoppedEventBody {
        reason: match reason {
            StopReason::Breakpoint => StoppedReason::Breakpoint,
            StopReason::FunctionBreakpoint => "function breakpoint".into(),
            StopReason::Step => StoppedReason::Step,
            StopReason::Pause => StoppedReason::Pause,
            StopReason::Exception => StoppedReason::Exception,
        },
        description: Some(description.to_string()),
        thread_id: Some(thread),
        text: text.clone(),
        all_threads_stopped: Some(false),
        hit_breakpoint_ids: (!bps.is_empty()).then(|| bps.to_vec()),
        ..Default::default()
    }
}

pub fn output(category: dbg::OutputCategory, text: &str) -> OutputEventBody {
    OutputEventBody {
        category: Some(match category {
            dbg::OutputCategory::Console => OutputCategory::Console,
            dbg::OutputCategory::Stdout => OutputCategory::Stdout,
            dbg::OutputCategory::Stderr => OutputCategory::Stderr,
            dbg::OutputCategory::Important => OutputCategory::Important,
        }),
        output: if text.ends_with('\n') { text.to_string() } else { format!("{text}\n") },
        ..Default::default()
    }
}
