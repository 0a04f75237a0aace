//! `diff`: what two policies do differently. Each side is a file or a git
//! revision `REV:PATH` ([`Source::file_or_revision`]); both are checked and
//! compiled for one traffic profile (NEW's `traffic`, or its first; OLD's
//! profile of that name, or its first) and compared by `routec_diff`.
//! Warnings are left to `check` and `compile`.

use crate::pipeline::{self, CompiledPolicy};
use crate::{Failed, Source, traffic_index};

/// One side, compiled.
#[derive(Debug)]
pub struct DiffSide {
    pub policy: CompiledPolicy,
    /// The profile it was compiled for (`None`: the policy declares none).
    pub traffic: Option<String>,
}

impl DiffSide {
    fn side(&self) -> routec_diff::Side<'_> {
        routec_diff::Side {
            policy: &self.policy.policy,
            source: &self.policy.source.text,
            compiled: &self.policy.compiled,
            traffic: self.traffic.as_deref(),
            recorded: self.policy.recorded.as_ref(),
        }
    }
}

/// The comparison and its two sides.
#[derive(Debug)]
pub struct Compared {
    pub old: DiffSide,
    pub new: DiffSide,
    pub diff: routec_diff::Diff,
}

/// Compares `old` and `new` (files or `REV:PATH`) under profile `traffic`.
/// Every problem of both sides is returned (usage errors first).
pub fn diff(old: &str, new: &str, traffic: Option<&str>) -> Result<Compared, Vec<Failed>> {
    let old_source = Source::file_or_revision(old).map_err(|e| vec![e.into()])?;
    let new_source = Source::file_or_revision(new).map_err(|e| vec![e.into()])?;
    let (old_checked, new_checked) =
        match (pipeline::check(old_source), pipeline::check(new_source)) {
            (Ok(o), Ok(n)) => (o, n),
            (o, n) => {
                return Err([o.err(), n.err()]
                    .into_iter()
                    .flatten()
                    .map(Failed::without_warnings)
                    .collect());
            }
        };
    let new_traffic = match traffic {
        Some(name) => {
            traffic_index(&new_checked.policy, name)
                .map_err(|why| vec![Failed::Usage(format!("{new}: {why}"))])?;
            Some(name.to_owned())
        }
        None => new_checked.policy.traffic.first().map(|t| t.name.clone()),
    };
    let old_traffic = match &new_traffic {
        Some(name) if old_checked.policy.traffic.iter().any(|t| &t.name == name) => {
            Some(name.clone())
        }
        _ => old_checked.policy.traffic.first().map(|t| t.name.clone()),
    };
    let (old_compiled, new_compiled) = match (
        pipeline::compile(old_checked, old_traffic.as_deref()),
        pipeline::compile(new_checked, new_traffic.as_deref()),
    ) {
        (Ok(o), Ok(n)) => (o, n),
        (o, n) => {
            let mut failures: Vec<Failed> = [o.err(), n.err()]
                .into_iter()
                .flatten()
                .map(Failed::without_warnings)
                .collect();
            failures.sort_by_key(|f| !matches!(f, Failed::Usage(_)));
            return Err(failures);
        }
    };
    let old = DiffSide {
        policy: old_compiled,
        traffic: old_traffic,
    };
    let new = DiffSide {
        policy: new_compiled,
        traffic: new_traffic,
    };
    let diff = routec_diff::diff(&old.side(), &new.side()).map_err(|e| {
        vec![Failed::Policy(format!(
            "cannot compare the two policies: {e}"
        ))]
    })?;
    Ok(Compared { old, new, diff })
}

/// Compares two compiled policies (say, a table and its re-fit on recent
/// traffic: `routec serve`'s `drift ... => refit`), each under the profile
/// it was compiled for.
pub fn compare(old: CompiledPolicy, new: CompiledPolicy) -> Result<Compared, String> {
    let traffic = |p: &CompiledPolicy| p.traffic.and_then(|i| p.traffic_name(i)).map(str::to_owned);
    let old = DiffSide {
        traffic: traffic(&old),
        policy: old,
    };
    let new = DiffSide {
        traffic: traffic(&new),
        policy: new,
    };
    let diff = routec_diff::diff(&old.side(), &new.side())
        .map_err(|e| format!("cannot compare the two tables: {e}"))?;
    Ok(Compared { old, new, diff })
}

impl Compared {
    /// One line: the share of traffic routed differently and the predicted
    /// cost and quality of each side (each on the traffic it was compiled
    /// for).
    pub fn summary(&self) -> String {
        let (o, n) = (&self.diff.old.metrics, &self.diff.new.metrics);
        let regions = self.diff.regions.changed.len();
        format!(
            "routes {:.1}% of traffic differently ({regions} region{}); predicted ${:.4} -> ${:.4} per 1k requests, quality {:.2}% -> {:.2}%",
            100.0 * self.diff.regions.changed_share,
            if regions == 1 { "" } else { "s" },
            o.cost_per_1k_requests,
            n.cost_per_1k_requests,
            100.0 * o.quality,
            100.0 * n.quality,
        )
    }
}
