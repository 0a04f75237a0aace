//! Whole-table validation: every index in range, the diagram acyclic, every
//! split a distribution. A table that passes can be executed without a
//! bounds check failing.

use crate::types::*;

/// The most signals a table may have; runtimes track defaulted signals in a
/// fixed-size bit set of this many bits.
pub const MAX_SIGNALS: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub struct ValidationError(pub String);

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValidationError {}

fn fail<T>(why: impl Into<String>) -> Result<T, ValidationError> {
    Err(ValidationError(why.into()))
}

fn index(what: &str, i: u32, len: usize) -> Result<(), ValidationError> {
    if (i as usize) < len {
        Ok(())
    } else {
        fail(format!("{what} {i} is out of range (there are {len})"))
    }
}

fn finite(what: &str, x: f64) -> Result<(), ValidationError> {
    if x.is_finite() {
        Ok(())
    } else {
        fail(format!("{what} is not a finite number"))
    }
}

fn splits(what: &str, splits: &[Split], plans: usize) -> Result<(), ValidationError> {
    if splits.is_empty() {
        return fail(format!("{what} has no plan"));
    }
    let mut total = 0.0;
    for s in splits {
        index("plan", s.plan, plans)?;
        if !(s.share.is_finite() && (0.0..=1.0 + 1e-9).contains(&s.share)) {
            return fail(format!("{what} has a share outside 0..1"));
        }
        total += s.share;
    }
    if (total - 1.0).abs() > 1e-6 {
        return fail(format!("{what} has shares summing to {total}, not 1"));
    }
    Ok(())
}

impl Table {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.schema_version != crate::SCHEMA_VERSION {
            return fail(format!("unexpected schema version {}", self.schema_version));
        }
        if self.signals.len() > MAX_SIGNALS {
            return fail(format!("more than {MAX_SIGNALS} signals"));
        }
        for s in &self.signals {
            finite("a signal default", s.default)?;
            match &s.kind {
                SignalKind::Enum { variants } => {
                    if variants.is_empty() {
                        return fail(format!("enum signal `{}` has no variants", s.name));
                    }
                    if s.default.fract() != 0.0
                        || s.default < 0.0
                        || s.default as usize >= variants.len()
                    {
                        return fail(format!("signal `{}` has an invalid default", s.name));
                    }
                }
                SignalKind::Bool if s.default != 0.0 && s.default != 1.0 => {
                    return fail(format!("signal `{}` has an invalid default", s.name));
                }
                _ => {}
            }
            if let Source::Classifier { cost, timeout, .. } = &s.source {
                finite("a classifier cost", *cost)?;
                if let Some(t) = timeout {
                    finite("a classifier timeout", *t)?;
                }
            }
        }
        if let Some(b) = self.policy.baseline {
            index("baseline model", b, self.models.len())?;
        }
        for m in &self.models {
            if let Some(f) = m.fallback {
                index("fallback model", f, self.models.len())?;
            }
            for price in [
                m.price.input_per_token,
                m.price.output_per_token,
                m.price.per_request,
            ]
            .into_iter()
            .flatten()
            {
                finite("a price", price)?;
                if price < 0.0 {
                    return fail(format!("model `{}` has a negative price", m.name));
                }
            }
        }
        for (i, p) in self.plans.iter().enumerate() {
            match &p.kind {
                PlanKind::Target { model } => index("model", *model, self.models.len())?,
                PlanKind::Chain { plans } => {
                    if plans.len() < 2 {
                        return fail("a fallback chain needs two plans or more");
                    }
                    for &q in plans {
                        if q as usize >= i {
                            return fail("a fallback chain may only refer to earlier plans");
                        }
                    }
                }
                PlanKind::Cascade { models, accept } => {
                    if models.is_empty() {
                        return fail("a cascade has no model");
                    }
                    for &m in models {
                        index("model", m, self.models.len())?;
                    }
                    if !(0.0..=1.0).contains(accept) {
                        return fail("a cascade threshold is outside 0..1");
                    }
                }
            }
        }
        self.validate_diagram()?;
        let cells = self.assumed.as_ref().map_or(0, |a| a.cells.len());
        for leaf in &self.leaves {
            index("rule", leaf.rule, self.rules.len())?;
            if let Some(c) = leaf.cell {
                index("cell", c, cells)?;
            }
            splits("a leaf", &leaf.splits, self.plans.len())?;
        }
        if let Some(assumed) = &self.assumed {
            for m in &assumed.marginals {
                index("signal", m.signal, self.signals.len())?;
                for &c in &m.cuts {
                    finite("a marginal cut", c)?;
                }
                for &s in &m.shares {
                    finite("a marginal share", s)?;
                }
            }
            for c in &assumed.cells {
                index("rule", c.rule, self.rules.len())?;
                finite("a cell share", c.share)?;
                splits("a cell", &c.splits, self.plans.len())?;
            }
        }
        Ok(())
    }

    fn validate_diagram(&self) -> Result<(), ValidationError> {
        let node_ref = |r: NodeRef, limit: usize| -> Result<(), ValidationError> {
            match r {
                NodeRef::Node(n) if (n as usize) < limit => Ok(()),
                NodeRef::Node(n) => fail(format!(
                    "diagram node refers to node {n}, which is not below it"
                )),
                NodeRef::Leaf(l) => index("leaf", l, self.leaves.len()),
            }
        };
        node_ref(self.diagram.root, self.diagram.nodes.len())?;
        for (i, node) in self.diagram.nodes.iter().enumerate() {
            index("signal", node.signal, self.signals.len())?;
            let kind = &self.signals[node.signal as usize].kind;
            match (&node.test, kind) {
                (Test::Enum { branches }, SignalKind::Enum { variants }) => {
                    if branches.len() != variants.len() {
                        return fail("an enum test needs one branch per variant");
                    }
                    for &b in branches {
                        node_ref(b, i)?;
                    }
                }
                (Test::Bool { if_false, if_true }, SignalKind::Bool) => {
                    node_ref(*if_false, i)?;
                    node_ref(*if_true, i)?;
                }
                (
                    Test::Threshold {
                        cut,
                        below,
                        at_or_above,
                    },
                    SignalKind::Int
                    | SignalKind::Tokens
                    | SignalKind::Ratio
                    | SignalKind::Duration
                    | SignalKind::Money,
                ) => {
                    finite("a threshold", *cut)?;
                    node_ref(*below, i)?;
                    node_ref(*at_or_above, i)?;
                }
                _ => return fail("a diagram test does not fit its signal's type"),
            }
        }
        Ok(())
    }
}
