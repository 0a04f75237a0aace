// A snapshot of how the grammar tokenizes the shipped example policy, examples/support.route,
// in vscode-tmgrammar-snap's format (its own tokenizer and renderer). Read it in review: every
// change to the grammar shows up here line by line. Regenerate with
// `UPDATE_SNAPSHOTS=1 npm run test:unit`; a missing snapshot fails instead of being written.
'use strict';

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const test = require('node:test');
const { createRegistry } = require('vscode-tmgrammar-test/dist/common/index');
const { getVSCodeTokens, renderSnap } = require('vscode-tmgrammar-test/dist/snapshot/index');
const { EXTENSION, REPO, GRAMMAR } = require('./helpers');

const cases = [['examples/support.route', 'tests/snapshot/support.route.snap']];

for (const [source, snap] of cases) {
  test(`grammar snapshot of ${source}`, async () => {
    const registry = createRegistry([{ path: GRAMMAR, scopeName: 'source.route' }]);
    const text = fs.readFileSync(path.join(REPO, source), 'utf8');
    const actual = renderSnap(await getVSCodeTokens(registry, 'source.route', text));
    const file = path.join(EXTENSION, snap);
    if (process.env.UPDATE_SNAPSHOTS === '1') {
      fs.writeFileSync(file, actual);
      return;
    }
    assert.ok(fs.existsSync(file), `${snap} is missing: run \`UPDATE_SNAPSHOTS=1 npm run test:unit\` and review it`);
    assert.strictEqual(actual, fs.readFileSync(file, 'utf8'), `${source} tokenizes differently from ${snap}`);
  });
}
