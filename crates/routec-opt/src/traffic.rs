//! Traffic profiles as independent marginals: the probability of an atom of
//! the request space, conditional means, and the answer-length nodes.

use routec_check::ir::{Dist, Policy, SignalType, TrafficSource, TrafficVar, Value};
use routec_check::space::Atom;

use crate::model::LatencyQuantiles;

pub use routec_check::DEFAULT_PROMPT_TOKENS;

/// The marginal distribution of one signal.
#[derive(Clone, Debug, PartialEq)]
pub enum Marginal {
    /// Probability per value (enum index, or `[false, true]`).
    Discrete(Vec<f64>),
    /// Every request has this value.
    Point(f64),
    /// Fitted to declared quantiles (lognormal with two).
    Continuous(LatencyQuantiles),
    /// Uniform over `[lo, hi]`.
    Uniform(f64, f64),
}

impl Marginal {
    fn cdf(&self, x: f64) -> f64 {
        match self {
            Marginal::Continuous(l) => {
                if x <= 0.0 {
                    0.0
                } else {
                    l.cdf(x)
                }
            }
            Marginal::Uniform(lo, hi) => {
                if hi <= lo {
                    if x >= *lo { 1.0 } else { 0.0 }
                } else {
                    ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
                }
            }
            Marginal::Point(v) => {
                if x > *v {
                    1.0
                } else {
                    0.0
                }
            }
            Marginal::Discrete(_) => 0.0,
        }
    }

    /// `P(lo <= X < hi)` (`None` = unbounded).
    fn interval(&self, lo: Option<f64>, hi: Option<f64>) -> f64 {
        match self {
            Marginal::Point(v) => {
                let ok = lo.is_none_or(|l| *v >= l) && hi.is_none_or(|h| *v < h);
                if ok { 1.0 } else { 0.0 }
            }
            _ => {
                let a = lo.map_or(0.0, |l| self.cdf(l));
                let b = hi.map_or(1.0, |h| self.cdf(h));
                (b - a).max(0.0)
            }
        }
    }

    /// The probability of one atom.
    pub fn atom(&self, atom: &Atom) -> f64 {
        match (self, atom) {
            (Marginal::Discrete(p), Atom::Value(v)) => p.get(*v).copied().unwrap_or(0.0),
            (Marginal::Discrete(_), _) => 0.0,
            (_, Atom::Value(v)) => {
                if let Marginal::Point(x) = self {
                    if *x == *v as f64 { 1.0 } else { 0.0 }
                } else {
                    0.0
                }
            }
            (_, Atom::Int { lo, hi }) => {
                let lo = (*lo != i64::MIN).then_some(*lo as f64);
                self.interval(lo, hi.map(|h| h as f64))
            }
            (Marginal::Point(x), Atom::Point(p)) => {
                if x == p {
                    1.0
                } else {
                    0.0
                }
            }
            (_, Atom::Point(_)) => 0.0,
            (Marginal::Point(x), Atom::Open { lo, hi }) => {
                let ok = lo.is_none_or(|l| *x > l) && hi.is_none_or(|h| *x < h);
                if ok { 1.0 } else { 0.0 }
            }
            (_, Atom::Open { lo, hi }) => self.interval(*lo, *hi),
        }
    }

    /// `E[X | X in atom]`; the atom's representative when it has no mass.
    pub fn mean_in(&self, atom: &Atom) -> f64 {
        let (lo, hi) = match atom {
            Atom::Value(v) => return *v as f64,
            Atom::Point(p) => return *p,
            Atom::Int { lo, hi } => (
                (*lo != i64::MIN).then_some(*lo as f64),
                hi.map(|h| h as f64),
            ),
            Atom::Open { lo, hi } => (*lo, *hi),
        };
        match self {
            Marginal::Point(v) => *v,
            Marginal::Uniform(a, b) => {
                let l = lo.map_or(*a, |l| l.max(*a));
                let h = hi.map_or(*b, |h| h.min(*b));
                if h >= l {
                    (l + h) / 2.0
                } else {
                    atom.representative()
                }
            }
            Marginal::Continuous(q) => {
                let (l, h) = (lo.unwrap_or(0.0).max(0.0), hi.unwrap_or(f64::INFINITY));
                let mass = q.exceedance(l) - q.exceedance(h);
                if mass <= 1e-300 {
                    return atom.representative();
                }
                // Exact: the partial mean over the interval.
                (q.partial_mean(l, h) / mass).clamp(l, h)
            }
            Marginal::Discrete(_) => atom.representative(),
        }
    }
}

/// The traffic a table is optimized for.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// The profile's name; `None`: no profile (uniform over declared domains).
    pub name: Option<String>,
    pub qps: Option<f64>,
    /// Per signal (indexed like `policy.signals`).
    pub marginals: Vec<Marginal>,
    /// The answer-length distribution, if declared.
    pub output: Option<Marginal>,
    /// The profile is a recorded file whose records were not supplied (see
    /// [`Traffic::with_recorded`]): the declared defaults were used instead.
    pub records_missing: bool,
    /// The recorded requests of a recorded profile: cell weights and prompt
    /// means are counted over them (their joint distribution), and
    /// `marginals` are their empirical marginals.
    pub rows: Option<crate::recorded::Rows>,
}

fn default_marginal(
    ty: &SignalType,
    default: Option<&Value>,
    name: &str,
    uniform: bool,
) -> Marginal {
    match ty {
        SignalType::Enum(vs) => {
            let n = vs.len().max(1);
            if uniform {
                return Marginal::Discrete(vec![1.0 / n as f64; n]);
            }
            let mut p = vec![0.0; n];
            let i = match default {
                Some(Value::Enum(i)) if *i < n => *i,
                _ => 0,
            };
            p[i] = 1.0;
            Marginal::Discrete(p)
        }
        SignalType::Bool => {
            if uniform {
                return Marginal::Discrete(vec![0.5, 0.5]);
            }
            let t = matches!(default, Some(Value::Bool(true)));
            Marginal::Discrete(if t { vec![0.0, 1.0] } else { vec![1.0, 0.0] })
        }
        SignalType::Ratio => match default {
            Some(Value::Number(x)) if !uniform => Marginal::Point(*x),
            _ => Marginal::Uniform(0.0, 1.0),
        },
        _ => match default {
            Some(Value::Number(x)) => Marginal::Point(*x),
            _ if name == "prompt_tokens" => Marginal::Point(DEFAULT_PROMPT_TOKENS),
            _ => Marginal::Point(0.0),
        },
    }
}

impl Traffic {
    /// The profile named `name`, or the first one, or none. `Err` names an
    /// unknown profile.
    pub fn for_policy(policy: &Policy, name: Option<&str>) -> Result<Traffic, String> {
        let def = match name {
            Some(n) => Some(
                policy
                    .traffic
                    .iter()
                    .find(|t| t.name == n)
                    .ok_or_else(|| n.to_string())?,
            ),
            None => policy.traffic.first(),
        };
        let uniform = def.is_none();
        let mut marginals: Vec<Marginal> = policy
            .signals
            .iter()
            .map(|s| default_marginal(&s.ty, s.default.as_ref(), &s.name, uniform))
            .collect();
        let mut output = None;
        let mut qps = None;
        let mut records_missing = false;
        if let Some(def) = def {
            match &def.source {
                TrafficSource::File(_) => records_missing = true,
                TrafficSource::Inline { qps: q, dists } => {
                    qps = *q;
                    for (var, dist) in dists {
                        let ty = match var {
                            TrafficVar::Signal(s) => match policy.signals.get(s.index()) {
                                Some(sig) => sig.ty.clone(),
                                None => continue,
                            },
                            TrafficVar::OutputTokens => SignalType::Tokens,
                        };
                        let Some(m) = marginal_of(&ty, dist) else {
                            continue;
                        };
                        match var {
                            TrafficVar::Signal(s) => marginals[s.index()] = m,
                            TrafficVar::OutputTokens => output = Some(m),
                        }
                    }
                }
            }
        }
        Ok(Traffic {
            name: def.map(|d| d.name.clone()),
            qps,
            marginals,
            output,
            records_missing,
            rows: None,
        })
    }

    /// This profile with the records of its file: the mix becomes the
    /// empirical distribution of the requests, the answer length is fitted
    /// to the outcomes' `output_tokens` (see `docs/traffic.md`).
    pub fn with_recorded(
        mut self,
        policy: &Policy,
        bound: &routec_traffic::BoundTraffic,
    ) -> Traffic {
        let rows = crate::recorded::Rows::of(policy, bound);
        self.marginals = (0..policy.signals.len())
            .map(|i| rows.marginal(policy, i))
            .collect();
        if let Some(o) = crate::recorded::output_marginal(bound) {
            self.output = Some(o);
        }
        self.records_missing = false;
        self.rows = Some(rows);
        self
    }

    /// The answer-length distribution (a point of
    /// [`crate::model::DEFAULT_OUTPUT_TOKENS`] when undeclared).
    pub fn output_dist(&self) -> OutputDist {
        match &self.output {
            Some(Marginal::Continuous(q)) => OutputDist::Quantiles(q.clone()),
            Some(Marginal::Uniform(a, b)) if b > a => OutputDist::Uniform(a.max(0.0), b.max(0.0)),
            Some(Marginal::Uniform(a, _)) => OutputDist::Point(a.max(0.0)),
            Some(Marginal::Point(v)) => OutputDist::Point(v.max(0.0)),
            _ => OutputDist::Point(crate::model::DEFAULT_OUTPUT_TOKENS),
        }
    }
}

/// The distribution of the answer length `N` (tokens), as the optimizer
/// integrates over it.
#[derive(Clone, Debug, PartialEq)]
pub enum OutputDist {
    /// Every answer has this length.
    Point(f64),
    /// Fitted to declared quantiles (a lognormal with two).
    Quantiles(LatencyQuantiles),
    /// Uniform over `[lo, hi]`.
    Uniform(f64, f64),
}

impl OutputDist {
    /// `P(N > n)`, accurate in the upper tail.
    pub fn sf(&self, n: f64) -> f64 {
        match self {
            OutputDist::Point(v) => {
                if n < *v {
                    1.0
                } else {
                    0.0
                }
            }
            OutputDist::Quantiles(q) => {
                if n <= 0.0 {
                    1.0
                } else {
                    q.exceedance(n)
                }
            }
            OutputDist::Uniform(a, b) => ((b - n) / (b - a)).clamp(0.0, 1.0),
        }
    }

    /// `P(lo < N <= hi)`.
    pub fn mass(&self, lo: f64, hi: f64) -> f64 {
        (self.sf(lo) - self.sf(hi)).max(0.0)
    }

    /// `E[N; lo < N <= hi]`.
    pub fn partial_mean(&self, lo: f64, hi: f64) -> f64 {
        match self {
            OutputDist::Point(v) => {
                if *v > lo && *v <= hi {
                    *v
                } else {
                    0.0
                }
            }
            OutputDist::Quantiles(q) => q.partial_mean(lo, hi),
            OutputDist::Uniform(a, b) => {
                let (l, h) = (lo.max(*a), hi.min(*b));
                if h > l {
                    (h * h - l * l) / 2.0 / (b - a)
                } else {
                    0.0
                }
            }
        }
    }

    /// The `n` with `P(N > n) = s` (`s` in `(0, 1)`).
    pub fn isf(&self, s: f64) -> f64 {
        match self {
            OutputDist::Point(v) => *v,
            OutputDist::Quantiles(q) => q.ln_at_z(-crate::model::norm_inv(s)).exp(),
            OutputDist::Uniform(a, b) => b - s.clamp(0.0, 1.0) * (b - a),
        }
    }
}

fn marginal_of(ty: &SignalType, dist: &Dist) -> Option<Marginal> {
    Some(match dist {
        Dist::Mix(shares) => {
            let n = match ty {
                SignalType::Enum(vs) => vs.len(),
                SignalType::Bool => 2,
                _ => return None,
            };
            let mut p: Vec<f64> = (0..n)
                .map(|i| shares.get(i).copied().unwrap_or(0.0).max(0.0))
                .collect();
            let total: f64 = p.iter().sum();
            if total <= 0.0 {
                return None;
            }
            p.iter_mut().for_each(|x| *x /= total);
            Marginal::Discrete(p)
        }
        Dist::Share(s) => {
            let s = s.clamp(0.0, 1.0);
            Marginal::Discrete(vec![1.0 - s, s])
        }
        Dist::Lognormal(q) => Marginal::Continuous(LatencyQuantiles::from_quantiles(q)?),
        Dist::Uniform => match ty.domain() {
            (Some(lo), Some(hi)) if ty.is_numeric() => Marginal::Uniform(lo, hi),
            _ => return None,
        },
        Dist::Const(v) => match (ty, v) {
            (SignalType::Enum(vs), Value::Enum(i)) => {
                let mut p = vec![0.0; vs.len()];
                *p.get_mut(*i)? = 1.0;
                Marginal::Discrete(p)
            }
            (SignalType::Bool, Value::Bool(b)) => {
                Marginal::Discrete(if *b { vec![0.0, 1.0] } else { vec![1.0, 0.0] })
            }
            (_, Value::Number(x)) => Marginal::Point(*x),
            _ => return None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_intervals() {
        let m = Marginal::Continuous(
            LatencyQuantiles::from_quantiles(&[(0.5, 900.0), (0.95, 12_000.0)]).unwrap(),
        );
        let below = m.atom(&Atom::Int {
            lo: 0,
            hi: Some(900),
        });
        assert!((below - 0.5).abs() < 1e-9);
        let above = m.atom(&Atom::Int {
            lo: 12_000,
            hi: None,
        });
        assert!((above - 0.05).abs() < 1e-9);
        let mean = m.mean_in(&Atom::Int {
            lo: 2000,
            hi: Some(8000),
        });
        assert!(mean > 2000.0 && mean < 8000.0);
        let u = Marginal::Uniform(0.0, 1.0);
        assert!(
            (u.atom(&Atom::Open {
                lo: Some(0.0),
                hi: Some(0.3)
            }) - 0.3)
                .abs()
                < 1e-12
        );
        assert_eq!(u.atom(&Atom::Point(0.3)), 0.0);
    }
}
