//! Values printed in the language's own syntax, exactly: `8k`, `2M`,
//! `30%`, `200ms`, `1.5s`, `$0.05`. What these functions print parses back
//! to the same value (thresholds in conditions, diffs, explanations, the
//! compiler's messages); rounded figures for reports are the renderers'.

use crate::ir::SignalType;

/// A value of a signal of type `ty` (base units: seconds, USD, ratios in
/// 0..1, counts) the way the language writes it.
pub fn literal(ty: &SignalType, x: f64) -> String {
    match ty {
        SignalType::Ratio => format!("{}%", trim(x * 100.0)),
        SignalType::Duration => {
            if x < 1.0 {
                format!("{}ms", trim((x * 1e4).round() / 10.0))
            } else {
                format!("{}s", trim((x * 100.0).round() / 100.0))
            }
        }
        SignalType::Money => format!("${}", trim(x)),
        _ => count(x),
    }
}

/// A count with the language's `k` and `M` scales where they are whole:
/// `8k`, `1500k`, `2M`, `1234`.
pub fn count(x: f64) -> String {
    if x.abs() >= 1e6 && (x / 1e6).fract().abs() < 1e-9 * x.abs() + 1e-12 {
        format!("{}M", trim(x / 1e6))
    } else if x.abs() >= 1000.0 && ((x / 1000.0) * 1000.0).fract() == 0.0 {
        let k = x / 1000.0;
        if (k * 10.0).fract() == 0.0 {
            format!("{}k", trim(k))
        } else {
            trim(x)
        }
    } else {
        trim(x)
    }
}

/// A number without trailing zeros (at most 6 decimals): `0.5`, `12`.
pub fn trim(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_read_as_written() {
        assert_eq!(literal(&SignalType::Tokens, 8000.0), "8k");
        assert_eq!(literal(&SignalType::Tokens, 2_000_000.0), "2M");
        assert_eq!(literal(&SignalType::Tokens, 1_500_000.0), "1500k");
        assert_eq!(literal(&SignalType::Tokens, 1234.0), "1234");
        assert_eq!(literal(&SignalType::Ratio, 0.3), "30%");
        assert_eq!(literal(&SignalType::Duration, 0.2), "200ms");
        assert_eq!(literal(&SignalType::Duration, 1.5), "1.5s");
        assert_eq!(literal(&SignalType::Money, 0.05), "$0.05");
        assert_eq!(trim(-0.0), "0");
    }
}
