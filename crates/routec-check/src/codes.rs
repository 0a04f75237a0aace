//! Stable codes of the checker diagnostics, grouped by area. Codes are never
//! reused or renumbered; `docs/diagnostics.md` describes each one with an
//! example and a fix. Errors are `E01xx`..`E06xx`, warnings `W01xx`..`W06xx`:
//! the second digit is the area (1 names, 2 types and values, 3 conditions
//! and routes, 4 models, 5 objective and SLOs, 6 faults, learning, traffic
//! and tests).

// ---------------------------------------------------------------- names

/// A word in a condition is neither a signal nor a slice.
pub const UNKNOWN_NAME: &str = "E0100";
/// A signal name that is not declared or built in.
pub const UNKNOWN_SIGNAL: &str = "E0101";
/// A model name that is not declared.
pub const UNKNOWN_MODEL: &str = "E0102";
/// A slice name that is not declared.
pub const UNKNOWN_SLICE: &str = "E0103";
/// A traffic profile name that is not declared.
pub const UNKNOWN_TRAFFIC: &str = "E0104";
/// A value that is not a variant of the signal's enum.
pub const UNKNOWN_VALUE: &str = "E0105";
/// A keyword-like word the language does not know here (a signal source,
/// a weight key, a capability, a drift action, ...).
pub const UNKNOWN_WORD: &str = "E0106";
/// A signal type that does not exist.
pub const UNKNOWN_TYPE: &str = "E0107";
/// A unit suffix or unit word that does not exist.
pub const UNKNOWN_UNIT: &str = "E0108";
/// Two definitions with the same name (or a redefined built-in signal).
pub const DUPLICATE_DEFINITION: &str = "E0110";
/// The same property written twice in one block.
pub const DUPLICATE_PROPERTY: &str = "E0111";
/// The same variant written twice in one enum.
pub const DUPLICATE_VARIANT: &str = "E0112";
/// The file has no `policy` item.
pub const MISSING_POLICY: &str = "E0113";
/// A block that may appear once (`policy`, `objective`, `route`, `faults`,
/// `learn`) appears again.
pub const DUPLICATE_BLOCK: &str = "E0114";
/// A required property is missing (a signal's `default`, a classifier's
/// `cost`, the policy's `baseline`, a test's `expect`).
pub const MISSING_PROPERTY: &str = "E0115";
/// The file has no `route` block.
pub const MISSING_ROUTE: &str = "E0116";
/// A property that does not belong where it is written.
pub const MISPLACED_PROPERTY: &str = "E0117";

// ---------------------------------------------------------------- types and values

/// A value of the wrong type or unit (`latency p95 <= $5`).
pub const TYPE_MISMATCH: &str = "E0200";
/// A value outside the range its type allows (a ratio above 100%, a
/// negative price or duration).
pub const OUT_OF_RANGE: &str = "E0201";
/// Quantiles that decrease (`p50 300ms p95 200ms`).
pub const QUANTILES_OUT_OF_ORDER: &str = "E0202";
/// A fraction where a whole number is required.
pub const NOT_A_WHOLE_NUMBER: &str = "E0203";
/// A percentile that is not `p1`..`p99` (or `p99.9`).
pub const BAD_PERCENTILE: &str = "E0204";
/// An operator that does not apply to the signal's type.
pub const BAD_OPERATOR: &str = "E0205";
/// An enum with no variants.
pub const EMPTY_ENUM: &str = "E0206";
/// A signal used where an enum signal is required.
pub const NOT_AN_ENUM: &str = "E0207";

// ---------------------------------------------------------------- conditions and routes

/// A word or literal used as a condition that is not one.
pub const NOT_A_CONDITION: &str = "E0300";
/// A comparison that no request can satisfy.
pub const COMPARISON_NEVER_TRUE: &str = "E0301";
/// A rule or slice condition that no request can satisfy.
pub const CONDITION_NEVER_TRUE: &str = "E0302";
/// A rule that only matches requests earlier rules already take.
pub const SHADOWED_RULE: &str = "E0303";
/// A rule written after `otherwise`.
pub const RULE_AFTER_OTHERWISE: &str = "E0304";
/// Some requests match no rule and there is no `otherwise`.
pub const MISSING_OTHERWISE: &str = "E0305";
/// A split whose shares do not sum to 100%.
pub const SPLIT_SUM: &str = "E0306";
/// A cascade with fewer than two stages or without an acceptance test.
pub const BAD_CASCADE: &str = "E0307";
/// An `optimize ... by` dimension that cannot partition the requests.
pub const BAD_DIMENSION: &str = "E0308";
/// An `optimize []` with no candidates.
pub const EMPTY_OPTIMIZE: &str = "E0309";
/// A slice defined in terms of itself.
pub const SLICE_CYCLE: &str = "E0310";

// ---------------------------------------------------------------- models

/// A route sends prompts longer than the model's context window.
pub const CONTEXT_TOO_SMALL: &str = "E0400";
/// A route sends requests the model has no quality figure for.
pub const NO_QUALITY: &str = "E0401";
/// A route sends images or tools to a model that does not support them.
pub const UNSUPPORTED_INPUT: &str = "E0402";
/// No `optimize` candidate can serve part of the rule's requests.
pub const NO_CANDIDATE: &str = "E0403";
/// Models whose `fallback` chain loops.
pub const FALLBACK_CYCLE: &str = "E0404";
/// Models whose `extends` chain loops.
pub const EXTENDS_CYCLE: &str = "E0405";
/// A secret written inline where `env("...")` is required.
pub const INLINE_SECRET: &str = "E0406";

// ---------------------------------------------------------------- objective and SLOs

/// A negative objective weight.
pub const NEGATIVE_WEIGHT: &str = "E0500";
/// Objective weights that do not sum to 1.
pub const WEIGHTS_SUM: &str = "E0501";
/// An objective that cannot be optimized (`maximize cost`).
pub const BAD_OBJECTIVE: &str = "E0502";
/// An SLO or test metric written in a form the language does not measure.
pub const BAD_METRIC: &str = "E0503";
/// An SLO scope that does not apply to its metric.
pub const BAD_SCOPE: &str = "E0504";
/// An `optimize` plan without an `objective` to choose by.
pub const MISSING_OBJECTIVE: &str = "E0505";

// ---------------------------------------------------------------- faults, learning, traffic and tests

/// A retry status that is not a status code, a class like `5xx`, or `timeout`.
pub const BAD_RETRY_STATUS: &str = "E0600";
/// A traffic mix whose shares do not sum to 100%.
pub const MIX_SUM: &str = "E0601";
/// A traffic distribution that does not fit the signal's type.
pub const BAD_DISTRIBUTION: &str = "E0602";
/// A test whose clauses do not fit together.
pub const BAD_TEST: &str = "E0603";
/// A judge's sampling rate that is not one share per request rate (a term
/// without its rate among several, rates out of order, `below` not first).
pub const BAD_SAMPLING: &str = "E0604";

// ---------------------------------------------------------------- warnings

/// A signal no rule, slice or quality table reads.
pub const UNUSED_SIGNAL: &str = "W0100";
/// A model nothing refers to.
pub const UNUSED_MODEL: &str = "W0101";
/// A slice nothing refers to.
pub const UNUSED_SLICE: &str = "W0102";
/// A traffic profile nothing refers to.
pub const UNUSED_TRAFFIC: &str = "W0103";
/// A classifier signal that no reachable rule reads.
pub const CLASSIFIER_NOT_READ: &str = "W0104";
/// A comparison every request satisfies.
pub const COMPARISON_ALWAYS_TRUE: &str = "W0300";
/// A `when` or slice condition every request satisfies.
pub const CONDITION_ALWAYS_TRUE: &str = "W0301";
/// A split or optimize with a single option.
pub const SINGLE_OPTION: &str = "W0302";
/// A cascade that names the same model twice.
pub const CASCADE_REPEATS_MODEL: &str = "W0303";
/// `at` thresholds that are unsorted or repeated.
pub const UNSORTED_THRESHOLDS: &str = "W0304";
/// A string in `params` or `endpoint` that looks like a secret.
pub const SECRET_LIKE_STRING: &str = "W0400";
/// An `optimize` candidate that can serve none of the rule's requests.
pub const CANDIDATE_NEVER_SERVES: &str = "W0401";
/// A model without a price, latency or quality figure.
pub const INCOMPLETE_MODEL: &str = "W0402";
/// A price tier for prompts no model context window admits.
pub const PRICE_TIER_NEVER_APPLIES: &str = "W0403";
/// `for each slice` in a policy that declares no slices.
pub const NO_SLICES: &str = "W0500";
/// An SLO bound that points the unusual way (a floor on latency).
pub const SLO_DIRECTION: &str = "W0501";
/// A fault timing that can never take effect (hedging after the timeout).
pub const FAULT_TIMING: &str = "W0600";

/// Every checker code, for documentation and coverage tests.
pub const ALL: &[&str] = &[
    UNKNOWN_NAME,
    UNKNOWN_SIGNAL,
    UNKNOWN_MODEL,
    UNKNOWN_SLICE,
    UNKNOWN_TRAFFIC,
    UNKNOWN_VALUE,
    UNKNOWN_WORD,
    UNKNOWN_TYPE,
    UNKNOWN_UNIT,
    DUPLICATE_DEFINITION,
    DUPLICATE_PROPERTY,
    DUPLICATE_VARIANT,
    MISSING_POLICY,
    DUPLICATE_BLOCK,
    MISSING_PROPERTY,
    MISSING_ROUTE,
    MISPLACED_PROPERTY,
    TYPE_MISMATCH,
    OUT_OF_RANGE,
    QUANTILES_OUT_OF_ORDER,
    NOT_A_WHOLE_NUMBER,
    BAD_PERCENTILE,
    BAD_OPERATOR,
    EMPTY_ENUM,
    NOT_AN_ENUM,
    NOT_A_CONDITION,
    COMPARISON_NEVER_TRUE,
    CONDITION_NEVER_TRUE,
    SHADOWED_RULE,
    RULE_AFTER_OTHERWISE,
    MISSING_OTHERWISE,
    SPLIT_SUM,
    BAD_CASCADE,
    BAD_DIMENSION,
    EMPTY_OPTIMIZE,
    SLICE_CYCLE,
    CONTEXT_TOO_SMALL,
    NO_QUALITY,
    UNSUPPORTED_INPUT,
    NO_CANDIDATE,
    FALLBACK_CYCLE,
    EXTENDS_CYCLE,
    INLINE_SECRET,
    NEGATIVE_WEIGHT,
    WEIGHTS_SUM,
    BAD_OBJECTIVE,
    BAD_METRIC,
    BAD_SCOPE,
    MISSING_OBJECTIVE,
    BAD_RETRY_STATUS,
    MIX_SUM,
    BAD_DISTRIBUTION,
    BAD_TEST,
    BAD_SAMPLING,
    UNUSED_SIGNAL,
    UNUSED_MODEL,
    UNUSED_SLICE,
    UNUSED_TRAFFIC,
    CLASSIFIER_NOT_READ,
    COMPARISON_ALWAYS_TRUE,
    CONDITION_ALWAYS_TRUE,
    SINGLE_OPTION,
    CASCADE_REPEATS_MODEL,
    UNSORTED_THRESHOLDS,
    SECRET_LIKE_STRING,
    CANDIDATE_NEVER_SERVES,
    INCOMPLETE_MODEL,
    PRICE_TIER_NEVER_APPLIES,
    NO_SLICES,
    SLO_DIRECTION,
    FAULT_TIMING,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for code in ALL {
            assert!(seen.insert(*code), "duplicate code {code}");
            assert_eq!(code.len(), 5, "{code}");
            assert!(code.starts_with('E') || code.starts_with('W'), "{code}");
            assert!(code[1..].chars().all(|c| c.is_ascii_digit()), "{code}");
            assert!(code[1..] >= *"0100", "{code} collides with syntax codes");
        }
    }
}
