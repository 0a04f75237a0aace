//! The one diagnostic type of the compiler. Every phase produces these; the
//! CLI, the language server and the tests render them. Messages follow
//! STYLE.md: lowercase, no trailing period, user input in backticks.
//!
//! A diagnostic knows its file: [`FileId::MAIN`] (the policy being
//! checked or compiled, what every phase that reads only the policy
//! produces; for `routec import`, the router config) or another file of
//! the caller's [`SourceMap`] (a recorded traffic file).

use crate::span::Span;

/// A file of a [`SourceMap`]. The main file (the policy) is always
/// [`FileId::MAIN`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u32);

impl FileId {
    /// The main file of a map: the policy a diagnostic is about, unless it
    /// says otherwise (for `routec import`, the router config).
    pub const MAIN: FileId = FileId(0);
}

/// The files one compile reads, by [`FileId`]: the policy first, then the
/// files it names (recorded traffic). Pure: the caller reads the files;
/// renderers look names and texts up here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMap {
    files: Vec<(String, String)>,
}

impl SourceMap {
    /// A map whose main file ([`FileId::MAIN`]) is `name` with `text`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceMap {
        SourceMap {
            files: vec![(name.into(), text.into())],
        }
    }

    /// Adds a file (or returns the id of a file already added by that
    /// name, replacing its text).
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let (name, text) = (name.into(), text.into());
        if let Some(i) = self.files.iter().position(|f| f.0 == name) {
            self.files[i].1 = text;
            return FileId(i as u32);
        }
        self.files.push((name, text));
        FileId((self.files.len() - 1) as u32)
    }

    /// The name of a file as the user wrote it (`""` for an unknown id).
    pub fn name(&self, file: FileId) -> &str {
        self.files.get(file.0 as usize).map_or("", |f| f.0.as_str())
    }

    /// The text of a file (`""` for an unknown id).
    pub fn text(&self, file: FileId) -> &str {
        self.files.get(file.0 as usize).map_or("", |f| f.1.as_str())
    }

    /// Every file, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &str, &str)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, (n, t))| (FileId(i as u32), n.as_str(), t.as_str()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A secondary location with a short message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub file: FileId,
    pub span: Span,
    pub message: String,
}

/// A machine-applicable edit: replace `span` with `replacement`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    pub message: String,
    pub span: Span,
    pub replacement: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable code such as `E0101`; see `docs/diagnostics.md`.
    pub code: &'static str,
    pub message: String,
    /// The file of the primary location and of the suggestions.
    pub file: FileId,
    /// The primary location; never absent.
    pub span: Span,
    /// The message shown at the primary location, if any.
    pub label: Option<String>,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub suggestions: Vec<Suggestion>,
}

impl Diagnostic {
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, span, message)
    }

    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, span, message)
    }

    pub fn new(
        severity: Severity,
        code: &'static str,
        span: Span,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            file: FileId::MAIN,
            span,
            label: None,
            labels: Vec::new(),
            help: None,
            suggestions: Vec::new(),
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// Places the primary location (and the suggestions) in `file`; call
    /// before adding secondary labels in the same file.
    pub fn in_file(mut self, file: FileId) -> Diagnostic {
        self.file = file;
        self
    }

    /// A secondary label in the primary location's file.
    pub fn with_secondary(self, span: Span, message: impl Into<String>) -> Diagnostic {
        let file = self.file;
        self.with_secondary_in(file, span, message)
    }

    /// A secondary label in another file.
    pub fn with_secondary_in(
        mut self,
        file: FileId,
        span: Span,
        message: impl Into<String>,
    ) -> Diagnostic {
        self.labels.push(Label {
            file,
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_suggestion(
        mut self,
        message: impl Into<String>,
        span: Span,
        replacement: impl Into<String>,
    ) -> Diagnostic {
        self.suggestions.push(Suggestion {
            message: message.into(),
            span,
            replacement: replacement.into(),
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics by file and position, then severity and code, so every
/// renderer shows them in the same order.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (a.file, a.span.start, a.span.end, a.severity, a.code).cmp(&(
            b.file,
            b.span.start,
            b.span.end,
            b.severity,
            b.code,
        ))
    });
}
