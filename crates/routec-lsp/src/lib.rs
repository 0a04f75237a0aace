//! The routec language server: protocol glue between `tower-lsp-server` and
//! the analyses of `routec-ide`.
//!
//! This crate owns the document store, the conversion between byte offsets
//! and LSP positions ([`convert`], the only place that knows about UTF-16),
//! the scheduling of work (debounced diagnostics, background simulations,
//! cancellation) and the catching of panics. It contains no analysis logic:
//! every answer comes from [`routec_ide`].
//!
//! Threading: the server runs on a single-threaded tokio runtime; every
//! analysis runs on tokio's blocking pool (`spawn_blocking`), so a slow or
//! panicking analysis never stalls the protocol loop. See
//! `ARCHITECTURE.md` ("routec-lsp") for debounce, versioning and
//! cancellation.
//!
//! The simulation of a `file://` policy whose first traffic profile is a
//! recorded file reads that file (relative to the policy, with the CLI's
//! size limit, cached by modification time) on the blocking pool and
//! passes its text to [`routec_ide::Figures::compute_with`]; see
//! `recorded`.
//!
//! Architecture Invariant: document state changes synchronously at the top
//! of each notification handler, before any `.await`; results computed for
//! an older generation of a document are dropped, never published.

mod capabilities;
mod commands;
pub mod convert;
mod documents;
mod proto;
mod recorded;
mod server;
mod transport;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use tower_lsp_server::{ClientSocket, LspService, Server};

pub use commands::DriverCommands;
pub use server::{Backend, COMPILE_HOOK};

/// How long after the last change diagnostics are computed. Short enough
/// that diagnostics of a 2,000-line policy arrive well under 50 ms after a
/// keystroke, long enough to coalesce a burst of changes.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(15);

/// How long a document must stay unchanged, after its diagnostics are
/// published, before its background simulation (a full compile) starts.
/// Typing faster than this never starts one: at 30 ms a keystroke, 100
/// keystrokes into `support.route` would otherwise start 100 compilations
/// (see BENCHMARKS.md, `typing`).
pub const DEFAULT_COMPILE_DELAY: Duration = Duration::from_millis(300);

/// The commands code lenses run (`workspace/executeCommand`): by default
/// [`DriverCommands`] (the driver's test runner and simulator); tests
/// inject their own.
pub trait CommandRunner: Debug + Send + Sync + 'static {
    /// Runs `command` ([`routec_ide::COMMAND_SIMULATE`] or
    /// [`routec_ide::COMMAND_RUN_TESTS`]) on the text of the document
    /// `name` (as it is in the editor, saved or not). Returns a short
    /// human-readable summary, or why it could not run.
    fn run(&self, command: &str, name: &str, text: &str) -> Result<String, String>;
}

/// The server's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// See [`DEFAULT_DEBOUNCE`].
    pub debounce: Duration,
    /// See [`DEFAULT_COMPILE_DELAY`].
    pub compile_delay: Duration,
    /// Runs the code lenses' commands ([`DriverCommands`] by default);
    /// without one, they answer with an error saying so.
    pub commands: Option<Arc<dyn CommandRunner>>,
    /// Test support: called with the LSP method name at the start of every
    /// request, with `textDocument/publishDiagnostics` before each set
    /// of diagnostics is computed and with [`COMPILE_HOOK`] when a
    /// background simulation starts, inside the same panic boundary as the
    /// analysis, so tests can inject a panic (or hold a computation back)
    /// and watch the server cope. `None` in production.
    #[doc(hidden)]
    pub fault_injection: Option<fn(&str)>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            debounce: DEFAULT_DEBOUNCE,
            compile_delay: DEFAULT_COMPILE_DELAY,
            commands: Some(Arc::new(DriverCommands)),
            fault_injection: None,
        }
    }
}

/// The service and its client socket, for tests and custom transports.
pub fn service(config: Config) -> (LspService<Backend>, ClientSocket) {
    LspService::new(|client| Backend::new(client, config))
}

/// How a session ended, as the protocol wants the process to report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `shutdown` came before `exit` (or before the input closed): exit
    /// status 0.
    Clean,
    /// `exit` (or the end of the input) without `shutdown`: exit status 1.
    WithoutShutdown,
}

impl Exit {
    /// The process exit status the LSP specification asks for.
    pub fn code(self) -> u8 {
        match self {
            Exit::Clean => 0,
            Exit::WithoutShutdown => 1,
        }
    }
}

/// Serves one client over `input`/`output` until it sends `exit` or closes
/// the input. Malformed messages get JSON-RPC error replies (see
/// `transport`), never end the session.
pub async fn serve<I, O>(input: I, output: O, config: Config) -> Exit
where
    I: tokio::io::AsyncRead + Unpin + Send + 'static,
    O: tokio::io::AsyncWrite + Unpin,
{
    let (service, socket) = service(config);
    let (replies, replies_rx) = tokio::sync::mpsc::unbounded_channel();
    let shutdown = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The server writes into a pipe; the pump copies its messages whole to
    // `output`, with the guard's error replies between them.
    let (server_output, pumped) = tokio::io::duplex(1 << 16);
    let input = transport::guard(input, replies, shutdown.clone());
    let server = Server::new(input, server_output, socket)
        // Requests wait on the blocking pool; let enough of them be in
        // flight that a slow command never holds back a `didChange`.
        .concurrency_level(64)
        .serve(service);
    tokio::join!(server, transport::pump(pumped, output, replies_rx));
    if shutdown.load(std::sync::atomic::Ordering::Acquire) {
        Exit::Clean
    } else {
        Exit::WithoutShutdown
    }
}

/// Serves one client over standard input and output (what `routec lsp`
/// does). Returns when the client sends `exit` or closes standard input.
pub fn run_stdio(config: Config) -> std::io::Result<Exit> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let exit = runtime.block_on(serve(tokio::io::stdin(), tokio::io::stdout(), config));
    // Background simulations see their documents' generations change on
    // exit and stop early; do not wait for them.
    runtime.shutdown_background();
    Ok(exit)
}
