//! `routec simulate FILE [--traffic NAME] [--requests N] [--seed S]
//! [--format human|json] [--plot FILE.svg]`: samples a declared profile, or
//! replays a labeled recorded one (`routec_driver::simulate`).

use routec_driver::simulate::{self, Simulation};
use routec_render::{evaluate, simulate as render};

use super::progress::Progress;
use super::{plot, print, report};
use crate::cli::{ColorChoice, OutputFormat, SimulateArgs, exit};

pub fn run(args: &SimulateArgs, color: ColorChoice) -> u8 {
    if let Some(loads) = &args.load {
        return super::load::run(args, loads, color);
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
