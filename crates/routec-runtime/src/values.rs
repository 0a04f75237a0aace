//! Reading one signal value as a JSON request carries it. These are the
//! rules of `routec explain --request` (a value that does not fit is `None`,
//! and the runtime defaults it); recorded traffic binds with the same
//! functions but turns `None` into an error.

use serde_json::Value as J;

/// `true`/`false`, as booleans or strings.
pub fn boolean(value: &J) -> Option<bool> {
    match value {
        J::Bool(b) => Some(*b),
        J::String(s) if s == "true" => Some(true),
        J::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// The index of an enum variant written as a string.
pub fn variant(variants: &[String], value: &J) -> Option<usize> {
    match value {
        J::String(s) => variants.iter().position(|v| v == s),
        _ => None,
    }
}

const SCALED: [(&str, f64); 3] = [("", 1.0), ("k", 1e3), ("M", 1e6)];

/// A whole number `>= 0`, or a string such as `"12k"` or `"1M"`.
pub fn tokens(value: &J) -> Option<f64> {
    number_or_unit(value, &SCALED).filter(|v| *v >= 0.0 && v.fract() == 0.0)
}

/// A whole number, or a string such as `"2k"`.
pub fn int(value: &J) -> Option<f64> {
    number_or_unit(value, &SCALED).filter(|v| v.fract() == 0.0)
}

/// A number in `0..=1`, or a percentage string such as `"10%"`.
pub fn ratio(value: &J) -> Option<f64> {
    match value {
        J::Number(n) => n.as_f64(),
        J::String(_) => number_or_unit(value, &[("%", 0.01)]),
        _ => None,
    }
    .filter(|v| (0.0..=1.0).contains(v))
}

/// Seconds `>= 0`, or a string such as `"200ms"`, `"3m"`.
pub fn duration(value: &J) -> Option<f64> {
    number_or_unit(
        value,
        &[
            ("", 1.0),
            ("ms", 1e-3),
            ("s", 1.0),
            ("m", 60.0),
            ("h", 3600.0),
            ("d", 86400.0),
        ],
    )
    .filter(|v| *v >= 0.0)
}

/// USD `>= 0`, as a number or a string such as `"$0.5"`.
pub fn money(value: &J) -> Option<f64> {
    match value {
        J::String(s) => s
            .strip_prefix('$')
            .and_then(|rest| rest.parse::<f64>().ok())
            .filter(|v| v.is_finite()),
        J::Number(n) => n.as_f64(),
        _ => None,
    }
    .filter(|v| *v >= 0.0)
}

/// A JSON number, or a string of a number and one of `units` (suffix, scale).
fn number_or_unit(value: &J, units: &[(&str, f64)]) -> Option<f64> {
    match value {
        J::Number(n) => n.as_f64(),
        J::String(s) => {
            let s = s.trim();
            let split = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .unwrap_or(s.len());
            let (number, unit) = s.split_at(split);
            let scale = units.iter().find(|(u, _)| *u == unit.trim())?.1;
            number.parse::<f64>().ok().map(|v| v * scale)
        }
        _ => None,
    }
    .filter(|v| v.is_finite())
}

/// A value of a signal of kind `kind`, in base units (enum variants as
/// indices, bools as 0 or 1), or `None` when it does not fit the kind.
pub fn read(kind: &routec_table::SignalKind, value: &J) -> Option<f64> {
    use routec_table::SignalKind;
    match kind {
        SignalKind::Bool => boolean(value).map(|b| f64::from(u8::from(b))),
        SignalKind::Enum { variants } => variant(variants, value).map(|i| i as f64),
        SignalKind::Tokens => tokens(value),
        SignalKind::Int => int(value),
        SignalKind::Ratio => ratio(value),
        SignalKind::Duration => duration(value),
        SignalKind::Money => money(value),
    }
}
