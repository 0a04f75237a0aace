//! `compile`: from a checked policy to a decision table and the model it was
//! optimized with ([`Compiled`]).
//!
//! The steps, each a function below: pick the traffic (and fit a recorded
//! profile's outcomes), partition the request space into cells, estimate
//! every cell's plans, solve the LP, price each binding SLO, and build the
//! table. Cancellation is checked between steps and inside the long ones.

use std::sync::{Arc, OnceLock};

use routec_check::ir::Policy;
use routec_syntax::{Diagnostic, Span};
use routec_table as t;
use routec_traffic::BoundTraffic;

use crate::capacity::{self, Capacities};
use crate::cells::{self, Partition};
use crate::codes;
use crate::eval::Evaluator;
use crate::objective::{self, Goal, Space};
use crate::optimize::{self, Problem, Vars};
use crate::recorded::{self, CellQuality, ModelEstimate};
use crate::slos;
use crate::solved::{FrontierObjective, RuleFigures, SinglePoint, SliceFigures, SloRow, Solved};
use crate::table;
use crate::traffic::Traffic;

/// Options of [`compile`].
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// The traffic profile to optimize for; default: the first one declared.
    /// Without any profile, enums and bools are uniform over their values,
    /// ratios uniform over `[0, 1]` and other numbers take their default
    /// (see `docs/semantics.md`).
    pub traffic: Option<String>,
    /// Written into the table.
    pub compiler_version: String,
    /// Overrides the `slo` block's `margin` (`--slo-margin`): every SLO is
    /// compiled this share tighter than its limit (see
    /// [`routec_check::ir::SloSettings`]).
    pub slo_margin: Option<f64>,
}

/// A set of values of one signal inside a cell's box.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueSet {
    /// Enum variant indices or bool values (`0`, `1`).
    Values(Vec<usize>),
    /// Numeric ranges in base units: `(lo, lo inclusive, hi, hi inclusive)`,
    /// `None` = unbounded.
    Ranges(Vec<(Option<f64>, bool, Option<f64>, bool)>),
}

/// One optimized or predicted cell, for differential tests and reports.
#[derive(Clone, Debug, PartialEq)]
pub struct CellInfo {
    /// 0-based rule index.
    pub rule: usize,
    pub predicate: String,
    /// Share of traffic.
    pub weight: f64,
    /// The plan shares (indices into `table.plans`).
    pub splits: Vec<t::Split>,
    /// Disjoint boxes whose union is the cell: per constrained signal (index
    /// into `table.signals`) its value set; unlisted signals are free.
    pub boxes: Vec<Vec<(usize, ValueSet)>>,
    /// One concrete request per box: `(signal index, value in base units)`.
    pub examples: Vec<Vec<(usize, f64)>>,
    /// Predicted figures of the cell under its splits.
    pub cost: f64,
    pub quality: f64,
}

/// The result of [`compile`]: the table, the warnings, and the model the
/// table was optimized with, which every report reads (per rule, model,
/// slice and SLO figures; the frontier) instead of rebuilding it.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub table: t::Table,
    /// Warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// For a recorded profile compiled with its records: what the outcomes
    /// changed.
    pub recorded: Option<RecordedEstimates>,
    /// Built on first use: a compile for its table alone does not pay for
    /// the boxes and examples of every cell.
    cells: OnceLock<Vec<CellInfo>>,
    slos: Vec<SloRow>,
    solved: Arc<Solved>,
}

/// What a recorded file's outcomes changed in the model the table was
/// optimized with (`docs/semantics.md`, "Recorded outcomes").
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEstimates {
    /// The traffic profile.
    pub profile: String,
    pub requests: usize,
    /// Requests with at least one outcome.
    pub labeled: usize,
    /// Per (cell, model) with outcomes: the shrunk success rate and its
    /// interval. `cell` indexes [`Compiled::cells`].
    pub quality: Vec<CellQuality>,
    /// Per model with outcomes: latency and cost estimates.
    pub models: Vec<ModelEstimate>,
}

/// Why a compile produced no table.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// Errors located in the policy (SLOs no routing can meet, an unknown
    /// traffic profile, a policy with errors).
    Errors(Vec<Diagnostic>),
    /// The caller's `cancelled` turned true.
    Cancelled,
}

impl Compiled {
    /// The optimizer's cells, in the table's order (`table.assumed.cells`).
    pub fn cells(&self) -> &[CellInfo] {
        self.cells
            .get_or_init(|| table::cell_infos(&self.solved, &self.table))
    }

    /// The SLO rows, in the table's order (`table.assumed.slos`), with
    /// what tightening each binding one would cost.
    pub fn slos(&self) -> &[SloRow] {
        &self.slos
    }

    /// Per rule, in rule order.
    pub fn rules(&self) -> Vec<RuleFigures> {
        self.solved.rules()
    }

    /// Expected calls per request to each model, in declaration order.
    pub fn model_calls(&self) -> Vec<f64> {
        self.solved.model_calls()
    }

    /// Expected cost per request paid to each model (USD), in declaration
    /// order.
    pub fn model_costs(&self) -> Vec<f64> {
        self.solved.model_costs()
    }

    /// The judge's expected cost per request (USD), a part of the table's
    /// predicted cost and of no model's (`docs/semantics.md`, "The
    /// judge"); `None` when the policy declares no judge.
    pub fn judge_cost(&self) -> Option<f64> {
        self.solved.judge_cost()
    }

    /// The share of answered requests the judge scores at the profile's
    /// `qps` (`model::Judge::share_at`); `None` when the policy declares
    /// no judge.
    pub fn judge_share(&self) -> Option<f64> {
        crate::model::Judge::of(&self.solved.policy).map(|j| j.share_at(self.solved.traffic.qps))
    }

    /// Each model's load at the profile's qps, in declaration order (empty
    /// when no model declares a capacity, rate limit or latency at load, or
    /// the profile has no `qps`).
    pub fn load(&self) -> &[crate::load::ModelLoad] {
        &self.solved.load
    }

    /// The table at `factor` times the profile's qps, as the model predicts
    /// it: each model's settled load, cost, quality and latency (`None`
    /// when load is not modelled).
    pub fn load_at(&self, factor: f64) -> Option<capacity::LoadPoint> {
        capacity::point(&self.solved, factor)
    }

    /// The load model the table was compiled with (`None` when load is not
    /// modelled): what the simulator samples at a multiple of the qps
    /// ([`Compiled::load_at`] gives each model's state).
    pub fn load_modelled(&self) -> bool {
        self.solved.caps.active()
    }

    /// Per slice, in declaration order.
    pub fn slices(&self) -> Vec<SliceFigures> {
        self.solved.slices()
    }

    /// Expected cost per request (USD) and quality over all traffic.
    pub fn overall(&self) -> (f64, f64) {
        self.solved.overall(&self.solved.assign)
    }

    /// The policy the estimates were made with: the checked policy, or
    /// with a labeled recorded profile, its models' latency and prices
    /// re-estimated from the outcomes.
    pub fn modelled_policy(&self) -> &Policy {
        &self.solved.policy
    }

    /// The traffic the table was optimized for (a recorded profile: the
    /// records' mix).
    pub fn traffic(&self) -> &Traffic {
        &self.solved.traffic
    }

    /// Each model routed all traffic, as the model predicts it.
    pub fn single_models(&self) -> Vec<SinglePoint> {
        self.solved.single_models()
    }

    /// The cost-quality frontier: the optimum of `minimize cost` as a
    /// quality floor sweeps, `points` floors strictly between the cheapest
    /// routing and the best quality (both included), sorted by cost; each a
    /// re-solve of this model's LP with the policy's SLOs except its floors
    /// on overall quality (see `docs/semantics.md`).
    pub fn frontier(
        &self,
        source: &str,
        options: &CompileOptions,
        points: usize,
    ) -> Vec<FrontierPoint> {
        let s = &*self.solved;
        let point = |objective, floor| -> Option<FrontierPoint> {
            let a = s.resolve(objective, floor)?;
            let (cost, quality) = s.overall(&a);
            Some(FrontierPoint {
                floor,
                cost,
                quality,
                table: table::build(s, source, options, &a, &[]),
            })
        };
        let cheapest = point(FrontierObjective::MinimizeCost, None);
        let best = point(FrontierObjective::MaximizeQuality, None);
        let mut out: Vec<FrontierPoint> = Vec::new();
        if let (Some(lo), Some(hi)) = (&cheapest, &best) {
            let (q0, q1) = (lo.quality, hi.quality);
            if q1 > q0 {
                for k in 1..=points {
                    let floor = q0 + (q1 - q0) * k as f64 / (points + 1) as f64;
                    out.extend(point(FrontierObjective::MinimizeCost, Some(floor)));
                }
            }
        }
        out.extend(cheapest);
        out.extend(best);
        out.sort_by(|a, b| {
            a.cost
                .total_cmp(&b.cost)
                .then(a.quality.total_cmp(&b.quality))
        });
        out
    }
}

/// One point of the frontier: predicted figures of the optimal table under
/// a quality floor.
#[derive(Clone, Debug)]
pub struct FrontierPoint {
    /// The floor imposed (ratio); `None` for the two end points (minimum
    /// cost without a floor, maximum quality).
    pub floor: Option<f64>,
    /// Predicted cost per request, USD.
    pub cost: f64,
    /// Predicted quality (ratio).
    pub quality: f64,
    /// The table of this point (to replay or simulate it).
    pub table: t::Table,
}

/// The 1-based line of a byte offset: the `line` by which a table names its
/// rules and SLOs (consumers find a table's SLO in the policy with it).
pub fn line_of(source: &str, offset: u32) -> u32 {
    let end = (offset as usize).min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u32
        + 1
}

/// Compiles a checked policy. `source` is the policy's text (for line
/// numbers, rule and SLO texts and the source hash). A recorded profile
/// (`traffic NAME = file ...`) is compiled with its declared defaults and
/// warning `W0512`: use [`compile_recorded`] to supply its records.
pub fn compile(
    policy: &Policy,
    source: &str,
    options: &CompileOptions,
) -> Result<Compiled, Vec<Diagnostic>> {
    compile_recorded(policy, source, options, None)
}

/// [`compile`], with the records of the selected profile when it is a
/// recorded file (`recorded` is ignored for a declared profile): the mix is
/// the records' empirical distribution, and their outcomes re-estimate
/// quality per cell and model, and latency and cost per model.
pub fn compile_recorded(
    policy: &Policy,
    source: &str,
    options: &CompileOptions,
    recorded: Option<&BoundTraffic>,
) -> Result<Compiled, Vec<Diagnostic>> {
    compile_cancellable(policy, source, options, recorded, &|| false).map_err(|f| match f {
        Failure::Errors(errors) => errors,
        // `cancelled` never turns true here.
        Failure::Cancelled => Vec::new(),
    })
}

/// [`compile_recorded`], giving up as soon as `cancelled()` turns true (it
/// is asked between steps and inside the long ones, so a caller whose input
/// changed stops paying for a stale compile).
pub fn compile_cancellable(
    policy: &Policy,
    source: &str,
    options: &CompileOptions,
    recorded: Option<&BoundTraffic>,
    cancelled: &dyn Fn() -> bool,
) -> Result<Compiled, Failure> {
    compile_with(policy, source, options, recorded, false, cancelled)
}

/// Compiles with `records` as the selected profile's traffic whatever the
/// profile declares (a declared profile keeps its `qps`): its mix is the
/// records' and their outcomes re-estimate the models, as for a recorded
/// file. What a re-fit on drift compiles against: the recent decision log
/// (`docs/learn.md`, "Re-fit on drift"). Without records, as [`compile`].
pub fn compile_on_records(
    policy: &Policy,
    source: &str,
    options: &CompileOptions,
    records: &BoundTraffic,
) -> Result<Compiled, Vec<Diagnostic>> {
    compile_with(policy, source, options, Some(records), true, &|| false).map_err(|f| match f {
        Failure::Errors(errors) => errors,
        Failure::Cancelled => Vec::new(),
    })
}

fn compile_with(
    policy: &Policy,
    source: &str,
    options: &CompileOptions,
    recorded: Option<&BoundTraffic>,
    any_profile: bool,
    cancelled: &dyn Fn() -> bool,
) -> Result<Compiled, Failure> {
    compilable(policy)?;
    let Prepared {
        policy: mut modelled,
        traffic,
        mut estimates,
        mut warnings,
        recorded,
    } = prepare(policy, options, recorded, any_profile)?;
    if let Some(margin) = options.slo_margin {
        modelled.slo_settings.margin = margin;
    }
    let policy = &modelled;
    let mut part = partition(policy, &traffic)?;
    if let (Some(bound), Some(est)) = (recorded, estimates.as_mut()) {
        est.quality = recorded::requalify(policy, bound, &mut part);
    }
    check(cancelled)?;

    let mut ev = Evaluator::new(policy, traffic.output_dist(), traffic.qps);
    warnings.extend(crate::lints::timeout_warnings(policy, &traffic));
    let problem = Problem::build(policy, &part, &mut ev, traffic.qps);
    enforceable(policy, &problem)?;
    let vars = Vars::new(&part, &problem);
    let mut coefs = optimize::row_coefs(&problem, &ev, &part, &problem.rows);
    let mut rhs: Vec<f64> = problem.rows.iter().map(|r| r.rhs).collect();
    // Capacity rows follow the SLO rows (`capacity.rs`).
    let caps = Capacities::of(policy, &traffic);
    caps.append(&problem, &part, &mut coefs, &mut rhs);
    check(cancelled)?;

    let goal = Goal::of(policy);
    let space = Space {
        problem: &problem,
        part: &part,
        ev: &ev,
        vars: &vars,
    };
    let assign = match objective::solve(&space, &goal, &coefs, &rhs) {
        Ok(assign) => assign,
        Err(crate::lp::LpResult::Infeasible) => {
            let timeouts: Vec<Diagnostic> = warnings
                .iter()
                .filter(|w| w.code == codes::TIMEOUT_CUTS_ANSWERS)
                .cloned()
                .collect();
            return Err(Failure::Errors(caps.infeasible(
                policy, source, &part, &problem, &ev, &vars, &coefs, &rhs, &timeouts,
            )));
        }
        Err(_) => {
            return Err(Failure::Errors(vec![solver_failed(Span::new(0, 0))]));
        }
    };
    let solved = Solved {
        policy: modelled,
        traffic,
        part,
        ev,
        problem,
        vars,
        coefs,
        rhs,
        assign,
        goal,
        caps,
        load: Vec::new(),
    };
    let settled = settle(solved, source, options, cancelled)?;
    warnings.extend(settled.diagnostics);
    Ok(Compiled {
        diagnostics: warnings,
        recorded: estimates,
        ..settled
    })
}

/// An error when the policy has rules with errors, or none: it cannot be
/// compiled.
fn compilable(policy: &Policy) -> Result<(), Failure> {
    if policy.rules.is_empty()
        || policy
            .rules
            .iter()
            .any(|r| r.plan.has_error() || r.cond.has_unknown())
    {
        return Err(Failure::Errors(vec![
            Diagnostic::error(
                codes::UNRESOLVED,
                Span::new(0, 0),
                "the policy has errors, so it cannot be compiled",
            )
            .with_help("run `routec check` and fix the errors first"),
        ]));
    }
    Ok(())
}

/// An error for each SLO the problem cannot enforce.
fn enforceable(policy: &Policy, problem: &Problem) -> Result<(), Failure> {
    let unenforceable: Vec<Diagnostic> = problem
        .warnings
        .iter()
        .filter_map(|(slo, why)| {
            let s = policy.slos.get(*slo)?;
            Some(
                Diagnostic::error(codes::SLO_NOT_ENFORCEABLE, s.span, why.clone()).with_help(
                    "a table that ignored it could break it unseen; rewrite the slo, or remove it",
                ),
            )
        })
        .collect();
    if unenforceable.is_empty() {
        Ok(())
    } else {
        Err(Failure::Errors(unenforceable))
    }
}

/// From the first solution to the compiled result: the capacity rounds,
/// the warnings of the solution (unknown load, peaks, cascades), the SLOs'
/// prices and the table. The result's diagnostics are those warnings; its
/// recorded estimates are unset.
fn settle(
    solved: Solved,
    source: &str,
    options: &CompileOptions,
    cancelled: &dyn Fn() -> bool,
) -> Result<Compiled, Failure> {
    let mut solved = capacity::rounds(solved, source, cancelled)?;
    let mut warnings: Vec<Diagnostic> =
        capacity::without_qps(&solved.policy, &solved.traffic, &solved.caps)
            .into_iter()
            .collect();
    warnings.extend(capacity::peak_warning(&mut solved, source));
    let prices = slos::sensitivities(&solved, cancelled).ok_or(Failure::Cancelled)?;
    warnings.extend(slos::cascade_warnings(&solved, source, &prices));
    let duals: Vec<Option<f64>> = prices.iter().map(|p| p.1).collect();
    let mut table = table::build(&solved, source, options, &solved.assign, &duals);
    check(cancelled)?;
    table.pacing = crate::pacing::ladder(&solved, source, options, &table.plans, cancelled);
    check(cancelled)?;
    if let Err(e) = table.validate() {
        return Err(Failure::Errors(vec![
            Diagnostic::error(
                codes::SOLVER_FAILED,
                Span::new(0, 0),
                format!("the compiled table is inconsistent: {e}"),
            )
            .with_help("this is a bug in routec; please report it with the policy"),
        ]));
    }
    let slos = slos::rows(&solved, prices);
    Ok(Compiled {
        table,
        diagnostics: warnings,
        recorded: None,
        cells: OnceLock::new(),
        slos,
        solved: Arc::new(solved),
    })
}

fn check(cancelled: &dyn Fn() -> bool) -> Result<(), Failure> {
    if cancelled() {
        Err(Failure::Cancelled)
    } else {
        Ok(())
    }
}

/// The traffic and the policy to estimate with.
struct Prepared<'r> {
    policy: Policy,
    traffic: Traffic,
    estimates: Option<RecordedEstimates>,
    warnings: Vec<Diagnostic>,
    /// The records, when the selected profile is recorded and they were
    /// supplied (an empty file is treated as not read).
    recorded: Option<&'r BoundTraffic>,
}

/// Selects the traffic profile; a recorded profile with its records gets
/// the records' mix and the models re-estimated from their outcomes
/// ([`recorded::fit`]); one without gets warning `W0512`.
fn prepare<'r>(
    policy: &Policy,
    options: &CompileOptions,
    recorded: Option<&'r BoundTraffic>,
    any_profile: bool,
) -> Result<Prepared<'r>, Failure> {
    let traffic = Traffic::for_policy(policy, options.traffic.as_deref()).map_err(|name| {
        Failure::Errors(vec![Diagnostic::error(
            codes::UNKNOWN_TRAFFIC_PROFILE,
            Span::new(0, 0),
            format!("no traffic profile is named `{name}`"),
        )])
    })?;
    let declaration = |p: &Policy, name: &Option<String>| {
        p.traffic
            .iter()
            .find(|d| Some(&d.name) == name.as_ref())
            .map(|d| (d.name.clone(), d.span))
    };
    let recorded =
        recorded.filter(|b| (traffic.records_missing || any_profile) && !b.records.is_empty());
    let mut warnings = Vec::new();
    match recorded {
        Some(bound) => {
            let fit = recorded::fit(policy, traffic, bound);
            if let Some((name, span)) = declaration(&fit.policy, &fit.traffic.name) {
                warnings.extend(recorded::sample_warnings(&fit.policy, &name, span, bound));
            }
            let estimates = RecordedEstimates {
                profile: fit.traffic.name.clone().unwrap_or_default(),
                requests: bound.records.len(),
                labeled: bound.labeled(),
                quality: Vec::new(),
                models: fit.models,
            };
            Ok(Prepared {
                policy: fit.policy,
                traffic: fit.traffic,
                estimates: Some(estimates),
                warnings,
                recorded: Some(bound),
            })
        }
        None => {
            if traffic.records_missing
                && let Some((name, span)) = declaration(policy, &traffic.name)
            {
                warnings.push(
                    Diagnostic::warning(
                        codes::TRAFFIC_FILE_IGNORED,
                        span,
                        format!("the recorded traffic of `{name}` was not read"),
                    )
                    .with_help(
                        "signals take their declared defaults; compile with `routec compile`, which reads the file",
                    ),
                );
            }
            Ok(Prepared {
                policy: policy.clone(),
                traffic,
                estimates: None,
                warnings,
                recorded: None,
            })
        }
    }
}

/// The cell partition, or the error that stops the compile.
fn partition(policy: &Policy, traffic: &Traffic) -> Result<Partition, Failure> {
    let whole = Span::new(0, 0);
    cells::partition(policy, traffic).map_err(|e| {
        Failure::Errors(vec![match e {
            cells::PartitionError::Unresolved => Diagnostic::error(
                codes::UNRESOLVED,
                whole,
                "a rule or slice condition could not be resolved",
            ),
            cells::PartitionError::TooManyPieces(n) => Diagnostic::error(
                codes::TOO_MANY_CELLS,
                whole,
                format!(
                    "the request space has more than {} cells ({n} so far)",
                    cells::MAX_PIECES
                ),
            )
            .with_help("use fewer `by` dimensions or thresholds in `optimize`"),
        }])
    })
}

/// `SOLVER_FAILED`: the LP solver gave up (neither a solution nor a proof
/// of infeasibility), which is a bug to report.
pub(crate) fn solver_failed(span: Span) -> Diagnostic {
    Diagnostic::error(
        codes::SOLVER_FAILED,
        span,
        "the optimizer did not converge on this policy",
    )
    .with_help("this is a bug in routec; please report it with the policy")
}
