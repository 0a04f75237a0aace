//! How figures read in hovers and inlay hints: durations in the unit of
//! their magnitude, money with `$`, ratios as percentages, trimmed of
//! needless zeros.

use routec_check::ir::{CostBasis, MetricDef, SignalSource, SignalType, StrOrEnv, Value};

/// `x` with at most `digits` decimals, trailing zeros dropped.
pub(crate) fn num(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return "∞".to_owned();
    }
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Seconds in the unit of their magnitude: `250ms`, `1.4s`, `12.5m`,
/// `8.95h`, `2.1d`.
pub(crate) fn duration(seconds: f64) -> String {
    match seconds.abs() {
        a if a < 1.0 => format!("{}ms", num(seconds * 1000.0, 0)),
        a if a < 60.0 => format!("{}s", num(seconds, 2)),
        a if a < 3600.0 => format!("{}m", num(seconds / 60.0, 2)),
        a if a < 86_400.0 => format!("{}h", num(seconds / 3600.0, 2)),
        _ => format!("{}d", num(seconds / 86_400.0, 2)),
    }
}

/// A ratio as `31.2%`.
pub(crate) fn percent(ratio: f64) -> String {
    format!("{}%", num(ratio * 100.0, 1))
}

/// USD as `$0.84` (four decimals below a cent).
pub(crate) fn money(usd: f64) -> String {
    if usd.abs() >= 0.01 || usd == 0.0 {
        format!("${}", num(usd, 2))
    } else {
        format!("${}", num(usd, 5))
    }
}

/// A token count as `128k` or `900`.
pub(crate) fn tokens(n: f64) -> String {
    if n >= 1_000_000.0 && (n / 1_000_000.0).fract() == 0.0 {
        format!("{}M", num(n / 1_000_000.0, 2))
    } else if n >= 1000.0 {
        format!("{}k", num(n / 1000.0, 1))
    } else {
        num(n, 0)
    }
}

/// A value of a metric in the metric's unit.
pub(crate) fn metric_value(metric: &MetricDef, v: f64) -> String {
    match metric {
        MetricDef::Ttft(_) | MetricDef::Latency(_) => duration(v),
        MetricDef::Cost(CostBasis::PerRequests(_)) | MetricDef::Cost(CostBasis::PerSuccess) => {
            money(v)
        }
        MetricDef::Spend(_) => money(v),
        MetricDef::Quality(_) | MetricDef::Share(_) => percent(v),
    }
}

/// A signal value as a user writes it.
pub(crate) fn value(ty: &SignalType, v: &Value) -> String {
    match (ty, v) {
        (_, Value::Bool(b)) => b.to_string(),
        (SignalType::Enum(vs), Value::Enum(i)) => vs.get(*i).cloned().unwrap_or_default(),
        (_, Value::Enum(i)) => i.to_string(),
        (SignalType::Ratio, Value::Number(x)) => percent(*x),
        (SignalType::Duration, Value::Number(x)) => duration(*x),
        (SignalType::Money, Value::Number(x)) => money(*x),
        (SignalType::Tokens, Value::Number(x)) => tokens(*x),
        (_, Value::Number(x)) => num(*x, 6),
    }
}

/// A signal type as a user writes it.
pub(crate) fn signal_type(ty: &SignalType) -> String {
    match ty {
        SignalType::Enum(vs) => format!("enum {{ {} }}", vs.join(", ")),
        other => other.describe().to_owned(),
    }
}

/// A signal's source as a user writes it.
pub(crate) fn source(src: &SignalSource) -> String {
    match src {
        SignalSource::Builtin => "built in".to_owned(),
        SignalSource::Header(h) => format!("header {h:?}"),
        SignalSource::Metadata(k) => format!("metadata {k:?}"),
        SignalSource::Classifier {
            name,
            cost,
            endpoint,
            timeout,
        } => {
            let mut text = format!("classifier {name:?}");
            if let Some(c) = cost {
                text.push_str(&format!(" cost {}", duration(*c)));
            }
            match endpoint {
                Some(StrOrEnv::Str(url)) => text.push_str(&format!(" endpoint {url:?}")),
                Some(StrOrEnv::Env(var)) => text.push_str(&format!(" endpoint env({var:?})")),
                None => {}
            }
            if let Some(t) = timeout {
                text.push_str(&format!(" timeout {}", duration(*t)));
            }
            text
        }
        SignalSource::Unknown => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_take_the_unit_of_their_magnitude() {
        assert_eq!(duration(0.25), "250ms");
        assert_eq!(duration(1.4), "1.4s");
        assert_eq!(duration(750.0), "12.5m");
        assert_eq!(duration(32_210.518), "8.95h");
        assert_eq!(duration(181_440.0), "2.1d");
    }
}
