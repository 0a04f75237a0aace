//! A period of a spend budget, simulated with and without pacing
//! (`docs/learn.md`, "Budget pacing").
//!
//! Requests arrive as a Poisson stream at the profile's `qps`, multiplied by
//! a surge's factor inside its window; each is drawn from the profile,
//! routed by the rung the [`Pacer`] picks at its arrival, executed by the
//! simulator's model (faults, retries, fallbacks and cascades as in
//! [`crate::run`]) and its cost added to the period's spend, with the
//! judge's share of a judge call for an answered request (the share at
//! the current arrival rate). The same
//! requests (one seed) also run through each rung alone (rung 0, the table,
//! never paced), so the report shows what pacing saved and what it cost in
//! quality against every fixed choice of the ladder.

use std::fmt;

use routec_check::ir::{Policy, TrafficId};
use routec_opt::traffic::Traffic;
use routec_runtime::{Pacer, Router, Table};

use crate::exec::Job;
use crate::sample::{RequestSampler, Rng};
use crate::{MAX_REQUESTS, Setup, SimError, hex_key};

/// Extra traffic during part of the period: `factor` times the profile's
/// `qps` from `from` to `to` seconds into the period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Surge {
    pub factor: f64,
    pub from: f64,
    pub to: f64,
}

impl Surge {
    /// Parses `3x@10h-16h`: a factor, then hours into the period.
    pub fn parse(text: &str) -> Result<Surge, String> {
        let bad = || {
            format!(
                "invalid surge `{text}`: expected FACTORx@STARTh-ENDh, e.g. `3x@10h-16h` (three times the profile's qps from 10:00 to 16:00)"
            )
        };
        let (factor, window) = text.split_once('@').ok_or_else(bad)?;
        let factor: f64 = factor
            .trim()
            .strip_suffix('x')
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        let (from, to) = window.split_once('-').ok_or_else(bad)?;
        let hours = |s: &str| -> Result<f64, String> {
            s.trim()
                .strip_suffix('h')
                .ok_or_else(bad)?
                .parse::<f64>()
                .map_err(|_| bad())
        };
        let (from, to) = (hours(from)?, hours(to)?);
        if !(factor > 0.0 && factor.is_finite() && from >= 0.0 && to > from && to.is_finite()) {
            return Err(bad());
        }
        Ok(Surge {
            factor,
            from: from * 3600.0,
            to: to * 3600.0,
        })
    }
}

impl fmt::Display for Surge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x from {}h to {}h",
            crate::trim(self.factor),
            crate::trim(self.from / 3600.0),
            crate::trim(self.to / 3600.0)
        )
    }
}

/// One way of routing the period.
#[derive(Clone, Debug, PartialEq)]
pub struct PeriodRun {
    pub requests: u64,
    /// USD over the period.
    pub spent: f64,
    /// Mean quality (the probability of a good answer; failures count 0).
    pub quality: f64,
    /// Requests routed by each rung.
    pub per_rung: Vec<u64>,
    /// The spend at the end of each 24th of the period, cumulative.
    pub spend_by_hour: Vec<f64>,
    /// Rung changes.
    pub steps: u64,
}

/// The report of [`period`].
#[derive(Clone, Debug, PartialEq)]
pub struct PeriodReport {
    pub traffic: String,
    pub constraint: String,
    pub period: String,
    pub budget: f64,
    pub qps: f64,
    pub surge: Option<Surge>,
    pub seed: u64,
    /// The predicted cost per request of each rung, USD (rung 0: the table).
    pub rung_costs: Vec<f64>,
    pub paced: PeriodRun,
    /// Each rung alone, the table (never paced) first.
    pub fixed: Vec<PeriodRun>,
}

/// Simulates one period of the table's `pacing` budget (see the module).
/// An error when the table has no pacing ladder, the profile no `qps`, or
/// the period holds more than [`MAX_REQUESTS`] requests.
pub fn period(
    policy: &Policy,
    table: &Table,
    traffic: TrafficId,
    surge: Option<Surge>,
    seed: u64,
) -> Result<PeriodReport, SimError> {
    let pacing = table.pacing.as_ref().ok_or(SimError::NoPacing)?;
    let def = policy
        .traffic
        .get(traffic.index())
        .ok_or(SimError::UnknownTraffic(traffic))?;
    let profile = Traffic::for_policy(policy, Some(&def.name))
        .map_err(|_| SimError::UnknownTraffic(traffic))?;
    if profile.records_missing {
        return Err(SimError::RecordedTraffic(def.name.clone()));
    }
    let qps = profile
        .qps
        .filter(|q| *q > 0.0)
        .ok_or_else(|| SimError::Mismatch(format!("traffic `{}` declares no `qps`", def.name)))?;
    let seconds = routec_runtime::explore::period_seconds(&pacing.period)
        .ok_or_else(|| SimError::Table(format!("unknown period `{}`", pacing.period)))?;
    let factor = surge.map_or(1.0, |s| {
        1.0 + (s.factor - 1.0) * ((s.to.min(seconds) - s.from.min(seconds)) / seconds)
    });
    let expected = qps * seconds * factor;
    if expected * (table.rungs() + 1) as f64 > MAX_REQUESTS as f64 {
        return Err(SimError::TooManyRequests(expected as u64));
    }
    let rungs: Vec<(Setup, Router)> = (0..table.rungs())
        .filter_map(|k| table.rung(k))
        .map(|t| {
            let setup = Setup::new(policy, &t, None)?;
            let router = Router::new(t).map_err(|e| SimError::Table(e.to_string()))?;
            Ok((setup, router))
        })
        .collect::<Result<_, SimError>>()?;
    let sampler = RequestSampler::new(policy, &profile);
    let rate = |t: f64| match surge {
        Some(s) if (s.from..s.to).contains(&t) => qps * s.factor,
        _ => qps,
    };
    // `None`: paced; `Some(k)`: rung `k` alone.
    let run = |mode: Option<usize>| -> PeriodRun {
        // A period well after the epoch, aligned as the runtime aligns it.
        let start = 20_000.0 * 86_400.0;
        let mut pacer = Pacer::new(table).ok().flatten();
        let mut rng = Rng::new(seed);
        let mut arrivals = Rng::new(seed ^ 0x0005_eed0_fa11);
        let mut values = vec![0.0; policy.signals.len()];
        let mut quality_of = vec![None; policy.models.len()];
        let mut calls = vec![0u32; policy.models.len()];
        let mut refused = vec![0u32; policy.models.len()];
        let mut key = [0u8; 16];
        let mut out = PeriodRun {
            requests: 0,
            spent: 0.0,
            quality: 0.0,
            per_rung: vec![0; rungs.len()],
            spend_by_hour: Vec::with_capacity(24),
            steps: 0,
        };
        let mut t = 0.0;
        loop {
            t += -(1.0 - arrivals.uniform()).ln() / rate(t);
            while out.spend_by_hour.len() < 24
                && t >= seconds * (out.spend_by_hour.len() + 1) as f64 / 24.0
            {
                out.spend_by_hour.push(out.spent);
            }
            if t >= seconds {
                break;
            }
            let k = match mode {
                None => pacer.as_mut().map_or(0, |p| p.route(start + t)),
                Some(k) => k,
            };
            let (setup, router) = &rungs[k];
            let (output_tokens, _) = sampler.draw_row(&mut rng, &mut values);
            let mut request = router.request();
            for &(p, s) in &setup.signal_map {
                request.set(s, values[p]);
            }
            request.set_key(hex_key(rng.next_u64(), &mut key));
            let decision = router.decide(&request);
            setup.model_qualities(policy, &values, &mut quality_of);
            calls.fill(0);
            refused.fill(0);
            let mut job = Job {
                input_tokens: setup.prompt.map_or(0.0, |p| values[p]),
                output_tokens,
                quality: &quality_of,
                calls: &mut calls,
                refused: &mut refused,
                cost: 0.0,
                model_cost: &mut [],
                stream: setup.stream.is_some_and(|s| values[s] != 0.0),
            };
            let shift = setup
                .classifier
                .get(decision.rule as usize)
                .copied()
                .unwrap_or(0.0);
            let mut o = setup.exec.run(
                setup.plan_map[decision.plan as usize],
                &mut job,
                shift,
                &mut rng,
            );
            // The judge samples at the current arrival rate.
            if let Some(j) = setup.judge.as_ref().filter(|_| !o.failed) {
                o.cost += j.share_at(Some(rate(t))) * j.call_cost(job.input_tokens, output_tokens);
            }
            if let Some(p) = pacer.as_mut() {
                p.spend(o.cost, start + t);
            }
            out.requests += 1;
            out.spent += o.cost;
            out.quality += o.quality;
            out.per_rung[k] += 1;
        }
        if out.requests > 0 {
            out.quality /= out.requests as f64;
        }
        out.steps = match (mode, pacer) {
            (None, Some(_)) => 0,
            _ => 0,
        };
        out
    };
    Ok(PeriodReport {
        traffic: def.name.clone(),
        constraint: pacing.constraint.clone(),
        period: pacing.period.clone(),
        budget: pacing.budget,
        qps,
        surge,
        seed,
        rung_costs: std::iter::once(pacing.cost_per_request)
            .chain(pacing.steps.iter().map(|s| s.cost_per_request))
            .collect(),
        paced: run(None),
        fixed: (0..rungs.len()).map(|k| run(Some(k))).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surges_parse() {
        assert_eq!(
            Surge::parse("3x@10h-16h"),
            Ok(Surge {
                factor: 3.0,
                from: 36_000.0,
                to: 57_600.0
            })
        );
        assert_eq!(Surge::parse("1.5x@0h-2.5h").map(|s| s.to), Ok(9000.0));
        for bad in [
            "3@10h-16h",
            "3x10h-16h",
            "3x@16h-10h",
            "0x@1h-2h",
            "3x@1-2",
            "x@1h-2h",
        ] {
            assert!(Surge::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Surge::parse("3x@10h-16h").map(|s| s.to_string()),
            Ok("3x from 10h to 16h".into())
        );
    }
}
