//! The `routec` binary.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(routec::run(std::env::args_os()))
}
