//! Node names and cookies.

use super::LinkError;
use std::fmt;

/// `name@host`, short (`a@myhost`) or long (`a@myhost.example.com`, `a@127.0.0.1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName {
    full: String,
    at: usize,
}

impl NodeName {
    pub fn parse(s: &str) -> Result<NodeName, LinkError> {
        let bad = |reason: &str| LinkError::InvalidNodeName { name: s.to_string(), reason: reason.to_string() };
        let at = s.find('@').ok_or_else(|| bad("it has no '@'"))?;
        let (name, host) = (&s[..at], &s[at + 1..]);
        if name.is_empty() {
            return Err(bad("the part before '@' is empty"));
        }
        if host.is_empty() {
            return Err(bad("the host after '@' is empty"));
        }
        if host.contains('@') {
            return Err(bad("it has more than one '@'"));
        }
        if s.len() > 255 {
            return Err(bad("it is longer than 255 bytes"));
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
        if !name.chars().all(ok) || !host.chars().all(|c| ok(c) || c == ':') {
            return Err(bad("it may only contain letters, digits, '_', '-' and '.'"));
        }
        Ok(NodeName { full: s.to_string(), at })
    }

    pub fn name(&self) -> &str {
        &self.full[..self.at]
    }

    pub fn host(&self) -> &str {
        &self.full[self.at + 1..]
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// Long names have a dotted host (an FQDN or an IP address).
    pub fn is_long(&self) -> bool {
        self.host().contains('.') || self.host().contains(':')
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl std::str::FromStr for NodeName {
    type Err = LinkError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeName::parse(s)
    }
}

/// A distribution cookie. A secret: its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Cookie(String);

impl Cookie {
    pub fn new(secret: impl Into<String>) -> Cookie {
        Cookie(secret.into())
    }

    pub(crate) fn secret(&self) -> &str {
        &self.0
    }

    /// The cookie Orbit uses when none is given: `ORBIT_COOKIE`, then `~/.erlang.cookie` as Erlang reads it.
    pub fn from_environment() -> Result<Cookie, String> {
        if let Ok(c) = std::env::var("ORBIT_COOKIE") {
            if !c.trim().is_empty() {
                return Ok(Cookie(c.trim().to_string()));
            }
        }
        let home = std::env::var("HOME").map_err(|_| "no cookie given: pass --cookie or --cookie-file (cookie or cookieFile in settings and debug configurations), set ORBIT_COOKIE, or set HOME so ~/.erlang.cookie can be read".to_string())?;
        Cookie::from_file(&std::path::Path::new(&home).join(".erlang.cookie"))
            .map_err(|e| format!("no cookie given and {e}; pass --cookie or --cookie-file (cookie or cookieFile in settings and debug configurations) or set ORBIT_COOKIE"))
    }

    /// Reads a cookie file: the first line, trimmed, as Erlang does.
    pub fn from_file(path: &std::path::Path) -> Result<Cookie, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read cookie file {}: {e}", path.display()))?;
        let first = text.lines().next().unwrap_or("").trim();
        if first.is_empty() {
            return Err(format!("cookie file {} is empty", path.display()));
        }
        Ok(Cookie(first.to_string()))
    }
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cookie(<hidden>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_long_names() {
        let short = NodeName::parse("bank@myhost").unwrap();
        assert_eq!((short.name(), short.host(), short.is_long()), ("bank", "myhost", false));
        let long = NodeName::parse("bank@127.0.0.1").unwrap();
        assert!(long.is_long());
    }

    #[test]
    fn rejects_bad_names_with_a_reason() {
        for bad in ["nohost", "@host", "name@", "a@b@c", "sp ace@host"] {
            let err = NodeName::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn cookie_never_shows_in_debug() {
        let c = Cookie::new("supersecret");
        assert!(!format!("{c:?}").contains("supersecret"));
    }

    /// A name over 255 bytes is refused with the reason; a name parses from text as from `parse`, and
    /// prints as it was written.
    #[test]
    fn long_names_are_refused_and_names_print_as_written() {
        let long = format!("{}@host", "n".repeat(260));
        assert!(NodeName::parse(&long).unwrap_err().to_string().contains("it is longer than 255 bytes"));
        let n: NodeName = "bank@myhost".parse().unwrap();
        assert_eq!(n.to_string(), "bank@myhost");
    }

    /// A cookie file that cannot be read, or whose first line is empty, says which file and why.
    #[test]
    fn unreadable_and_empty_cookie_files_are_named() {
        let missing = std::env::temp_dir().join(format!("orbit-no-cookie-{}", std::process::id()));
        let e = Cookie::from_file(&missing).unwrap_err();
        assert!(e.starts_with(&format!("cannot read cookie file {}: ", missing.display())), "{e}");
        let empty = std::env::temp_dir().join(format!("orbit-empty-cookie-{}", std::process::id()));
        std::fs::write(&empty, "   \nsecond\n").unwrap();
        assert_eq!(Cookie::from_file(&empty).unwrap_err(), format!("cookie file {} is empty", empty.display()));
        std::fs::remove_file(&empty).unwrap();
    }

    #[test]
    fn cookie_file_takes_first_line() {
        let dir = std::env::temp_dir().join(format!("orbit-cookie-{}", std::process::id()));
        std::fs::write(&dir, "  abc  \nrest\n").unwrap();
        assert_eq!(Cookie::from_file(&dir).unwrap().secret(), "abc");
        std::fs::remove_file(&dir).unwrap();
    }
}
