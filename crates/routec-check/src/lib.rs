//! The checker: name resolution, types and units, and lints.
pub mod codes;
pub mod index;
pub mod ir;
pub mod space;
