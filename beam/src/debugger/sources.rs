//! Which module comes from which file: the nodes report each module's compile-time source path; Orbit maps
//! it to the user's files with `sourceMap` (node prefix → local prefix), then by the longest matching
//! path suffix, so a release built elsewhere still finds `lib/bank/account.ex` in the project.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Node path prefix → local path prefix, longest prefix first.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    pairs: Vec<(String, String)>,
}

impl SourceMap {
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> SourceMap {
        let mut pairs: Vec<(String, String)> = pairs.into_iter().collect();
        pairs.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        SourceMap { pairs }
    }

    /// The local path for a path on a node.
    pub fn to_local(&self, node_path: &str) -> PathBuf {
        for (remote, local) in &self.pairs {
            if let Some(rest) = node_path.strip_prefix(remote.as_str()) {
                return Path::new(local).join(rest.trim_start_matches('/'));
            }
        }
        PathBuf::from(node_path)
    }
}

/// Modules and the local files they were compiled from.
#[derive(Debug, Clone, Default)]
pub struct SourceIndex {
    /// module → local path (after the source map).
    by_module: BTreeMap<String, PathBuf>,
}

impl SourceIndex {
    pub fn insert(&mut self, module: String, local_path: PathBuf) {
        self.by_module.insert(module, local_path);
    }

    pub fn path_of(&self, module: &str) -> Option<&Path> {
        self.by_module.get(module).map(|p| p.as_path())
    }

    pub fn paths(&self) -> impl Iterator<Item = (&String, &PathBuf)> {
        self.by_module.iter()
    }

    /// The modules compiled from `file`: those whose path equals it, else those whose path shares the
    /// longest suffix with it (at least the file name and its directory, or the file name alone when no
    /// other module has that name).
    pub fn modules_for(&self, file: &Path) -> Vec<String> {
        let exact: Vec<String> =
            self.by_module.iter().filter(|(_, p)| same_path(p, file)).map(|(m, _)| m.clone()).collect();
        if !exact.is_empty() {
            return exact;
        }
        let mut best = 0usize;
        let mut found: Vec<String> = Vec::new();
        for (m, p) in &self.by_module {
            let n = common_suffix(p, file);
            if n == 0 {
                continue;
            }
            if n > best {
                best = n;
                found.clear();
            }
            if n == best {
                found.push(m.clone());
            }
        }
        if best == 0 {
            return Vec::new();
        }
        if best >= 2 {
            return found;
        }
        // Only the file name matches: good enough when exactly one file has that name.
        let files: std::collections::BTreeSet<&PathBuf> = found.iter().filter_map(|m| self.by_module.get(m)).collect();
        if files.len() == 1 {
            found
        } else {
            Vec::new()
        }
    }
}

fn normal(p: &Path) -> Vec<String> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

fn same_path(a: &Path, b: &Path) -> bool {
    a == b || normal(a) == normal(b)
}

/// How many trailing path components `a` and `b` share.
fn common_suffix(a: &Path, b: &Path) -> usize {
    let (a, b) = (normal(a), normal(b));
    a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count()
}

/// The project's own build of `module` (`_build/<env>/lib/<app>/ebin/<module>.beam`), the newest if several.
pub fn project_beam(project: &Path, module: &str) -> Option<Vec<u8>> {
    let read = |p: PathBuf| std::fs::read_dir(p).into_iter().flatten().flatten().map(|e| e.path());
    let file = format!("{module}.beam");
    let newest = read(project.join("_build"))
        .flat_map(|env| read(env.join("lib")).map(|app| app.join("ebin").join(&file)).collect::<Vec<_>>())
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max()?;
    std::fs::read(newest.1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> SourceIndex {
        let mut i = SourceIndex::default();
        i.insert("Elixir.Bank.Account".into(), "/build/app/lib/bank/account.ex".into());
        i.insert("Elixir.Bank.Account.Helper".into(), "/build/app/lib/bank/account.ex".into());
        i.insert("Elixir.Bank".into(), "/build/app/lib/bank.ex".into());
        i.insert("Elixir.Other.Account".into(), "/build/app/lib/other/account.ex".into());
        i.insert("bank_ledger".into(), "/build/app/src/bank_ledger.erl".into());
        i
    }

    #[test]
    fn exact_path_wins() {
        let m = index().modules_for(Path::new("/build/app/lib/bank/account.ex"));
        assert_eq!(m, vec!["Elixir.Bank.Account", "Elixir.Bank.Account.Helper"]);
    }

    #[test]
    fn suffix_matches_a_project_elsewhere() {
        let m = index().modules_for(Path::new("/home/me/code/app/lib/bank/account.ex"));
        assert_eq!(m.len(), 2);
        assert_eq!(index().modules_for(Path::new("/x/bank_ledger.erl")), vec!["bank_ledger"]);
    }

    #[test]
    fn an_ambiguous_file_name_alone_matches_nothing() {
        assert!(index().modules_for(Path::new("/elsewhere/account.ex")).is_empty());
        assert!(index().modules_for(Path::new("/elsewhere/nothing.ex")).is_empty());
    }

    #[test]
    fn source_map_rewrites_prefixes_longest_first() {
        let map = SourceMap::new([("/build".into(), "/a".into()), ("/build/app".into(), "/home/me/app".into())]);
        assert_eq!(map.to_local("/build/app/lib/x.ex"), PathBuf::from("/home/me/app/lib/x.ex"));
        assert_eq!(map.to_local("/build/other.ex"), PathBuf::from("/a/other.ex"));
        assert_eq!(map.to_local("/else/x.ex"), PathBuf::from("/else/x.ex"));
    }
}
