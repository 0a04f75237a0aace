//! `simulate --load 1x,2x,5x,10x`: the same compiled table under its traffic
//! profile scaled to several loads. At each load the compiler's model
//! settles every model's state (utilization, refusals, latency at that
//! load: `routec_opt::Compiled::load_at`) and the simulator samples it
//! (`routec_sim::run_loaded`), so the predicted and the simulated figures
//! come from the same model (`docs/semantics.md`, "Load").

use routec_check::ir::{TrafficId, TrafficSource};
use routec_opt::LoadPoint;
use routec_sim::Report;

use crate::{CompiledPolicy, Failed};

/// The most loads one sweep may take.
pub const MAX_LOADS: usize = 32;

/// One load of a sweep.
#[derive(Clone, Debug)]
pub struct SweepPoint {
    /// The multiple of the profile's qps.
    pub factor: f64,
    /// Requests per second.
    pub qps: f64,
    /// The compiler's prediction at this load (each model's state
    /// included); `None` when no model declares load figures.
    pub predicted: Option<LoadPoint>,
    /// The simulation at this load.
    pub report: Report,
}

/// A load sweep.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub traffic: String,
    /// The profile's requests per second (load 1x).
    pub qps: f64,
    pub requests: u64,
    pub seed: u64,
    /// Whether any model's behaviour depends on load (a capacity, a rate
    /// limit or latency at a load); without, every load gives the same
    /// figures but spend.
    pub modelled: bool,
    pub points: Vec<SweepPoint>,
}

impl Sweep {
    /// The point at load 1x, if the sweep has one, else its first.
    pub fn reference(&self) -> Option<&SweepPoint> {
        self.points
            .iter()
            .find(|p| p.factor == 1.0)
            .or(self.points.first())
    }
}

/// Reads `1x,2x,5x,10x` (the `x` is optional; `1.5x` is allowed): positive
/// multiples, at most [`MAX_LOADS`], sorted and without repeats.
pub fn factors(text: &str) -> Result<Vec<f64>, String> {
    let mut out = Vec::new();
    for part in text.split(',') {
        let word = part.trim();
        let number = word.strip_suffix(['x', 'X']).unwrap_or(word);
        match number.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 && v <= 1e6 => out.push(v),
            _ => {
                return Err(format!(
                    "`{word}` is not a load: write multiples of the profile's qps such as `1x,2x,5x,10x`"
                ));
            }
        }
    }
    if out.len() > MAX_LOADS {
        return Err(format!(
            "{} loads is more than the limit of {MAX_LOADS}",
            out.len()
        ));
    }
    out.sort_by(f64::total_cmp);
    out.dedup();
    Ok(out)
}

/// Simulates `requests` requests at each of `factors` times the qps of the
/// profile the table was compiled for, reporting progress over all loads.
pub fn sweep(
    p: &CompiledPolicy,
    factors: &[f64],
    requests: u64,
    seed: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Sweep, Failed> {
    let Some(traffic) = p.traffic else {
        return Err(Failed::Usage(format!(
            "`{}` declares no traffic profile to load; add a `traffic NAME {{ qps ... }}` block",
            p.source.name
        )));
    };
    let def = p
        .policy
        .traffic
        .get(traffic)
        .ok_or_else(|| Failed::Usage("no traffic profile".to_owned()))?;
    let qps = match &def.source {
        TrafficSource::Inline { qps: Some(q), .. } if *q > 0.0 => *q,
        TrafficSource::Inline { .. } => {
            return Err(Failed::Usage(format!(
                "traffic `{}` declares no `qps`: a load sweep scales the profile's requests per second; add `qps N` to it",
                def.name
            )));
        }
        TrafficSource::File(_) => {
            return Err(Failed::Usage(format!(
                "traffic `{}` is a recorded file, which has no `qps`: sweep a declared profile",
                def.name
            )));
        }
    };
    let modelled = p.compiled.load_modelled();
    let total = requests.saturating_mul(factors.len() as u64);
    let mut points = Vec::with_capacity(factors.len());
    for (i, &factor) in factors.iter().enumerate() {
        let predicted = p.compiled.load_at(factor);
        let models = predicted
            .as_ref()
            .map(|l| l.models.clone())
            .unwrap_or_default();
        let done = requests.saturating_mul(i as u64);
        let run = routec_sim::run_loaded(
            &p.policy,
            &p.compiled.table,
            TrafficId(traffic as u32),
            routec_sim::Load {
                qps: qps * factor,
                models: &models,
            },
            requests,
            seed,
            &mut |d, _| progress(done + d, total),
        );
        let mut run = run.map_err(|e| Failed::Usage(format!("cannot simulate: {e}")))?;
        points.push(SweepPoint {
            factor,
            qps: qps * factor,
            predicted,
            report: run.report(),
        });
    }
    Ok(Sweep {
        traffic: def.name.clone(),
        qps,
        requests,
        seed,
        modelled,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_read_multiples() {
        assert_eq!(factors("1x,2x,5x,10x"), Ok(vec![1.0, 2.0, 5.0, 10.0]));
        assert_eq!(factors(" 10x, 1.5 ,1x,1x"), Ok(vec![1.0, 1.5, 10.0]));
        assert!(factors("0x").is_err());
        assert!(factors("2y").is_err());
        assert!(factors("").is_err());
        assert!(factors(&vec!["2x"; 40].join(",")).is_err());
    }
}
