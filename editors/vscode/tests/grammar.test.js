// The TextMate grammar: every scope it can produce is asserted by some fixture under
// tests/grammar/ (run by vscode-tmgrammar-test), and the grammar the extension loads is the one
// in grammar/ (the copy made by scripts/sync-grammar.js is never edited by hand).
'use strict';

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const test = require('node:test');
const { EXTENSION, GRAMMAR } = require('./helpers');

/** Every scope name the grammar assigns, from `name` keys anywhere in it. */
function grammarScopes(grammar) {
  const out = new Set();
  const walk = (v) => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'name' && typeof x === 'string') out.add(x);
        else walk(x);
      }
    }
  };
  walk(grammar.repository);
  walk(grammar.patterns);
  return out;
}

/** The scopes the fixtures require (positive assertions only). */
function assertedScopes() {
  const dir = path.join(EXTENSION, 'tests', 'grammar');
  const out = new Set();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.route'))) {
    for (const line of fs.readFileSync(path.join(dir, file), 'utf8').split('\n')) {
      const m = /^\/\/\s*(?:\^+|<-+)\s+([^-].*)$/.exec(line);
      if (!m) continue;
      const positive = m[1].split(' - ')[0];
      for (const scope of positive.trim().split(/\s+/)) out.add(scope);
    }
  }
  return out;
}

test('every scope of the grammar is asserted by a fixture', () => {
  const grammar = JSON.parse(fs.readFileSync(GRAMMAR, 'utf8'));
  const asserted = assertedScopes();
  const missing = [...grammarScopes(grammar)].filter((s) => !asserted.has(s)).sort();
  assert.deepStrictEqual(missing, [], 'scopes no fixture in tests/grammar/ asserts');
});

test('every fixture starts with the SYNTAX TEST header for source.route', () => {
  const dir = path.join(EXTENSION, 'tests', 'grammar');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.route'));
  assert.ok(files.length > 0);
  for (const file of files) {
    const first = fs.readFileSync(path.join(dir, file), 'utf8').split('\n')[0];
    assert.match(first, /^\/\/ SYNTAX TEST "source\.route" "[^"]+"$/, file);
  }
});

test('the grammar copy the manifest points at is byte for byte grammar/route.tmLanguage.json', () => {
  // `npm test` syncs it first (pretest); the packaging test checks the copy inside the .vsix.
  const copy = path.join(EXTENSION, 'syntaxes', 'route.tmLanguage.json');
  assert.ok(fs.existsSync(copy), 'syntaxes/route.tmLanguage.json is missing: run `npm run sync-grammar`');
  assert.ok(
    fs.readFileSync(copy).equals(fs.readFileSync(GRAMMAR)),
    'editors/vscode/syntaxes/route.tmLanguage.json differs from grammar/route.tmLanguage.json: run `npm run sync-grammar`',
  );
});
