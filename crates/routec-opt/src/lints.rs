//! Lints that need the model and the traffic profile, so the checker cannot
//! give them: a `timeout` (or `ttft timeout`) that cuts a share of a routed
//! model's answers (`W0601`).
//!
//! The share is what the timeout itself cuts: the model's per-attempt
//! timeout probability ([`AttemptModel::timeout_probability`],
//! `docs/semantics.md` "Faults") averaged over the profile's answer
//! lengths, minus the same without this timeout (the model's other timeout
//! kept), so that it is what raising the timeout can save. Long answers
//! decode past a total timeout (`N / R` seconds, plus reasoning); slow
//! first tokens (and reasoning) pass a TTFT timeout.

use routec_check::ir::{ModelId, PlanDef, Policy};
use routec_syntax::{Diagnostic, Span};

use crate::codes;
use crate::model::{AttemptModel, MAX_FALLBACK_DEPTH, fault_settings};
use crate::traffic::{OutputDist, Traffic};

/// A timeout is reported when it cuts at least this share of a routed
/// model's answers.
pub const TIMEOUT_CUT_WARN: f64 = 0.01;

/// The share of answers the suggested timeout may still cut.
pub const TIMEOUT_KEEP: f64 = 0.99;

/// Answer lengths are integrated over this many quantiles.
const NODES: usize = 2000;

/// One model's attempts cut by a timeout: the share, and the data of the
/// help.
#[derive(Clone, Debug, PartialEq)]
struct Cut {
    model: ModelId,
    share: f64,
    /// The timeout (seconds) that would cut at most `1 − TIMEOUT_KEEP`.
    enough: Option<f64>,
    /// What makes the attempts late, for the label.
    why: String,
}

/// `W0601` for every `timeout` and `ttft timeout` that cuts at least
/// [`TIMEOUT_CUT_WARN`] of the answers of a model the policy routes to
/// (its rules' plans, `optimize` candidates and their fallbacks), under
/// `traffic`: one warning per statement, on it, naming each model it cuts
/// and by how much, with the timeout that would keep 99% of the worst one's
/// answers.
pub fn timeout_warnings(policy: &Policy, traffic: &Traffic) -> Vec<Diagnostic> {
    let output = traffic.output_dist();
    let lengths = quantile_nodes(&output);
    let profile = traffic
        .name
        .as_deref()
        .map(|n| format!(" under traffic `{n}`"))
        .unwrap_or_default();
    // Per statement (span): its text and the models it cuts.
    let mut by_span: Vec<(Span, &'static str, f64, Vec<Cut>)> = Vec::new();
    for m in routed(policy) {
        let settings = fault_settings(&policy.faults, m);
        let attempt = AttemptModel::new(policy, m);
        for (span, word, value, ttft_kind) in [
            (settings.timeout_span, "timeout", settings.timeout, false),
            (
                settings.ttft_timeout_span,
                "ttft timeout",
                settings.ttft_timeout,
                true,
            ),
        ] {
            let (Some(span), Some(value)) = (span, value) else {
                continue;
            };
            let share = own_cut(&attempt, &lengths, ttft_kind, value);
            if share < TIMEOUT_CUT_WARN {
                continue;
            }
            let cut = Cut {
                model: m,
                share,
                enough: enough(&attempt, &lengths, ttft_kind),
                why: why(policy, m, &attempt, &output, ttft_kind),
            };
            match by_span.iter_mut().find(|(s, ..)| *s == span) {
                Some((.., cuts)) => cuts.push(cut),
                None => by_span.push((span, word, value, vec![cut])),
            }
        }
    }
    by_span
        .into_iter()
        .map(|(span, word, value, mut cuts)| {
            cuts.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.model.cmp(&b.model)));
            warning(policy, span, word, value, &cuts, &profile)
        })
        .collect()
}

fn warning(
    policy: &Policy,
    span: Span,
    word: &str,
    value: f64,
    cuts: &[Cut],
    profile: &str,
) -> Diagnostic {
    let name = |m: ModelId| policy.model(m).name.as_str();
    let shares: Vec<String> = cuts
        .iter()
        .map(|c| format!("{} of `{}`'s", percent(c.share), name(c.model)))
        .collect();
    let statement = format!("{word} {}", seconds(value));
    let message = match shares.as_slice() {
        [one] => format!("`{statement}` cuts {one} answers{profile}"),
        _ => format!("`{statement}` cuts answers{profile}: {}", shares.join(", ")),
    };
    let worst = &cuts[0];
    let label = worst.why.clone();
    let instead = if word == "timeout" {
        "route long answers to a faster model"
    } else {
        "route to a model whose first token comes sooner"
    };
    let help = match worst.enough {
        Some(t) => format!(
            "a `{word}` of {} keeps {} of `{}`'s answers; raise it, or {instead}",
            seconds(t),
            percent(TIMEOUT_KEEP),
            name(worst.model)
        ),
        None => format!(
            "no `{word}` keeps {} of `{}`'s answers; {instead}",
            percent(TIMEOUT_KEEP),
            name(worst.model)
        ),
    };
    Diagnostic::warning(codes::TIMEOUT_CUTS_ANSWERS, span, message)
        .with_label(label)
        .with_help(help)
}

/// What makes model `m`'s attempts late, for the profile's p95 answer.
fn why(policy: &Policy, m: ModelId, a: &AttemptModel, output: &OutputDist, ttft: bool) -> String {
    let name = &policy.model(m).name;
    let n = output.isf(0.05);
    let reasoning = a.reasoning.for_answer(n);
    match (ttft, a.latency.decode_rate) {
        (false, Some(r)) if reasoning > 0.0 => format!(
            "at {} tok/s, the profile's p95 answer ({} tokens) and its reasoning ({} tokens) take {} to decode",
            num(r),
            tokens(n),
            tokens(reasoning),
            seconds((n + reasoning) / r)
        ),
        (false, Some(r)) => format!(
            "at {} tok/s, the profile's p95 answer ({} tokens) takes {} to decode",
            num(r),
            tokens(n),
            seconds(n / r)
        ),
        (false, None) => format!(
            "`{name}`'s end-to-end latency is {} at p99",
            seconds(a.latency.ttft.quantile(0.99))
        ),
        (true, Some(_)) if reasoning > 0.0 => format!(
            "`{name}` reasons before its first token: {} for the profile's p95 answer ({} tokens of reasoning)",
            seconds(a.reasoning_time(n)),
            tokens(reasoning)
        ),
        (true, _) => format!(
            "`{name}`'s first token takes {} at p99",
            seconds(a.latency.ttft.quantile(0.99))
        ),
    }
}

/// Every model a rule's plan may call, fallbacks included, in id order.
fn routed(policy: &Policy) -> Vec<ModelId> {
    let mut direct = Vec::new();
    for r in &policy.rules {
        plan_models(&r.plan, &mut direct);
    }
    let mut out: Vec<ModelId> = Vec::new();
    for m in direct {
        let mut cur = Some(m);
        for _ in 0..MAX_FALLBACK_DEPTH {
            let Some(c) = cur else { break };
            if out.contains(&c) || c.index() >= policy.models.len() {
                break;
            }
            out.push(c);
            cur = policy.model(c).fallback;
        }
    }
    out.sort();
    out
}

fn plan_models(plan: &PlanDef, out: &mut Vec<ModelId>) {
    plan.models(out);
}

/// The answer lengths at `NODES` equally spaced quantiles (midpoints).
fn quantile_nodes(output: &OutputDist) -> Vec<f64> {
    (0..NODES)
        .map(|i| output.isf(1.0 - (i as f64 + 0.5) / NODES as f64))
        .collect()
}

/// The share of attempts cut by a timeout: `E_N[P(timeout | N)]` over the
/// answer lengths.
fn cut_share(a: &AttemptModel, lengths: &[f64]) -> f64 {
    let total: f64 = lengths.iter().map(|&n| a.timeout_probability(n)).sum();
    total / lengths.len().max(1) as f64
}

/// The attempt with its total (or TTFT) timeout set to `t` (`None`: none).
fn with_timeout(a: &AttemptModel, ttft: bool, t: Option<f64>) -> AttemptModel {
    let mut b = a.clone();
    if ttft {
        b.ttft_timeout = t;
    } else {
        b.timeout = t;
    }
    b
}

/// The share of attempts a timeout of `t` cuts that would not be cut
/// without it (the other timeout kept): what raising it can save.
fn own_cut(a: &AttemptModel, lengths: &[f64], ttft: bool, t: f64) -> f64 {
    let without = cut_share(&with_timeout(a, ttft, None), lengths);
    (cut_share(&with_timeout(a, ttft, Some(t)), lengths) - without).max(0.0)
}

/// The smallest timeout (the total one, or the TTFT one) whose own cut
/// ([`own_cut`]) is at most `1 − TIMEOUT_KEEP`, by bisection in log-time
/// up to a day; `None` when none is enough.
fn enough(a: &AttemptModel, lengths: &[f64], ttft: bool) -> Option<f64> {
    let without = cut_share(&with_timeout(a, ttft, None), lengths);
    let with = |t: f64| cut_share(&with_timeout(a, ttft, Some(t)), lengths) - without;
    let limit = 1.0 - TIMEOUT_KEEP;
    let current = if ttft { a.ttft_timeout } else { a.timeout }?;
    let (mut lo, mut hi) = (current.max(1e-3).ln(), 86_400f64.ln());
    if with(hi.exp()) > limit {
        return None;
    }
    for _ in 0..40 {
        let mid = (lo + hi) / 2.0;
        if with(mid.exp()) > limit {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    // Round up to a duration a user would write.
    Some(round_up(hi.exp()))
}

/// `x` seconds rounded up to two significant digits.
fn round_up(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powf(x.log10().floor() - 1.0);
    (x / scale).ceil() * scale
}

fn num(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn percent(x: f64) -> String {
    if x >= 0.1 {
        format!("{}%", num((x * 1000.0).round() / 10.0))
    } else {
        format!("{}%", num((x * 10_000.0).round() / 100.0))
    }
}

fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{}ms", num((s * 1000.0).round()))
    } else if s < 120.0 {
        format!("{}s", num((s * 10.0).round() / 10.0))
    } else {
        format!("{}m", num((s / 6.0).round() / 10.0))
    }
}

fn tokens(n: f64) -> String {
    let n = n.round();
    if n >= 10_000.0 {
        format!("{}k", num((n / 100.0).round() / 10.0))
    } else {
        num(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_a_user_writes_them() {
        assert_eq!(round_up(33.2), 34.0);
        assert_eq!(round_up(0.123), 0.13);
        assert_eq!(seconds(34.0), "34s");
        assert_eq!(seconds(0.25), "250ms");
        assert_eq!(seconds(150.0), "2.5m");
        assert_eq!(percent(0.052), "5.2%");
        assert_eq!(percent(0.0123), "1.23%");
        assert_eq!(tokens(1234.4), "1234");
        assert_eq!(tokens(12_345.0), "12.3k");
    }
}
