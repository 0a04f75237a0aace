//! The routec command-line interface (work in progress).
