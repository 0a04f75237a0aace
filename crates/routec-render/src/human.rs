//! The human renderer: ariadne reports with byte spans (a diagnostic and
//! its labels may point into several files of the policy's source map),
//! then a summary line such as `error: 2 errors, 1 warning in
//! support.route`.

use std::ops::Range;

use ariadne::{Color, Config, IndexType, Label, Report, ReportKind};
use routec_syntax::{Diagnostic, FileId, Severity, SourceMap, Span};

use super::count_summary;

/// Renders the diagnostics of one policy (the summary names the policy's
/// file). `color` turns ANSI colours on; pass `false` in tests and when the
/// output is not a terminal or `NO_COLOR` is set. Returns an empty string
/// when there is nothing to report.
pub fn render(files: &SourceMap, diagnostics: &[Diagnostic], color: bool) -> String {
    if diagnostics.is_empty() {
        return String::new();
    }
    let path = files.name(FileId::MAIN);
    let mut out = Vec::new();
    for diagnostic in diagnostics {
        write_report(&mut out, files, diagnostic, color);
    }
    let mut text = String::from_utf8_lossy(&out).into_owned();
    let severity = if diagnostics.iter().any(Diagnostic::is_error) {
        Severity::Error
    } else {
        Severity::Warning
    };
    text.push_str(&summary_line(
        severity,
        &format!("{} in {path}", count_summary(diagnostics)),
        color,
    ));
    text
}

/// `error: MESSAGE` or `warning: MESSAGE`, with a newline.
pub fn summary_line(severity: Severity, message: &str, color: bool) -> String {
    let word = severity.as_str();
    if color {
        let code = match severity {
            Severity::Error => "31",
            Severity::Warning => "33",
        };
        format!("\x1b[1;{code}m{word}\x1b[0m: {message}\n")
    } else {
        format!("{word}: {message}\n")
    }
}

fn clamp(span: Span, source: &str) -> Range<usize> {
    let len = source.len();
    let mut start = (span.start as usize).min(len);
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (span.end as usize).clamp(start, len);
    while !source.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

fn write_report(out: &mut Vec<u8>, files: &SourceMap, diagnostic: &Diagnostic, color: bool) {
    let id = files.name(diagnostic.file).to_owned();
    let source = files.text(diagnostic.file);
    let (kind, primary_color) = match diagnostic.severity {
        Severity::Error => (ReportKind::Error, Color::Red),
        Severity::Warning => (ReportKind::Warning, Color::Yellow),
    };
    let config = Config::default()
        .with_index_type(IndexType::Byte)
        .with_color(color);
    let primary = clamp(diagnostic.span, source);
    let mut report = Report::build(kind, (id.clone(), primary.clone()))
        .with_config(config)
        .with_code(diagnostic.code)
        .with_message(&diagnostic.message);

    // ariadne underlines only labels that have a message: without a label
    // of its own, the primary location repeats the message.
    let mut label = Label::new((id.clone(), primary.clone()))
        .with_order(0)
        .with_message(diagnostic.label.as_deref().unwrap_or(&diagnostic.message));
    if color {
        label = label.with_color(primary_color);
    }
    report.add_label(label);

    for (i, secondary) in diagnostic.labels.iter().enumerate() {
        let file = files.name(secondary.file).to_owned();
        let mut label = Label::new((file, clamp(secondary.span, files.text(secondary.file))))
            .with_message(&secondary.message)
            .with_order(i32::try_from(i + 1).unwrap_or(i32::MAX));
        if color {
            label = label.with_color(Color::Blue);
        }
        report.add_label(label);
    }
    if let Some(help) = &diagnostic.help {
        report.add_help(help);
    }
    for suggestion in &diagnostic.suggestions {
        // `did you mean `x`?` already says it.
        let shown = suggestion.replacement.trim();
        let quoted = format!("`{shown}`");
        if !suggestion.replacement.is_empty()
            && diagnostic
                .help
                .as_ref()
                .is_some_and(|h| h.contains(&quoted))
        {
            continue;
        }
        let range = clamp(suggestion.span, source);
        let help = if suggestion.replacement.is_empty() {
            format!("remove `{}`", source.get(range).unwrap_or(""))
        } else if range.is_empty() {
            format!("insert `{shown}`")
        } else if range == primary {
            format!("replace with `{shown}`")
        } else {
            format!(
                "replace `{}` with `{}`",
                source.get(range).unwrap_or(""),
                suggestion.replacement
            )
        };
        report.add_help(help);
    }
    // Writing into a Vec cannot fail for IO reasons; a failure here would be
    // an ariadne bug, and the summary line still reports the count.
    let cache = ariadne::sources(files.iter().map(|(_, name, text)| (name.to_owned(), text)));
    let written = report.finish().write(cache, &mut *out);
    if written.is_err() {
        out.extend_from_slice(
            format!(
                "{}: [{}] {}\n",
                diagnostic.severity.as_str(),
                diagnostic.code,
                diagnostic.message
            )
            .as_bytes(),
        );
    }
}
