//! `routec diff OLD NEW [--traffic NAME] [--format human|json|markdown]`
//!
//! Each side is a file or a git revision `REV:path` (read with
//! `git cat-file`, in the current directory's repository; an existing file
//! of that name wins). Both sides are checked and compiled for the same
//! traffic profile, then compared by `routec_diff`; the report is rendered
//! by `render::diff`.

use clap::ValueEnum;
use routec_render::diff as render;

use super::{print, report};
use crate::cli::{ColorChoice, exit};

pub const HELP: &str = "\
Examples:
  routec diff old/support.route support.route
  routec diff main:examples/support.route examples/support.route
  routec diff HEAD~1:policies/support.route policies/support.route --traffic launch
  routec diff main:support.route support.route --format markdown > comment.md
  routec diff a.route b.route --format json | jq .regions

OLD and NEW are files or git revisions `REV:PATH` (`main:policies/x.route`),
read from the repository of the current directory; PATH is relative to the
repository's root (or to the current directory when written `REV:./PATH`).
A file whose name contains `:` wins over the revision form.

Both policies are checked and compiled for one traffic profile: `--traffic`
(it must exist in NEW; default: NEW's first profile). OLD uses its profile
of the same name, or its first when it has none of that name (the report
says so). The comparison is exact and behavioral, not textual: the two
decision tables are walked together over the whole request space, and
every region whose plan (or split shares) changed is listed as a condition
in the language's syntax, with the share of traffic it carries and an
example request (`routec explain FILE --request JSON` accepts it). Policies
that differ only in text report `no behavioral change`.

Predicted deltas come from the compiler's analytic model under the profile:
p50/p95/p99 TTFT and end-to-end latency, cost per 1k requests and per
success, quality overall and per slice, calls per model, the composite
score, and every SLO whose status or slack changed.

Formats: `human` (the default; colours on a terminal), `json` (stable field
names, documented in docs/diff.md) and `markdown` (a pull-request comment: a
summary table, then the details in collapsed sections).

Exit codes:
  0  compared, whether or not the behavior changed
  1  OLD or NEW has errors, or SLOs no routing can meet (or the two tables
     split the request space into more than 2,000,000 pieces)
  2  usage or IO errors: a missing file, an unknown git revision or a path
     not in it, an unknown traffic profile";

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The old policy: a file or a git revision `REV:PATH`.
    #[arg(value_name = "OLD")]
    pub old: String,
    /// The new policy: a file or a git revision `REV:PATH`.
    #[arg(value_name = "NEW")]
    pub new: String,
    /// The traffic profile (must exist in NEW; default: NEW's first).
    #[arg(long, value_name = "NAME")]
    pub traffic: Option<String>,
    /// The report format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// An aligned report for people.
    Human,
    /// One JSON document.
    Json,
    /// A pull-request comment.
    Markdown,
}

pub fn run(args: &DiffArgs, color: ColorChoice) -> u8 {
    let compared = match routec_driver::diff::diff(&args.old, &args.new, args.traffic.as_deref()) {
        Ok(c) => c,
        Err(failures) => {
            return failures
                .iter()
                .map(|f| report(f, color))
                .fold(exit::OK, super::worst);
        }
    };
    let sides = render::Sides {
        old: &compared.old.policy.source.name,
        new: &compared.new.policy.source.name,
        old_traffic: compared.old.traffic.as_deref(),
        new_traffic: compared.new.traffic.as_deref(),
    };
    let report = render::report(&sides, &compared.diff);
    print(&match args.format {
        DiffFormat::Json => routec_render::pretty(&render::json(&report)),
        DiffFormat::Human => render::human(&report, color.stdout()),
        DiffFormat::Markdown => render::markdown(&report),
    });
    exit::OK
}
