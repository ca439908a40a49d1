//! Figures as Orbit prints them: counts in groups of three, bytes, rough durations.

/// "~40 s", "~12 min", "~3 h".
pub fn approx_duration(secs: f64) -> String {
    if secs < 90.0 {
        format!("~{} s", secs.round().max(1.0) as u64)
    } else if secs < 2.0 * 3600.0 {
        format!("~{} min", (secs / 60.0).round() as u64)
    } else {
        format!("~{} h", (secs / 3600.0).round() as u64)
    }
}

/// `12,345`: digits in groups of three, as Orbit prints counts everywhere.
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v.abs() >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{} B", v.round())
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn digits_and_bytes() {
        assert_eq!(group_digits(1234567), "1,234,567");
        assert_eq!(group_digits(12), "12");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
    }
}
