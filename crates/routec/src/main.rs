//! The `routec` binary.

fn main() {}
