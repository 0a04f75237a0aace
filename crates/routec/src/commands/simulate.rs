//! `routec simulate FILE [--traffic NAME] [--requests N] [--seed S]
//! [--format human|json] [--plot FILE.svg]`: samples a declared profile, or
//! replays a labeled recorded one (`routec_driver::simulate`); with
//! `--off-policy LOG`, estimates the policy on a decision log
//! (`routec_driver::offpolicy`).

use std::path::Path;

use routec_driver::simulate::{self, Simulation};
use routec_driver::{decide, offpolicy, source};
use routec_render::{evaluate, simulate as render};

use super::progress::Progress;
use super::{plot, print, report};
use crate::cli::{ColorChoice, OutputFormat, SimulateArgs, exit};

pub fn run(args: &SimulateArgs, color: ColorChoice) -> u8 {
    if let Some(loads) = &args.load {
        return super::load::run(args, loads, color);
    }
    if let Some(log) = &args.off_policy {
        return off_policy(args, log, color);
    }
    if let Some(surge) = &args.pace {
        return pace(args, surge, color);
    }
    let p = match super::compile(&args.file, None, args.slo_margin, color) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let traffic = match simulate::profile(&p, args.traffic.as_deref()) {
        Ok(t) => t,
        Err(failed) => return report(&failed, color),
    };
    let progress = Progress::new("simulating", args.requests, "requests");
    let result = simulate::simulate(
        &p,
        traffic,
        args.requests,
        args.seed,
        &mut progress.callback(),
    );
    drop(progress);
    let simulation = match result {
        Ok(s) => s,
        Err(failed) => return report(&failed, color),
    };
    let plotted = match (&simulation, &args.plot) {
        (Simulation::Sampled { report, run }, Some(out)) => {
            plot::write_simulation(&p, out, report, run)
        }
        (Simulation::Replayed { replay, records }, Some(out)) => {
            plot::write_replay(&p, out, replay, records)
        }
        (_, None) => Ok(()),
    };
    if let Err(why) = plotted {
        super::eprint(&format!("routec: {why}\n"));
        return exit::USAGE;
    }
    let name = &p.source.name;
    print(&match (&simulation, args.format) {
        (Simulation::Sampled { report, .. }, OutputFormat::Json) => {
            routec_render::pretty(&render::report_json(&p.policy, report))
        }
        (Simulation::Sampled { report, .. }, OutputFormat::Human) => {
            render::human(name, &p.policy, report)
        }
        (Simulation::Replayed { replay, .. }, OutputFormat::Json) => {
            routec_render::pretty(&evaluate::replay_json(replay))
        }
        (Simulation::Replayed { replay, .. }, OutputFormat::Human) => evaluate::human(name, replay),
    });
    exit::OK
}

/// `--pace [SURGE]`: one period of the spend budget, paced and at each
/// rung alone (`routec_sim::pacing`).
fn pace(args: &SimulateArgs, surge: &str, color: ColorChoice) -> u8 {
    let surge = match surge {
        "" => None,
        text => match routec_sim::pacing::Surge::parse(text) {
            Ok(s) => Some(s),
            Err(why) => {
                super::eprint(&format!("routec: {why}\n"));
                return exit::USAGE;
            }
        },
    };
    let p = match super::compile(&args.file, None, args.slo_margin, color) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let traffic = match simulate::profile(&p, args.traffic.as_deref()) {
        Ok(t) => t,
        Err(failed) => return report(&failed, color),
    };
    let id = routec_check::ir::TrafficId(traffic as u32);
    match routec_sim::pacing::period(&p.policy, &p.compiled.table, id, surge, args.seed) {
        Ok(r) => {
            print(&match args.format {
                OutputFormat::Json => routec_render::pretty(&routec_render::pacing::json(&r)),
                OutputFormat::Human => routec_render::pacing::human(&r),
            });
            exit::OK
        }
        Err(why) => {
            super::eprint(&format!(
                "routec: cannot simulate pacing for `{}`: {why}\n",
                p.source.name
            ));
            exit::USAGE
        }
    }
}

/// `--off-policy LOG`: the candidate is a policy (compiled as by
/// `simulate`, with `--traffic` and `--slo-margin`) or a decision table.
fn off_policy(args: &SimulateArgs, log: &Path, color: ColorChoice) -> u8 {
    let router = if decide::is_policy(&args.file) {
        let p = match super::compile(&args.file, args.traffic.as_deref(), args.slo_margin, color) {
            Ok(p) => p,
            Err(code) => return code,
        };
        routec_driver::explain::router(&p)
    } else if args.slo_margin.is_some() {
        Err(routec_driver::Failed::Usage(
            "`--slo-margin` applies to a policy, not to a compiled table".into(),
        ))
    } else {
        decide::load_router(&args.file, args.traffic.as_deref()).map(|l| l.router)
    };
    let router = match router {
        Ok(r) => r,
        Err(failed) => return report(&failed, color),
    };
    let name = super::display_name(log);
    let text = match source::read_traffic_or_stdin(log) {
        Ok(text) => text,
        Err(e) => {
            super::eprint(&format!("routec: cannot read `{name}`: {e}\n"));
            return exit::USAGE;
        }
    };
    match offpolicy::off_policy(&router, &name, &text) {
        Ok(r) => {
            print(&match args.format {
                OutputFormat::Json => routec_render::pretty(&routec_render::offpolicy::json(&r)),
                OutputFormat::Human => routec_render::offpolicy::human(&r),
            });
            exit::OK
        }
        // Bad lines in the log are usage errors (exit 2), located.
        Err(failed) => report(&failed, color).max(exit::USAGE),
    }
}
