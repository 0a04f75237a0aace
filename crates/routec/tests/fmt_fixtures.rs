//! Formatter fixtures: every `tests/fmt/*.route` at the repository root is
//! formatted, and the snapshot shows the input, then the output. Carriage
//! returns, tabs and trailing spaces in the input are shown as `␍`, `␉`
//! and `·`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use routec_syntax::fmt::format;

fn visible(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            let code = line.trim_end_matches(' ');
            let spaces = line.len() - code.len();
            format!(
                "{}{}",
                code.replace('\r', "␍").replace('\t', "␉"),
                "·".repeat(spaces)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn fmt_fixtures() {
    insta::glob!("../../../tests/fmt", "*.route", |path| {
        let input = std::fs::read_to_string(path).unwrap();
        let output = format(&input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(format(&output).unwrap(), output, "not idempotent");
        insta::assert_snapshot!(format!(
            "--- input ---\n{}\n--- output ---\n{output}",
            visible(&input)
        ));
    });
}
