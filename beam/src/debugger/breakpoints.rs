//! Breakpoints as the user sets them, and where they land in a module.

/// A breakpoint in a source file, as the editor sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineBreakpoint {
    pub line: u32,
    /// An expression in the file's language; the process stops when it is truthy.
    pub condition: Option<String>,
    /// `N` (the N-th hit), `>= N`, `> N`, `% N` (every N-th hit).
    pub hit_condition: Option<String>,
    /// A message with `{expr}` parts: printed, the process does not stop.
    pub log_message: Option<String>,
}

/// When a hit counts, after the condition held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitCondition {
    Exactly(u64),
    AtLeast(u64),
    MoreThan(u64),
    EveryNth(u64),
}

impl HitCondition {
    pub fn parse(text: &str) -> Result<HitCondition, String> {
        let t = text.trim();
        let num = |s: &str| {
            s.trim().parse::<u64>().map_err(|_| {
                format!("hit condition '{text}' is not one of: N, == N, >= N, > N, % N (N a whole number)")
            })
        };
        if let Some(r) = t.strip_prefix(">=") {
            Ok(HitCondition::AtLeast(num(r)?))
        } else if let Some(r) = t.strip_prefix('>') {
            Ok(HitCondition::MoreThan(num(r)?))
        } else if let Some(r) = t.strip_prefix('%') {
            let n = num(r)?;
            if n == 0 {
                return Err(format!("hit condition '{text}': % 0 never hits"));
            }
            Ok(HitCondition::EveryNth(n))
        } else if let Some(r) = t.strip_prefix("==") {
            Ok(HitCondition::Exactly(num(r)?))
        } else {
            Ok(HitCondition::Exactly(num(t)?))
        }
    }
}

/// Where a breakpoint requested on `line` lands, given the lines where the interpreter can stop (sorted)
/// and the last line of code in the module: the next executable line at or after it, not past the end of
/// the function it falls in (or the next function when it falls between functions).
pub fn resolve_line(requested: u32, executable: &[u32], functions: &[(u32, u32)]) -> Result<u32, String> {
    let next = executable.iter().copied().find(|&l| l >= requested);
    let Some(next) = next else {
        return Err(format!("no code at or after line {requested}"));
    };
    // Inside a function whose remaining lines hold no code (e.g. on its `end`): do not jump into the next one.
    if let Some(&(_, last)) = functions.iter().find(|(first, last)| *first <= requested && requested <= *last) {
        if next > last {
            return Err(format!("no code at or after line {requested} in this function"));
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_conditions() {
        assert_eq!(HitCondition::parse("3"), Ok(HitCondition::Exactly(3)));
        assert_eq!(HitCondition::parse("== 3"), Ok(HitCondition::Exactly(3)));
        assert_eq!(HitCondition::parse(">= 2"), Ok(HitCondition::AtLeast(2)));
        assert_eq!(HitCondition::parse("> 2"), Ok(HitCondition::MoreThan(2)));
        assert_eq!(HitCondition::parse("% 4"), Ok(HitCondition::EveryNth(4)));
        assert!(HitCondition::parse("% 0").is_err());
        assert!(HitCondition::parse("often").unwrap_err().contains("often"));
    }

    #[test]
    fn lines_move_forward_to_code() {
        let exec = [3, 4, 8, 9, 15];
        let funs = [(2, 5), (7, 10), (14, 16)];
        assert_eq!(resolve_line(3, &exec, &funs), Ok(3));
        assert_eq!(resolve_line(2, &exec, &funs), Ok(3), "a def line stops at its first expression");
        assert_eq!(resolve_line(6, &exec, &funs), Ok(8), "between functions: the next one");
        assert!(resolve_line(5, &exec, &funs).is_err(), "an `end` with no code after it in its function");
        assert!(resolve_line(20, &exec, &funs).is_err());
    }
}
