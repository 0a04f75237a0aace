//! The checker (work in progress).
