//! Reading one signal value as a JSON request carries it. These are the
//! rules of `routec explain --request` (a value that does not fit is `None`,
//! and the runtime defaults it); recorded traffic binds with the same
//! functions but turns `None` into an error.

use routec_table::SignalKind;
use serde_json::Value as J;

/// Reads a value of a signal of `kind` (`None`: it does not fit).
pub fn read(kind: &SignalKind, value: &J) -> Option<f64> {
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

/// What a signal of `kind` accepts, said for a `value` that did not fit:
/// for an enum, the closest variant (`did you mean `chat`?`) or the list of
/// variants; for the rest, the forms [`read`] takes.
pub fn expected(kind: &SignalKind, value: &J) -> String {
    match kind {
        SignalKind::Enum { variants } => match value {
            J::String(s) => match closest(s, variants) {
                Some(x) => format!("did you mean `{x}`?"),
                None => format!("the values are {}", list(variants)),
            },
            _ => format!("write one of {} as a string", list(variants)),
        },
        SignalKind::Bool => "a bool signal takes `true` or `false`".into(),
        SignalKind::Tokens => "tokens are a whole number >= 0 such as `812` or `\"12k\"`".into(),
        SignalKind::Int => "an int signal takes a whole number such as `3` or `\"2k\"`".into(),
        SignalKind::Ratio => "a ratio is a number from 0 to 1 or a string like `\"10%\"`".into(),
        SignalKind::Duration => "a duration is seconds >= 0 or a string like `\"200ms\"`".into(),
        SignalKind::Money => "money is USD >= 0 or a string like `\"$0.5\"`".into(),
    }
}

/// The runtime's did-you-mean (it may not depend on the compiler's): the
/// candidate within a Damerau-Levenshtein distance of a third of its length
/// (at least 1), ignoring case; the nearest, ties to the first.
pub fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a String>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&c.to_lowercase(), &lower), c))
        .filter(|&(d, c)| c != word && d <= (c.chars().count() / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c.as_str())
}

fn list(vs: &[String]) -> String {
    vs.iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

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
