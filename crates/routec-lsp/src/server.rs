//! The `LanguageServer` implementation: capabilities, document sync, the
//! diagnostics pipeline and one handler per request.
//!
//! Every request runs its analysis and its conversion to LSP types inside
//! one `spawn_blocking` task: a panic there comes back as a `JoinError`,
//! is logged with `window/logMessage` and answered with an internal error,
//! and the server keeps serving.

use std::sync::{Arc, Mutex};

use routec_ide as ide;
use routec_ide::{Figures, RecordedInput};
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

use crate::Config;
use crate::capabilities::Caps;
use crate::convert::{Encoding, LineMap};
use crate::documents::{Documents, Snapshot, Ticket};
use crate::proto;
use crate::recorded::{self, RecordedFiles};

/// The language server: cheap to clone (background tasks hold a clone).
#[derive(Clone, Debug)]
pub struct Backend {
    client: Client,
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    docs: Documents,
    /// What the client supports, read at `initialize`.
    caps: Mutex<Arc<Caps>>,
    /// Held while checking that a result is current and publishing it, so
    /// diagnostics of an older generation can never be sent after those of
    /// a newer one.
    publish: tokio::sync::Mutex<()>,
    /// One simulation at a time: a burst of edits to a file that checks
    /// would otherwise start one compilation per edit on a small machine.
    /// A waiting simulation whose text changed gives up without running.
    simulations: tokio::sync::Semaphore,
    /// The recorded traffic files the simulations read, cached.
    recorded: RecordedFiles,
}

/// The message of a task that panicked (or was cancelled).
pub(crate) fn panic_message(e: tokio::task::JoinError, what: &str) -> String {
    if e.is_panic() {
        let payload = e.into_panic();
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned());
        format!(
            "routec: internal error in {what}: {text} (this is a bug in routec; please report it with the file)"
        )
    } else {
        format!("routec: {what} was cancelled")
    }
}

/// What [`Config::fault_injection`] is called with when a background
/// simulation starts.
pub const COMPILE_HOOK: &str = "$/routec/simulation";

/// LSP 3.17 `RequestFailed`: a well-formed request the server refuses.
const REQUEST_FAILED: i64 = -32803;

fn refused(message: String) -> Error {
    Error {
        code: ErrorCode::ServerError(REQUEST_FAILED),
        message: message.into(),
        data: None,
    }
}

impl Backend {
    pub fn new(client: Client, config: Config) -> Backend {
        Backend {
            client,
            inner: Arc::new(Inner {
                config,
                docs: Documents::default(),
                caps: Mutex::new(Arc::new(Caps::default())),
                publish: tokio::sync::Mutex::new(()),
                simulations: tokio::sync::Semaphore::new(1),
                recorded: RecordedFiles::default(),
            }),
        }
    }

    fn caps(&self) -> Arc<Caps> {
        self.inner
            .caps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn encoding(&self) -> Encoding {
        self.caps().encoding
    }

    /// Logs an internal error and turns it into the request's answer.
    async fn internal(&self, message: String) -> Error {
        self.client.log_message(MessageType::ERROR, &message).await;
        Error {
            code: ErrorCode::InternalError,
            message: message.into(),
            data: None,
        }
    }

    /// Runs `f` on the current snapshot of `uri` on the blocking pool,
    /// inside the panic boundary. `Ok(None)` for documents that are not
    /// open.
    async fn with_snapshot<T, F>(&self, method: &'static str, uri: &Uri, f: F) -> Result<Option<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Snapshot, Option<&Figures>) -> T + Send + 'static,
    {
        let Some(ticket) = self.inner.docs.ticket(uri) else {
            return Ok(None);
        };
        let snap = match ticket.snapshot(self.encoding()).await {
            Ok(snap) => snap,
            Err(message) => return Err(self.internal(message).await),
        };
        let sim = self.inner.docs.simulation(uri, ticket.generation);
        let hook = self.inner.config.fault_injection;
        let task = tokio::task::spawn_blocking(move || {
            if let Some(hook) = hook {
                hook(method);
            }
            f(&snap, sim.as_deref())
        });
        match task.await {
            Ok(value) => Ok(Some(value)),
            Err(e) => Err(self.internal(panic_message(e, method)).await),
        }
    }

    /// Starts the diagnostics of a new generation: after the debounce, the
    /// analysis's diagnostics; then, if the file checks, the simulation's.
    fn schedule(&self, ticket: Ticket) {
        let this = self.clone();
        tokio::spawn(async move { this.diagnose(ticket).await });
    }

    async fn diagnose(&self, ticket: Ticket) {
        tokio::time::sleep(self.inner.config.debounce).await;
        if ticket.is_stale() {
            return;
        }
        let snap = match ticket.snapshot(self.encoding()).await {
            Ok(snap) => snap,
            Err(message) => {
                self.client.log_message(MessageType::ERROR, message).await;
                return;
            }
        };
        let s = snap.clone();
        let hook = self.inner.config.fault_injection;
        let caps = self.caps();
        let c = caps.clone();
        let base = tokio::task::spawn_blocking(move || {
            if let Some(hook) = hook {
                hook("textDocument/publishDiagnostics");
            }
            s.analysis
                .diagnostics()
                .iter()
                .map(|d| proto::diagnostic(&s.uri, &s.lines, d, &c))
                .collect::<Vec<_>>()
        })
        .await;
        let base = match base {
            Ok(base) => base,
            Err(e) => {
                let message = panic_message(e, "diagnostics");
                self.client.log_message(MessageType::ERROR, message).await;
                return;
            }
        };
        self.publish(&ticket, base.clone()).await;
        if !snap.analysis.checks() || ticket.is_stale() {
            return;
        }
        // The compiler's half, off the typing path: started only once the
        // text has stayed unchanged for `compile_delay` (typing never
        // starts a compilation per keystroke), cancelled as soon as the
        // text changes.
        tokio::time::sleep(self.inner.config.compile_delay).await;
        if ticket.is_stale() {
            return;
        }
        let Ok(permit) = self.inner.simulations.acquire().await else {
            return;
        };
        if ticket.is_stale() {
            return;
        }
        let t = ticket.clone();
        let s = snap.clone();
        let inner = self.inner.clone();
        let hook = self.inner.config.fault_injection;
        let sim = tokio::task::spawn_blocking(move || {
            if let Some(hook) = hook {
                hook(COMPILE_HOOK);
            }
            // A recorded first profile's file, read here on the blocking
            // pool (a `stat` when it is cached and unchanged).
            let path = recorded::locate(&s.uri, &s.analysis);
            let recorded = path.as_deref().map(|p| inner.recorded.read(p));
            if t.is_stale() {
                return None;
            }
            let sim = Figures::compute_with(&s.analysis, recorded.as_deref(), &|| t.is_stale())?;
            let extra: Vec<Diagnostic> = sim
                .diagnostics()
                .iter()
                .map(|d| proto::diagnostic(&s.uri, &s.lines, d, &caps))
                .collect();
            // The recorded file's own diagnostics (its bad lines, where they
            // are), for an editor that has it open; an empty list clears
            // them once the file is fixed.
            let in_file = match (path, recorded.as_deref()) {
                (Some(path), Some(RecordedInput { text: Ok(text), .. })) => {
                    Uri::from_file_path(&path).map(|uri| {
                        let lines = LineMap::new(text, caps.encoding);
                        let diagnostics = sim
                            .recorded_diagnostics()
                            .iter()
                            .map(|d| proto::diagnostic(&uri, &lines, d, &caps))
                            .collect::<Vec<_>>();
                        (uri, diagnostics)
                    })
                }
                _ => None,
            };
            Some((Arc::new(sim), extra, in_file))
        })
        .await;
        drop(permit);
        let (sim, extra, in_file) = match sim {
            Ok(Some(done)) => done,
            Ok(None) => return,
            Err(e) => {
                let message = panic_message(e, "the simulation");
                self.client.log_message(MessageType::ERROR, message).await;
                return;
            }
        };
        if !self
            .inner
            .docs
            .set_figures(&ticket.uri, ticket.generation, &snap, sim)
        {
            return;
        }
        if !extra.is_empty() {
            let mut all = base;
            all.extend(extra);
            self.publish(&ticket, all).await;
        }
        if let Some((uri, diagnostics)) = in_file
            && !ticket.is_stale()
        {
            self.client
                .publish_diagnostics(uri, diagnostics, None)
                .await;
        }
        if self.caps().inlay_refresh && !ticket.is_stale() {
            // The client asks again for the visible hints; an error (the
            // client went away) changes nothing here.
            let _ = self.client.inlay_hint_refresh().await;
        }
    }

    /// Publishes diagnostics stamped with the ticket's version, unless a
    /// newer generation exists.
    async fn publish(&self, ticket: &Ticket, diagnostics: Vec<Diagnostic>) {
        let _guard = self.inner.publish.lock().await;
        if ticket.is_stale() {
            return;
        }
        self.client
            .publish_diagnostics(ticket.uri.clone(), diagnostics, Some(ticket.version))
            .await;
    }

    fn offset(snap: &Snapshot, pos: Position) -> usize {
        snap.lines.offset(pos)
    }
}

/// Applies LSP content changes to `text` in order: a change without a range
/// replaces the whole text; one with a range replaces that range.
fn apply_changes(
    text: &str,
    changes: Vec<TextDocumentContentChangeEvent>,
    encoding: Encoding,
) -> String {
    let mut text = text.to_owned();
    for change in changes {
        match change.range {
            None => text = change.text,
            Some(range) => {
                let span = LineMap::new(&text, encoding).span(range);
                text.replace_range(span.range(), &change.text);
            }
        }
    }
    text
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let caps = Caps::from_client(&params.capabilities);
        let encoding = caps.encoding;
        *self
            .inner
            .caps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(caps);
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "routec".to_owned(),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
            capabilities: ServerCapabilities {
                position_encoding: Some(encoding.kind()),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::FULL),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec![" ".to_owned(), "=".to_owned()]),
                    ..CompletionOptions::default()
                }),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                rename_provider: Some(OneOf::Right(RenameOptions {
                    prepare_provider: Some(true),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                })),
                document_formatting_provider: Some(OneOf::Left(true)),
                document_symbol_provider: Some(OneOf::Left(true)),
                workspace_symbol_provider: Some(OneOf::Left(true)),
                semantic_tokens_provider: Some(
                    SemanticTokensServerCapabilities::SemanticTokensOptions(
                        SemanticTokensOptions {
                            legend: proto::legend(),
                            full: Some(SemanticTokensFullOptions::Bool(true)),
                            range: None,
                            work_done_progress_options: WorkDoneProgressOptions::default(),
                        },
                    ),
                ),
                folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![
                            CodeActionKind::QUICKFIX,
                            CodeActionKind::REFACTOR_REWRITE,
                        ]),
                        ..CodeActionOptions::default()
                    },
                )),
                inlay_hint_provider: Some(OneOf::Left(true)),
                code_lens_provider: Some(CodeLensOptions {
                    resolve_provider: Some(false),
                }),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: vec![
                        ide::COMMAND_SIMULATE.to_owned(),
                        ide::COMMAND_RUN_TESTS.to_owned(),
                    ],
                    ..ExecuteCommandOptions::default()
                }),
                ..ServerCapabilities::default()
            },
            offset_encoding: None,
        })
    }

    async fn shutdown(&self) -> Result<()> {
        self.inner.docs.cancel_all();
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        let ticket = self.inner.docs.open(doc.uri, doc.version, doc.text);
        self.schedule(ticket);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let encoding = self.encoding();
        let doc = params.text_document;
        let changes = params.content_changes;
        if let Some(ticket) = self.inner.docs.change(&doc.uri, doc.version, |old| {
            apply_changes(old, changes, encoding)
        }) {
            self.schedule(ticket);
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.inner.docs.close(&uri);
        // Clear the closed file's diagnostics (under the publish lock, so
        // no late result of its last generation lands after this).
        let _guard = self.inner.publish.lock().await;
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let pos = params.text_document_position_params;
        let caps = self.caps();
        self.with_snapshot(
            "textDocument/hover",
            &pos.text_document.uri,
            move |snap, sim| {
                snap.analysis
                    .hover(Self::offset(snap, pos.position), sim)
                    .map(|h| proto::hover(&snap.lines, h, &caps))
            },
        )
        .await
        .map(Option::flatten)
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let pos = params.text_document_position;
        let caps = self.caps();
        self.with_snapshot(
            "textDocument/completion",
            &pos.text_document.uri,
            move |snap, _| {
                let items = snap
                    .analysis
                    .completions(Self::offset(snap, pos.position))
                    .into_iter()
                    .map(|c| proto::completion(&snap.lines, c, &caps))
                    .collect();
                CompletionResponse::Array(items)
            },
        )
        .await
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        let pos = params.text_document_position_params;
        self.with_snapshot(
            "textDocument/definition",
            &pos.text_document.uri,
            move |snap, _| {
                snap.analysis
                    .definition(Self::offset(snap, pos.position))
                    .map(|span| GotoDefinitionResponse::Scalar(proto::location(snap, span)))
            },
        )
        .await
        .map(Option::flatten)
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let pos = params.text_document_position;
        let include = params.context.include_declaration;
        self.with_snapshot(
            "textDocument/references",
            &pos.text_document.uri,
            move |snap, _| {
                snap.analysis
                    .references(Self::offset(snap, pos.position), include)
                    .into_iter()
                    .map(|span| proto::location(snap, span))
                    .collect()
            },
        )
        .await
    }

    async fn prepare_rename(
        &self,
        params: TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>> {
        let answer = self
            .with_snapshot(
                "textDocument/prepareRename",
                &params.text_document.uri,
                move |snap, _| {
                    snap.analysis
                        .prepare_rename(Self::offset(snap, params.position))
                        .map(
                            |(span, placeholder)| PrepareRenameResponse::RangeWithPlaceholder {
                                range: snap.lines.range(span),
                                placeholder,
                            },
                        )
                },
            )
            .await?;
        match answer {
            None => Ok(None),
            Some(Ok(response)) => Ok(Some(response)),
            Some(Err(why)) => Err(refused(why)),
        }
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let pos = params.text_document_position;
        let new_name = params.new_name;
        let answer = self
            .with_snapshot(
                "textDocument/rename",
                &pos.text_document.uri,
                move |snap, _| {
                    snap.analysis
                        .rename(Self::offset(snap, pos.position), &new_name)
                        .map(|edits| proto::workspace_edit(snap, edits))
                },
            )
            .await?;
        match answer {
            None => Ok(None),
            Some(Ok(edit)) => Ok(Some(edit)),
            Some(Err(why)) => Err(refused(why)),
        }
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        self.with_snapshot(
            "textDocument/formatting",
            &params.text_document.uri,
            |snap, _| {
                // Small edits (only the whitespace that changes), so the
                // editor keeps its marks on the lines left alone.
                let edits = snap.analysis.format_edits()?;
                Some(
                    edits
                        .into_iter()
                        .map(|e| proto::text_edit(&snap.lines, e))
                        .collect(),
                )
            },
        )
        .await
        .map(Option::flatten)
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let caps = self.caps();
        self.with_snapshot(
            "textDocument/documentSymbol",
            &params.text_document.uri,
            move |snap, _| {
                let symbols = snap.analysis.document_symbols();
                if !caps.hierarchical_symbols {
                    return DocumentSymbolResponse::Flat(proto::flat_symbols(snap, symbols, &caps));
                }
                DocumentSymbolResponse::Nested(
                    symbols
                        .into_iter()
                        .map(|s| proto::document_symbol(&snap.lines, s, &caps))
                        .collect(),
                )
            },
        )
        .await
    }

    async fn symbol(
        &self,
        params: WorkspaceSymbolParams,
    ) -> Result<Option<WorkspaceSymbolResponse>> {
        let mut snaps = Vec::new();
        for ticket in self.inner.docs.tickets() {
            match ticket.snapshot(self.encoding()).await {
                Ok(snap) => snaps.push(snap),
                Err(message) => return Err(self.internal(message).await),
            }
        }
        let hook = self.inner.config.fault_injection;
        let query = params.query;
        let caps = self.caps();
        let task = tokio::task::spawn_blocking(move || {
            if let Some(hook) = hook {
                hook("workspace/symbol");
            }
            let analyses: Vec<&ide::Analysis> = snaps.iter().map(|s| &s.analysis).collect();
            ide::workspace_symbols(&analyses, &query)
                .into_iter()
                .filter_map(|w| {
                    snaps
                        .get(w.file)
                        .map(|snap| proto::workspace_symbol(snap, w.symbol, &caps))
                })
                .collect::<Vec<_>>()
        });
        match task.await {
            Ok(symbols) => Ok(Some(WorkspaceSymbolResponse::Nested(symbols))),
            Err(e) => Err(self.internal(panic_message(e, "workspace/symbol")).await),
        }
    }

    async fn semantic_tokens_full(
        &self,
        params: SemanticTokensParams,
    ) -> Result<Option<SemanticTokensResult>> {
        self.with_snapshot(
            "textDocument/semanticTokens/full",
            &params.text_document.uri,
            |snap, _| {
                let tokens = snap.analysis.semantic_tokens();
                SemanticTokensResult::Tokens(SemanticTokens {
                    result_id: None,
                    data: proto::semantic_tokens(&snap.lines, snap.analysis.text(), &tokens),
                })
            },
        )
        .await
    }

    async fn folding_range(&self, params: FoldingRangeParams) -> Result<Option<Vec<FoldingRange>>> {
        self.with_snapshot(
            "textDocument/foldingRange",
            &params.text_document.uri,
            |snap, _| {
                snap.analysis
                    .folding_ranges()
                    .into_iter()
                    .filter_map(|f| proto::folding_range(&snap.lines, snap.analysis.text(), f))
                    .collect()
            },
        )
        .await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let range = params.range;
        let context = params.context.diagnostics;
        let caps = self.caps();
        self.with_snapshot(
            "textDocument/codeAction",
            &params.text_document.uri,
            move |snap, _| {
                // Every action here is an edit, which a client without
                // `codeActionLiteralSupport` cannot take (it takes only
                // commands): it gets none.
                if !caps.code_action_literals {
                    return Vec::new();
                }
                snap.analysis
                    .code_actions(snap.lines.span(range))
                    .into_iter()
                    .map(|a| proto::code_action(snap, a, &context))
                    .collect()
            },
        )
        .await
    }

    async fn inlay_hint(&self, params: InlayHintParams) -> Result<Option<Vec<InlayHint>>> {
        let range = params.range;
        let earlier = self.inner.docs.last_good(&params.text_document.uri);
        self.with_snapshot(
            "textDocument/inlayHint",
            &params.text_document.uri,
            move |snap, sim| {
                let range = snap.lines.span(range);
                let hints = match (sim, &earlier) {
                    // The simulation of this very text.
                    (Some(sim), _) => snap.analysis.inlay_hints(sim, range),
                    // Until it lands (or while the text has errors), the
                    // last good figures of the items left unchanged, marked
                    // as earlier ones; the client is asked to refresh when
                    // fresh figures land.
                    (None, Some((esnap, esim))) => {
                        snap.analysis
                            .earlier_inlay_hints(&esnap.analysis, esim, range)
                    }
                    (None, None) => Vec::new(),
                };
                hints
                    .into_iter()
                    .map(|h| proto::inlay_hint(&snap.lines, h))
                    .collect()
            },
        )
        .await
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        self.with_snapshot(
            "textDocument/codeLens",
            &params.text_document.uri,
            |snap, _| {
                snap.analysis
                    .code_lenses()
                    .into_iter()
                    .map(|l| proto::code_lens(snap, l))
                    .collect()
            },
        )
        .await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        let command = params.command;
        if command != ide::COMMAND_SIMULATE && command != ide::COMMAND_RUN_TESTS {
            return Err(Error::invalid_params(format!(
                "unknown command `{command}`"
            )));
        }
        let Some(uri) = params
            .arguments
            .first()
            .and_then(|a| a.as_str())
            .and_then(|s| s.parse::<Uri>().ok())
        else {
            return Err(Error::invalid_params(format!(
                "`{command}` takes the document's URI as its argument"
            )));
        };
        let Some(ticket) = self.inner.docs.ticket(&uri) else {
            return Err(refused(format!("`{}` is not open", uri.as_str())));
        };
        let Some(runner) = self.inner.config.commands.clone() else {
            return Err(refused(format!(
                "`{command}` is not available in this build of the server"
            )));
        };
        let name = uri
            .to_file_path()
            .map_or_else(|| uri.as_str().to_owned(), |p| p.display().to_string());
        let hook = self.inner.config.fault_injection;
        let task = tokio::task::spawn_blocking(move || {
            if let Some(hook) = hook {
                hook("workspace/executeCommand");
            }
            runner.run(&command, &name, &ticket.text)
        });
        match task.await {
            Ok(Ok(summary)) => {
                self.client.show_message(MessageType::INFO, &summary).await;
                Ok(Some(LSPAny::String(summary)))
            }
            Ok(Err(why)) => {
                self.client.show_message(MessageType::WARNING, &why).await;
                Err(refused(why))
            }
            Err(e) => Err(self
                .internal(panic_message(e, "workspace/executeCommand"))
                .await),
        }
    }
}
