// @ts-check
// The routec VS Code extension: starts `routec lsp` (the language server) over stdio through
// vscode-languageclient, and runs `routec simulate` / `routec test` in a terminal.
//
// Plain CommonJS on purpose: no build step, so the file that is tested is the file that ships.
'use strict';

const fs = require('fs');
const path = require('path');
const vscode = require('vscode');
const { LanguageClient, State } = require('vscode-languageclient/node');

/** Commands this extension implements itself (the server's code lenses invoke them too). */
const OWN_COMMANDS = ['routec.simulate', 'routec.runTests'];

/** What each terminal command runs: `routec <subcommand> FILE`. */
const SUBCOMMANDS = { 'routec.simulate': 'simulate', 'routec.runTests': 'test' };

/** @type {LanguageClient | undefined} */
let client;
/** @type {vscode.OutputChannel | undefined} */
let output;

/**
 * Finds the server binary. A bare name (`routec`) is looked up on PATH; a path with a separator
 * is taken as is, relative paths against the first workspace folder (`./target/debug/routec`).
 * Returns undefined when nothing executable is there.
 * @param {string} configured
 * @param {{ env?: NodeJS.ProcessEnv, platform?: string, cwd?: string }} [opts]
 * @returns {string | undefined}
 */
function resolveServerPath(configured, opts = {}) {
  const env = opts.env || process.env;
  const platform = opts.platform || process.platform;
  const name = configured.trim() || 'routec';
  const exts =
    platform === 'win32'
      ? ['', ...(env.PATHEXT || '.EXE;.CMD;.BAT;.COM').split(';').filter(Boolean)]
      : [''];
  const executable = (/** @type {string} */ file) => {
    for (const ext of exts) {
      const candidate = file + ext;
      try {
        if (!fs.statSync(candidate).isFile()) continue;
        fs.accessSync(candidate, platform === 'win32' ? fs.constants.F_OK : fs.constants.X_OK);
        return candidate;
      } catch {
        // not there, or not executable: try the next candidate
      }
    }
    return undefined;
  };
  const expanded = name.startsWith('~/') && env.HOME ? path.join(env.HOME, name.slice(2)) : name;
  if (expanded.includes('/') || (platform === 'win32' && expanded.includes('\\'))) {
    return executable(path.resolve(opts.cwd || process.cwd(), expanded));
  }
  for (const dir of (env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const found = executable(path.join(dir, expanded));
    if (found) return found;
  }
  return undefined;
}

/**
 * Quotes one word for the terminal's shell (POSIX shells, or PowerShell/cmd on Windows).
 * @param {string} word
 * @param {string} [platform]
 */
function shellQuote(word, platform = process.platform) {
  if (/^[A-Za-z0-9_./:@%+=,-]+$/.test(word)) return word;
  if (platform === 'win32') return `"${word.replace(/"/g, '""')}"`;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line a terminal runs for `routec.simulate` / `routec.runTests`.
 * @param {string} server the routec binary
 * @param {string} command `routec.simulate` or `routec.runTests`
 * @param {string} file the policy file
 * @param {string} [platform]
 */
function terminalCommandLine(server, command, file, platform = process.platform) {
  const sub = SUBCOMMANDS[/** @type {keyof typeof SUBCOMMANDS} */ (command)];
  if (!sub) throw new Error(`unknown command \`${command}\``);
  // PowerShell needs `&` to run a quoted program path.
  const program = shellQuote(server, platform);
  const prefix = platform === 'win32' && program.startsWith('"') ? '& ' : '';
  return `${prefix}${program} ${sub} ${shellQuote(file, platform)}`;
}

/**
 * The document a command applies to: the URI a code lens passes (a string or a vscode.Uri),
 * or the active editor's document when run from the command palette.
 * @param {unknown} arg
 * @returns {vscode.Uri | undefined}
 */
function targetUri(arg) {
  if (arg instanceof vscode.Uri) return arg;
  if (typeof arg === 'string' && arg.length > 0) return vscode.Uri.parse(arg, true);
  if (arg && typeof arg === 'object' && 'uri' in arg) return targetUri(/** @type {any} */ (arg).uri);
  const editor = vscode.window.activeTextEditor;
  return editor && editor.document.languageId === 'route' ? editor.document.uri : undefined;
}

function config() {
  return vscode.workspace.getConfiguration('routec');
}

function workspaceRoot() {
  const folders = vscode.workspace.workspaceFolders;
  return folders && folders.length > 0 ? folders[0].uri.fsPath : undefined;
}

/** The configured binary, resolved, or undefined after telling the user what to do. */
async function serverBinary() {
  const configured = config().get('server.path', 'routec') || 'routec';
  const found = resolveServerPath(configured, { cwd: workspaceRoot() });
  if (found) return found;
  const message =
    `routec: cannot find the language server binary \`${configured}\`. ` +
    'Install routec (`cargo install --path crates/routec` in the routec repository) so that it is on PATH, ' +
    'or set `routec.server.path` to the binary.';
  output?.appendLine(message);
  // Not awaited: the notification stays until the user answers, and activation must not wait.
  void Promise.resolve(vscode.window.showErrorMessage(message, 'Open Settings', 'Show Output')).then((choice) => {
    if (choice === 'Open Settings') {
      return vscode.commands.executeCommand('workbench.action.openSettings', 'routec.server.path');
    }
    if (choice === 'Show Output') output?.show(true);
    return undefined;
  });
  return undefined;
}

/**
 * The server advertises `routec.simulate` and `routec.runTests` as executeCommand commands (other
 * editors run them through the server). In VS Code this extension owns those ids and runs them in
 * a terminal, so the client must not register them a second time (VS Code would refuse: "command
 * already exists"). Every other server command is registered as usual.
 * @param {LanguageClient} lc
 */
function keepOwnCommands(lc) {
  const feature = /** @type {any} */ (lc.getFeature('workspace/executeCommand'));
  if (!feature || typeof feature.register !== 'function') return;
  const register = feature.register.bind(feature);
  feature.register = (/** @type {any} */ data) => {
    const commands = ((data.registerOptions && data.registerOptions.commands) || []).filter(
      (/** @type {string} */ c) => !OWN_COMMANDS.includes(c),
    );
    register({ ...data, registerOptions: { ...data.registerOptions, commands } });
  };
}

async function startClient() {
  const command = await serverBinary();
  if (!command) return;
  const extraArgs = config().get('server.extraArgs', []);
  const args = ['lsp', ...(Array.isArray(extraArgs) ? extraArgs.map(String) : [])];
  output?.appendLine(`starting ${command} ${args.join(' ')}`);
  const executable = { command, args, options: { cwd: workspaceRoot() } };
  /** @type {import('vscode-languageclient/node').LanguageClientOptions} */
  const clientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'route' },
      { scheme: 'untitled', language: 'route' },
    ],
    outputChannel: output,
    traceOutputChannel: output,
  };
  // The id `routec` makes the client read the `routec.trace.server` setting.
  const lc = new LanguageClient('routec', 'routec language server', { run: executable, debug: executable }, clientOptions);
  keepOwnCommands(lc);
  client = lc;
  try {
    await lc.start();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    output?.appendLine(`the language server failed to start: ${why}`);
    void vscode.window.showErrorMessage(
      `routec: the language server (\`${command} lsp\`) failed to start: ${why}. ` +
        'Is it a routec build with the `lsp` subcommand? See the routec output channel.',
    );
  }
}

async function stopClient() {
  const lc = client;
  client = undefined;
  if (lc && lc.state !== State.Stopped) {
    try {
      await lc.stop();
    } catch (err) {
      output?.appendLine(`stopping the language server: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

async function restartServer() {
  output?.appendLine('restarting the language server');
  await stopClient();
  await startClient();
}

/**
 * `routec.simulate` / `routec.runTests`: saves the policy, then runs the CLI on it in the
 * `routec` terminal.
 * @param {string} command
 * @param {unknown} arg
 */
async function runInTerminal(command, arg) {
  const uri = targetUri(arg);
  if (!uri) {
    void vscode.window.showWarningMessage('routec: open a .route file first');
    return;
  }
  if (uri.scheme !== 'file') {
    void vscode.window.showWarningMessage('routec: save the policy to a file first');
    return;
  }
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open && open.isDirty) await open.save();
  const server = await serverBinary();
  if (!server) return;
  const folder = vscode.workspace.getWorkspaceFolder(uri);
  const cwd = folder ? folder.uri.fsPath : path.dirname(uri.fsPath);
  const name = 'routec';
  let terminal = vscode.window.terminals.find((t) => t.name === name && t.exitStatus === undefined);
  if (!terminal) terminal = vscode.window.createTerminal({ name, cwd });
  terminal.show(true);
  terminal.sendText(terminalCommandLine(server, command, uri.fsPath));
}

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  output = vscode.window.createOutputChannel('routec');
  context.subscriptions.push(output);
  context.subscriptions.push(
    vscode.commands.registerCommand('routec.restartServer', restartServer),
    ...OWN_COMMANDS.map((id) =>
      vscode.commands.registerCommand(id, (/** @type {unknown} */ arg) => runInTerminal(id, arg)),
    ),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('routec.server')) void restartServer();
    }),
  );
  await startClient();
}

function deactivate() {
  return stopClient();
}

module.exports = {
  activate,
  deactivate,
  // for tests
  resolveServerPath,
  shellQuote,
  terminalCommandLine,
  targetUri,
  keepOwnCommands,
  runInTerminal,
  OWN_COMMANDS,
};
