//! Infeasible policies: every independent conflicting set in one run, one
//! located `E0510` per SLO of a set (`for each slice` grouped), naming the
//! others, the best value each reaches with the other SLOs kept, and the
//! cause when it is a fixed rule (a cascade's also gets `W0510`) or a
//! timeout. Snapshots show the SLO
//! lines next to the diagnostics.

mod common;

fn render(source: &str, ds: &[routec_syntax::Diagnostic]) -> String {
    let line_of = |off: u32| source[..off as usize].matches('\n').count() + 1;
    let mut out = String::new();
    for d in ds {
        let line = line_of(d.span.start);
        out.push_str(&format!(
            "{}[{}]: {}\n  --> line {line}: {}\n",
            d.severity.as_str(),
            d.code,
            d.message,
            d.span.text(source).trim()
        ));
        if let Some(l) = &d.label {
            out.push_str(&format!("  label: {l}\n"));
        }
        for l in &d.labels {
            out.push_str(&format!(
                "  also line {}: {} ({})\n",
                line_of(l.span.start),
                l.span.text(source).trim(),
                l.message
            ));
        }
        if let Some(h) = &d.help {
            out.push_str(&format!("  help: {h}\n"));
        }
    }
    out
}

#[test]
fn infeasible_fixtures() {
    insta::glob!("infeasible/*.route", |path| {
        let source = common::read(path);
        let ds = match common::compile(&source) {
            Ok(_) => panic!("{} compiled", path.display()),
            Err(ds) => ds,
        };
        // E0510 per SLO of each conflicting set, W0510 on a cascade that
        // causes one, W0601 on a timeout that cuts answers.
        assert!(ds.iter().any(|d| d.code == "E0510"));
        assert!(
            ds.iter()
                .all(|d| ["E0510", "W0510", "W0601"].contains(&d.code))
        );
        let slo_block: String = source
            .lines()
            .skip_while(|l| !l.starts_with("slo {"))
            .take_while(|l| !l.starts_with('}'))
            .collect::<Vec<_>>()
            .join("\n");
        insta::assert_snapshot!(format!("{slo_block}\n}}\n\n{}", render(&source, &ds)));
    });
}
