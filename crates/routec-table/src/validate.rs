//! Whole-table validation: every index in range, the diagram acyclic, every
//! test fitting its signal, every split a distribution, every number a
//! runtime reads finite. A table that passes can be executed without a
//! bounds check failing.
//!
//! Each error is located by the path of the offending field in the JSON
//! encoding (`leaves[1].splits[0].plan`), so a reader can find it in the
//! file. `tests/tables/invalid/` holds one table per rule that breaks only
//! that rule, with the error it gets.

use std::fmt::Display;

use crate::types::*;

/// The most signals a table may have; runtimes track defaulted signals in a
/// fixed-size bit set of this many bits.
pub const MAX_SIGNALS: usize = 256;

/// How far the shares of a split may sum from 1, to allow for rounding.
const SHARE_SUM_TOLERANCE: f64 = 1e-6;

/// How far above 1 one share may be, to allow for rounding.
const SHARE_TOLERANCE: f64 = 1e-9;

/// Why a table is inconsistent: the path of the field, a colon, and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationError(pub String);

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValidationError {}

fn fail<T>(at: impl Display, why: impl Display) -> Result<T, ValidationError> {
    Err(ValidationError(format!("{at}: {why}")))
}

/// `3 plans`, `1 plan`, `no plans`, `2 branches`, `5 leaves`.
fn count(n: usize, what: &str) -> String {
    let plural = match what {
        "leaf" => "leaves".to_owned(),
        _ if what.ends_with("ch") => format!("{what}es"),
        _ => format!("{what}s"),
    };
    match n {
        0 => format!("no {plural}"),
        1 => format!("1 {what}"),
        n => format!("{n} {plural}"),
    }
}

/// Checks that `i` indexes one of the `len` items called `what` (`plan`).
fn index(at: impl Display, what: &str, i: u32, len: usize) -> Result<(), ValidationError> {
    if (i as usize) < len {
        Ok(())
    } else {
        fail(
            at,
            format!(
                "{what} {i} is out of range (the table has {})",
                count(len, what)
            ),
        )
    }
}

fn finite(at: impl Display, x: f64) -> Result<(), ValidationError> {
    if x.is_finite() {
        Ok(())
    } else {
        fail(at, format!("`{x}` is not a finite number"))
    }
}

/// Checks that `splits` (at `at`) is a distribution over `plans` plans.
fn splits(at: &str, splits: &[Split], plans: usize) -> Result<(), ValidationError> {
    if splits.is_empty() {
        return fail(at, "no plan to route to");
    }
    let mut total = 0.0;
    for (k, s) in splits.iter().enumerate() {
        index(format_args!("{at}[{k}].plan"), "plan", s.plan, plans)?;
        // Written so that NaN is outside too.
        if !(0.0..=1.0 + SHARE_TOLERANCE).contains(&s.share) {
            return fail(
                format_args!("{at}[{k}].share"),
                format!("the share {} is outside 0..1", s.share),
            );
        }
        total += s.share;
    }
    if (total - 1.0).abs() > SHARE_SUM_TOLERANCE {
        return fail(at, format!("the shares sum to {total}, not 1"));
    }
    Ok(())
}

/// The name of a test, as the JSON encoding tags it.
fn test_name(test: &Test) -> &'static str {
    match test {
        Test::Enum { .. } => "an enum",
        Test::Bool { .. } => "a bool",
        Test::Threshold { .. } => "a threshold",
    }
}

fn kind_name(kind: &SignalKind) -> &'static str {
    match kind {
        SignalKind::Bool => "a bool",
        SignalKind::Int => "an int",
        SignalKind::Tokens => "a tokens",
        SignalKind::Ratio => "a ratio",
        SignalKind::Duration => "a duration",
        SignalKind::Money => "a money",
        SignalKind::Enum { .. } => "an enum",
    }
}

impl Table {
    /// Checks every rule of the format; the first broken one is the error.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.schema_version != crate::SCHEMA_VERSION {
            return fail(
                "schema_version",
                format!(
                    "unexpected schema version {} (this routec reads {})",
                    self.schema_version,
                    crate::SCHEMA_VERSION
                ),
            );
        }
        self.validate_signals()?;
        let models = self.models.len();
        if let Some(b) = self.policy.baseline {
            index("policy.baseline", "model", b, models)?;
        }
        for (i, m) in self.models.iter().enumerate() {
            if let Some(f) = m.fallback {
                index(format_args!("models[{i}].fallback"), "model", f, models)?;
            }
            for (field, price) in [
                ("input_per_token", m.price.input_per_token),
                ("output_per_token", m.price.output_per_token),
                ("per_request", m.price.per_request),
            ] {
                let Some(price) = price else { continue };
                let at = format!("models[{i}].price.{field}");
                finite(&at, price)?;
                if price < 0.0 {
                    return fail(
                        at,
                        format!("model `{}` has a negative price ({price})", m.name),
                    );
                }
            }
        }
        self.validate_plans()?;
        self.validate_diagram(&self.diagram, "diagram", self.leaves.len())?;
        for (i, slice) in self.slices.iter().enumerate() {
            // Its terminals: 0 (outside the slice) and 1 (inside).
            self.validate_diagram(&slice.diagram, &format!("slices[{i}].diagram"), 2)?;
        }
        let cells = self.assumed.as_ref().map_or(0, |a| a.cells.len());
        for (i, leaf) in self.leaves.iter().enumerate() {
            index(
                format_args!("leaves[{i}].rule"),
                "rule",
                leaf.rule,
                self.rules.len(),
            )?;
            if let Some(c) = leaf.cell {
                index(format_args!("leaves[{i}].cell"), "cell", c, cells)?;
            }
            splits(
                &format!("leaves[{i}].splits"),
                &leaf.splits,
                self.plans.len(),
            )?;
        }
        if let Some(assumed) = &self.assumed {
            for (i, m) in assumed.marginals.iter().enumerate() {
                let at = format!("assumed.marginals[{i}]");
                index(
                    format_args!("{at}.signal"),
                    "signal",
                    m.signal,
                    self.signals.len(),
                )?;
                for (k, &c) in m.cuts.iter().enumerate() {
                    finite(format_args!("{at}.cuts[{k}]"), c)?;
                }
                for (k, &s) in m.shares.iter().enumerate() {
                    finite(format_args!("{at}.shares[{k}]"), s)?;
                }
            }
            for (i, c) in assumed.cells.iter().enumerate() {
                let at = format!("assumed.cells[{i}]");
                index(format_args!("{at}.rule"), "rule", c.rule, self.rules.len())?;
                finite(format_args!("{at}.share"), c.share)?;
                splits(&format!("{at}.splits"), &c.splits, self.plans.len())?;
            }
        }
        if !self.explore_candidates.is_empty() && self.explore_candidates.len() != self.leaves.len()
        {
            return fail(
                "explore_candidates",
                format!(
                    "{} for {} (one per leaf, or none)",
                    count(self.explore_candidates.len(), "list"),
                    count(self.leaves.len(), "leaf")
                ),
            );
        }
        for (l, plans) in self.explore_candidates.iter().enumerate() {
            for (k, &p) in plans.iter().enumerate() {
                index(
                    format_args!("explore_candidates[{l}][{k}]"),
                    "plan",
                    p,
                    self.plans.len(),
                )?;
            }
        }
        self.validate_judge()?;
        self.validate_model_health()?;
        self.validate_pacing()
    }

    /// The models' expected health: one entry per model, in model order,
    /// or none; p95s positive and finite, an error rate in `0..=1`.
    fn validate_model_health(&self) -> Result<(), ValidationError> {
        if !self.model_health.is_empty() && self.model_health.len() != self.models.len() {
            return fail(
                "model_health",
                format!(
                    "{} {} for {} (one per model, or none)",
                    self.model_health.len(),
                    if self.model_health.len() == 1 {
                        "entry"
                    } else {
                        "entries"
                    },
                    count(self.models.len(), "model")
                ),
            );
        }
        for (i, h) in self.model_health.iter().enumerate() {
            if h.model as usize != i {
                return fail(
                    format_args!("model_health[{i}].model"),
                    format!("{} is not {i} (entries follow the models' order)", h.model),
                );
            }
            for (field, x) in [("ttft_p95", h.ttft_p95), ("latency_p95", h.latency_p95)] {
                if let Some(x) = x {
                    finite(format_args!("model_health[{i}].{field}"), x)?;
                    if x <= 0.0 {
                        return fail(
                            format_args!("model_health[{i}].{field}"),
                            format!("{x} is not positive"),
                        );
                    }
                }
            }
            finite(format_args!("model_health[{i}].error_rate"), h.error_rate)?;
            if !(0.0..=1.0).contains(&h.error_rate) {
                return fail(
                    format_args!("model_health[{i}].error_rate"),
                    format!("{} is not in 0..=1", h.error_rate),
                );
            }
        }
        Ok(())
    }

    /// The judge: its model, and a sampling rate of shares in `0..=1` at
    /// increasing rates.
    fn validate_judge(&self) -> Result<(), ValidationError> {
        let Some(judge) = &self.judge else {
            return Ok(());
        };
        index("judge.model", "model", judge.model, self.models.len())?;
        if judge.sample.is_empty() {
            return fail("judge.sample", "no sampling rate");
        }
        let mut last = f64::NEG_INFINITY;
        for (k, point) in judge.sample.iter().enumerate() {
            finite(format_args!("judge.sample[{k}].qps"), point.qps)?;
            finite(format_args!("judge.sample[{k}].share"), point.share)?;
            if !(0.0..=1.0).contains(&point.share) {
                return fail(
                    format_args!("judge.sample[{k}].share"),
                    format!("{} is not in 0..=1", point.share),
                );
            }
            if point.qps < 0.0 || point.qps <= last {
                return fail(
                    format_args!("judge.sample[{k}].qps"),
                    format!("{} does not follow {last} (rates increase)", point.qps),
                );
            }
            last = point.qps;
        }
        Ok(())
    }

    /// The ladder: its figures, and each step as the table it routes like
    /// (errors located under `pacing.steps[k]`).
    fn validate_pacing(&self) -> Result<(), ValidationError> {
        let Some(pacing) = &self.pacing else {
            return Ok(());
        };
        if !matches!(pacing.period.as_str(), "hour" | "day" | "week" | "month") {
            return fail(
                "pacing.period",
                format!(
                    "unknown period `{}` (expected hour, day, week or month)",
                    pacing.period
                ),
            );
        }
        for (field, x) in [
            ("budget", pacing.budget),
            ("cost_per_request", pacing.cost_per_request),
        ] {
            finite(format_args!("pacing.{field}"), x)?;
            if x < 0.0 {
                return fail(format_args!("pacing.{field}"), format!("{x} is negative"));
            }
        }
        for (k, step) in pacing.steps.iter().enumerate() {
            let at = format!("pacing.steps[{k}]");
            for (field, x) in [
                ("cap", step.cap),
                ("cost_per_request", step.cost_per_request),
                ("quality", step.quality),
            ] {
                finite(format_args!("{at}.{field}"), x)?;
            }
            if let Some(rung) = self.rung(k + 1) {
                rung.validate()
                    .map_err(|e| ValidationError(format!("{at}.{}", e.0)))?;
            }
        }
        Ok(())
    }

    fn validate_signals(&self) -> Result<(), ValidationError> {
        if self.signals.len() > MAX_SIGNALS {
            return fail(
                "signals",
                format!(
                    "the table has {} signals, more than the {MAX_SIGNALS} a runtime tracks",
                    self.signals.len()
                ),
            );
        }
        for (i, s) in self.signals.iter().enumerate() {
            let at = format!("signals[{i}]");
            finite(format_args!("{at}.default"), s.default)?;
            match &s.kind {
                SignalKind::Enum { variants } => {
                    if variants.is_empty() {
                        return fail(
                            format_args!("{at}.kind.enum.variants"),
                            format!("enum signal `{}` has no variants", s.name),
                        );
                    }
                    if s.default.fract() != 0.0
                        || s.default < 0.0
                        || (s.default as usize) >= variants.len()
                    {
                        return fail(
                            format_args!("{at}.default"),
                            format!(
                                "the default {} of enum signal `{}` is not a variant index (0 to {})",
                                s.default,
                                s.name,
                                variants.len() - 1
                            ),
                        );
                    }
                }
                SignalKind::Bool if s.default != 0.0 && s.default != 1.0 => {
                    return fail(
                        format_args!("{at}.default"),
                        format!(
                            "the default {} of bool signal `{}` is neither 0 nor 1",
                            s.default, s.name
                        ),
                    );
                }
                _ => {}
            }
            if let Source::Classifier { cost, timeout, .. } = &s.source {
                finite(format_args!("{at}.source.classifier.cost"), *cost)?;
                if let Some(t) = timeout {
                    finite(format_args!("{at}.source.classifier.timeout"), *t)?;
                }
            }
        }
        Ok(())
    }

    fn validate_plans(&self) -> Result<(), ValidationError> {
        let models = self.models.len();
        for (i, p) in self.plans.iter().enumerate() {
            match &p.kind {
                PlanKind::Target { model } => index(
                    format_args!("plans[{i}].kind.target.model"),
                    "model",
                    *model,
                    models,
                )?,
                PlanKind::Chain { plans } => {
                    let at = format!("plans[{i}].kind.chain.plans");
                    if plans.len() < 2 {
                        return fail(
                            at,
                            format!(
                                "a fallback chain needs two plans or more, not {}",
                                plans.len()
                            ),
                        );
                    }
                    for (k, &q) in plans.iter().enumerate() {
                        if (q as usize) >= i {
                            return fail(
                                format_args!("{at}[{k}]"),
                                format!(
                                    "plan {q} is not before plan {i}, and a fallback chain may only refer to earlier plans"
                                ),
                            );
                        }
                    }
                }
                PlanKind::Cascade {
                    models: steps,
                    accept,
                } => {
                    let at = format!("plans[{i}].kind.cascade");
                    if steps.is_empty() {
                        return fail(format_args!("{at}.models"), "a cascade needs a model");
                    }
                    for (k, &m) in steps.iter().enumerate() {
                        index(format_args!("{at}.models[{k}]"), "model", m, models)?;
                    }
                    if !(0.0..=1.0).contains(accept) {
                        return fail(
                            format_args!("{at}.accept"),
                            format!("the threshold {accept} is outside 0..1"),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks `diagram` (found at `path`), whose terminals are `leaves`
    /// leaves: the table's diagram, or a slice's.
    fn validate_diagram(
        &self,
        diagram: &Diagram,
        path: &str,
        leaves: usize,
    ) -> Result<(), ValidationError> {
        let owner = if path == "diagram" {
            "the table"
        } else {
            "the slice"
        };
        let node_ref = |at: &dyn Display, r: NodeRef, from: Option<usize>| {
            node_ref(at, r, from, (diagram.nodes.len(), leaves), owner)
        };
        node_ref(&format_args!("{path}.root"), diagram.root, None)?;
        for (i, node) in diagram.nodes.iter().enumerate() {
            let at = format!("{path}.nodes[{i}]");
            index(
                format_args!("{at}.signal"),
                "signal",
                node.signal,
                self.signals.len(),
            )?;
            let signal = &self.signals[node.signal as usize];
            match (&node.test, &signal.kind) {
                (Test::Enum { branches }, SignalKind::Enum { variants }) => {
                    if branches.len() != variants.len() {
                        return fail(
                            format_args!("{at}.test.enum.branches"),
                            format!(
                                "{} for the {} of `{}`; an enum test needs one per variant",
                                count(branches.len(), "branch"),
                                count(variants.len(), "variant"),
                                signal.name
                            ),
                        );
                    }
                    for (k, &b) in branches.iter().enumerate() {
                        node_ref(&format_args!("{at}.test.enum.branches[{k}]"), b, Some(i))?;
                    }
                }
                (Test::Bool { if_false, if_true }, SignalKind::Bool) => {
                    node_ref(&format_args!("{at}.test.bool.if_false"), *if_false, Some(i))?;
                    node_ref(&format_args!("{at}.test.bool.if_true"), *if_true, Some(i))?;
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
                    finite(format_args!("{at}.test.threshold.cut"), *cut)?;
                    node_ref(&format_args!("{at}.test.threshold.below"), *below, Some(i))?;
                    node_ref(
                        &format_args!("{at}.test.threshold.at_or_above"),
                        *at_or_above,
                        Some(i),
                    )?;
                }
                (test, kind) => {
                    return fail(
                        at,
                        format!(
                            "{} test does not fit `{}`, {} signal",
                            test_name(test),
                            signal.name,
                            kind_name(kind)
                        ),
                    );
                }
            }
        }
        Ok(())
    }
}

/// Checks a reference to a node or leaf of a diagram with `nodes` nodes and
/// `leaves` leaves (`owner`'s), made by node `from` (which may only refer
/// to nodes below it, so that the diagram is acyclic) or by the root
/// (`None`, which may refer to any node).
fn node_ref(
    at: &dyn Display,
    r: NodeRef,
    from: Option<usize>,
    (nodes, leaves): (usize, usize),
    owner: &str,
) -> Result<(), ValidationError> {
    let range = |what: &str, i: u32, len: usize| {
        if (i as usize) < len {
            Ok(())
        } else {
            fail(
                at,
                format!(
                    "{what} {i} is out of range ({owner} has {})",
                    count(len, what)
                ),
            )
        }
    };
    match (r, from) {
        (NodeRef::Leaf(l), _) => range("leaf", l, leaves),
        (NodeRef::Node(n), None) => range("node", n, nodes),
        (NodeRef::Node(n), Some(i)) if (n as usize) < i => Ok(()),
        (NodeRef::Node(n), Some(i)) => fail(
            at,
            format!("node {n} is not below node {i}, so the diagram could loop"),
        ),
    }
}
