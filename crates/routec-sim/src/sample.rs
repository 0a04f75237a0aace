//! Random numbers and request sampling: a portable seeded generator, uniform
//! and standard-normal draws, and one sampler per signal built from the
//! traffic profile's marginals (`routec_opt::traffic`, the same marginals the
//! optimizer integrates over).

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng as _, SeedableRng};
use routec_check::ir::{Policy, SignalType};
use routec_opt::model::{DEFAULT_OUTPUT_TOKENS, LatencyQuantiles};
use routec_opt::traffic::{Marginal, Traffic};

/// The simulator's random numbers: xoshiro256++ (the same sequence on every
/// platform for a given seed), uniforms in the open interval `(0, 1)` and
/// standard normals by the Box–Muller transform.
#[derive(Clone, Debug)]
pub struct Rng {
    inner: Xoshiro256PlusPlus,
    spare: Option<f64>,
}

const TWO_POW_53: f64 = (1u64 << 53) as f64;

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng {
            inner: Xoshiro256PlusPlus::seed_from_u64(seed),
            spare: None,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform number in the open interval `(0, 1)`.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        ((self.inner.next_u64() >> 11) as f64 + 0.5) / TWO_POW_53
    }

    /// A standard normal draw (Box–Muller; the second value of each pair is
    /// kept for the next call).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = self.uniform();
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }
}

/// Draws `exp(ln_at_z(z))` for a standard normal `z`: the same distribution
/// as `LatencyQuantiles::sample(u)` (which is `exp(ln_at_z(Φ⁻¹(u)))`) without
/// inverting the normal CDF.
#[inline]
pub fn draw_quantiles(q: &LatencyQuantiles, rng: &mut Rng) -> f64 {
    q.ln_at_z(rng.normal()).exp()
}

/// How one signal's value is drawn.
#[derive(Clone, Debug)]
pub enum Draw {
    /// Cumulative probabilities per value (enum index, or `0`/`1` for bools).
    Discrete(Vec<f64>),
    Point(f64),
    /// Fitted to declared quantiles; `integer`: rounded down (tokens, ints).
    Quantiles {
        q: LatencyQuantiles,
        integer: bool,
    },
    Uniform {
        lo: f64,
        hi: f64,
        integer: bool,
    },
}

impl Draw {
    fn of(marginal: &Marginal, ty: &SignalType) -> Draw {
        let integer = ty.is_integer();
        match marginal {
            Marginal::Discrete(p) => {
                let total: f64 = p.iter().sum();
                let mut acc = 0.0;
                let mut cumulative: Vec<f64> = p
                    .iter()
                    .map(|x| {
                        acc += x / total.max(f64::MIN_POSITIVE);
                        acc
                    })
                    .collect();
                // The last value with mass closes the interval exactly.
                if let Some(last) = p.iter().rposition(|x| *x > 0.0) {
                    for c in &mut cumulative[last..] {
                        *c = 1.0;
                    }
                }
                Draw::Discrete(cumulative)
            }
            Marginal::Point(x) => Draw::Point(*x),
            Marginal::Continuous(q) => Draw::Quantiles {
                q: q.clone(),
                integer,
            },
            Marginal::Uniform(lo, hi) => Draw::Uniform {
                lo: *lo,
                hi: *hi,
                integer,
            },
        }
    }

    #[inline]
    pub fn draw(&self, rng: &mut Rng) -> f64 {
        match self {
            Draw::Discrete(cumulative) => {
                let u = rng.uniform();
                let i = cumulative
                    .iter()
                    .position(|c| u < *c)
                    .unwrap_or(cumulative.len().saturating_sub(1));
                i as f64
            }
            Draw::Point(x) => *x,
            Draw::Quantiles { q, integer } => {
                let x = draw_quantiles(q, rng);
                if *integer { x.floor() } else { x }
            }
            Draw::Uniform { lo, hi, integer } => {
                let x = lo + (hi - lo) * rng.uniform();
                if *integer { x.floor() } else { x }
            }
        }
    }
}

/// Draws whole requests: every signal of the policy, and the answer length.
#[derive(Clone, Debug)]
pub struct RequestSampler {
    /// Indexed like `policy.signals`.
    pub signals: Vec<Draw>,
    /// The answer length (tokens, not rounded).
    pub output: Draw,
    /// A recorded profile's requests (values indexed like `policy.signals`):
    /// when present, each draw copies one of them, chosen uniformly.
    pub rows: Option<Vec<Vec<f64>>>,
}

impl RequestSampler {
    pub fn new(policy: &Policy, traffic: &Traffic) -> RequestSampler {
        let signals = policy
            .signals
            .iter()
            .zip(&traffic.marginals)
            .map(|(s, m)| Draw::of(m, &s.ty))
            .collect();
        let output = match &traffic.output {
            Some(m) => Draw::of(m, &SignalType::Ratio),
            None => Draw::Point(DEFAULT_OUTPUT_TOKENS),
        };
        RequestSampler {
            signals,
            output,
            rows: traffic.rows.as_ref().map(|r| r.values.clone()),
        }
    }

    /// Fills `values` (indexed like `policy.signals`, in base units; enum
    /// values are variant indices) and returns the answer length.
    #[inline]
    pub fn draw(&self, rng: &mut Rng, values: &mut [f64]) -> f64 {
        self.draw_row(rng, values).0
    }

    /// [`RequestSampler::draw`], also returning the index of the recorded
    /// request drawn (for a recorded profile).
    #[inline]
    pub fn draw_row(&self, rng: &mut Rng, values: &mut [f64]) -> (f64, Option<usize>) {
        let row = match self.rows.as_deref() {
            Some(rows) if !rows.is_empty() => {
                let i = ((rng.uniform() * rows.len() as f64) as usize).min(rows.len() - 1);
                for (v, x) in values.iter_mut().zip(&rows[i]) {
                    *v = *x;
                }
                Some(i)
            }
            _ => {
                for (v, d) in values.iter_mut().zip(&self.signals) {
                    *v = d.draw(rng);
                }
                None
            }
        };
        (self.output.draw(rng).max(0.0), row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniforms_are_open_and_normals_standard() {
        let mut rng = Rng::new(7);
        let n = 200_000;
        let (mut sum, mut sq) = (0.0, 0.0);
        for _ in 0..n {
            let u = rng.uniform();
            assert!(u > 0.0 && u < 1.0);
            let z = rng.normal();
            sum += z;
            sq += z * z;
        }
        let mean = sum / n as f64;
        let var = sq / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
    }

    #[test]
    fn discrete_draws_follow_their_shares() {
        let d = Draw::of(
            &Marginal::Discrete(vec![0.2, 0.0, 0.8, 0.0]),
            &SignalType::Int,
        );
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 4];
        for _ in 0..100_000 {
            counts[d.draw(&mut rng) as usize] += 1;
        }
        assert_eq!(counts[1] + counts[3], 0);
        assert!((f64::from(counts[0]) / 1e5 - 0.2).abs() < 0.01);
    }

    #[test]
    fn recorded_rows_are_drawn_whole_and_uniformly() {
        let rows = vec![vec![0.0, 812.0], vec![1.0, 90.0], vec![1.0, 4000.0]];
        let sampler = RequestSampler {
            signals: vec![Draw::Point(7.0), Draw::Point(7.0)],
            output: Draw::Point(250.0),
            rows: Some(rows.clone()),
        };
        let mut rng = Rng::new(3);
        let mut counts = [0u32; 3];
        let mut values = [0.0; 2];
        for _ in 0..30_000 {
            assert_eq!(sampler.draw(&mut rng, &mut values), 250.0);
            let i = rows.iter().position(|r| r[..] == values[..]).unwrap();
            counts[i] += 1;
        }
        for c in counts {
            assert!(
                (f64::from(c) / 30_000.0 - 1.0 / 3.0).abs() < 0.02,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn same_seed_same_numbers() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        // Pinned: the generator is part of `--seed`'s contract.
        assert_eq!(Rng::new(0).next_u64(), Rng::new(0).next_u64());
    }
}
