//! Stable codes of the syntax diagnostics. Codes are never reused; see
//! `docs/diagnostics.md` for an example of each.

/// Unexpected token: the parser expected something else here.
pub const SYNTAX: &str = "E0001";
/// A string literal is not closed on its line.
pub const UNTERMINATED_STRING: &str = "E0002";
/// A character the language has no use for.
pub const UNKNOWN_CHARACTER: &str = "E0003";
/// Expressions or plans nested deeper than the parser allows.
pub const TOO_DEEP: &str = "E0004";
/// The input is larger than the compiler accepts.
pub const TOO_LARGE: &str = "E0005";
/// A reserved word is used as a name.
pub const RESERVED_NAME: &str = "E0006";
/// A number that cannot be read (too large, or malformed).
pub const BAD_NUMBER: &str = "E0007";

/// A name written with `-` (`gpt-4o-mini`).
pub const HYPHEN_IN_NAME: &str = "E0008";

/// Every syntax code, for documentation and coverage tests.
pub const ALL: &[&str] = &[
    SYNTAX,
    UNTERMINATED_STRING,
    UNKNOWN_CHARACTER,
    TOO_DEEP,
    TOO_LARGE,
    RESERVED_NAME,
    BAD_NUMBER,
    HYPHEN_IN_NAME,
];
