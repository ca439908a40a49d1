//! Float formatting as the BEAM does it.

/// `float_to_list(F, [short])`, which is also what `io_lib` prints: the shortest digits that read back
/// as the same float (`0.1`, `123456789.0`, `1.0e20`, `1.2345e-4`). Whether those digits are written in
/// plain decimal or scientific notation follows the BEAM's rule (its adaptation of the MS STL `to_chars`
/// in `erts/emulator/ryu/to_chars.h`): roughly the shorter one, but never plain decimal for integers of
/// 2^53 and beyond.
pub fn erlang_float(f: f64) -> String {
    if !f.is_finite() {
        // The BEAM has no such floats; a hand-built term can, and printing something beats panicking.
        return f.to_string();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits as Ryu: "1.2345e-7", "1e20", "0e0".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let olength = digits.len() as i64;
    let scientific_exp: i64 = exponent.parse().unwrap_or(0);
    // The value is `digits × 10^ryu_exp`.
    let ryu_exp = scientific_exp - (olength - 1);
    let output: u64 = digits.parse().unwrap_or(0);

    let (lower, upper) = if olength == 1 {
        (-4, 2)
    } else if scientific_exp >= 10 {
        (-(olength + 2), 2)
    } else {
        (-(olength + 2), 1)
    };
    let fixed = (lower..=upper).contains(&ryu_exp)
        && !((output >= 1 << 53 && ryu_exp == 0)
            || (output > (1 << 52) / 5 && ryu_exp == 1)
            || (output > (1 << 51) / 25 && ryu_exp == 2));

    let body = if !fixed {
        if olength == 1 {
            format!("{digits}.0e{scientific_exp}")
        } else {
            format!("{}.{}e{scientific_exp}", &digits[..1], &digits[1..])
        }
    } else if ryu_exp >= 0 {
        format!("{digits}{}.0", "0".repeat(ryu_exp as usize))
    } else {
        let whole = olength + ryu_exp;
        if whole > 0 {
            format!("{}.{}", &digits[..whole as usize], &digits[whole as usize..])
        } else {
            format!("0.{}{digits}", "0".repeat((-whole) as usize))
        }
    };
    if f.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

/// Elixir's `Inspect.Float`: whole numbers from 1 up to 1.0e16 in plain decimal, all else as Erlang does.
pub fn elixir_float(f: f64) -> String {
    let abs = f.abs();
    if (1.0..1.0e16).contains(&abs) && f.trunc() == f {
        format!("{}.0", f as i64)
    } else {
        erlang_float(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_short_forms() {
        let cases = [
            (0.1, "0.1"),
            (1.0, "1.0"),
            (1.0e20, "1.0e20"),
            (1.5e-7, "1.5e-7"),
            (123456789.0, "123456789.0"),
            (1.0e15, "1.0e15"),
            (0.0001, "0.0001"),
            (0.00012345, "1.2345e-4"),
            (0.0015, "0.0015"),
            (123450.0, "123450.0"),
            (1234500.0, "1.2345e6"),
            (12000.0, "1.2e4"),
            (100.5, "100.5"),
            (5.0e-324, "5.0e-324"),
            (1.7976931348623157e308, "1.7976931348623157e308"),
            (12345678901234567.0, "1.2345678901234568e16"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (-2.5, "-2.5"),
            (1000.0, "1.0e3"),
            (100.0, "100.0"),
            (9007199254740992.0, "9.007199254740992e15"),
            (9007199254740994.0, "9.007199254740994e15"),
            (1.0e-4, "0.0001"),
            (1.0e-5, "1.0e-5"),
        ];
        for (f, want) in cases {
            assert_eq!(erlang_float(f), want, "{f:?}");
        }
    }

    #[test]
    fn elixir_forms() {
        assert_eq!(elixir_float(1.0e15), "1000000000000000.0");
        assert_eq!(elixir_float(1.0e16), "1.0e16");
        assert_eq!(elixir_float(-5.0), "-5.0");
        assert_eq!(elixir_float(100000.0), "100000.0");
        assert_eq!(elixir_float(0.5), "0.5");
        assert_eq!(elixir_float(-0.0), "-0.0");
        assert_eq!(elixir_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(elixir_float(f64::NAN), "NaN");
    }
}
