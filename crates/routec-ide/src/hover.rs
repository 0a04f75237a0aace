//! Hover: signals (type, source, default), models (price, context, latency,
//! quality, share of traffic), slices (share), rules (share, p95, cost per
//! 1k), SLO lines (value, limit, slack, what tightening costs) and the doc
//! comments of the item shown. Figures come from a [`Figures`] of the
//! same text when there is one.

use std::fmt::Write as _;

use routec_check::SymbolKind;
use routec_check::ir::{ModelDef, Policy, Quantiles};
use routec_syntax::Span;
use routec_syntax::ast::CmpOp;

use crate::show::{self, duration, money, percent};
use crate::text::clamp;
use crate::{Analysis, Figures, Hover, nav};

pub(crate) fn hover(analysis: &Analysis, offset: usize, sim: Option<&Figures>) -> Option<Hover> {
    let text = analysis.text();
    let offset = clamp(text, offset);
    let policy = analysis.policy();
    if let Some(id) = nav::symbol_at(analysis, offset) {
        let symbol = policy.index.symbols.get(id.0 as usize)?;
        let range = policy
            .index
            .references_to(id)
            .find(|s| s.contains(offset))
            .or(symbol.def.filter(|d| d.contains(offset)))?;
        let mut md = match symbol.kind {
            SymbolKind::Signal(s) => signal(policy, s.index())?,
            SymbolKind::Model(m) => model(policy, m.index(), sim)?,
            SymbolKind::Slice(s) => slice(analysis, s.index(), sim)?,
            SymbolKind::Traffic(t) => {
                let def = policy.traffic.get(t.index())?;
                let mut md = fence(&item_text(analysis, def.span));
                if t.index() == 0 {
                    md.push_str("\nthe first traffic profile: simulation hints use it\n");
                }
                md
            }
            SymbolKind::Variant(s, v) => {
                let sig = policy.signals.get(s.index())?;
                let name = match &sig.ty {
                    routec_check::ir::SignalType::Enum(vs) => vs.get(v)?.clone(),
                    _ => return None,
                };
                format!(
                    "{}\nvalue {} of `{}`",
                    fence(&format!("{}: {name}", sig.name)),
                    v + 1,
                    show::signal_type(&sig.ty)
                )
            }
            SymbolKind::Test(_) => fence(&item_text(analysis, range)),
            SymbolKind::Policy => policy_md(policy),
        };
        if let Some(doc) = &symbol.doc {
            let _ = write!(md, "\n---\n{}", doc.trim());
        }
        return Some(Hover {
            range,
            markdown: md.trim_end().to_owned(),
        });
    }
    if let Some(test) = analysis
        .parse
        .file
        .items
        .iter()
        .find_map(|i| match &i.kind {
            routec_syntax::ast::ItemKind::Test(t) if t.name.span.contains(offset) => Some(t),
            _ => None,
        })
    {
        return Some(Hover {
            range: test.name.span,
            markdown: fence(&item_text(analysis, test.name.span))
                .trim_end()
                .to_owned(),
        });
    }
    if let Some(h) = block_keyword(analysis, offset, sim) {
        return Some(h);
    }
    if let Some((i, slo)) = policy
        .slos
        .iter()
        .enumerate()
        .find(|(_, s)| s.span.contains(offset) && !s.span.is_empty())
    {
        return Some(Hover {
            range: slo.span,
            markdown: slo_md(analysis, i, sim),
        });
    }
    if let Some((i, rule)) = policy
        .rules
        .iter()
        .enumerate()
        .find(|(_, r)| r.span.contains(offset) && !r.span.is_empty())
    {
        return Some(Hover {
            range: rule.span,
            markdown: rule_md(analysis, i, rule.span, sim),
        });
    }
    None
}

/// The source of the item around `name` (at most 20 lines).
fn item_text(analysis: &Analysis, name: Span) -> String {
    let text = analysis.text();
    let Some(item) = analysis
        .parse
        .file
        .items
        .iter()
        .find(|i| i.span.contains(name.start as usize))
    else {
        return name.text(text).to_owned();
    };
    let src = item.span.text(text);
    let lines: Vec<&str> = src.lines().collect();
    if lines.len() > 20 {
        format!("{}\n  …", lines[..19].join("\n"))
    } else {
        src.to_owned()
    }
}

fn fence(code: &str) -> String {
    format!("```route\n{code}\n```\n")
}

fn policy_md(policy: &Policy) -> String {
    let mut md = fence(&format!("policy {}", policy.name.as_deref().unwrap_or("")));
    if let Some(owner) = &policy.owner {
        let _ = writeln!(md, "- owner: {owner:?}");
    }
    if let Some(b) = policy.baseline.and_then(|b| policy.models.get(b.index())) {
        let _ = writeln!(md, "- baseline: `{}`", b.name);
    }
    md
}

fn signal(policy: &Policy, s: usize) -> Option<String> {
    let sig = policy.signals.get(s)?;
    let mut md = fence(&format!(
        "signal {}: {}",
        sig.name,
        show::signal_type(&sig.ty)
    ));
    let _ = writeln!(md, "- source: {}", show::source(&sig.source));
    match &sig.default {
        Some(v) => {
            let _ = writeln!(md, "- default: {}", show::value(&sig.ty, v));
        }
        None if sig.builtin => {
            let _ = writeln!(md, "- measured from every request");
        }
        None => {}
    }
    Some(md)
}

fn quantiles(q: &Quantiles) -> String {
    q.iter()
        .map(|(p, s)| format!("p{} {}", show::num(p * 100.0, 1), duration(*s)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn model(policy: &Policy, m: usize, sim: Option<&Figures>) -> Option<String> {
    let def: &ModelDef = policy.models.get(m)?;
    let mut head = format!("model {}", def.name);
    if let Some(b) = def.extends.and_then(|b| policy.models.get(b.index())) {
        let _ = write!(head, " extends {}", b.name);
    }
    let mut md = fence(&head);
    if let Some(p) = &def.provider {
        let _ = writeln!(md, "- provider: {p}");
    }
    let price = &def.price;
    let mut parts = Vec::new();
    if let Some(x) = price.input_per_token {
        parts.push(format!("input {}/Mtok", money(x * 1e6)));
    }
    if let Some(x) = price.output_per_token {
        parts.push(format!("output {}/Mtok", money(x * 1e6)));
    }
    if let Some(x) = price.per_request {
        parts.push(format!("{}/request", money(x)));
    }
    if !parts.is_empty() {
        let _ = writeln!(md, "- price: {}", parts.join(", "));
    }
    for t in &price.tiers {
        let mut parts = Vec::new();
        if let Some(x) = t.input_per_token {
            parts.push(format!("input {}/Mtok", money(x * 1e6)));
        }
        if let Some(x) = t.output_per_token {
            parts.push(format!("output {}/Mtok", money(x * 1e6)));
        }
        if let Some(x) = t.per_request {
            parts.push(format!("{}/request", money(x)));
        }
        let _ = writeln!(
            md,
            "- price for prompts > {} tokens: {}",
            show::tokens(t.above),
            parts.join(", ")
        );
    }
    if let Some(r) = &def.reasoning {
        let amount = if r.per_output_token > 0.0 {
            format!("{} of output", percent(r.per_output_token))
        } else {
            format!("{} tokens", show::tokens(r.tokens))
        };
        let _ = writeln!(
            md,
            "- reasoning: {amount} (billed as output, decoded before the answer)"
        );
    }
    if let Some(c) = def.context {
        let _ = writeln!(md, "- context: {} tokens", show::tokens(c as f64));
    }
    let lat = &def.latency;
    let mut parts = Vec::new();
    if !lat.ttft.is_empty() {
        parts.push(format!("ttft {}", quantiles(&lat.ttft)));
    }
    if !lat.total.is_empty() {
        parts.push(quantiles(&lat.total));
    }
    if let Some(r) = lat.decode_rate {
        parts.push(format!("decode {} tok/s", show::num(r, 1)));
    }
    if !parts.is_empty() {
        let _ = writeln!(md, "- latency: {}", parts.join(", "));
    }
    let q = &def.quality;
    let table = |t: &routec_check::ir::QualityTable, signed: bool| -> String {
        let sig = policy.signals.get(t.signal.index());
        let names = match sig.map(|s| &s.ty) {
            Some(routec_check::ir::SignalType::Enum(vs)) => vs.clone(),
            _ => Vec::new(),
        };
        let entries: Vec<String> = t
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let v = (*v)?;
                let name = names.get(i).cloned().unwrap_or_default();
                let sign = if signed && v >= 0.0 { "+" } else { "" };
                Some(format!("{name} {sign}{}", percent(v)))
            })
            .collect();
        format!(
            "by {} {{ {} }}",
            sig.map_or("", |s| s.name.as_str()),
            entries.join(", ")
        )
    };
    let mut parts = Vec::new();
    if let Some(f) = q.flat {
        parts.push(percent(f));
    }
    if let Some(t) = &q.by {
        parts.push(table(t, false));
    }
    if let Some(t) = &q.adjust {
        parts.push(format!("adjust {}", table(t, true)));
    }
    if !parts.is_empty() {
        let _ = writeln!(md, "- quality: {}", parts.join(" "));
    }
    if let Some(f) = def.fallback.and_then(|f| policy.models.get(f.index())) {
        let _ = writeln!(md, "- fallback: `{}`", f.name);
    }
    let rates = |c: &routec_check::ir::Capacity| -> String {
        let mut parts = Vec::new();
        if let Some(r) = c.requests {
            parts.push(format!("{} qps", show::num(r, 2)));
        }
        if let Some(t) = c.tokens {
            parts.push(format!("{} tok/s", show::num(t, 0)));
        }
        if let Some(n) = c.concurrent {
            parts.push(format!("{} concurrent", show::num(n, 0)));
        }
        parts.join(", ")
    };
    if !def.capacity.is_empty() {
        let _ = writeln!(md, "- capacity: {}", rates(&def.capacity));
    }
    if !def.rate_limit.is_empty() {
        let _ = writeln!(md, "- rate limit: {}", rates(&def.rate_limit));
    }
    for row in &def.load_latency {
        let mut parts = Vec::new();
        if !row.latency.ttft.is_empty() {
            parts.push(format!("ttft {}", quantiles(&row.latency.ttft)));
        }
        if !row.latency.total.is_empty() {
            parts.push(quantiles(&row.latency.total));
        }
        if let Some(r) = row.latency.decode_rate {
            parts.push(format!("decode {} tok/s", show::num(r, 1)));
        }
        let _ = writeln!(
            md,
            "- latency at {} qps: {}",
            show::num(row.qps, 2),
            parts.join(", ")
        );
    }
    if let Some(sim) = sim
        && let Some(fig) = sim.models().get(m)
    {
        let _ = writeln!(
            md,
            "\n**{}** of requests call it{}, **{}** per 1k requests",
            percent(fig.share),
            under(sim),
            money(fig.cost_per_1k)
        );
        if let Some(l) = &fig.load {
            let _ = writeln!(
                md,
                "\n| load{} | |\n|---|---|\n| calls per second | {} |",
                under(sim),
                show::num(l.calls_per_second, 1)
            );
            if l.utilization > 0.0 {
                let _ = writeln!(
                    md,
                    "| utilization of its capacity | {} |",
                    percent(l.utilization)
                );
                let _ = writeln!(md, "| mean wait for a slot | {} |", duration(l.mean_wait));
            }
            if l.rate_limit_utilization > 0.0 {
                let _ = writeln!(
                    md,
                    "| share of its rate limit | {} |",
                    percent(l.rate_limit_utilization)
                );
            }
            let _ = writeln!(md, "| calls refused | {} |", percent(l.refused));
        }
    }
    Some(md)
}

fn under(sim: &Figures) -> String {
    sim.traffic()
        .map(|t| format!(" under traffic `{t}`"))
        .unwrap_or_default()
}

fn slice(analysis: &Analysis, s: usize, sim: Option<&Figures>) -> Option<String> {
    let def = analysis.policy().slices.get(s)?;
    let cond = analysis
        .parse
        .file
        .items
        .iter()
        .find_map(|item| match &item.kind {
            routec_syntax::ast::ItemKind::Slice(sl) if sl.name.span == def.span => {
                Some(sl.expr.span.text(analysis.text()).to_owned())
            }
            _ => None,
        })
        .unwrap_or_default();
    let mut md = fence(&format!("slice {} = {cond}", def.name));
    if let Some(sim) = sim
        && let Some(fig) = sim.slices().get(s)
    {
        let _ = writeln!(md, "\n**{}** of traffic{}", percent(fig.share), under(sim));
    }
    Some(md)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn rule_md(analysis: &Analysis, i: usize, span: Span, sim: Option<&Figures>) -> String {
    let n = analysis.policy().rules.len();
    let mut md = fence(&one_line(span.text(analysis.text())));
    let _ = writeln!(md, "rule {} of {n}", i + 1);
    match sim.and_then(|s| s.rules().get(i).map(|f| (s, f))) {
        Some((sim, f)) => {
            let _ = writeln!(md, "\n| | predicted{} |\n|---|---|", under(sim));
            let _ = writeln!(md, "| share of traffic | {} |", percent(f.share));
            if f.share > 0.0 {
                let _ = writeln!(md, "| latency p95 | {} |", duration(f.p95));
                let _ = writeln!(md, "| cost per 1k requests | {} |", money(f.cost_per_1k));
                let _ = writeln!(md, "| quality | {} |", percent(f.quality));
            }
        }
        None if sim.is_some() => {
            let _ = writeln!(md, "\n_no figures: the policy does not compile_");
        }
        None => {
            let _ = writeln!(md, "\n_figures appear once the policy compiles_");
        }
    }
    md
}

fn slo_md(analysis: &Analysis, i: usize, sim: Option<&Figures>) -> String {
    let policy = analysis.policy();
    let Some(slo) = policy.slos.get(i) else {
        return String::new();
    };
    let mut md = fence(&one_line(slo.span.text(analysis.text())));
    let Some(sim) = sim else {
        let _ = writeln!(md, "\n_figures appear once the policy compiles_");
        return md;
    };
    let rows: Vec<_> = sim.slos().iter().filter(|r| r.span == slo.span).collect();
    if rows.is_empty() {
        let diags = sim.diagnostics();
        let here: Vec<_> = diags
            .iter()
            .filter(|d| d.is_error() && slo.span.contains(d.span.start as usize))
            .collect();
        if !here.is_empty() {
            for d in here {
                let _ = writeln!(md, "\n**{}**", d.message);
                if let Some(h) = &d.help {
                    let _ = writeln!(md, "\n{h}");
                }
            }
        } else if diags.iter().any(|d| d.is_error()) {
            let _ = writeln!(md, "\n_no figures: the policy does not compile_");
        } else {
            let _ = writeln!(md, "\nthe compiler does not model this SLO");
        }
        return md;
    }
    let upper = matches!(slo.op, CmpOp::Le | CmpOp::Lt);
    let sliced = rows.iter().any(|r| r.slice.is_some());
    let _ = writeln!(
        md,
        "\n|{} value | limit | slack | status |\n|{}---|---|---|---|",
        if sliced { " slice |" } else { "" },
        if sliced { "---|" } else { "" }
    );
    for r in &rows {
        let slack = if upper {
            r.limit - r.value
        } else {
            r.value - r.limit
        };
        // A met SLO has no negative slack (the solver's tolerance aside).
        let slack = if r.ok { slack.max(0.0) } else { slack };
        let fmt = |v: f64| show::metric_value(&slo.metric, v);
        let slice = r
            .slice
            .as_ref()
            .map(|s| format!(" `{s}` |"))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "|{slice} {} | {} | {}{} | {} |",
            fmt(r.value),
            fmt(r.limit),
            if slack < 0.0 { "-" } else { "" },
            fmt(slack.abs()),
            if r.ok { "met" } else { "**violated**" }
        );
    }
    let _ = writeln!(md);
    for r in &rows {
        let who = r
            .slice
            .as_ref()
            .map(|s| format!("for `{s}`: "))
            .unwrap_or_default();
        match &r.tightening {
            Some(t) => {
                let _ = writeln!(md, "- {who}binding: {t}");
            }
            None => {
                let _ = writeln!(
                    md,
                    "- {who}not binding: tightening it by a step costs nothing"
                );
            }
        }
    }
    let _ = write!(md, "\n_predicted{}_", under(sim));
    md
}

/// Hover on the `route` or `slo` keyword: an overview of every rule or SLO.
fn block_keyword(analysis: &Analysis, offset: usize, sim: Option<&Figures>) -> Option<Hover> {
    use routec_syntax::ast::ItemKind;
    let text = analysis.text();
    let item = analysis.parse.file.items.iter().find(|i| {
        matches!(i.kind, ItemKind::Route(_) | ItemKind::Slo(_))
            && Span::new(i.span.start as usize, i.span.start as usize + 5).contains(offset)
    })?;
    let keyword = match item.kind {
        ItemKind::Route(_) => "route",
        _ => "slo",
    };
    let range = Span::new(
        item.span.start as usize,
        item.span.start as usize + keyword.len(),
    );
    if range.text(text) != keyword || !range.contains(offset) {
        return None;
    }
    let policy = analysis.policy();
    let mut md = String::new();
    if keyword == "route" {
        let _ = writeln!(
            md,
            "**route**: {} rules, the first that matches wins",
            policy.rules.len()
        );
        if let Some(sim) = sim.filter(|s| !s.rules().is_empty()) {
            let _ = writeln!(
                md,
                "\n| rule | share | p95 | cost per 1k |\n|---|---|---|---|"
            );
            for f in sim.rules() {
                let line = analysis.line_index().line_col(f.span.start as usize).line + 1;
                let _ = writeln!(
                    md,
                    "| {} (line {line}) | {} | {} | {} |",
                    f.rule + 1,
                    percent(f.share),
                    duration(f.p95),
                    money(f.cost_per_1k)
                );
            }
            let _ = write!(md, "\n_predicted{}_", under(sim));
        }
    } else {
        let _ = writeln!(
            md,
            "**slo**: {} hard constraints over the whole traffic mix",
            policy.slos.len()
        );
        if let Some(sim) = sim.filter(|s| !s.slos().is_empty()) {
            let _ = writeln!(md, "\n| SLO | value | status |\n|---|---|---|");
            for slo in &policy.slos {
                for r in sim.slos().iter().filter(|r| r.span == slo.span) {
                    let who = r
                        .slice
                        .as_ref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        md,
                        "| `{}`{who} | {} | {} |",
                        one_line(slo.span.text(text)),
                        show::metric_value(&slo.metric, r.value),
                        match (r.ok, &r.tightening) {
                            (false, _) => "**violated**",
                            (true, Some(_)) => "binding",
                            (true, None) => "met",
                        }
                    );
                }
            }
            let _ = write!(md, "\n_predicted{}_", under(sim));
        }
    }
    Some(Hover {
        range,
        markdown: md.trim_end().to_owned(),
    })
}

/// The plain-text form of a hover's markdown (see
/// [`Hover::plain_text`](crate::Hover::plain_text)). Handles what the
/// hovers here write: fences, `**bold**`, whole-line `_italics_`, pipe
/// tables and `---` rules; anything else (a doc comment's own markdown)
/// is kept as written.
pub(crate) fn plain_text(markdown: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut in_code = false;
    let flush = |table: &mut Vec<Vec<String>>, out: &mut Vec<String>| {
        let columns = table.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                table
                    .iter()
                    .filter_map(|row| row.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in table.drain(..) {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let pad = widths[c].saturating_sub(cell.chars().count());
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            }
            out.push(line.trim_end().to_owned());
        }
    };
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push(line.to_owned());
            continue;
        }
        let trimmed = line.trim();
        if trimmed.starts_with('|') {
            let separator = trimmed.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '));
            if !separator {
                let inner = trimmed.trim_start_matches('|').trim_end_matches('|');
                table.push(inner.split('|').map(|c| emphasis(c.trim())).collect());
            }
            continue;
        }
        flush(&mut table, &mut out);
        if trimmed == "---" {
            out.push(String::new());
        } else {
            out.push(emphasis(line));
        }
    }
    flush(&mut table, &mut out);
    // No runs of blank lines, none at either end.
    let mut text = String::new();
    for line in &out {
        if line.is_empty() && (text.is_empty() || text.ends_with("\n\n")) {
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    text.trim_end().to_owned()
}

/// `line` without `**` and without the underscores of a whole-line
/// `_italic_`.
fn emphasis(line: &str) -> String {
    let line = line.replace("**", "");
    match line.strip_prefix('_').and_then(|l| l.strip_suffix('_')) {
        Some(inner) if !inner.is_empty() => inner.to_owned(),
        _ => line,
    }
}
