//! The `route` block's checks over the request space: constant comparisons,
//! empty and always-true conditions, shadowed rules, rules after
//! `otherwise`, a missing `otherwise`, and models that cannot serve the
//! requests a rule sends them (context window, quality table, images and
//! tools), including `optimize` candidates.

use routec_syntax::Span;
use routec_syntax::ast::{self, CmpOp, PlanKind, RuleKind};

use crate::cx::{Cx, Owner};
use crate::diagnostics as d;
use crate::ir::{Cond, ModelId, SignalId, Value};
use crate::plans::{direct_targets, optimizes};
use crate::space::{CoverIndex, Cube, Region, Space, Witness};

/// Why a model cannot serve part of the request space.
#[derive(Clone, Debug)]
pub(crate) enum Limit {
    /// Prompts longer than the context window (and no longer than the largest).
    Context { context: u64 },
    /// Values of an enum signal the quality table has no figure for.
    Quality {
        signal: SignalId,
        missing: Vec<usize>,
    },
    /// `has_images` or `has_tools` is true and `supports` lacks it.
    Input { word: &'static str },
}

/// Earlier rules named in a shadowed-rule diagnostic, at most.
const MAX_SHADOWERS: usize = 3;

/// The policy's request space and, per model, the part of it the model
/// cannot serve: what the checks of the `route` block read.
pub(crate) struct RouteSpace {
    pub space: Space,
    /// For each model, what it cannot serve and where.
    pub limits: Vec<Vec<(Limit, Region)>>,
    pub max_context: Option<u64>,
    /// Signals read by rules that can match.
    pub reachable_reads: Vec<bool>,
}

impl<'a> Cx<'a> {
    /// The checks of conditions, slices and the `route` block over the
    /// request space.
    pub(crate) fn check_route_space(&mut self) {
        let space = Space::for_policy(&self.p);
        let slices: Vec<Cond> = self.p.slices.iter().map(|s| s.cond.clone()).collect();
        let slice_refs: Vec<&Cond> = slices.iter().collect();
        let max_context = self.p.max_context();
        let limits = self.model_limits(&space, max_context);
        let mut rs = RouteSpace {
            space,
            limits,
            max_context,
            reachable_reads: vec![false; self.p.signals.len()],
        };

        // Constant comparisons, per site.
        let mut flagged_rules = vec![false; self.p.rules.len()];
        let mut flagged_slices = vec![false; self.p.slices.len()];
        let sites = std::mem::take(&mut self.uses.sites);
        for site in &sites {
            if matches!(site.cond, Cond::Bool(_)) {
                continue;
            }
            let Some(r) = rs.space.lower(&site.cond, &slice_refs) else {
                continue;
            };
            let constant = if r.is_empty() {
                Some(false)
            } else if rs.space.is_full(&r) {
                Some(true)
            } else {
                None
            };
            let Some(value) = constant else { continue };
            let domain = self.domain_words(&site.cond);
            self.emit(if value {
                d::comparison_always_true(site.span, &domain)
            } else {
                d::comparison_never_true(site.span, &domain)
            });
            match site.owner {
                Owner::Rule(i) => flagged_rules[i] = true,
                Owner::Slice(i) => flagged_slices[i] = true,
            }
        }
        self.uses.sites = sites;

        // Slices that are empty or cover everything.
        for (i, s) in self.p.slices.iter().enumerate() {
            if flagged_slices[i] {
                continue;
            }
            let Some(r) = rs.space.lower(&s.cond, &slice_refs) else {
                continue;
            };
            let span = self.items.slices[i].expr.span;
            if r.is_empty() {
                self.diags.push(d::slice_never_true(span, &s.name));
            } else if rs.space.is_full(&r) {
                self.diags.push(d::slice_always_true(span, &s.name));
            }
        }

        self.check_rules(&mut rs, &slice_refs, &flagged_rules);

        // Classifier signals no reachable rule reads (only when every rule
        // could be analysed).
        let complete = self.p.rules.iter().all(|r| !r.cond.has_unknown());
        for (i, s) in self.p.signals.iter().enumerate() {
            if !complete {
                break;
            }
            if let crate::ir::SignalSource::Classifier { .. } = s.source
                && !rs.reachable_reads[i]
                && self.uses.signal_reads[i]
            {
                self.diags.push(d::classifier_not_read(s.span, &s.name));
            }
        }
        self.uses.reachable_reads = rs.reachable_reads;
    }

    fn domain_words(&self, cond: &Cond) -> String {
        let mut sigs = Vec::new();
        cond.signals(&mut sigs);
        match sigs.first() {
            Some(s) => {
                let def = &self.p.signals[s.index()];
                let range = match def.ty {
                    crate::ir::SignalType::Tokens => " (0 or more)",
                    crate::ir::SignalType::Ratio => " (0% to 100%)",
                    crate::ir::SignalType::Duration | crate::ir::SignalType::Money => {
                        " (0 or more)"
                    }
                    _ => "",
                };
                format!("`{}`{}", def.name, range)
            }
            None => "its signal".into(),
        }
    }

    fn model_limits(&self, space: &Space, max_context: Option<u64>) -> Vec<Vec<(Limit, Region)>> {
        let pt = self.p.signal_by_name("prompt_tokens");
        let mut out = Vec::with_capacity(self.p.models.len());
        // Models share a few context windows: one region per window.
        let mut too_long: crate::cx::FastMap<u64, Region> = crate::cx::FastMap::default();
        for (i, m) in self.p.models.iter().enumerate() {
            let mut limits = Vec::new();
            // A model with a property that did not resolve gets no limits:
            // its error is reported, follow-ups would only be noise.
            if self.facts.model_broken.get(i).copied().unwrap_or(true) {
                out.push(limits);
                continue;
            }
            if let (Some(c), Some(max), Some(pt)) = (m.context, max_context, pt)
                && c < max
            {
                let r = too_long.entry(c).or_insert_with(|| {
                    let above = space.cmp(pt, CmpOp::Gt, c as f64);
                    let within = space.cmp(pt, CmpOp::Le, max as f64);
                    match (above, within) {
                        (Some(a), Some(w)) => space.intersect(&a, &w),
                        _ => Region::empty(),
                    }
                });
                if !r.is_empty() {
                    limits.push((Limit::Context { context: c }, r.clone()));
                }
            }
            if let Some(t) = &m.quality.by {
                let missing: Vec<usize> = t
                    .values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_none())
                    .map(|(i, _)| i)
                    .collect();
                if !missing.is_empty()
                    && let Some(r) = space.in_set(t.signal, &missing)
                {
                    limits.push((
                        Limit::Quality {
                            signal: t.signal,
                            missing,
                        },
                        r,
                    ));
                }
            }
            if let Some(caps) = m.supports {
                for (word, has, signal) in [
                    ("images", caps.images, "has_images"),
                    ("tools", caps.tools, "has_tools"),
                ] {
                    if has {
                        continue;
                    }
                    if let Some(s) = self.p.signal_by_name(signal)
                        && let Some(r) = space.in_set(s, &[1])
                    {
                        limits.push((Limit::Input { word }, r));
                    }
                }
            }
            out.push(limits);
        }
        out
    }

    fn check_rules(&mut self, rs: &mut RouteSpace, slices: &[&Cond], flagged: &[bool]) {
        let Some((route, route_span)) = self.items.route else {
            return;
        };
        // The regions of earlier reachable rules, as written (not disjoint):
        // a request is taken by an earlier rule iff a cube here contains it.
        let mut covers = CoverIndex::new(&rs.space);
        let mut cover_rule: Vec<usize> = Vec::new();
        // A rule that did not parse may have been the one covering the
        // rest: do not claim requests go unrouted.
        let mut unknown = route
            .body
            .items
            .iter()
            .any(|r| matches!(r.kind, RuleKind::Error));
        let mut otherwise_at: Option<Span> = None;
        for (i, &flagged_rule) in flagged.iter().enumerate().take(self.p.rules.len()) {
            let rule = &self.p.rules[i];
            let ast_rule = self.items.rules[i];
            if let Some(ow) = otherwise_at {
                self.diags
                    .push(d::rule_after_otherwise(self.rule_keyword(ast_rule), ow));
                continue;
            }
            if rule.otherwise {
                otherwise_at = Some(rule.cond_span);
            }
            let Some(region) = rs.space.lower(&rule.cond, slices) else {
                unknown = true;
                continue;
            };
            let mut reads = Vec::new();
            collect_reads(&rule.cond, &self.p.slices, &mut reads, 0);
            if region.is_empty() {
                if !flagged_rule {
                    self.diags.push(d::rule_never_true(rule.cond_span));
                }
                continue;
            }
            if !rule.otherwise && !flagged_rule && rs.space.is_full(&region) {
                self.diags.push(d::rule_always_true(
                    rule.cond_span,
                    self.rule_keyword(ast_rule),
                ));
            }
            match rs.space.covered_in(&region, &covers) {
                Witness::Empty => {
                    // Name the earlier rules that take most of this one.
                    let mut meeting: Vec<(f64, usize)> = Vec::new();
                    for cube in &region.cubes {
                        for k in covers.meeting(cube) {
                            let f = rs.space.overlap(cube, &covers.cubes[k]);
                            meeting.push((f, cover_rule[k]));
                        }
                    }
                    meeting.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                    let mut rules: Vec<usize> = Vec::new();
                    for (_, r) in meeting {
                        if !rules.contains(&r) && rules.len() < MAX_SHADOWERS {
                            rules.push(r);
                        }
                    }
                    rules.sort_unstable();
                    let shadowers: Vec<Span> =
                        rules.iter().map(|j| self.p.rules[*j].cond_span).collect();
                    self.diags
                        .push(d::shadowed_rule(rule.cond_span, rule.otherwise, &shadowers));
                    continue;
                }
                Witness::GaveUp => {}
                Witness::Found(_) => {
                    if let RuleKind::When { plan, .. } | RuleKind::Otherwise { plan, .. } =
                        &ast_rule.kind
                    {
                        self.check_serving(rs, plan, &region, &mut covers);
                    }
                }
            }
            for s in reads {
                rs.reachable_reads[s.index()] = true;
            }
            for c in &region.cubes {
                covers.push(c.clone());
                cover_rule.push(i);
            }
        }
        if otherwise_at.is_none()
            && !unknown
            && let Witness::Found(cube) = rs.space.witness_in(&Region::full(), &covers)
        {
            let example = self.format_example(&rs.space.cube_example(&cube));
            let keyword = crate::cx::keyword_span(route_span, "route");
            let close = Span::new(
                route.body.span.end as usize - 1,
                route.body.span.end as usize,
            );
            self.diags
                .push(d::missing_otherwise(keyword, Some(&example), close));
        }
    }

    fn rule_keyword(&self, rule: &ast::Rule) -> Span {
        match &rule.kind {
            RuleKind::Otherwise { keyword, .. } => *keyword,
            _ => crate::cx::keyword_span(rule.span, "when"),
        }
    }

    /// A request of `region` that no earlier rule takes, as a region.
    fn reaches(rs: &RouteSpace, region: &Region, covers: &CoverIndex) -> Option<Cube> {
        match rs.space.witness_in(region, covers) {
            Witness::Found(c) => Some(c),
            Witness::Empty | Witness::GaveUp => None,
        }
    }

    /// Whether some request of `region` reaches the rule ([`Self::reaches`]
    /// when the request itself is not needed; faster on rules that meet
    /// many earlier ones).
    fn is_reached(rs: &RouteSpace, region: &Region, covers: &CoverIndex) -> bool {
        matches!(rs.space.covered_in(region, covers), Witness::Found(_))
    }

    /// Checks that every model a rule sends requests to can serve them.
    /// `region` is the rule's condition; `covers` what earlier rules take.
    fn check_serving(
        &mut self,
        rs: &mut RouteSpace,
        plan: &ast::Plan,
        region: &Region,
        covers: &mut CoverIndex,
    ) {
        let mut targets = Vec::new();
        direct_targets(plan, &mut targets);
        for name in targets {
            let Some(&m) = self.names.models.get(&name.text) else {
                continue;
            };
            for (limit, lr) in rs.limits[m.index()].clone() {
                let bad = rs.space.intersect(region, &lr);
                let Some(witness) = Self::reaches(rs, &bad, covers) else {
                    continue;
                };
                let diag = self.limit_diag(rs, name.span, m, &limit, &bad, &witness, covers);
                self.diags.push(diag);
            }
        }
        for opt in optimizes(plan) {
            let PlanKind::Optimize {
                candidates,
                candidates_span,
                by,
            } = &opt.kind
            else {
                continue;
            };
            for dim in by {
                if let Some(&s) = self.names.signals.get(&dim.signal.text) {
                    rs.reachable_reads[s.index()] = true;
                }
            }
            // Prompts longer than every context window cannot be served by
            // anything; they are not the candidates' fault.
            let region = &match (self.p.signal_by_name("prompt_tokens"), rs.max_context) {
                (Some(pt), Some(max)) => match rs.space.cmp(pt, CmpOp::Le, max as f64) {
                    Some(servable) => rs.space.intersect(region, &servable),
                    None => region.clone(),
                },
                _ => region.clone(),
            };
            if !Self::is_reached(rs, region, covers) {
                continue;
            }
            let mut nobody = region.clone();
            let mut any_known = false;
            for c in candidates {
                let mut names = Vec::new();
                direct_targets(c, &mut names);
                if names.is_empty() {
                    // A nested optimize or an error: assume it can serve.
                    nobody = Region::empty();
                    continue;
                }
                let mut cannot = Region::empty();
                let mut resolved = true;
                for n in names {
                    let Some(&m) = self.names.models.get(&n.text) else {
                        resolved = false;
                        continue;
                    };
                    for (_, lr) in &rs.limits[m.index()] {
                        cannot = rs.space.union(&cannot, lr);
                    }
                }
                if !resolved {
                    nobody = Region::empty();
                    continue;
                }
                any_known = true;
                // Serves nothing: every request that reaches the rule is in `cannot`.
                let earlier = covers.cubes.len();
                for c in &cannot.cubes {
                    covers.push(c.clone());
                }
                let never = rs.space.covered_in(region, covers) == Witness::Empty;
                covers.truncate(earlier);
                if never {
                    self.diags.push(d::candidate_never_serves(c.span));
                }
                nobody = rs.space.intersect(&nobody, &cannot);
            }
            if any_known && let Some(w) = Self::reaches(rs, &nobody, covers) {
                let example = self.format_example(&rs.space.cube_example(&w));
                self.diags
                    .push(d::no_candidate(*candidates_span, Some(&example)));
            }
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one call site, all context")]
    fn limit_diag(
        &self,
        rs: &RouteSpace,
        span: Span,
        m: ModelId,
        limit: &Limit,
        bad: &Region,
        witness: &Cube,
        covers: &CoverIndex,
    ) -> routec_syntax::Diagnostic {
        let model = &self.p.models[m.index()];
        let example = self.format_example(&rs.space.cube_example(witness));
        match limit {
            Limit::Context { context } => {
                // The longest prompt that reaches the rule: scan the atoms of
                // `prompt_tokens` from the top of the bad region down.
                let mut admitted = rs.max_context.map_or(f64::INFINITY, |m| m as f64);
                if let Some(pt) = self.p.signal_by_name("prompt_tokens")
                    && let Some(d) = rs.space.dim_of(pt)
                {
                    let dim = rs.space.dim(d);
                    for k in (0..dim.atoms.len()).rev() {
                        let mut set = crate::space::AtomSet::empty(dim.atoms.len());
                        set.insert(k);
                        let slab = rs.space.intersect(bad, &rs.space.cube(d, set));
                        if slab.is_empty() {
                            continue;
                        }
                        if Self::is_reached(rs, &slab, covers) {
                            if let Some(sup) = dim.atoms[k].sup() {
                                admitted = admitted.min(sup);
                            }
                            break;
                        }
                    }
                }
                d::context_too_small(span, &model.name, *context as f64, admitted, model.span)
            }
            Limit::Quality { signal, missing } => {
                let sig = &self.p.signals[signal.index()];
                let names: Vec<String> = missing
                    .iter()
                    .filter(|v| {
                        rs.space
                            .in_set(*signal, &[**v])
                            .map(|r| rs.space.intersect(bad, &r))
                            .is_some_and(|r| Self::is_reached(rs, &r, covers))
                    })
                    .filter_map(|v| match &sig.ty {
                        crate::ir::SignalType::Enum(vs) => vs.get(*v).cloned(),
                        _ => None,
                    })
                    .collect();
                d::no_quality(span, &model.name, &sig.name, &names, model.span)
            }
            Limit::Input { word } => {
                d::unsupported_input(span, &model.name, word, Some(&example), model.span)
            }
        }
    }

    /// `task = code, prompt_tokens = 150000`
    pub(crate) fn format_example(&self, ex: &[(SignalId, Value)]) -> String {
        if ex.is_empty() {
            return String::new();
        }
        ex.iter()
            .map(|(s, v)| {
                let def = &self.p.signals[s.index()];
                let value = match (v, &def.ty) {
                    (Value::Bool(b), _) => b.to_string(),
                    (Value::Enum(i), crate::ir::SignalType::Enum(vs)) => {
                        vs.get(*i).cloned().unwrap_or_default()
                    }
                    (Value::Number(x), crate::ir::SignalType::Ratio) => crate::units::percent(*x),
                    (Value::Number(x), crate::ir::SignalType::Duration) => {
                        crate::units::duration(*x)
                    }
                    (Value::Number(x), crate::ir::SignalType::Money) => crate::units::money(*x),
                    (Value::Number(x), _) => crate::units::num(*x),
                    (Value::Enum(i), _) => i.to_string(),
                };
                format!("{} = {}", def.name, value)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Signals a condition reads, through slices.
fn collect_reads(
    cond: &Cond,
    slices: &[crate::ir::SliceDef],
    out: &mut Vec<SignalId>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    cond.signals(out);
    let mut ss = Vec::new();
    cond.slices(&mut ss);
    for s in ss {
        if let Some(def) = slices.get(s.index()) {
            collect_reads(&def.cond, slices, out, depth + 1);
        }
    }
}
