//! Placement: which modules, functions and clauses a source file defines, and on which lines, from a
//! tree-sitter parse (`tree-sitter-elixir`, `tree-sitter-erlang`). Files with syntax errors still yield
//! whatever parsed (tree-sitter recovers around errors).

use beam::names::Lang;
use tree_sitter::{Node, Parser};

/// A place in a document: 0-based line, UTF-16 columns (what LSP speaks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start_line: u32,
    pub start_col: u32,
    pub end_line: u32,
    pub end_col: u32,
}

impl Span {
    pub fn contains_line(&self, line: u32) -> bool {
        self.start_line <= line && line <= self.end_line
    }

    pub fn contains(&self, line: u32, col: u32) -> bool {
        (line, col) >= (self.start_line, self.start_col) && (line, col) <= (self.end_line, self.end_col)
    }
}

/// One clause of a function (Elixir: one `def`; Erlang: one `f(...) -> ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// The whole clause.
    pub span: Span,
    /// The function's name in the clause head.
    pub name_span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    pub arity: u32,
    pub private: bool,
    pub clauses: Vec<Clause>,
}

impl Function {
    /// From the first clause's start to the last clause's end.
    pub fn span(&self) -> Span {
        let first = self.clauses.first().map(|c| c.span).unwrap_or_default();
        let last = self.clauses.last().map(|c| c.span).unwrap_or_default();
        Span {
            start_line: first.start_line,
            start_col: first.start_col,
            end_line: last.end_line,
            end_col: last.end_col,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// As people write it: `Bank.Fees`, `bank_ledger`.
    pub name: String,
    /// The module's atom: `Elixir.Bank.Fees`, `bank_ledger`.
    pub atom: String,
    /// The `defmodule … end` block, or for Erlang the whole file from `-module`.
    pub span: Span,
    /// The module's name in `defmodule X` / `-module(x)`.
    pub name_span: Span,
    pub functions: Vec<Function>,
    /// `use GenServer`, `-behaviour(gen_server)`: the behaviours and `use`d modules, as written.
    pub uses: Vec<String>,
}

impl Module {
    /// Does it run as a process of its own (GenServer & co), so a sandbox can start it?
    pub fn is_process(&self) -> bool {
        self.uses.iter().any(|u| {
            matches!(
                u.as_str(),
                "GenServer" | "Agent" | "Supervisor" | "Task" | "gen_server" | "gen_statem" | "supervisor" | "GenStage"
            )
        }) || self.functions.iter().any(|f| f.name == "child_spec" && f.arity == 1)
    }

    pub fn is_gen_server(&self) -> bool {
        self.uses.iter().any(|u| u == "GenServer" || u == "gen_server")
    }

    /// The function whose clauses cover `line`.
    pub fn function_at(&self, line: u32) -> Option<&Function> {
        self.functions.iter().find(|f| f.clauses.iter().any(|c| c.span.contains_line(line)))
    }

    /// The clause that covers `line`, with its function.
    pub fn clause_at(&self, line: u32) -> Option<(&Function, &Clause)> {
        self.functions.iter().find_map(|f| f.clauses.iter().find(|c| c.span.contains_line(line)).map(|c| (f, c)))
    }
}

/// Everything placed in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileIndex {
    pub modules: Vec<Module>,
    /// The parse had errors (what is placed is what could be).
    pub has_errors: bool,
}

impl FileIndex {
    /// The innermost module whose span covers `line`.
    pub fn module_at(&self, line: u32) -> Option<&Module> {
        self.modules.iter().filter(|m| m.span.contains_line(line)).min_by_key(|m| m.span.end_line - m.span.start_line)
    }

    pub fn module(&self, atom: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.atom == atom)
    }
}

/// Longest a parse may take: well above what a large real source file needs (5 MB of Elixir parses in
/// about 3 s unoptimised).
const PARSE_BUDGET: std::time::Duration = std::time::Duration::from_secs(8);

/// Parses `text` and places its modules, functions and clauses.
pub fn index(lang: Lang, text: &str) -> FileIndex {
    let mut parser = Parser::new();
    let language: tree_sitter::Language = match lang {
        Lang::Elixir => tree_sitter_elixir::LANGUAGE.into(),
        Lang::Erlang => tree_sitter_erlang::LANGUAGE.into(),
    };
    if parser.set_language(&language).is_err() {
        return FileIndex::default();
    }
    // Error recovery on some malformed input (megabytes of brackets and keywords) takes minutes; the
    // index is built on the server's one loop, so a parse that runs past the budget gives up and the
    // file is treated as one that does not parse.
    let started = std::time::Instant::now();
    let mut over_budget = |_: &tree_sitter::ParseState| started.elapsed() > PARSE_BUDGET;
    let options = tree_sitter::ParseOptions::new().progress_callback(&mut over_budget);
    let bytes = text.as_bytes();
    let mut read = |i: usize, _| bytes.get(i..).unwrap_or_default();
    let Some(tree) = parser.parse_with_options(&mut read, None, Some(options)) else {
        tracing::warn!("gave up parsing a {} byte file after {PARSE_BUDGET:?}", text.len());
        return FileIndex { modules: Vec::new(), has_errors: true };
    };
    let root = tree.root_node();
    let mut out = FileIndex { modules: Vec::new(), has_errors: root.has_error() };
    let lines: Vec<&str> = text.split('\n').collect();
    let ascii = lines.iter().map(|l| l.is_ascii()).collect();
    let src = Source { text, lines, ascii };
    match lang {
        Lang::Elixir => elixir_block(&src, root, None, 0, &mut out.modules),
        Lang::Erlang => erlang_file(&src, root, &mut out.modules),
    }
    out
}

struct Source<'a> {
    text: &'a str,
    lines: Vec<&'a str>,
    /// Per line: only ASCII, so a byte column is the UTF-16 column (long lines are not rescanned per node).
    ascii: Vec<bool>,
}

impl Source<'_> {
    fn of(&self, n: Node) -> &str {
        self.text.get(n.byte_range()).unwrap_or("")
    }

    fn col(&self, row: usize, byte_col: usize) -> u32 {
        let line = self.lines.get(row).copied().unwrap_or("");
        let end = byte_col.min(line.len());
        if self.ascii.get(row).copied().unwrap_or(false) {
            return end as u32;
        }
        // A column inside a multi-byte character: count up to the last boundary before it.
        let end = (0..=end).rev().find(|i| line.is_char_boundary(*i)).unwrap_or(0);
        line[..end].encode_utf16().count() as u32
    }

    fn span(&self, n: Node) -> Span {
        let (s, e) = (n.start_position(), n.end_position());
        Span {
            start_line: s.row as u32,
            start_col: self.col(s.row, s.column),
            end_line: e.row as u32,
            end_col: self.col(e.row, e.column),
        }
    }
}

fn children(n: Node) -> Vec<Node> {
    let mut c = n.walk();
    n.named_children(&mut c).collect()
}

// ---------------------------------------------------------------------------------------------------
// Elixir.

/// The identifier a call starts with: `defmodule`, `def`, `use`…
fn call_target<'a>(src: &'a Source, n: Node) -> Option<&'a str> {
    if n.kind() != "call" {
        return None;
    }
    let t = n.child_by_field_name("target")?;
    (t.kind() == "identifier").then(|| src.of(t))
}

fn call_arguments(n: Node) -> Option<Node> {
    children(n).into_iter().find(|c| c.kind() == "arguments")
}

fn do_block(n: Node) -> Option<Node> {
    children(n).into_iter().find(|c| c.kind() == "do_block")
}

/// How deep the walk goes into nested blocks and error nodes: deeper (`((((…))))` a million times, in a
/// file that does not parse) is not code anyone wrote, and the walk must not exhaust the stack on it.
const MAX_DEPTH: usize = 64;

/// Walks a block (the file, or a module's `do … end`) for modules; `outer` is the enclosing module's name.
fn elixir_block(src: &Source, n: Node, outer: Option<&str>, depth: usize, out: &mut Vec<Module>) {
    for child in children(n) {
        elixir_node(src, child, outer, depth, out);
    }
}

fn elixir_node(src: &Source, n: Node, outer: Option<&str>, depth: usize, out: &mut Vec<Module>) {
    if depth > MAX_DEPTH {
        return;
    }
    if call_target(src, n) == Some("defmodule") {
        if let Some(m) = elixir_module(src, n, outer, depth, out) {
            out.push(m);
        }
        return;
    }
    // Modules can sit inside other constructs (`if`, `quote`…): look one level into blocks.
    if n.kind() == "ERROR" || n.kind() == "block" {
        elixir_block(src, n, outer, depth + 1, out);
    }
}

fn elixir_module(src: &Source, n: Node, outer: Option<&str>, depth: usize, out: &mut Vec<Module>) -> Option<Module> {
    let args = call_arguments(n)?;
    let alias = children(args).into_iter().next()?;
    if alias.kind() != "alias" {
        return None;
    }
    let written = src.of(alias).split_whitespace().collect::<String>();
    let name = match outer {
        Some(o) => format!("{o}.{written}"),
        None => written,
    };
    let mut module = Module {
        atom: format!("Elixir.{name}"),
        name: name.clone(),
        span: src.span(n),
        name_span: src.span(alias),
        functions: Vec::new(),
        uses: Vec::new(),
    };
    if let Some(body) = do_block(n) {
        for stmt in children(body) {
            elixir_statement(src, stmt, &name, &mut module, depth + 1, out);
        }
    }
    merge_clauses(&mut module.functions);
    Some(module)
}

fn elixir_statement(
    src: &Source,
    n: Node,
    module_name: &str,
    module: &mut Module,
    depth: usize,
    out: &mut Vec<Module>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match call_target(src, n) {
        Some("defmodule") => {
            if let Some(m) = elixir_module(src, n, Some(module_name), depth, out) {
                out.push(m);
            }
        }
        Some(kind @ ("def" | "defp" | "defmacro" | "defmacrop")) => {
            if let Some((name, arity, name_node)) = call_arguments(n).and_then(|a| elixir_head(src, a)) {
                let clause = Clause { span: src.span(n), name_span: src.span(name_node) };
                let private = kind.ends_with('p');
                add_clause(&mut module.functions, name, arity, private, clause);
            }
        }
        Some("use") => {
            if let Some(a) = call_arguments(n).and_then(|a| children(a).into_iter().next()) {
                module.uses.push(src.of(a).to_string());
            }
        }
        _ => {
            // `@behaviour GenServer`
            if n.kind() == "unary_operator" {
                if let Some(op) = n.child_by_field_name("operand") {
                    if call_target(src, op) == Some("behaviour") {
                        if let Some(a) = call_arguments(op).and_then(|a| children(a).into_iter().next()) {
                            module.uses.push(src.of(a).trim_start_matches(':').to_string());
                        }
                    }
                }
            }
            if n.kind() == "ERROR" || n.kind() == "block" {
                for c in children(n) {
                    elixir_statement(src, c, module_name, module, depth + 1, out);
                }
            }
        }
    }
}

/// `name(args)`, `name(args) when guard`, `name`: the function's name, arity and name node.
fn elixir_head<'a>(src: &Source, args: Node<'a>) -> Option<(String, u32, Node<'a>)> {
    let mut head = children(args).into_iter().next()?;
    if head.kind() == "binary_operator" {
        // `head when guard`
        head = head.child_by_field_name("left")?;
    }
    match head.kind() {
        "identifier" => Some((src.of(head).to_string(), 0, head)),
        "call" => {
            let target = head.child_by_field_name("target")?;
            if target.kind() != "identifier" {
                return None;
            }
            let arity = call_arguments(head).map(|a| children(a).len() as u32).unwrap_or(0);
            Some((src.of(target).to_string(), arity, target))
        }
        _ => None,
    }
}

/// A clause goes to the function before it when it continues that function (the usual case); otherwise
/// it starts an entry of its own, and [`merge_clauses`] joins entries of one function at the end, so a
/// file of many functions is not searched once per clause.
fn add_clause(functions: &mut Vec<Function>, name: String, arity: u32, private: bool, clause: Clause) {
    match functions.last_mut() {
        Some(f) if f.name == name && f.arity == arity => f.clauses.push(clause),
        _ => functions.push(Function { name, arity, private, clauses: vec![clause] }),
    }
}

/// Joins the entries of one function (clauses apart from each other) into the first, in order.
fn merge_clauses(functions: &mut Vec<Function>) {
    let mut first: std::collections::HashMap<(String, u32), usize> = std::collections::HashMap::new();
    let mut merged: Vec<Function> = Vec::with_capacity(functions.len());
    for f in functions.drain(..) {
        match first.get(&(f.name.clone(), f.arity)) {
            Some(&i) => merged[i].clauses.extend(f.clauses),
            None => {
                first.insert((f.name.clone(), f.arity), merged.len());
                merged.push(f);
            }
        }
    }
    *functions = merged;
}

// ---------------------------------------------------------------------------------------------------
// Erlang.

fn erlang_file(src: &Source, root: Node, out: &mut Vec<Module>) {
    let mut module: Option<Module> = None;
    let mut exports: std::collections::HashSet<(String, u32)> = std::collections::HashSet::new();
    let mut pending: Vec<Function> = Vec::new();
    let mut uses = Vec::new();
    for form in children(root) {
        match form.kind() {
            "module_attribute" => {
                if let Some(name) = form.child_by_field_name("name") {
                    let atom = src.of(name).trim_matches('\'').to_string();
                    module = Some(Module {
                        name: atom.clone(),
                        atom,
                        span: Span {
                            start_line: src.span(form).start_line,
                            start_col: 0,
                            end_line: src.lines.len().saturating_sub(1) as u32,
                            end_col: 0,
                        },
                        name_span: src.span(name),
                        functions: Vec::new(),
                        uses: Vec::new(),
                    });
                }
            }
            "behaviour_attribute" => {
                if let Some(name) = form.child_by_field_name("name") {
                    uses.push(src.of(name).to_string());
                }
            }
            "export_attribute" => {
                let mut stack = vec![form];
                while let Some(n) = stack.pop() {
                    if n.kind() == "fa" {
                        let fun = n.child_by_field_name("fun").map(|f| src.of(f).trim_matches('\'').to_string());
                        let arity = n.child_by_field_name("arity").and_then(|a| {
                            src.of(a)
                                .trim_start_matches('/')
                                .trim()
                                .parse::<u32>()
                                .ok()
                                .or_else(|| children(a).first().and_then(|i| src.of(*i).trim().parse::<u32>().ok()))
                        });
                        if let (Some(f), Some(a)) = (fun, arity) {
                            exports.insert((f, a));
                        }
                    }
                    stack.extend(children(n));
                }
            }
            "fun_decl" => {
                for clause in children(form).into_iter().filter(|c| c.kind() == "function_clause") {
                    let Some(name) = clause.child_by_field_name("name") else { continue };
                    let arity = clause.child_by_field_name("args").map(|a| children(a).len() as u32).unwrap_or(0);
                    let c = Clause { span: src.span(clause), name_span: src.span(name) };
                    add_clause(&mut pending, src.of(name).trim_matches('\'').to_string(), arity, false, c);
                }
            }
            _ => {}
        }
    }
    if let Some(mut m) = module {
        merge_clauses(&mut pending);
        for f in &mut pending {
            f.private = !exports.contains(&(f.name.clone(), f.arity));
        }
        m.functions = pending;
        m.uses = uses;
        out.push(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ELIXIR: &str = r#"defmodule Bank.Mailbox do
  use GenServer

  def start_link(opts \\ []) do
    GenServer.start_link(__MODULE__, opts, name: __MODULE__)
  end

  def flood(n) when is_integer(n) and n >= 0 do
    n
  end

  def drain do
    :ok
  end

  @impl true
  def handle_info({:work, gen, _i}, state) do
    {:noreply, state}
  end

  def handle_info(_other, state), do: {:noreply, state}

  defp counter(key), do: key

  defmodule Inner do
    def x, do: 1
  end
end
"#;

    #[test]
    fn elixir_modules_functions_and_clauses() {
        let idx = index(Lang::Elixir, ELIXIR);
        assert!(!idx.has_errors);
        let m = idx.module("Elixir.Bank.Mailbox").expect("module");
        assert_eq!(m.name, "Bank.Mailbox");
        assert_eq!(m.name_span.start_line, 0);
        assert_eq!(m.name_span.start_col, 10);
        assert_eq!(m.span.end_line, 27);
        assert!(m.is_gen_server());
        let names: Vec<(String, u32, usize)> =
            m.functions.iter().map(|f| (f.name.clone(), f.arity, f.clauses.len())).collect();
        assert_eq!(
            names,
            vec![
                ("start_link".into(), 1, 1),
                ("flood".into(), 1, 1),
                ("drain".into(), 0, 1),
                ("handle_info".into(), 2, 2),
                ("counter".into(), 1, 1),
            ]
        );
        let hi = &m.functions[3];
        assert_eq!(hi.clauses[0].span.start_line, 16);
        assert_eq!(hi.clauses[1].span.start_line, 20);
        assert!(m.functions[4].private);
        assert_eq!(m.clause_at(17).map(|(f, _)| f.name.as_str()), Some("handle_info"));
        let inner = idx.module("Elixir.Bank.Mailbox.Inner").expect("nested module");
        assert_eq!(inner.functions[0].name, "x");
        assert_eq!(idx.module_at(25).map(|m| m.name.as_str()), Some("Bank.Mailbox.Inner"));
        assert_eq!(idx.module_at(3).map(|m| m.name.as_str()), Some("Bank.Mailbox"));
    }

    #[test]
    fn elixir_with_syntax_errors_still_places_what_it_can() {
        let text = "defmodule Broken do\n  def ok(a), do: a\n\n  def bad(x) do\n    x +\n  end\n\n  def later(y) do\n    y\n  end\nend\n";
        let idx = index(Lang::Elixir, text);
        assert!(idx.has_errors);
        let m = idx.module("Elixir.Broken").expect("module placed despite the error");
        assert!(m.functions.iter().any(|f| f.name == "ok"), "{m:?}");
    }

    #[test]
    fn garbage_does_not_panic() {
        for text in ["", "defmodule", "end end end", "-module(", "\u{feff}ü😀 defmodule Ü do", "%%%"] {
            let _ = index(Lang::Elixir, text);
            let _ = index(Lang::Erlang, text);
        }
    }

    const ERLANG: &str = "-module(bank_ledger).\n-behaviour(gen_server).\n-export([post/2, init/1]).\n\npost(A, B) ->\n    {A, B}.\n\ninit([]) -> {ok, #{}};\ninit(X) ->\n    {ok, X}.\n\nhelper() -> ok.\n";

    #[test]
    fn erlang_module_functions_and_exports() {
        let idx = index(Lang::Erlang, ERLANG);
        let m = idx.module("bank_ledger").expect("module");
        assert_eq!(m.name_span.start_line, 0);
        assert_eq!(m.name_span.start_col, 8);
        assert!(m.is_gen_server());
        let names: Vec<(String, u32, usize, bool)> =
            m.functions.iter().map(|f| (f.name.clone(), f.arity, f.clauses.len(), f.private)).collect();
        assert_eq!(
            names,
            vec![("post".into(), 2, 1, false), ("init".into(), 1, 2, false), ("helper".into(), 0, 1, true)]
        );
        assert_eq!(m.functions[1].clauses[1].span.start_line, 8);
    }
}
