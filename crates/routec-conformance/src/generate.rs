//! Random requests that stress the decision diagram: values on and next to
//! every threshold the policy compares with, random values across each
//! signal's domain, missing signals and invalid ones.

use routec_check::ir::{Cond, PlanDef, Policy, SignalType};

/// splitmix64: small, fast, and the same sequence on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// One signal slot of a generated request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Slot {
    Missing,
    Invalid,
    Value(f64),
}

/// Every constant each signal is compared with, in rules, slices and
/// `optimize ... at [...]` thresholds, indexed by signal.
pub fn thresholds(policy: &Policy) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::new(); policy.signals.len()];
    fn walk(cond: &Cond, out: &mut [Vec<f64>]) {
        match cond {
            Cond::Cmp { signal, value, .. } => out[signal.index()].push(*value),
            Cond::Not(c) => walk(c, out),
            Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    fn walk_plan(plan: &PlanDef, out: &mut [Vec<f64>]) {
        if let PlanDef::Optimize { candidates, by } = plan {
            for dim in by {
                out[dim.signal.index()].extend(&dim.thresholds);
            }
            candidates.iter().for_each(|p| walk_plan(p, out));
        }
    }
    for rule in &policy.rules {
        walk(&rule.cond, &mut out);
        walk_plan(&rule.plan, &mut out);
    }
    for slice in &policy.slices {
        walk(&slice.cond, &mut out);
    }
    out
}

/// A random request: one slot per signal of the policy.
pub fn request(policy: &Policy, cuts: &[Vec<f64>], rng: &mut Rng) -> Vec<Slot> {
    policy
        .signals
        .iter()
        .enumerate()
        .map(|(i, signal)| {
            let roll = rng.unit();
            if roll < 0.08 {
                return Slot::Missing;
            }
            if roll < 0.11 {
                return Slot::Invalid;
            }
            Slot::Value(value(&signal.ty, &cuts[i], rng))
        })
        .collect()
}

fn value(ty: &SignalType, cuts: &[f64], rng: &mut Rng) -> f64 {
    match ty {
        SignalType::Bool => rng.below(2) as f64,
        SignalType::Enum(variants) => rng.below(variants.len()) as f64,
        _ => {
            let integer = matches!(ty, SignalType::Int | SignalType::Tokens);
            let raw = if !cuts.is_empty() && rng.unit() < 0.6 {
                // On or right next to a threshold.
                let cut = cuts[rng.below(cuts.len())];
                let step = if integer {
                    1.0
                } else {
                    cut.abs().max(1.0) * 1e-9
                };
                cut + [-step, 0.0, step][rng.below(3)]
            } else {
                match ty {
                    SignalType::Ratio => rng.unit(),
                    SignalType::Tokens => (rng.unit() * 12.0).exp() * 60.0,
                    SignalType::Int => (rng.unit() - 0.5) * 2e6,
                    SignalType::Duration => rng.unit() * 120.0,
                    SignalType::Money => rng.unit() * 100.0,
                    _ => 0.0,
                }
            };
            let raw = if integer { raw.round() } else { raw };
            let (lo, hi) = ty.domain();
            raw.clamp(lo.unwrap_or(f64::MIN), hi.unwrap_or(f64::MAX))
        }
    }
}

/// Writes generated slots into a runtime request (missing slots stay unset).
pub fn fill(request: &mut routec_runtime::Request, slots: &[Slot]) {
    for (i, slot) in slots.iter().enumerate() {
        match *slot {
            Slot::Missing => {}
            Slot::Invalid => request.set_invalid(i),
            Slot::Value(v) => request.set(i, v),
        }
    }
}
