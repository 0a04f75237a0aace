//! Fuzzes the front end: parsing, checking and formatting must never panic,
//! and formatting must be idempotent on whatever parses cleanly.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let parse = routec_syntax::parse(source);
    for d in &parse.diagnostics {
        assert!(d.span.end as usize <= source.len());
    }
    let _ = routec_check::check(&parse.file);
    if parse.diagnostics.is_empty() {
        if let Ok(once) = routec_syntax::fmt::format(source) {
            let twice = routec_syntax::fmt::format(&once).expect("formats its own output");
            assert_eq!(once, twice);
        }
    }
});
