//! `simulate`: the compiled table under a traffic profile. A declared
//! profile, or a recorded file without outcomes, is sampled with the
//! compiler's model (`routec_sim::run`; under the load the table settles
//! at, `routec_sim::run_loaded`, when load is modelled); a labeled recorded
//! file is
//! replayed: its very requests with their recorded outcomes, next to every
//! single model and the oracle (`routec_sim::replay`, `docs/evaluation.md`).

use std::borrow::Cow;

use routec_check::ir::TrafficId;
use routec_sim::replay::Replay;
use routec_sim::{Report, Run};
use routec_traffic::BoundTraffic;

use crate::{CompiledPolicy, Failed, traffic_index};

/// What a simulation produced.
#[derive(Debug)]
pub enum Simulation<'p> {
    /// A sampled profile: the report and the run (its samples, for plots).
    Sampled {
        report: Box<Report>,
        run: Box<Run<'p>>,
    },
    /// A labeled recorded profile, replayed with its outcomes.
    Replayed {
        replay: Box<Replay>,
        records: Cow<'p, BoundTraffic>,
    },
}

/// The profile to simulate: `name`, or the policy's only one. A policy
/// without profiles, or with several and no `name`, is a usage error.
pub fn profile(p: &CompiledPolicy, name: Option<&str>) -> Result<usize, Failed> {
    if let Some(name) = name {
        return traffic_index(&p.policy, name).map_err(Failed::Usage);
    }
    match p.policy.traffic.len() {
        1 => Ok(0),
        0 => Err(Failed::Usage(format!(
            "`{}` declares no traffic profile to simulate; add a `traffic NAME {{ ... }}` block",
            p.source.name
        ))),
        _ => {
            let names: Vec<String> = p
                .policy
                .traffic
                .iter()
                .map(|t| format!("`{}`", t.name))
                .collect();
            Err(Failed::Usage(format!(
                "`{}` declares several traffic profiles; choose one with `--traffic`: {}",
                p.source.name,
                names.join(", ")
            )))
        }
    }
}

/// The load the table settles at under profile `traffic`'s qps, when load
/// is modelled (a model declares a capacity, a rate limit or latency at a
/// load) and `traffic` is the profile the table was compiled for: what a
/// simulation of that profile samples (`docs/semantics.md`, "Load"). Other
/// profiles are simulated with the models as declared.
pub fn settled_load(p: &CompiledPolicy, traffic: usize) -> Option<routec_opt::LoadPoint> {
    if p.traffic != Some(traffic) {
        return None;
    }
    p.compiled.load_at(1.0)
}

/// Simulates `requests` requests of profile `traffic` with `seed` (or
/// replays it when it is a labeled recorded file), reporting progress as
/// `(done, total)`.
pub fn simulate<'p>(
    p: &'p CompiledPolicy,
    traffic: usize,
    requests: u64,
    seed: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Simulation<'p>, Failed> {
    let records = p.records(traffic)?;
    let table = &p.compiled.table;
    let id = TrafficId(traffic as u32);
    let run = match records {
        Some(bound) if bound.labeled() > 0 => {
            let name = p.traffic_name(traffic).unwrap_or_default().to_owned();
            let replay = routec_sim::replay::replay(&p.policy, table, &name, &bound, progress)
                .map_err(|e| Failed::Usage(format!("cannot replay: {e}")))?;
            return Ok(Simulation::Replayed {
                replay: Box::new(replay),
                records: bound,
            });
        }
        // Unlabeled: requests drawn from the file.
        Some(bound) => {
            routec_sim::run_recorded(&p.policy, table, id, &bound, requests, seed, progress)
        }
        None => match settled_load(p, traffic) {
            Some(load) => routec_sim::run_loaded(
                &p.policy,
                table,
                id,
                routec_sim::Load {
                    qps: load.qps,
                    models: &load.models,
                },
                requests,
                seed,
                progress,
            ),
            None => routec_sim::run_with_progress(&p.policy, table, id, requests, seed, progress),
        },
    };
    let mut run = run.map_err(|e| Failed::Usage(format!("cannot simulate: {e}")))?;
    Ok(Simulation::Sampled {
        report: Box::new(run.report()),
        run: Box::new(run),
    })
}
