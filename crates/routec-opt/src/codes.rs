//! Stable codes of the optimizer's diagnostics (`E051x`/`W051x`: objective
//! and SLOs, after the checker's `E050x`; `W0601`: faults, after the
//! checker's `W0600`). `docs/diagnostics.md` describes each one.

/// The SLOs cannot all be met by any assignment of plans to cells.
pub const SLOS_CONFLICT: &str = "E0510";
/// The traffic profile named in the options does not exist.
pub const UNKNOWN_TRAFFIC_PROFILE: &str = "E0511";
/// The solver did not converge.
pub const SOLVER_FAILED: &str = "E0512";
/// The request space has too many cells to optimize.
pub const TOO_MANY_CELLS: &str = "E0513";
/// The policy has errors the optimizer cannot work around (unresolved
/// conditions or plans): run the checker first.
pub const UNRESOLVED: &str = "E0514";
/// A line of a recorded traffic file is malformed or does not fit the
/// policy (reported by `routec check` at the profile's declaration).
pub const BAD_RECORDED_LINE: &str = "E0515";
/// A recorded traffic file could not be read (missing, too large, not
/// UTF-8); reported by the editor at the profile's declaration.
pub const RECORDED_FILE_UNREADABLE: &str = "E0516";
/// An SLO the optimizer cannot enforce (no table is compiled that would
/// silently ignore it).
pub const SLO_NOT_ENFORCEABLE: &str = "E0517";

/// A cascade's escalations alone exceed a latency SLO.
pub const CASCADE_BREAKS_SLO: &str = "W0510";
/// The traffic profile is a recorded file that was not loaded (the caller
/// compiled without its records).
pub const TRAFFIC_FILE_IGNORED: &str = "W0512";
/// A slice judged by an SLO has too few recorded (labeled) requests.
pub const FEW_RECORDED_SAMPLES: &str = "W0513";
/// A `timeout` or `ttft timeout` cuts a share of a routed model's answers
/// under the traffic profile.
pub const TIMEOUT_CUTS_ANSWERS: &str = "W0601";

/// The table meets its SLOs at the profile's `qps` but breaks some at the
/// profile's declared `peak`.
pub const PEAK_BREAKS_SLO: &str = "W0520";
/// Models declare a capacity or rate limit, but the traffic profile has no
/// `qps`: load is not modelled.
pub const LOAD_WITHOUT_QPS: &str = "W0521";

/// Every code above (each has a section in `docs/diagnostics.md`).
pub const ALL: &[&str] = &[
    SLOS_CONFLICT,
    UNKNOWN_TRAFFIC_PROFILE,
    SOLVER_FAILED,
    TOO_MANY_CELLS,
    UNRESOLVED,
    BAD_RECORDED_LINE,
    RECORDED_FILE_UNREADABLE,
    SLO_NOT_ENFORCEABLE,
    CASCADE_BREAKS_SLO,
    TRAFFIC_FILE_IGNORED,
    FEW_RECORDED_SAMPLES,
    PEAK_BREAKS_SLO,
    LOAD_WITHOUT_QPS,
    TIMEOUT_CUTS_ANSWERS,
];
