//! Rules that respect context windows. A routec policy must route every
//! request to a model that can serve it (the checker's E0400), while the
//! routers imported here send any prompt to any model and fail when it is
//! too long. [`guarded`] splits a rule by `prompt_tokens` so that each part
//! goes only to models whose window admits it; prompts no target admits go
//! to the model with the largest window, and the split is commented.

use std::collections::HashMap;

use crate::ir::{Cond, Plan, Rule};

/// The context windows known, by model name.
pub(crate) struct Windows<'a> {
    pub by_model: &'a HashMap<String, u64>,
}

impl Windows<'_> {
    fn of(&self, m: &str) -> Option<u64> {
        self.by_model.get(m).copied()
    }

    fn largest(&self) -> Option<(&str, u64)> {
        self.by_model
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(m, w)| (m.as_str(), *w))
    }

    /// The prompt length every model of the plan admits (`None`: all).
    fn capacity(&self, plan: &Plan) -> Option<u64> {
        plan.models().iter().filter_map(|m| self.of(m)).min()
    }
}

/// The plan keeping only models whose window exceeds `above`.
fn admitting(plan: &Plan, windows: &Windows<'_>, above: u64) -> Option<Plan> {
    let ok = |m: &str| windows.of(m).is_none_or(|w| w > above);
    match plan {
        Plan::Target(m) => ok(m).then(|| plan.clone()),
        Plan::Chain(ms) => {
            let kept: Vec<String> = ms.iter().filter(|m| ok(m)).cloned().collect();
            match kept.len() {
                0 => None,
                1 => kept.into_iter().next().map(Plan::Target),
                _ => Some(Plan::Chain(kept)),
            }
        }
        Plan::Split(es) => {
            let kept: Vec<&(String, u32)> = es.iter().filter(|(m, _)| ok(m)).collect();
            match kept.len() {
                0 => None,
                1 => Some(Plan::Target(kept[0].0.clone())),
                _ => {
                    let weights: Vec<f64> = kept.iter().map(|(_, s)| f64::from(*s)).collect();
                    let shares = crate::ir::shares(&weights)?;
                    Some(Plan::Split(
                        kept.iter()
                            .zip(shares)
                            .map(|((m, _), s)| (m.clone(), s))
                            .collect(),
                    ))
                }
            }
        }
    }
}

/// The rules for `cond => plan`, split by prompt length so that no model
/// gets a prompt longer than its window.
pub(crate) fn guarded(rule: Rule, windows: &Windows<'_>) -> Vec<Rule> {
    let mut out = Vec::new();
    let Some((largest, max)) = windows.largest() else {
        out.push(rule);
        return out;
    };
    let Rule {
        doc,
        cond,
        plan,
        origin,
    } = rule;
    let mut lo: Option<u64> = None;
    let mut plan = plan;
    let mut doc = doc;
    loop {
        let cap = windows.capacity(&plan).unwrap_or(max);
        let mut parts = Vec::new();
        if let Some(c) = &cond {
            parts.push(c.clone());
        }
        if let Some(l) = lo {
            parts.push(Cond::Cmp("prompt_tokens".into(), ">", l.to_string()));
        }
        if cap >= max {
            out.push(Rule {
                doc,
                cond: finish(parts, cond.is_none()),
                plan,
                origin,
            });
            return out;
        }
        parts.push(Cond::Cmp("prompt_tokens".into(), "<=", cap.to_string()));
        out.push(Rule {
            doc: std::mem::take(&mut doc),
            cond: finish(parts, false),
            plan: plan.clone(),
            origin,
        });
        lo = Some(cap);
        plan = match admitting(&plan, windows, cap) {
            Some(p) => p,
            None => {
                doc = vec![format!(
                    "Prompts over {cap} tokens fit no model of the rule above (the source router \
                     fails them); they go to `{largest}`, the largest window."
                )];
                Plan::Target(largest.to_owned())
            }
        };
    }
}

fn finish(parts: Vec<Cond>, otherwise: bool) -> Option<Cond> {
    if otherwise {
        None
    } else {
        Some(Cond::and(parts))
    }
}

/// A copy of model `base` (made once per pair) whose `fallback` is
/// `fallback`: how a chain becomes one entry of a split.
pub(crate) fn copy_with_fallback(
    base: &str,
    fallback: &str,
    copies: &mut HashMap<(String, String), String>,
    extra: &mut Vec<crate::ir::Model>,
    names: &mut crate::ir::Names,
) -> String {
    let key = (base.to_owned(), fallback.to_owned());
    if let Some(n) = copies.get(&key) {
        return n.clone();
    }
    let name = names.fresh(&format!("{base}_then_{fallback}"));
    extra.push(crate::ir::Model {
        name: name.clone(),
        doc: vec![format!("`{base}`, falling back to `{fallback}`.")],
        extends: Some(base.to_owned()),
        fallback: Some(fallback.to_owned()),
        ..crate::ir::Model::default()
    });
    copies.insert(key, name.clone());
    name
}
