//! Off-policy estimators over a logged sample (`routec simulate CANDIDATE
//! --off-policy LOG`, `docs/learn.md`): what a *candidate* policy's mean
//! outcome (success rate, or cost per request) would have been on requests
//! a *logging* policy routed, from each request's logged propensity.
//!
//! For request `i`: `m_i` is the probability that the candidate runs the
//! plan that was logged (1 or 0 for a deterministic choice, the split share
//! in a split), `p_i` that plan's logged propensity, `y_i` the observed
//! outcome, and `d_i` an outcome model's prediction for the candidate on
//! that request (the candidate table's predicted figure for the request's
//! cell). With `w_i = m_i / p_i`:
//!
//! - IPS: `mean(w_i y_i)`, unbiased when every plan the candidate picks had
//!   a positive logged propensity.
//! - SNIPS: `Σ w_i y_i / Σ w_i`, biased but with far less variance; equals
//!   the plain on-policy mean when the candidate is the logging policy and
//!   every propensity is 1.
//! - Doubly robust: `mean(d_i + w_i (y_i − d_i))`, unbiased when either the
//!   propensities or the outcome model are right (for any fixed `d`, when
//!   the propensities are: `E[w (y − d)] = Σ_a π(a) q(a) − d`).
//!
//! Intervals are normal approximations: the estimate ± `z` standard errors
//! of the per-request terms' mean (for SNIPS, the delta method on the
//! ratio).

/// One logged request, as the estimators read it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Logged {
    /// The probability that the candidate runs the logged plan, in
    /// `[0, 1]` (`m`).
    pub candidate: f64,
    /// The logged plan's propensity, in `(0, 1]`.
    pub propensity: f64,
    /// The observed outcome (1/0 success, or a cost).
    pub outcome: f64,
    /// The outcome model's prediction for the candidate's plan.
    pub predicted: f64,
}

/// An estimate with its interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// The three estimates of one outcome.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OffPolicy {
    pub ips: Estimate,
    pub snips: Estimate,
    pub dr: Estimate,
    /// Logged requests whose plan the candidate runs with a positive
    /// probability.
    pub matched: usize,
    pub requests: usize,
}

fn mean_interval(terms: impl Iterator<Item = f64> + Clone, z: f64) -> Estimate {
    let n = terms.clone().count() as f64;
    if n == 0.0 {
        return Estimate {
            value: f64::NAN,
            low: f64::NAN,
            high: f64::NAN,
        };
    }
    let mean = terms.clone().sum::<f64>() / n;
    let var = if n > 1.0 {
        terms.map(|t| (t - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    let se = (var / n).sqrt();
    Estimate {
        value: mean,
        low: mean - z * se,
        high: mean + z * se,
    }
}

/// The estimates of the candidate's mean outcome, with `z`-standard-error
/// intervals (1.96 for 95%); NaN for an empty log (and SNIPS when no
/// request matches). `Err` names the first request with a
/// propensity outside `(0, 1]`, a candidate probability outside `[0, 1]`
/// or a non-finite figure.
pub fn estimate(logs: &[Logged], z: f64) -> Result<OffPolicy, String> {
    for (i, l) in logs.iter().enumerate() {
        if !(l.propensity > 0.0 && l.propensity <= 1.0) {
            return Err(format!(
                "request {}: propensity {} is not within (0, 1]",
                i + 1,
                l.propensity
            ));
        }
        if !(0.0..=1.0).contains(&l.candidate) {
            return Err(format!(
                "request {}: the candidate's probability {} is not within [0, 1]",
                i + 1,
                l.candidate
            ));
        }
        if !l.outcome.is_finite() || !l.predicted.is_finite() {
            return Err(format!("request {}: an outcome is not a number", i + 1));
        }
    }
    let w = |l: &Logged| l.candidate / l.propensity;
    let ips = mean_interval(logs.iter().map(|l| w(l) * l.outcome), z);
    let dr = mean_interval(
        logs.iter()
            .map(|l| l.predicted + w(l) * (l.outcome - l.predicted)),
        z,
    );
    let n = logs.len() as f64;
    let weight_sum: f64 = logs.iter().map(w).sum();
    let snips = if weight_sum > 0.0 {
        let value = logs.iter().map(|l| w(l) * l.outcome).sum::<f64>() / weight_sum;
        // Delta method: Var(Σ w (y − v)) / (Σ w)².
        let var = logs
            .iter()
            .map(|l| (w(l) * (l.outcome - value)).powi(2))
            .sum::<f64>()
            * n
            / (n - 1.0).max(1.0);
        let se = var.sqrt() / weight_sum;
        Estimate {
            value,
            low: value - z * se,
            high: value + z * se,
        }
    } else {
        Estimate {
            value: f64::NAN,
            low: f64::NAN,
            high: f64::NAN,
        }
    };
    Ok(OffPolicy {
        ips,
        snips,
        dr,
        matched: logs.iter().filter(|l| l.candidate > 0.0).count(),
        requests: logs.len(),
    })
}
