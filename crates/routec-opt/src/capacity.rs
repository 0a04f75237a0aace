//! Capacity in the optimizer (`docs/semantics.md`, "Load"): the LP rows
//! that keep each model's demand within its `capacity` and `rate limit` at
//! the profile's `qps`, the rounds that re-estimate plans at the
//! utilization the solution produces, the settled load of a fixed table at
//! any traffic, and the diagnostics (capacity no routing can meet, a peak
//! the table does not survive).
//!
//! A policy without load-aware models, or a profile without `qps`, takes
//! none of these paths: its compile is exactly the compile without load.

use std::collections::HashMap;

use routec_check::ir::{ModelId, PlanDef, Policy};
use routec_syntax::{Diagnostic, Span};

use crate::cells::{self, Partition};
use crate::codes;
use crate::compile::Failure;
use crate::eval::{Evaluator, PlanEval};
use crate::load::{Demand, LoadModel, ModelLoad};
use crate::objective;
use crate::optimize::{self, Assignment, Opt, Problem, Vars};
use crate::slos;
use crate::solved::Solved;
use crate::traffic::{OutputDist, Traffic};

/// At most this many rounds of re-estimating plans at the solution's load.
pub const MAX_ROUNDS: usize = 8;
/// A round's load is the previous one when every model's demand moved by
/// less than this (relative).
pub const ROUND_TOLERANCE: f64 = 0.01;
/// At most this many steps of a fixed table's load fixed point.
pub const MAX_SETTLE: usize = 200;
/// The fixed point stops when every demand moved by less than this
/// (relative).
pub const SETTLE_TOLERANCE: f64 = 1e-6;

/// What a capacity row bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Requests,
    Tokens,
    Concurrent,
}

/// One bound: model `model`'s demand of `kind` at the profile's qps over
/// `limit` (per second) is at most 1.
#[derive(Clone, Debug, PartialEq)]
pub struct CapRow {
    pub model: usize,
    pub kind: Kind,
    pub limit: f64,
    /// A provider's rate limit (else the model's capacity).
    pub rate_limit: bool,
}

/// The capacity rows of a policy under a traffic profile.
#[derive(Clone, Debug)]
pub struct Capacities {
    pub rows: Vec<CapRow>,
    /// Requests per second of the profile (0 without `qps`).
    pub qps: f64,
    pub load: LoadModel,
    pub output: OutputDist,
}

impl Capacities {
    pub fn of(policy: &Policy, traffic: &Traffic) -> Capacities {
        let output = traffic.output_dist();
        let load = LoadModel::new(policy, &output);
        let qps = traffic.qps.filter(|q| q.is_finite() && *q > 0.0);
        let mut rows = Vec::new();
        if qps.is_some() {
            for (m, def) in policy.models.iter().enumerate() {
                for (c, rate_limit) in [(&def.capacity, false), (&def.rate_limit, true)] {
                    for (kind, limit) in [
                        (Kind::Requests, c.requests),
                        (Kind::Tokens, c.tokens),
                        (Kind::Concurrent, c.concurrent),
                    ] {
                        if let Some(limit) = limit.filter(|l| *l > 0.0) {
                            rows.push(CapRow {
                                model: m,
                                kind,
                                limit,
                                rate_limit,
                            });
                        }
                    }
                }
            }
        }
        Capacities {
            rows,
            qps: qps.unwrap_or(0.0),
            load,
            output,
        }
    }

    /// Whether load changes the compile: some model is load-aware and the
    /// profile has a `qps`.
    pub fn active(&self) -> bool {
        self.qps > 0.0 && self.load.any()
    }

    /// A row's value for one option of one cell: its demand at the
    /// profile's qps over the limit.
    fn coef(&self, row: &CapRow, e: &PlanEval, prompt: f64) -> f64 {
        let d = e.demand(row.model, prompt);
        let x = match row.kind {
            Kind::Requests => d.calls,
            Kind::Tokens => d.tokens,
            Kind::Concurrent => d.busy,
        };
        self.qps * x / row.limit
    }

    /// Appends the capacity rows (`Σ w·x·demand·qps/limit <= 1`) after the
    /// SLO rows of `coefs` and `rhs`.
    pub fn append(
        &self,
        problem: &Problem,
        part: &Partition,
        coefs: &mut Vec<Vec<Vec<f64>>>,
        rhs: &mut Vec<f64>,
    ) {
        for row in &self.rows {
            coefs.push(
                (0..part.cells.len())
                    .map(|c| {
                        problem.options[c]
                            .iter()
                            .map(|o| {
                                self.coef(row, &problem.evals[o.eval], part.cells[c].prompt_mean)
                            })
                            .collect()
                    })
                    .collect(),
            );
            rhs.push(1.0);
        }
    }

    /// The capacity as the policy writes it: `capacity of `small` (40
    /// qps)`, `rate limit of `large` (10k tok/m)`.
    pub fn label(&self, policy: &Policy, row: &CapRow) -> String {
        let name = policy.models.get(row.model).map_or("", |m| m.name.as_str());
        let what = if row.rate_limit {
            "rate limit"
        } else {
            "capacity"
        };
        format!("{what} of `{name}` ({})", rate_text(row.kind, row.limit))
    }

    fn span(&self, policy: &Policy, row: &CapRow) -> Span {
        policy.models.get(row.model).map_or(Span::default(), |m| {
            if row.rate_limit {
                m.rate_limit.span
            } else {
                m.capacity.span
            }
        })
    }

    /// The diagnosis of an infeasible LP whose rows are the SLO rows
    /// followed by the capacity rows. Without capacity rows in the
    /// conflict, the SLOs' own diagnosis ([`slos::infeasible`]).
    #[expect(clippy::too_many_arguments, reason = "the whole problem")]
    pub fn infeasible(
        &self,
        policy: &Policy,
        source: &str,
        part: &Partition,
        p: &Problem,
        ev: &Evaluator,
        vars: &Vars,
        coefs: &[Vec<Vec<f64>>],
        rhs: &[f64],
        timeouts: &[Diagnostic],
    ) -> Vec<Diagnostic> {
        let n = p.rows.len();
        let slo_only = || {
            slos::infeasible(
                policy,
                source,
                part,
                p,
                ev,
                vars,
                &coefs[..n],
                &rhs[..n],
                timeouts,
            )
        };
        if coefs.len() <= n {
            return slo_only();
        }
        let all: Vec<usize> = (0..coefs.len()).collect();
        let set = optimize::conflict(p, part, vars, coefs, rhs, &all);
        if set.iter().all(|&k| k < n) {
            return slo_only();
        }
        let label = |k: usize| -> String {
            if k < n {
                format!("`{}`", slos::slo_label(policy, source, &p.rows[k]))
            } else {
                self.label(policy, &self.rows[k - n])
            }
        };
        let mut out = Vec::new();
        for &k in &set {
            let others: Vec<String> = set.iter().filter(|&&j| j != k).map(|&j| label(j)).collect();
            let with = if others.is_empty() {
                String::new()
            } else {
                format!(" together with {}", others.join(" and "))
            };
            let d = if k < n {
                let span = policy
                    .slos
                    .get(p.rows[k].slo)
                    .map_or(Span::default(), |s| s.span);
                Diagnostic::error(
                    codes::SLOS_CONFLICT,
                    span,
                    format!("{} cannot be met{with}", label(k)),
                )
                .with_label("cannot hold together with the capacity")
                .with_help(
                    "alone it can be met; raise the capacity, or route less traffic to the model",
                )
            } else {
                let row = &self.rows[k - n];
                // The least utilization any routing reaches: every cell
                // takes its option of least demand.
                let least = least_row_value(p, part, vars, &coefs[k]);
                let mut d = Diagnostic::error(
                    codes::SLOS_CONFLICT,
                    self.span(policy, row),
                    format!("the {} cannot be met by any routing{with}", self.label(policy, row)),
                )
                .with_label(format!(
                    "at {} the least any routing asks of it is {}% of it",
                    rate_text(Kind::Requests, self.qps),
                    cells::trim((least * 1000.0).round() / 10.0)
                ))
                .with_help(
                    "no table is compiled that overloads a model at the profile's qps: raise the capacity, add a fallback the overflow can go to, or route fixed rules elsewhere",
                );
                for &j in &set {
                    if j < n
                        && let Some(s) = policy.slos.get(p.rows[j].slo)
                    {
                        d = d.with_secondary(s.span, "conflicts with this");
                    }
                }
                d
            };
            out.push(d);
        }
        out
    }
}

/// A capacity in the language's words.
fn rate_text(kind: Kind, per_second: f64) -> String {
    let n = |x: f64| {
        if x >= 10_000.0 {
            format!("{}k", cells::trim((x / 100.0).round() / 10.0))
        } else {
            cells::trim((x * 100.0).round() / 100.0)
        }
    };
    match kind {
        Kind::Requests => format!("{} qps", n(per_second)),
        Kind::Tokens => format!("{} tok/s", n(per_second)),
        Kind::Concurrent => format!("{} concurrent", n(per_second)),
    }
}

/// The least value a row takes: every variable cell on its option of
/// least value, fixed cells on their choice.
fn least_row_value(p: &Problem, part: &Partition, vars: &Vars, coefs: &[Vec<f64>]) -> f64 {
    let mut s = 0.0;
    for (c, cell) in part.cells.iter().enumerate() {
        let v = if vars.first[c].is_some() {
            coefs[c].iter().copied().fold(f64::INFINITY, f64::min)
        } else {
            coefs[c][optimize::fixed_choice(p, c)]
        };
        if v.is_finite() {
            s += cell.weight * v;
        }
    }
    s
}

/// The plan of option `o` of cell `c`.
fn plan_of<'a>(policy: &'a Policy, part: &Partition, c: usize, o: &Opt) -> &'a PlanDef {
    let plan = &policy.rules[part.cells[c].rule].plan;
    match (plan, o.candidate) {
        (PlanDef::Optimize { candidates, .. }, Some(i)) => candidates.get(i).unwrap_or(plan),
        _ => plan,
    }
}

/// Every model's demand (per second, at `qps`) under `a`, with the plans
/// estimated by `eval_of`.
fn demand_with(
    policy: &Policy,
    part: &Partition,
    options: &[Vec<Opt>],
    a: &Assignment,
    qps: f64,
    mut eval_of: impl FnMut(usize, &Opt) -> PlanEval,
) -> Vec<Demand> {
    let mut out = vec![Demand::default(); policy.models.len()];
    for (c, cell) in part.cells.iter().enumerate() {
        if cell.weight <= 0.0 {
            continue;
        }
        for (o, x) in a[c].iter().enumerate() {
            if *x <= 0.0 {
                continue;
            }
            let e = eval_of(c, &options[c][o]);
            for (m, d) in out.iter_mut().enumerate() {
                d.add(e.demand(m, cell.prompt_mean), cell.weight * x * qps);
            }
        }
    }
    out
}

/// Every model's demand under `a` with the estimates of `p`.
pub fn demand(
    policy: &Policy,
    part: &Partition,
    p: &Problem,
    a: &Assignment,
    qps: f64,
) -> Vec<Demand> {
    demand_with(policy, part, &p.options, a, qps, |_, o| {
        p.evals[o.eval].clone()
    })
}

/// Whether two demands are within `tol` of each other (relative).
fn close(a: &[Demand], b: &[Demand], tol: f64) -> bool {
    let near = |x: f64, y: f64| (x - y).abs() <= tol * x.abs().max(y.abs()).max(1e-9);
    a.iter()
        .zip(b)
        .all(|(x, y)| near(x.calls, y.calls) && near(x.tokens, y.tokens) && near(x.busy, y.busy))
}

/// The load a fixed assignment settles at under `qps` requests per second:
/// the fixed point of demand → model states → plans re-estimated at those
/// states → demand, from idle models (demand grows with refusals and
/// waits, so the iteration climbs to the least fixed point).
/// [`settle`] for the solution `s` at `qps`.
fn settle_solution(s: &Solved, caps: &Capacities, qps: f64) -> Vec<ModelLoad> {
    settle(&s.policy, caps, &s.part, &s.problem.options, &s.assign, qps)
}

pub fn settle(
    policy: &Policy,
    caps: &Capacities,
    part: &Partition,
    options: &[Vec<Opt>],
    a: &Assignment,
    qps: f64,
) -> Vec<ModelLoad> {
    let mut state = caps.load.idle();
    let mut prev: Option<Vec<Demand>> = None;
    for _ in 0..MAX_SETTLE {
        let mut ev = Evaluator::with_load(policy, caps.output.clone(), Some(qps), &state);
        let mut memo: HashMap<(usize, Option<usize>, Vec<u64>), PlanEval> = HashMap::new();
        let d = demand_with(policy, part, options, a, qps, |c, o| {
            let quality = part.cells[c]
                .quality
                .iter()
                .map(|q| q.map_or(u64::MAX, f64::to_bits))
                .collect();
            let key = (part.cells[c].rule, o.candidate, quality);
            memo.entry(key)
                .or_insert_with(|| {
                    ev.eval_light(plan_of(policy, part, c, o), &part.cells[c].quality)
                })
                .clone()
        });
        let next = caps.load.state(&d);
        if prev
            .as_ref()
            .is_some_and(|p| close(p, &d, SETTLE_TOLERANCE))
        {
            return next;
        }
        prev = Some(d);
        state = next;
    }
    state
}

/// Re-solves at the load the solution produces until it settles (at most
/// [`MAX_ROUNDS`] rounds), then re-estimates the final table at its own
/// settled load. A round's model states are at a demand no lower than the
/// solution's (a model's demand rises to what the solution asks at once,
/// and falls halfway), so the final table is solved at a load at least
/// its own. Without capacity, `solved` is returned as it is.
pub fn rounds(
    mut s: Solved,
    source: &str,
    cancelled: &dyn Fn() -> bool,
) -> Result<Solved, Failure> {
    if !s.caps.active() {
        return Ok(s);
    }
    let caps = &s.caps.clone();
    let n = s.policy.models.len();
    let mut assumed = vec![Demand::default(); n];
    for _ in 0..MAX_ROUNDS {
        if cancelled() {
            return Err(Failure::Cancelled);
        }
        let actual = demand(&s.policy, &s.part, &s.problem, &s.assign, caps.qps);
        let next: Vec<Demand> = assumed
            .iter()
            .zip(&actual)
            .map(|(a, d)| {
                let step = |x: f64, y: f64| if y >= x { y } else { (x + y) / 2.0 };
                Demand {
                    calls: step(a.calls, d.calls),
                    tokens: step(a.tokens, d.tokens),
                    busy: step(a.busy, d.busy),
                }
            })
            .collect();
        if close(&next, &assumed, ROUND_TOLERANCE) {
            break;
        }
        assumed = next;
        let state = caps.load.state(&assumed);
        rebuild(&mut s, caps, &state);
        resolve(&mut s, caps, source)?;
    }
    let mut settled = settle_solution(&s, caps, caps.qps);
    // The settled load can still exceed a capacity the rows kept: close to
    // a capacity a finite queue refuses some calls, and their retries add
    // demand the estimates of the last round did not carry. The rows of the
    // models over a limit are tightened by their overshoot and the LP
    // solved again, until no model is over (no table overloads a model).
    let mut scale = vec![1.0; caps.rows.len()];
    for _ in 0..MAX_ROUNDS {
        let mut over = false;
        for (r, row) in caps.rows.iter().enumerate() {
            let l = &settled[row.model];
            let u = if row.rate_limit {
                l.limit_utilization
            } else {
                l.utilization
            };
            if u > 1.0 + OVERLOAD_TOLERANCE {
                scale[r] /= u * (1.0 + OVERLOAD_TOLERANCE);
                over = true;
            }
        }
        if !over {
            break;
        }
        if cancelled() {
            return Err(Failure::Cancelled);
        }
        rebuild(&mut s, caps, &settled);
        scale_rows(&mut s, &scale);
        resolve(&mut s, caps, source)?;
        settled = settle_solution(&s, caps, caps.qps);
    }
    rebuild(&mut s, caps, &settled);
    scale_rows(&mut s, &scale);
    s.load = settled;
    Ok(s)
}

/// How far over a limit a settled load may be (rounding of the fixed
/// point); beyond it the capacity rows are tightened.
const OVERLOAD_TOLERANCE: f64 = 1e-5;

/// Multiplies the bounds of the capacity rows (the last rows of `s`) by
/// `scale`.
fn scale_rows(s: &mut Solved, scale: &[f64]) {
    let first = s.rhs.len() - scale.len();
    for (rhs, k) in s.rhs[first..].iter_mut().zip(scale) {
        *rhs *= k;
    }
}

/// Solves the LP of `s` again (its estimates or bounds changed) and takes
/// the new assignment; a capacity no routing can meet is `E0510`.
fn resolve(s: &mut Solved, caps: &Capacities, source: &str) -> Result<(), Failure> {
    let space = s.space();
    match objective::solve(&space, &s.goal, &s.coefs, &s.rhs) {
        Ok(a) => {
            s.assign = a;
            Ok(())
        }
        Err(crate::lp::LpResult::Infeasible) => Err(Failure::Errors(caps.infeasible(
            &s.policy,
            source,
            &s.part,
            &s.problem,
            &s.ev,
            &s.vars,
            &s.coefs,
            &s.rhs,
            &[],
        ))),
        Err(_) => Err(Failure::Errors(vec![crate::compile::solver_failed(
            Span::new(0, 0),
        )])),
    }
}

/// Re-estimates every option of `s` with the models under `state` (the
/// LP's structure does not change: same cells, same options).
fn rebuild(s: &mut Solved, caps: &Capacities, state: &[ModelLoad]) {
    let mut ev = Evaluator::with_load(&s.policy, caps.output.clone(), s.traffic.qps, state);
    let problem = Problem::build(&s.policy, &s.part, &mut ev, s.traffic.qps);
    let mut coefs = optimize::row_coefs(&problem, &ev, &s.part, &problem.rows);
    let mut rhs: Vec<f64> = problem.rows.iter().map(|r| r.rhs).collect();
    caps.append(&problem, &s.part, &mut coefs, &mut rhs);
    s.ev = ev;
    s.problem = problem;
    s.coefs = coefs;
    s.rhs = rhs;
}

/// The table of `s` at `factor` times the profile's qps: each model's
/// settled load, and the estimates of every option at that load.
pub fn at_factor(
    s: &Solved,
    caps: &Capacities,
    factor: f64,
) -> (Vec<ModelLoad>, Problem, Evaluator) {
    let qps = caps.qps * factor;
    let state = settle_solution(s, caps, qps);
    // At that rate the judge samples its share at that rate.
    let rate = s.traffic.qps.map(|q| q * factor);
    let mut ev = Evaluator::with_load(&s.policy, caps.output.clone(), rate, &state);
    let problem = Problem::build(&s.policy, &s.part, &mut ev, rate);
    (state, problem, ev)
}

/// The model whose utilization (capacity or rate limit) is highest under
/// `loads`: the first to saturate as traffic grows (demand grows in
/// proportion to traffic until a model refuses calls).
pub fn busiest(loads: &[ModelLoad]) -> Option<(ModelId, f64)> {
    loads
        .iter()
        .enumerate()
        .map(|(m, l)| (ModelId(m as u32), l.peak_utilization()))
        .filter(|(_, u)| *u > 0.0)
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Warning `W0521`: models declare load figures, but the selected profile
/// has no `qps`, so load is not modelled.
pub fn without_qps(policy: &Policy, traffic: &Traffic, caps: &Capacities) -> Option<Diagnostic> {
    if caps.qps > 0.0 || !caps.load.any() {
        return None;
    }
    let (m, def) = policy
        .models
        .iter()
        .enumerate()
        .find(|(_, d)| d.load_aware())?;
    let _ = m;
    let span = [def.capacity.span, def.rate_limit.span]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or(def.span);
    let profile = traffic
        .name
        .as_deref()
        .map_or("no traffic profile".to_string(), |n| {
            format!("traffic `{n}`")
        });
    Some(
        Diagnostic::warning(
            codes::LOAD_WITHOUT_QPS,
            span,
            format!(
                "the load of `{}` is not modelled: {profile} declares no `qps`",
                def.name
            ),
        )
        .with_help("declare the requests per second the profile carries, such as `qps 800`"),
    )
}

/// Warning `W0520`: at the profile's declared `peak` the table breaks SLOs
/// it meets at the profile's `qps`. Names the model that saturates first
/// and where the calls it refuses go.
pub fn peak_warning(s: &mut Solved, source: &str) -> Option<Diagnostic> {
    let def = s
        .policy
        .traffic
        .iter()
        .find(|t| Some(&t.name) == s.traffic.name.as_ref())?;
    let (peak, span) = def.peak?;
    let caps = s.caps.clone();
    if !caps.active() || peak <= caps.qps {
        return None;
    }
    let factor = peak / caps.qps;
    let before = slos::statuses(s, &s.assign);
    let (loads, problem, ev) = at_factor(s, &caps, factor);
    let mut coefs = optimize::row_coefs(&problem, &ev, &s.part, &problem.rows);
    let mut rhs: Vec<f64> = problem.rows.iter().map(|r| r.rhs).collect();
    caps.append(&problem, &s.part, &mut coefs, &mut rhs);
    let calls_at = |p: &Problem| -> (Vec<f64>, f64) {
        let mut calls = vec![0.0; s.policy.models.len()];
        let mut failed = 0.0;
        for (c, cell) in s.part.cells.iter().enumerate() {
            for (o, x) in s.assign[c].iter().enumerate() {
                let e = &p.evals[p.options[c][o].eval];
                let w = cell.weight * x;
                for (m, n) in e.calls.iter() {
                    calls[m] += w * n;
                }
                failed += w * e.fails.iter().map(|f| f.w).sum::<f64>();
            }
        }
        (calls, failed)
    };
    let (calls0, failed0) = calls_at(&s.problem);
    // Swap the peak's estimates in to read the SLO statuses there.
    let saved = (
        std::mem::replace(&mut s.problem, problem),
        std::mem::replace(&mut s.ev, ev),
        std::mem::replace(&mut s.coefs, coefs),
        std::mem::replace(&mut s.rhs, rhs),
    );
    let after = slos::statuses(s, &s.assign);
    let (calls1, failed1) = calls_at(&s.problem);
    let broken: Vec<String> = s
        .problem
        .rows
        .iter()
        .zip(before.iter().zip(&after))
        .filter(|(_, (b, a))| b.ok && !a.ok)
        .map(|(row, (_, a))| {
            format!(
                "`{}` ({})",
                slos::slo_label(&s.policy, source, row),
                natural(&s.policy, row, a.value)
            )
        })
        .collect();
    (s.problem, s.ev, s.coefs, s.rhs) = saved;
    if broken.is_empty() {
        return None;
    }
    let name = |m: usize| s.policy.models.get(m).map_or("", |d| d.name.as_str());
    let pct = |x: f64| format!("{}%", cells::trim((x * 1000.0).round() / 10.0));
    let mut d = Diagnostic::warning(
        codes::PEAK_BREAKS_SLO,
        span,
        format!(
            "at the peak of {} the table breaks {}",
            rate_text(Kind::Requests, peak),
            broken.join(" and ")
        ),
    );
    let first = busiest(&s.load).map(|(m, u)| (m.index(), u));
    match first {
        Some((m, u)) => {
            let at = if u > 0.0 { 1.0 / u } else { f64::INFINITY };
            let state = loads.get(m).cloned().unwrap_or_default();
            d = d.with_label(format!(
                "`{}` saturates first, at {}x the profile's qps ({})",
                name(m),
                cells::trim((at * 100.0).round() / 100.0),
                rate_text(Kind::Requests, caps.qps * at),
            ));
            // Where the refused calls go: the other models' extra calls
            // per request, and the extra failures.
            let mut to: Vec<String> = (0..calls1.len())
                .filter(|&k| k != m && calls1[k] - calls0[k] > 0.001)
                .map(|k| {
                    format!(
                        "`{}` (+{} of requests)",
                        name(k),
                        pct(calls1[k] - calls0[k])
                    )
                })
                .collect();
            if failed1 - failed0 > 0.001 {
                to.push(format!(
                    "failures (+{} of requests)",
                    pct(failed1 - failed0)
                ));
            }
            let at_peak = format!(
                "at the peak `{}` is asked {} of what it sustains and refuses {} of its calls",
                name(m),
                pct(state.peak_utilization()),
                pct(state.throttle),
            );
            d = d.with_help(if to.is_empty() {
                format!("{at_peak}, which wait for its retries; raise its capacity, or route less traffic to it")
            } else {
                format!(
                    "{at_peak}; the overflow goes to {}; raise its capacity, or give the overflow a cheaper or faster fallback",
                    to.join(" and ")
                )
            });
        }
        None => {
            d = d.with_help("latency grows with the load of the models; raise their capacity");
        }
    }
    Some(d)
}

/// A row's value in the metric's words.
fn natural(policy: &Policy, row: &optimize::RowDef, v: f64) -> String {
    use routec_check::ir::{MetricDef, SignalType};
    match (policy.slos.get(row.slo).map(|s| &s.metric), &row.kind) {
        (_, optimize::RowKind::Percentile { .. }) => cells::number(&SignalType::Duration, v),
        (Some(MetricDef::Cost(_) | MetricDef::Spend(_)), _) => {
            format!("${}", crate::solved::money(v))
        }
        (Some(MetricDef::Quality(_) | MetricDef::Share(_)), _) => {
            format!("{}%", cells::trim((v * 1000.0).round() / 10.0))
        }
        _ => cells::trim(v),
    }
}

/// The compiled table at a multiple of the profile's qps, as the model
/// predicts it.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadPoint {
    /// The multiple of the profile's qps.
    pub factor: f64,
    /// Requests per second.
    pub qps: f64,
    /// Per model (declaration order): its load.
    pub models: Vec<ModelLoad>,
    /// Per model: calls per request (refused ones included).
    pub calls: Vec<f64>,
    /// Per model: cost per request paid to it (USD).
    pub model_cost: Vec<f64>,
    /// Expected cost per request (USD) and quality.
    pub cost: f64,
    pub quality: f64,
    /// The share of requests that fail.
    pub failed: f64,
    /// Tokens (prompt and answer) per request: the denominator of cost per
    /// token.
    pub tokens: f64,
    /// End-to-end latency p50, p95 and p99 (seconds).
    pub latency: [f64; 3],
}

/// [`LoadPoint`] of `s` at `factor` (`None` when load is not modelled).
pub fn point(s: &Solved, factor: f64) -> Option<LoadPoint> {
    let caps = &s.caps;
    if !caps.active() || !factor.is_finite() || factor <= 0.0 {
        return None;
    }
    let owned;
    let (models, problem, ev) = if factor == 1.0 && !s.load.is_empty() {
        (s.load.clone(), &s.problem, &s.ev)
    } else {
        owned = at_factor(s, caps, factor);
        (owned.0.clone(), &owned.1, &owned.2)
    };
    let n = s.policy.models.len();
    let (mut calls, mut model_cost) = (vec![0.0; n], vec![0.0; n]);
    let (mut w, mut cost, mut quality, mut failed, mut prompt) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut parts: Vec<(f64, f64, &PlanEval)> = Vec::new();
    for (c, cell) in s.part.cells.iter().enumerate() {
        if cell.weight <= 0.0 {
            continue;
        }
        w += cell.weight;
        prompt += cell.weight * cell.prompt_mean;
        for (o, x) in s.assign[c].iter().enumerate() {
            if *x <= 0.0 {
                continue;
            }
            let e = &problem.evals[problem.options[c][o].eval];
            let wx = cell.weight * x;
            cost += wx * e.cost(cell.prompt_mean);
            quality += wx * e.quality;
            failed += wx * e.fails.iter().map(|f| f.w).sum::<f64>();
            for m in 0..n {
                calls[m] += wx * e.calls.get(m).copied().unwrap_or(0.0);
                model_cost[m] += wx * e.cost_of(m, cell.prompt_mean);
            }
            parts.push((wx, cell.shift, e));
        }
    }
    if w <= 0.0 {
        return None;
    }
    let per = |x: f64| x / w;
    calls.iter_mut().for_each(|x| *x /= w);
    model_cost.iter_mut().for_each(|x| *x /= w);
    let answer = caps.output.partial_mean(0.0, f64::INFINITY);
    Some(LoadPoint {
        factor,
        qps: caps.qps * factor,
        models,
        calls,
        model_cost,
        cost: per(cost),
        quality: per(quality),
        failed: per(failed),
        tokens: per(prompt) + answer,
        latency: [0.5, 0.95, 0.99].map(|q| ev.mixture_quantile(&parts, q, false)),
    })
}
