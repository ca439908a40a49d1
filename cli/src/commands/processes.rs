//! `orbit processes`: processes across the cluster, filtered, sorted and paged on the nodes themselves;
//! or, with `--tree`, the supervision tree of an application or supervisor on each node.

use crate::commands::observe::{clip, count, print_json, Progress};
use crate::connect::ConnectArgs;
use crate::output::{bytes, table};
use beam::processes::{self, ProcessPage, ProcessQuery, SortBy, SupervisionNode};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Only processes on this node (repeat for more). Default: every node.
    #[arg(long = "on", value_name = "NODE")]
    on: Vec<String>,
    /// Registered name matching this regular expression (`Bank.Mailbox`, `^Elixir\.Bank\.`).
    #[arg(long, value_name = "REGEX")]
    name: Option<String>,
    /// Current function's or initial call's module matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    module: Option<String>,
    /// Initial call matching this regular expression, written `Mod.fun/arity` or `mod:fun/arity`
    /// (for GenServers and tasks, the function they were started with: `Bank.Account.init/1`).
    #[arg(long, value_name = "REGEX")]
    initial_call: Option<String>,
    /// Only processes in this state: running, runnable, waiting, suspended, garbage_collecting, exiting.
    #[arg(long)]
    status: Option<String>,
    /// Only processes with at least this many messages queued.
    #[arg(long, default_value_t = 0, value_name = "MESSAGES")]
    min_queue: u64,
    /// memory, reductions or queue.
    #[arg(long, default_value = "memory")]
    sort: SortBy,
    /// Processes per page.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Page number, from 1.
    #[arg(long, default_value_t = 1)]
    page: usize,
    /// Print the supervision tree of an application (`bank`) or registered supervisor
    /// (`Bank.Supervisor`) on each node instead of a listing.
    #[arg(long, value_name = "APP_OR_SUPERVISOR", conflicts_with_all = ["name", "module", "initial_call", "status"])]
    tree: Option<String>,
    /// How deep `--tree` goes.
    #[arg(long, default_value_t = 10, requires = "tree")]
    depth: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let progress = Progress::start("connecting");
    let cluster = args.connect.connect().await?;
    progress.finish();
    let timeout = args.connect.timeout();
    let result = if let Some(target) = &args.tree {
        let progress = Progress::start(format!("reading the supervision tree of {target}"));
        let trees = processes::supervision_tree(&cluster, target, &args.on, args.depth, timeout).await;
        progress.finish();
        trees.map(|trees| print_trees(&trees, args.json))
    } else {
        let query = ProcessQuery {
            nodes: args.on.clone(),
            name: args.name.clone(),
            module: args.module.clone(),
            initial_call: args.initial_call.clone(),
            status: args.status.clone(),
            min_queue: args.min_queue,
            sort: args.sort,
            limit: args.limit.max(1),
            offset: args.page.max(1).saturating_sub(1).saturating_mul(args.limit.max(1)),
        };
        let progress = Progress::start("listing processes");
        let page = processes::list(&cluster, &query, timeout).await;
        progress.finish();
        page.map(|page| print_page(&page, args.page.max(1), args.json))
    };
    cluster.disconnect().await;
    match result {
        Ok(printed) => {
            printed?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e.into()),
    }
}

fn print_page(page: &ProcessPage, page_number: usize, json: bool) -> anyhow::Result<()> {
    for (node, e) in &page.errors {
        eprintln!("orbit: {node} did not answer: {e}");
    }
    if json {
        return print_json(page);
    }
    let header = ["NODE", "PID", "NAME OR INITIAL CALL", "MEMORY", "REDUCTIONS", "QUEUE", "STATUS", "CURRENT FUNCTION"];
    let rows: Vec<Vec<String>> = page
        .processes
        .iter()
        .map(|p| {
            vec![
                p.node.clone(),
                p.pid.clone(),
                clip(&p.label(), 48),
                bytes(p.memory),
                count(p.reductions),
                count(p.message_queue_len),
                p.status.clone(),
                clip(&p.current_function.as_ref().map(|m| m.elixir()).unwrap_or_else(|| "-".into()), 48),
            ]
        })
        .collect();
    print!("{}", table(&header, &rows));
    let pages = (page.total as usize).div_ceil(page.limit).max(1);
    if page.processes.is_empty() {
        println!("no process matches (page {page_number} of {pages}; {} matching in all)", count(page.total));
    } else {
        println!(
            "{}–{} of {} matching processes on {} node(s), by {} (page {page_number} of {pages}{})",
            page.offset + 1,
            page.offset + page.processes.len(),
            count(page.total),
            page.per_node.len(),
            match page.sort {
                SortBy::Memory => "memory",
                SortBy::Reductions => "reductions",
                SortBy::MessageQueue => "queue length",
            },
            if page_number < pages { format!("; next: --page {}", page_number + 1) } else { String::new() }
        );
    }
    Ok(())
}

fn print_trees(trees: &[SupervisionNode], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&trees);
    }
    for (i, t) in trees.iter().enumerate() {
        if i > 0 {
            println!();
        }
        match &t.application {
            Some(app) => println!("{} (application :{app})", t.node),
            None => println!("{}", t.node),
        }
        let mut out = String::new();
        tree_lines(t, "", true, true, &mut out);
        print!("{out}");
    }
    Ok(())
}

fn describe(n: &SupervisionNode) -> String {
    let mut s = String::new();
    if let Some(name) = &n.registered_name {
        s.push_str(name);
        s.push(' ');
    } else if let Some(id) = &n.id {
        s.push_str(id);
        s.push(' ');
    }
    s.push_str(&n.pid);
    s.push_str(&format!(" {}", n.kind));
    if let Some(m) = n.modules.first().filter(|m| n.registered_name.as_deref() != Some(m.as_str())) {
        s.push_str(&format!(" ({m})"));
    }
    if let Some(e) = &n.error {
        s.push_str(&format!(" [{e}]"));
    }
    s
}

fn tree_lines(n: &SupervisionNode, prefix: &str, last: bool, root: bool, out: &mut String) {
    if root {
        out.push_str(&format!("{}\n", describe(n)));
    } else {
        out.push_str(&format!("{prefix}{}{}\n", if last { "└─ " } else { "├─ " }, describe(n)));
    }
    let child_prefix = if root { String::new() } else { format!("{prefix}{}", if last { "   " } else { "│  " }) };
    let total = n.children.len();
    for (i, c) in n.children.iter().enumerate() {
        tree_lines(c, &child_prefix, i + 1 == total && n.more == 0, false, out);
    }
    if n.more > 0 {
        out.push_str(&format!("{child_prefix}└─ … {} more\n", count(n.more)));
    }
}
