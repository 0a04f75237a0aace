//! Routes a request by reading the checked policy directly: rules in order,
//! slices by their conditions, optimized cells by their boxes. Independent of
//! the decision diagram, which is what the differential tests check.

use routec_check::ir::{Cond, PlanDef, Policy, SignalId, SignalType, Value};
use routec_opt::{Compiled, ValueSet};
use routec_syntax::ast::CmpOp;

/// What the policy says a request gets.
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    /// 0-based rule index.
    pub rule: usize,
    /// The plans (in the language's syntax) with their shares; one entry
    /// unless the rule splits.
    pub plans: Vec<(String, f64)>,
}

/// The value a signal takes when a request does not carry it (or carries an
/// invalid value), in base units.
pub fn default_value(policy: &Policy, signal: SignalId) -> f64 {
    match &policy.signal(signal).default {
        Some(Value::Bool(b)) => f64::from(u8::from(*b)),
        Some(Value::Enum(i)) => *i as f64,
        Some(Value::Number(x)) => *x,
        None => 0.0,
    }
}

/// `values` holds one effective value per signal of the policy (defaults
/// already applied), indexed by `SignalId`.
pub fn interpret(policy: &Policy, compiled: &Compiled, values: &[f64]) -> Option<Expected> {
    let rule = policy
        .rules
        .iter()
        .position(|r| eval(policy, &r.cond, values))?;
    let plans = match &policy.rules[rule].plan {
        PlanDef::Optimize { .. } => {
            let table = &compiled.table;
            let index_of = |name: &str| table.signals.iter().position(|s| s.name == name);
            let cell = compiled.cells().iter().find(|c| {
                c.rule == rule
                    && c.boxes.iter().any(|b| {
                        b.iter().all(|(signal, set)| {
                            let name = &table.signals[*signal].name;
                            let Some(id) = policy.signal_by_name(name) else {
                                return false;
                            };
                            debug_assert_eq!(index_of(name), Some(*signal));
                            contains(set, values[id.index()])
                        })
                    })
            })?;
            cell.splits
                .iter()
                .map(|s| (table.plans[s.plan as usize].text.clone(), s.share))
                .collect()
        }
        PlanDef::Split(arms) => arms
            .iter()
            .map(|(m, share)| (policy.model(*m).name.clone(), *share))
            .collect(),
        plan => vec![(render(policy, plan), 1.0)],
    };
    Some(Expected { rule, plans })
}

fn contains(set: &ValueSet, v: f64) -> bool {
    match set {
        ValueSet::Values(values) => values.iter().any(|&x| x as f64 == v),
        ValueSet::Ranges(ranges) => ranges.iter().any(|&(lo, lo_inc, hi, hi_inc)| {
            let above = match lo {
                None => true,
                Some(lo) if lo_inc => v >= lo,
                Some(lo) => v > lo,
            };
            let below = match hi {
                None => true,
                Some(hi) if hi_inc => v <= hi,
                Some(hi) => v < hi,
            };
            above && below
        }),
    }
}

/// Evaluates a condition on effective values.
pub fn eval(policy: &Policy, cond: &Cond, values: &[f64]) -> bool {
    match cond {
        Cond::Const(b) => *b,
        Cond::Bool(s) => values[s.index()] != 0.0,
        Cond::InSet {
            signal,
            values: set,
        } => set.iter().any(|&i| i as f64 == values[signal.index()]),
        Cond::Cmp { signal, op, value } => {
            let v = values[signal.index()];
            match op {
                CmpOp::Eq => v == *value,
                CmpOp::Ne => v != *value,
                CmpOp::Lt => v < *value,
                CmpOp::Le => v <= *value,
                CmpOp::Gt => v > *value,
                CmpOp::Ge => v >= *value,
            }
        }
        Cond::Slice(s) => eval(policy, &policy.slice(*s).cond, values),
        Cond::Not(c) => !eval(policy, c, values),
        Cond::And(cs) => cs.iter().all(|c| eval(policy, c, values)),
        Cond::Or(cs) => cs.iter().any(|c| eval(policy, c, values)),
        Cond::Unknown => false,
    }
}

/// A plan in the language's syntax, written independently of the compiler.
pub fn render(policy: &Policy, plan: &PlanDef) -> String {
    let name = |m: &routec_check::ir::ModelId| policy.model(*m).name.clone();
    match plan {
        PlanDef::Target(m) => name(m),
        PlanDef::Chain(plans) => plans
            .iter()
            .map(|p| match p {
                PlanDef::Chain(_) => format!("({})", render(policy, p)),
                _ => render(policy, p),
            })
            .collect::<Vec<_>>()
            .join(" else "),
        PlanDef::Cascade { stages, accept } => {
            let mut text = format!(
                "cascade {}",
                stages.iter().map(name).collect::<Vec<_>>().join(" -> ")
            );
            if let Some(accept) = accept {
                text.push_str(&format!(
                    " accept when confidence >= {}%",
                    trim(accept.threshold * 100.0)
                ));
            }
            text
        }
        PlanDef::Split(arms) => format!(
            "split {{ {} }}",
            arms.iter()
                .map(|(m, s)| format!("{} {}%", name(m), trim(s * 100.0)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        PlanDef::Optimize { .. } => "optimize".into(),
        PlanDef::Error => "<error>".into(),
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Whether a signal type takes integer values.
pub fn is_integer(ty: &SignalType) -> bool {
    matches!(ty, SignalType::Int | SignalType::Tokens)
}

/// The value each signal takes for generated slots: the slot's value, or the
/// policy's default when it is missing or invalid.
pub fn effective_values(policy: &Policy, slots: &[crate::generate::Slot]) -> Vec<f64> {
    slots
        .iter()
        .enumerate()
        .map(|(i, slot)| match *slot {
            crate::generate::Slot::Value(v) => v,
            _ => default_value(policy, SignalId(i as u32)),
        })
        .collect()
}
