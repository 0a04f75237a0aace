// Packaging: `vsce package` builds a .vsix (into a temporary directory) that holds the manifest,
// the client, the language configuration, the snippets, the grammar from grammar/ byte for byte,
// the runtime dependencies, README and LICENSE, and nothing else (no tests, no dev dependencies).
// The unpacked extension then loads in Node against the fake editor, which proves its
// node_modules are complete.
'use strict';

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('node:test');
const { spawnSync } = require('child_process');
const yauzl = require('yauzl');
const { EXTENSION, GRAMMAR } = require('./helpers');
const { createFake, loadWithFake } = require('./fake-vscode');

/** name -> contents of every file in the zip. */
function readZip(file) {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const files = new Map();
      zip.on('entry', (entry) => {
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const chunks = [];
          stream.on('data', (c) => chunks.push(c));
          stream.on('end', () => {
            files.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
          stream.on('error', reject);
        });
      });
      zip.on('end', () => resolve(files));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

test('vsce packages the extension with exactly what it needs', async (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'routec-vsix-'));
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  const vsix = path.join(out, 'routec.vsix');
  const vsce = require.resolve('@vscode/vsce/vsce');
  const run = spawnSync(process.execPath, [vsce, 'package', '--out', vsix], { cwd: EXTENSION, encoding: 'utf8' });
  assert.strictEqual(run.status, 0, `vsce package failed:\n${run.stdout}${run.stderr}`);

  const files = await readZip(vsix);
  const names = [...files.keys()];
  const manifest = JSON.parse(files.get('extension/package.json').toString('utf8'));
  // Every file the manifest points at is in the package.
  const referenced = [
    manifest.main,
    ...manifest.contributes.languages.map((l) => l.configuration),
    ...manifest.contributes.grammars.map((g) => g.path),
    ...manifest.contributes.snippets.map((s) => s.path),
  ].map((p) => 'extension/' + path.posix.normalize(p));
  for (const name of [...referenced, 'extension/readme.md', 'extension/LICENSE.txt', 'extension/node_modules/vscode-languageclient/package.json']) {
    assert.ok(files.has(name), `${name} is not in the .vsix (it has: ${names.filter((n) => !n.includes('node_modules')).join(', ')})`);
  }
  // The grammar shipped is the canonical one.
  assert.ok(files.get('extension/syntaxes/route.tmLanguage.json').equals(fs.readFileSync(GRAMMAR)), 'the packaged grammar differs from grammar/route.tmLanguage.json');
  // Nothing else at the top level, and no dev dependencies.
  const own = names.filter((n) => n.startsWith('extension/') && !n.startsWith('extension/node_modules/'));
  assert.deepStrictEqual(own.sort(), [...new Set([...referenced, 'extension/package.json', 'extension/readme.md', 'extension/LICENSE.txt'])].sort());
  const modules = new Set(names.filter((n) => n.startsWith('extension/node_modules/')).map((n) => n.split('/')[2]));
  for (const dev of ['@vscode', 'vscode-tmgrammar-test', 'yauzl', '.bin']) {
    assert.ok(!modules.has(dev), `dev dependency ${dev} is in the .vsix`);
  }

  // Unpack and load the packaged client against the fake editor.
  const root = path.join(out, 'unpacked');
  for (const [name, data] of files) {
    const target = path.join(root, ...name.split('/'));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, data);
  }
  const fake = createFake({ 'routec.server.path': 'routec-definitely-not-installed' });
  const ext = loadWithFake(path.join(root, 'extension', 'extension.js'), fake);
  await ext.activate({ subscriptions: [] });
  assert.deepStrictEqual([...fake.recorded.commands.keys()].sort(), manifest.contributes.commands.map((c) => c.command).sort());
  const { LanguageClient } = loadWithFake(path.join(root, 'extension', 'node_modules', 'vscode-languageclient', 'node.js'), fake);
  assert.strictEqual(typeof LanguageClient, 'function');
});
