//! Stable codes of the importer's diagnostics (`E07xx` errors, `W07xx`
//! warnings), located in the imported config's text. Each is documented in
//! `docs/diagnostics.md` and exercised by a fixture in `tests/import/`
//! (both enforced by tests).

/// The config is not valid YAML, JSON or TOML, is too large or nested too
/// deep (`routec import` exits with 2).
pub const CONFIG_SYNTAX: &str = "E0700";
/// The file is not a config of the kind named on the command line
/// (`routec import` exits with 2).
pub const WRONG_KIND: &str = "E0701";
/// Fallbacks that lead back to where they started.
pub const FALLBACK_CYCLE: &str = "E0702";
/// A routing strategy or mode name the router does not know.
pub const UNKNOWN_STRATEGY: &str = "E0703";
/// Two definitions with the same name where the router needs them unique.
pub const DUPLICATE_NAME: &str = "E0704";
/// A fallback, condition or routing entry that names nothing defined.
pub const UNKNOWN_REFERENCE: &str = "E0705";
/// A value of the wrong type or out of range.
pub const BAD_VALUE: &str = "E0706";
/// The config defines nothing a policy could route to.
pub const NOTHING_TO_ROUTE: &str = "E0707";
/// The importer produced text the formatter refused (a bug in routec).
pub const INTERNAL: &str = "E0799";
/// A fallback, target or provider no request can reach.
pub const UNREACHABLE: &str = "W0700";
/// A context-window fallback to a model whose window is not larger.
pub const SMALLER_CONTEXT_FALLBACK: &str = "W0701";
/// A limit or budget that never takes effect.
pub const QUOTA_NEVER_APPLIES: &str = "W0702";
/// An API key written in the config instead of read from the environment.
pub const INLINE_SECRET: &str = "W0703";
/// A mapping key written twice; the reader keeps the last one.
pub const DUPLICATE_KEY: &str = "W0704";

/// Every code, for the tests that check each is documented and exercised.
pub const ALL: &[&str] = &[
    CONFIG_SYNTAX,
    WRONG_KIND,
    FALLBACK_CYCLE,
    UNKNOWN_STRATEGY,
    DUPLICATE_NAME,
    UNKNOWN_REFERENCE,
    BAD_VALUE,
    NOTHING_TO_ROUTE,
    UNREACHABLE,
    SMALLER_CONTEXT_FALLBACK,
    QUOTA_NEVER_APPLIES,
    INLINE_SECRET,
    DUPLICATE_KEY,
];
