//! Units: reading a literal as a quantity of an expected kind, in base units
//! (seconds, USD, tokens, ratios in `0..=1`, USD per token), and writing
//! quantities back the way a user would.

use routec_syntax::ast::{Lit, LitKind};

/// What a position in the language expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// `ms`, `s`, `m`, `h`, `d`; never negative.
    Duration,
    /// `$5`; never negative.
    Money,
    /// `70%`, in `0..=1`.
    Ratio,
    /// `-9%`, in `-1..=1`: a quality adjustment or an offset.
    SignedRatio,
    /// `300%`: a multiple written as a percentage, never negative, may
    /// exceed 100% (reasoning tokens per output token).
    Multiple,
    /// `128k`: a whole number of tokens, never negative.
    Tokens,
    /// A whole number, never negative (retries, failures, requests).
    Count,
    /// A whole number of either sign.
    Int,
    /// A plain number, never negative (weights, rates).
    Number,
    /// `$0.50/Mtok`, never negative.
    PricePerToken,
    /// `$0.001/request`, never negative.
    PricePerRequest,
}

impl Unit {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Unit::Duration => "a duration",
            Unit::Money => "money",
            Unit::Ratio | Unit::SignedRatio | Unit::Multiple => "a percentage",
            Unit::Tokens => "a token count",
            Unit::Count | Unit::Int => "a whole number",
            Unit::Number => "a number",
            Unit::PricePerToken => "a price per token",
            Unit::PricePerRequest => "a price per request",
        }
    }

    /// An example of a valid value, for help texts.
    pub(crate) fn example(self) -> &'static str {
        match self {
            Unit::Duration => "`250ms` or `3s`",
            Unit::Money => "`$5`",
            Unit::Ratio => "`70%`",
            Unit::SignedRatio => "`-5%`",
            Unit::Multiple => "`300%`",
            Unit::Tokens => "`900` or `128k`",
            Unit::Count | Unit::Int => "`3`",
            Unit::Number => "`0.5`",
            Unit::PricePerToken => "`$0.50/Mtok`",
            Unit::PricePerRequest => "`$0.001/request`",
        }
    }
}

pub(crate) const NUMBER_SUFFIXES: &[&str] = &["", "k", "M", "%", "ms", "s", "m", "h", "d", "xx"];
pub(crate) const TOKEN_DENOMINATORS: &[&str] = &["Mtok", "ktok", "tok", "request"];

/// What a literal is, before looking at where it is used.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Found {
    /// A plain number, `k`/`M` applied.
    Number(f64),
    Percent(f64),
    /// Seconds.
    Duration(f64),
    /// A status class such as `5xx`: the value before the suffix.
    StatusClass(f64),
    Money(f64),
    PricePerToken(f64),
    PricePerRequest(f64),
    Str,
    Bool,
    Word(String),
    Env,
}

impl Found {
    pub(crate) fn describe(&self) -> String {
        match self {
            Found::Number(_) => "a number".into(),
            Found::Percent(_) => "a percentage".into(),
            Found::Duration(_) => "a duration".into(),
            Found::StatusClass(_) => "a status class".into(),
            Found::Money(_) => "money".into(),
            Found::PricePerToken(_) => "a price per token".into(),
            Found::PricePerRequest(_) => "a price per request".into(),
            Found::Str => "a string".into(),
            Found::Bool => "a boolean".into(),
            Found::Word(w) => format!("`{w}`"),
            Found::Env => "`env(...)`".into(),
        }
    }
}

/// Why a literal cannot be read as the expected unit.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum UnitError {
    /// The suffix or the money denominator is not a unit.
    UnknownUnit {
        unit: String,
        known: &'static [&'static str],
    },
    Mismatch {
        expected: Unit,
        found: Found,
    },
    /// The value is outside what the unit allows: the reason.
    OutOfRange {
        value: f64,
        reason: &'static str,
    },
    NotWhole {
        value: f64,
    },
}

/// Classifies a literal; `Err` for unknown suffixes.
pub(crate) fn classify(lit: &Lit) -> Result<Found, UnitError> {
    Ok(match &lit.kind {
        LitKind::Number { value, suffix } => match suffix.as_str() {
            "" => Found::Number(*value),
            "k" => Found::Number(value * 1e3),
            "M" => Found::Number(value * 1e6),
            "%" => Found::Percent(value / 100.0),
            "ms" => Found::Duration(value / 1e3),
            "s" => Found::Duration(*value),
            "m" => Found::Duration(value * 60.0),
            "h" => Found::Duration(value * 3600.0),
            "d" => Found::Duration(value * 86_400.0),
            "xx" => Found::StatusClass(*value),
            other => {
                return Err(UnitError::UnknownUnit {
                    unit: other.to_owned(),
                    known: NUMBER_SUFFIXES,
                });
            }
        },
        LitKind::Money { value, per } => match per.as_deref() {
            None => Found::Money(*value),
            Some("Mtok") => Found::PricePerToken(value / 1e6),
            Some("ktok") => Found::PricePerToken(value / 1e3),
            Some("tok") => Found::PricePerToken(*value),
            Some("request") => Found::PricePerRequest(*value),
            Some(other) => {
                return Err(UnitError::UnknownUnit {
                    unit: other.to_owned(),
                    known: TOKEN_DENOMINATORS,
                });
            }
        },
        LitKind::String(_) => Found::Str,
        LitKind::Bool(_) => Found::Bool,
        LitKind::Ident(w) => Found::Word(w.clone()),
        LitKind::Env(_) => Found::Env,
    })
}

/// Reads `lit` as a quantity of `unit`, in base units, checking its range.
pub(crate) fn quantity(lit: &Lit, unit: Unit) -> Result<f64, UnitError> {
    let found = classify(lit)?;
    let value = match (unit, &found) {
        (Unit::Duration, Found::Duration(v))
        | (Unit::Money, Found::Money(v))
        | (Unit::Ratio | Unit::SignedRatio | Unit::Multiple, Found::Percent(v))
        | (Unit::Tokens | Unit::Count | Unit::Int | Unit::Number, Found::Number(v))
        | (Unit::PricePerToken, Found::PricePerToken(v))
        | (Unit::PricePerRequest, Found::PricePerRequest(v)) => *v,
        // A literal zero needs no unit.
        (
            Unit::Duration | Unit::Money | Unit::Ratio | Unit::SignedRatio | Unit::Multiple,
            Found::Number(v),
        ) if *v == 0.0 && matches!(lit.kind, LitKind::Number { .. }) => 0.0,
        _ => {
            return Err(UnitError::Mismatch {
                expected: unit,
                found,
            });
        }
    };
    check_range(value, unit)?;
    Ok(value)
}

fn check_range(value: f64, unit: Unit) -> Result<(), UnitError> {
    let negative = value < 0.0;
    match unit {
        Unit::Ratio if negative => Err(UnitError::OutOfRange {
            value,
            reason: "a percentage cannot be negative",
        }),
        Unit::Ratio if value > 1.0 + 1e-9 => Err(UnitError::OutOfRange {
            value,
            reason: "a percentage cannot exceed 100%",
        }),
        Unit::SignedRatio if value.abs() > 1.0 + 1e-9 => Err(UnitError::OutOfRange {
            value,
            reason: "a percentage must lie between -100% and 100%",
        }),
        Unit::Duration if negative => Err(UnitError::OutOfRange {
            value,
            reason: "a duration cannot be negative",
        }),
        Unit::Money | Unit::PricePerToken | Unit::PricePerRequest if negative => {
            Err(UnitError::OutOfRange {
                value,
                reason: "an amount of money cannot be negative",
            })
        }
        Unit::Multiple if negative => Err(UnitError::OutOfRange {
            value,
            reason: "a percentage cannot be negative",
        }),
        Unit::Tokens | Unit::Count | Unit::Number if negative => Err(UnitError::OutOfRange {
            value,
            reason: "this number cannot be negative",
        }),
        Unit::Tokens | Unit::Count | Unit::Int if value.fract() != 0.0 => {
            Err(UnitError::NotWhole { value })
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------- formatting

/// A number without float noise: at most 6 decimals, no trailing zeros.
pub(crate) fn num(x: f64) -> String {
    if !x.is_finite() {
        return if x > 0.0 {
            "infinity".into()
        } else {
            "-infinity".into()
        };
    }
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

pub(crate) fn percent(x: f64) -> String {
    format!("{}%", num(x * 100.0))
}

pub(crate) fn duration(secs: f64) -> String {
    if secs != 0.0 && secs.abs() < 1.0 {
        format!("{}ms", num(secs * 1e3))
    } else {
        format!("{}s", num(secs))
    }
}

pub(crate) fn money(usd: f64) -> String {
    format!("${}", num(usd))
}

/// `128000` as `128k`, other counts as written.
pub(crate) fn tokens(n: f64) -> String {
    if n >= 1e6 && (n / 1e6).fract() == 0.0 {
        format!("{}M", num(n / 1e6))
    } else if n >= 1e3 && (n / 1e3).fract() == 0.0 {
        format!("{}k", num(n / 1e3))
    } else {
        num(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routec_syntax::Span;

    fn number(value: f64, suffix: &str) -> Lit {
        Lit {
            kind: LitKind::Number {
                value,
                suffix: suffix.into(),
            },
            span: Span::default(),
        }
    }

    #[test]
    fn reads_base_units() {
        assert_eq!(quantity(&number(250.0, "ms"), Unit::Duration), Ok(0.25));
        assert_eq!(quantity(&number(128.0, "k"), Unit::Tokens), Ok(128_000.0));
        assert_eq!(quantity(&number(70.0, "%"), Unit::Ratio), Ok(0.7));
        assert_eq!(quantity(&number(0.0, ""), Unit::Duration), Ok(0.0));
        assert!(matches!(
            quantity(&number(3.0, "sec"), Unit::Duration),
            Err(UnitError::UnknownUnit { .. })
        ));
        assert!(matches!(
            quantity(&number(120.0, "%"), Unit::Ratio),
            Err(UnitError::OutOfRange { .. })
        ));
        assert!(matches!(
            quantity(&number(3.0, "s"), Unit::Ratio),
            Err(UnitError::Mismatch { .. })
        ));
    }

    #[test]
    fn formats_without_noise() {
        assert_eq!(percent(0.1 + 0.2), "30%");
        assert_eq!(duration(0.25), "250ms");
        assert_eq!(duration(1.5), "1.5s");
        assert_eq!(tokens(128_000.0), "128k");
        assert_eq!(tokens(128_001.0), "128001");
        assert_eq!(money(0.05), "$0.05");
    }
}
