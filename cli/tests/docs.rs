//! The documentation (README.md and docs/*.md) says what Orbit is: every relative link resolves (to a file, and to a
//! heading when it names one), every page is in the mdBook summary, and every `orbit …` command shown — in a code
//! block or inline — exists, with the flags shown, as the built binary's `--help` describes it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// README.md and every page under docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Lines of a page, each with its line number.
type Lines<'a> = Vec<(usize, &'a str)>;

/// The lines of a page outside fenced code blocks, and the lines inside them.
fn split_fences(text: &str) -> (Lines<'_>, Lines<'_>) {
    let (mut prose, mut code) = (Vec::new(), Vec::new());
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if fenced {
            code.push((i + 1, line));
        } else {
            prose.push((i + 1, line));
        }
    }
    (prose, code)
}

/// Inline code spans of a line (text between single backticks).
fn code_spans(line: &str) -> Vec<&str> {
    line.split('`').enumerate().filter(|(i, _)| i % 2 == 1).map(|(_, s)| s).collect()
}

/// `[text](target)` links of a line, code spans left out.
fn links(line: &str) -> Vec<String> {
    let prose: String =
        line.split('`').enumerate().filter(|(i, _)| i % 2 == 0).map(|(_, s)| s).collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(end) => {
                out.push(after[..end].to_string());
                rest = &after[end..];
            }
            None => break,
        }
    }
    out
}

/// A heading's anchor as GitHub and mdBook make it: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let (prose, _) = split_fences(text);
    prose.iter().filter_map(|(_, l)| l.strip_prefix('#')).map(|l| slug(l.trim_start_matches('#'))).collect()
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = read(&page);
        let (prose, _) = split_fences(&text);
        for (n, line) in prose {
            for target in links(line) {
                if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
                    continue;
                }
                let (file, anchor) = match target.split_once('#') {
                    Some((f, a)) => (f, Some(a)),
                    None => (target.as_str(), None),
                };
                let resolved = if file.is_empty() { page.clone() } else { page.parent().unwrap().join(file) };
                let whereat = format!("{}:{n}: {target}", page.strip_prefix(repo()).unwrap().display());
                if !resolved.exists() {
                    broken.push(format!("{whereat}: no such file"));
                    continue;
                }
                if let Some(anchor) = anchor {
                    if resolved.is_file() && !anchors(&read(&resolved)).contains(anchor) {
                        broken.push(format!("{whereat}: no heading with that anchor"));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_docs_page_is_in_the_summary() {
    let summary = read(&repo().join("docs/SUMMARY.md"));
    let listed: BTreeSet<String> = summary.lines().flat_map(links).collect();
    for page in pages().iter().skip(1) {
        let name = page.file_name().unwrap().to_string_lossy().to_string();
        if name == "SUMMARY.md" {
            continue;
        }
        assert!(listed.contains(&name), "docs/{name} is not listed in docs/SUMMARY.md, so the site leaves it out");
    }
    assert!(read(&repo().join("README.md")).lines().count() < 250, "the README stays under 250 lines");
}

/// A command line as the docs show it, split into words (quotes kept together, quotes removed).
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true
            }
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() || any {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if !word.is_empty() || any {
        out.push(word);
    }
    out
}

/// Every `orbit …` command shown: a code-block line (after an optional `$ `) or an inline code span that starts with
/// `orbit `, cut at `|`, `&&`, `;`, `>` and `#`; each with where it was seen.
fn commands_shown() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for page in pages() {
        let text = read(&page);
        let name = page.strip_prefix(repo()).unwrap().display().to_string();
        let (prose, code) = split_fences(&text);
        let mut candidates: Vec<(usize, String)> = code.iter().map(|(n, l)| (*n, l.to_string())).collect();
        for (n, line) in prose {
            candidates.extend(code_spans(line).into_iter().map(|s| (n, s.to_string())));
        }
        for (n, line) in candidates {
            for part in line.split("&&").flat_map(|p| p.split(['|', ';'])) {
                let part = part.trim().trim_start_matches("$ ");
                let part = part.split(" #").next().unwrap().split(" >").next().unwrap().trim();
                // `orbit processes::list  p50 …` is benchmark output, not a command: a command's first word is a
                // command name, a flag or a placeholder.
                let first = part.split_whitespace().nth(1).unwrap_or("");
                let command_like = first.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    || first.starts_with('-')
                    || is_placeholder(first);
                if (part.starts_with("orbit ") && command_like) || part == "orbit" {
                    out.push((part.to_string(), format!("{name}:{n}")));
                }
            }
        }
    }
    out
}

/// `orbit <path> --help`, once per path.
fn help(cache: &mut BTreeMap<Vec<String>, String>, path: &[String]) -> String {
    cache
        .entry(path.to_vec())
        .or_insert_with(|| {
            let out = Command::new(env!("CARGO_BIN_EXE_orbit"))
                .args(path)
                .arg("--help")
                .env_remove("ORBIT_NODE")
                .output()
                .expect("orbit runs");
            assert!(
                out.status.success(),
                "orbit {} --help failed: {}",
                path.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).to_string()
        })
        .clone()
}

/// The subcommands a `--help` lists under `Commands:`.
fn subcommands(help: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            inside = true;
        } else if inside && line.starts_with("  ") && !line.starts_with("   ") {
            if let Some(word) = line.split_whitespace().next() {
                out.insert(word.to_string());
            }
        } else if inside && !line.trim().is_empty() {
            inside = false;
        }
    }
    out
}

fn is_placeholder(word: &str) -> bool {
    word.starts_with('<') || word.starts_with('[') || word.contains('…') || word.contains("...")
}

#[test]
fn every_orbit_command_shown_exists_with_its_flags() {
    let mut cache = BTreeMap::new();
    let mut wrong = Vec::new();
    let shown = commands_shown();
    assert!(shown.len() > 20, "the docs show orbit commands ({} found)", shown.len());
    for (command, whereat) in shown {
        let words = words(&command);
        let mut path: Vec<String> = Vec::new();
        let mut flags = Vec::new();
        let mut positional = false;
        for word in &words[1..] {
            if is_placeholder(word) {
                if !positional && word.starts_with('<') {
                    positional = true; // `orbit <command> --help`: any command
                }
                continue;
            }
            if let Some(flag) = word.strip_prefix("--") {
                if !flag.is_empty() {
                    flags.push(format!("--{}", flag.split('=').next().unwrap()));
                }
            } else if word.starts_with('-') && word.len() == 2 {
                flags.push(word.clone());
            } else if !positional && subcommands(&help(&mut cache, &path)).contains(word) {
                path.push(word.clone());
            } else if !positional && path.is_empty() {
                wrong.push(format!("{whereat}: `{command}`: orbit has no command `{word}`"));
                positional = true;
            } else {
                positional = true;
            }
        }
        let text = help(&mut cache, &path);
        for flag in flags {
            let known = flag == "--help" || flag == "-h" || {
                let at = text.match_indices(flag.as_str()).any(|(i, _)| {
                    let next = text[i + flag.len()..].chars().next();
                    !next.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
                });
                at
            };
            if !known {
                wrong.push(format!("{whereat}: `{command}`: `orbit {}` has no flag {flag}", path.join(" ")));
            }
        }
    }
    assert!(wrong.is_empty(), "commands the docs show that orbit does not have:\n{}", wrong.join("\n"));
}
