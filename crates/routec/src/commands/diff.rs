//! `routec diff OLD NEW [--traffic NAME] [--format human|json|markdown]`
//!
//! Each side is a file or a git revision `REV:path` (read with
//! `git cat-file`, in the current directory's repository; an existing file
//! of that name wins). Both sides are checked and compiled for the same
//! traffic profile, then compared by `routec_diff`; the report is rendered
//! by `render::diff`.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::ValueEnum;
use routec_syntax::MAX_SOURCE_BYTES;

use super::{eprint, print};
use crate::cli::{ColorChoice, exit};
use crate::pipeline::{self, Pipeline, Warnings, traffic_index};
use crate::render::diff as render;
use crate::source;

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

/// One side, checked and compiled.
struct Built {
    pipeline: Pipeline,
    traffic: Option<String>,
}

pub fn run(args: &DiffArgs, color: ColorChoice) -> u8 {
    let old = match read_side(&args.old) {
        Ok(s) => s,
        Err(why) => {
            eprint(&format!("routec: {why}\n"));
            return exit::USAGE;
        }
    };
    let new = match read_side(&args.new) {
        Ok(s) => s,
        Err(why) => {
            eprint(&format!("routec: {why}\n"));
            return exit::USAGE;
        }
    };
    let old_checked = pipeline::check(args.old.clone(), old, Warnings::Omit, color);
    let new_checked = pipeline::check(args.new.clone(), new, Warnings::Omit, color);
    let (Ok(old_loaded), Ok(new_loaded)) = (old_checked, new_checked) else {
        return exit::FAILURE;
    };
    let (old_policy, new_policy) = (&old_loaded.policy, &new_loaded.policy);
    // The profile: NEW's `--traffic` (or first); OLD's of the same name, or
    // its first.
    let new_traffic = match &args.traffic {
        Some(name) => match traffic_index(new_policy, name) {
            Ok(_) => Some(name.clone()),
            Err(why) => {
                eprint(&format!("routec: {}: {why}\n", args.new));
                return exit::USAGE;
            }
        },
        None => new_policy.traffic.first().map(|t| t.name.clone()),
    };
    let old_traffic = match &new_traffic {
        Some(name) if old_policy.traffic.iter().any(|t| &t.name == name) => Some(name.clone()),
        _ => old_policy.traffic.first().map(|t| t.name.clone()),
    };
    let old_built = compile(old_loaded, old_traffic, color);
    let new_built = compile(new_loaded, new_traffic, color);
    let (old_built, new_built) = match (old_built, new_built) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(a), Err(b)) => return super::worst(a, b),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let diff = match routec_diff::diff(&old_built.side(), &new_built.side()) {
        Ok(d) => d,
        Err(e) => {
            eprint(&format!("routec: cannot compare the two policies: {e}\n"));
            return exit::FAILURE;
        }
    };
    let sides = render::Sides {
        old: &old_built.pipeline.name,
        new: &new_built.pipeline.name,
        old_traffic: old_built.traffic.as_deref(),
        new_traffic: new_built.traffic.as_deref(),
    };
    let report = render::json(&sides, &diff);
    let text = match args.format {
        DiffFormat::Json => {
            let mut t = serde_json::to_string_pretty(&report).unwrap_or_default();
            t.push('\n');
            t
        }
        DiffFormat::Human => render::human(&report, color.stdout()),
        DiffFormat::Markdown => render::markdown(&report),
    };
    print(&text);
    exit::OK
}

impl Built {
    fn side(&self) -> routec_diff::Side<'_> {
        routec_diff::Side {
            policy: &self.pipeline.policy,
            source: &self.pipeline.source,
            compiled: &self.pipeline.compiled,
            traffic: self.traffic.as_deref(),
            recorded: self.pipeline.recorded.as_ref(),
        }
    }
}

/// The text of one side: a file, or `REV:PATH` from git when no such file
/// exists.
fn read_side(spec: &str) -> Result<String, String> {
    let path = Path::new(spec);
    if path.exists() {
        return source::read(path).map_err(|e| format!("cannot read `{spec}`: {e}"));
    }
    match spec.split_once(':') {
        Some((rev, file)) if !rev.is_empty() && !file.is_empty() => read_git(spec, rev, file),
        _ => source::read(&PathBuf::from(spec)).map_err(|e| format!("cannot read `{spec}`: {e}")),
    }
}

fn git(args: &[&str]) -> Result<std::process::Output, String> {
    Command::new("git")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `git`: {}", source::io_message(&e)))
}

/// `git cat-file blob REV:PATH`, with errors that say which part is wrong.
fn read_git(spec: &str, rev: &str, file: &str) -> Result<String, String> {
    if rev.starts_with('-') {
        return Err(format!(
            "cannot read `{spec}`: `{rev}` is not a git revision"
        ));
    }
    let inside = git(&["rev-parse", "--is-inside-work-tree"])?;
    if !inside.status.success() {
        return Err(format!(
            "cannot read `{spec}`: no file of that name, and the current directory is not in a git repository"
        ));
    }
    let commit = git(&[
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        &format!("{rev}^{{commit}}"),
    ])?;
    if !commit.status.success() {
        return Err(format!(
            "cannot read `{spec}`: no file of that name, and `{rev}` is not a git revision"
        ));
    }
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_owned();
    let object = format!("{commit}:{file}");
    let exists = git(&["cat-file", "-e", &object])?;
    if !exists.status.success() {
        return Err(format!(
            "cannot read `{spec}`: `{file}` does not exist in revision `{rev}`"
        ));
    }
    let blob = git(&["cat-file", "blob", &object])?;
    if !blob.status.success() {
        return Err(format!(
            "cannot read `{spec}`: `{file}` is not a file in revision `{rev}`"
        ));
    }
    if blob.stdout.len() > MAX_SOURCE_BYTES {
        return Err(format!(
            "cannot read `{spec}`: {}",
            source::ReadError::TooLarge
        ));
    }
    String::from_utf8(blob.stdout)
        .map_err(|_| format!("cannot read `{spec}`: {}", source::ReadError::NotUtf8))
}

/// Compiles one checked side for `traffic` (see
/// [`pipeline::compile_checked`]). A recorded profile's file is read from
/// the working tree, relative to the side's path (for `REV:PATH`, to PATH).
/// Warnings are left to `routec check` and `routec compile`.
fn compile(
    loaded: pipeline::Loaded,
    traffic: Option<String>,
    color: ColorChoice,
) -> Result<Built, u8> {
    let name = loaded.name.clone();
    let path = match name.split_once(':') {
        Some((_, file)) if !Path::new(&name).exists() => PathBuf::from(file),
        _ => PathBuf::from(&name),
    };
    let pipeline =
        pipeline::compile_checked(loaded, &path, traffic.as_deref(), Warnings::Omit, color)?;
    Ok(Built { pipeline, traffic })
}
