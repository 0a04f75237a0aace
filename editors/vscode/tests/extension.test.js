// The client (extension.js) in plain Node against a fake `vscode` module: finding the server
// binary, the error when it is missing, the commands it registers, the terminal command lines,
// and that the real vscode-languageclient leaves the two terminal commands to the extension.
'use strict';

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('node:test');
const { EXTENSION } = require('./helpers');
const { createFake, loadWithFake, Uri } = require('./fake-vscode');

const EXTENSION_JS = path.join(EXTENSION, 'extension.js');

/** A temp dir with an executable `routec` script and a non-executable `plain` file. */
function binDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'routec-bin-'));
  fs.writeFileSync(path.join(dir, 'routec'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'plain'), 'not a program\n', { mode: 0o644 });
  return dir;
}

test('the server binary is found on PATH, by relative path, or not at all', (t) => {
  const ext = loadWithFake(EXTENSION_JS, createFake());
  const dir = binDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { PATH: ['/nonexistent', dir].join(path.delimiter), HOME: dir };
  assert.strictEqual(ext.resolveServerPath('routec', { env, platform: 'linux' }), path.join(dir, 'routec'));
  assert.strictEqual(ext.resolveServerPath('', { env, platform: 'linux' }), path.join(dir, 'routec'));
  assert.strictEqual(ext.resolveServerPath('routec-missing', { env, platform: 'linux' }), undefined);
  assert.strictEqual(ext.resolveServerPath('plain', { env, platform: 'linux' }), undefined, 'not executable');
  assert.strictEqual(ext.resolveServerPath('./routec', { env, platform: 'linux', cwd: dir }), path.join(dir, 'routec'));
  assert.strictEqual(ext.resolveServerPath(path.join(dir, 'routec'), { env, platform: 'linux' }), path.join(dir, 'routec'));
  assert.strictEqual(ext.resolveServerPath('~/routec', { env, platform: 'linux' }), path.join(dir, 'routec'));
  assert.strictEqual(ext.resolveServerPath('routec', { env: { PATH: '' }, platform: 'linux' }), undefined);
});

test('terminal command lines quote what the shell would split', () => {
  const ext = loadWithFake(EXTENSION_JS, createFake());
  assert.strictEqual(
    ext.terminalCommandLine('/usr/bin/routec', 'routec.simulate', '/work/support.route', 'linux'),
    '/usr/bin/routec simulate /work/support.route',
  );
  assert.strictEqual(
    ext.terminalCommandLine('/opt/my tools/routec', 'routec.runTests', "/work/it's here.route", 'linux'),
    "'/opt/my tools/routec' test '/work/it'\\''s here.route'",
  );
  assert.strictEqual(
    ext.terminalCommandLine('C:\\Program Files\\routec.exe', 'routec.simulate', 'C:\\p\\a b.route', 'win32'),
    '& "C:\\Program Files\\routec.exe" simulate "C:\\p\\a b.route"',
  );
  assert.throws(() => ext.terminalCommandLine('routec', 'routec.other', 'x.route', 'linux'), /unknown command/);
});

test('a missing binary gives one clear error and the commands still register', async () => {
  const fake = createFake({ 'routec.server.path': 'routec-definitely-not-installed' });
  // The user never answers the notification: activation must finish anyway.
  fake.vscode.window.showErrorMessage = (m) => {
    fake.recorded.errors.push(m);
    return new Promise(() => {});
  };
  const ext = loadWithFake(EXTENSION_JS, fake);
  const context = { subscriptions: [] };
  await ext.activate(context);
  assert.deepStrictEqual([...fake.recorded.commands.keys()].sort(), ['routec.restartServer', 'routec.runTests', 'routec.simulate']);
  assert.strictEqual(fake.recorded.errors.length, 1);
  assert.match(fake.recorded.errors[0], /cannot find the language server binary `routec-definitely-not-installed`/);
  assert.match(fake.recorded.errors[0], /routec\.server\.path/);
  // The contributed commands are exactly the registered ones.
  const manifest = JSON.parse(fs.readFileSync(path.join(EXTENSION, 'package.json'), 'utf8'));
  assert.deepStrictEqual(manifest.contributes.commands.map((c) => c.command).sort(), [...fake.recorded.commands.keys()].sort());
  await ext.deactivate();
});

test('Simulate and Run tests run the CLI in a terminal, from a code lens URI or the palette', async (t) => {
  const dir = binDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const server = path.join(dir, 'routec');
  const fake = createFake({ 'routec.server.path': server });
  const ext = loadWithFake(EXTENSION_JS, fake);
  const policy = path.join(dir, 'support.route');
  // The code lens passes the document URI as a string.
  await ext.runInTerminal('routec.simulate', Uri.file(policy).toString());
  assert.strictEqual(fake.recorded.terminals.length, 1);
  assert.deepStrictEqual(fake.recorded.terminals[0].sent, [`${server} simulate ${policy}`]);
  // From the palette: the active editor's document; the terminal is reused.
  fake.vscode.window.activeTextEditor = { document: { languageId: 'route', uri: Uri.file(policy) } };
  await ext.runInTerminal('routec.runTests', undefined);
  assert.strictEqual(fake.recorded.terminals.length, 1);
  assert.deepStrictEqual(fake.recorded.terminals[0].sent.slice(1), [`${server} test ${policy}`]);
  // No policy open: a warning, no terminal command.
  fake.vscode.window.activeTextEditor = undefined;
  await ext.runInTerminal('routec.simulate', undefined);
  assert.deepStrictEqual(fake.recorded.warnings, ['routec: open a .route file first']);
  assert.strictEqual(fake.recorded.terminals[0].sent.length, 2);
  // An unsaved editor cannot be simulated: the CLI reads files.
  await ext.runInTerminal('routec.simulate', 'untitled:Untitled-1');
  assert.deepStrictEqual(fake.recorded.warnings.slice(1), ['routec: save the policy to a file first']);
});

test('vscode-languageclient registers server commands except the two the extension owns', () => {
  const fake = createFake();
  const ext = loadWithFake(EXTENSION_JS, fake);
  const { LanguageClient } = loadWithFake(require.resolve('vscode-languageclient/node'), fake);
  const client = new LanguageClient('routec', 'routec', { command: 'routec', args: ['lsp'] }, {});
  ext.keepOwnCommands(client);
  const feature = client.getFeature('workspace/executeCommand');
  feature.initialize({ executeCommandProvider: { commands: ['routec.simulate', 'routec.runTests', 'routec.somethingElse'] } });
  assert.deepStrictEqual([...fake.recorded.commands.keys()], ['routec.somethingElse']);
});
