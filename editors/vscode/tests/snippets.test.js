// The snippets write policies routec accepts: expanded with their default placeholder text (a few
// placeholders filled in where one policy needs two models), all of them together make one policy
// (with the recorded traffic file it names) that `routec check` passes without an error or warning.
'use strict';

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('node:test');
const { spawnSync } = require('child_process');
const { EXTENSION, routecBinary } = require('./helpers');

const snippets = JSON.parse(fs.readFileSync(path.join(EXTENSION, 'snippets', 'route.json'), 'utf8'));

/**
 * Expands a snippet body the way VS Code inserts it without edits: `${1:text}` becomes its text,
 * `${1|a,b|}` its first choice, `$1`/`$0` nothing, `\$` a dollar, tabs two spaces. `fill` replaces
 * the text of numbered placeholders.
 * @param {string} name
 * @param {Record<number, string>} [fill]
 */
function expand(name, fill = {}) {
  const snippet = snippets[name];
  assert.ok(snippet, `no snippet \`${name}\``);
  let text = snippet.body.join('\n').replace(/\t/g, '  ');
  let previous;
  do {
    previous = text;
    text = text
      .replace(/\$\{(\d+):([^${}]*)\}/g, (_, n, def) => (n in fill ? fill[n] : def))
      .replace(/\$\{(\d+)\|([^|]*)\|\}/g, (_, n, choices) => (n in fill ? fill[n] : choices.split(',')[0]));
  } while (text !== previous);
  return text.replace(/(^|[^\\])\$\d+/g, '$1').replace(/\\\$/g, '$');
}

test('every snippet has a prefix, a description and a body', () => {
  for (const [name, s] of Object.entries(snippets)) {
    assert.ok(typeof s.prefix === 'string' && s.prefix.length > 0, `${name}: prefix`);
    assert.ok(typeof s.description === 'string' && s.description.length > 0, `${name}: description`);
    assert.ok(Array.isArray(s.body) && s.body.length > 0, `${name}: body`);
  }
  for (const needed of ['policy', 'model', 'signal (enum)', 'route', 'rule', 'slo', 'test', 'faults', 'traffic']) {
    assert.ok(needed in snippets, `missing the \`${needed}\` snippet`);
  }
});

test('the snippets expanded together make a policy routec check accepts', () => {
  const route = expand('route').split('\n');
  // The rule, cascade and optimize snippets go inside the route block.
  const rules = [
    '  ' + expand('rule'),
    '  when difficulty < 30% => ' + expand('cascade'),
    '  when difficulty > 70% => ' + expand('optimize', { 1: 'small, large_fp8, large' }),
  ];
  route.splice(2, 0, ...rules);
  // The judge snippet goes inside the learn block (judging with a declared model).
  const learn = expand('learn').split('\n');
  learn.splice(learn.lastIndexOf('}'), 0, '  ' + expand('judge', { 1: 'small' }));
  const policy = [
    expand('policy'),
    expand('signal (enum)'),
    expand('signal (classifier)'),
    expand('model'),
    expand('model', { 1: 'small', 3: 'SMALL_URL', 5: '0.05', 6: '0.08', 7: '90ms', 8: '250ms', 9: '600ms', 10: '170', 12: 'chat 84%, code 58%' }),
    expand('model extends'),
    expand('slice'),
    expand('objective'),
    expand('slo'),
    route.join('\n'),
    expand('faults'),
    learn.join('\n'),
    expand('traffic'),
    expand('traffic file'),
    expand('test'),
    expand('test under traffic'),
    expand('test under traffic', { 1: 'the recorded sample meets it too', 2: 'recorded' }),
  ].join('\n');
  const used = new Set(['route', 'rule', 'cascade', 'optimize', 'policy', 'signal (enum)', 'signal (classifier)', 'model', 'model extends', 'slice', 'objective', 'slo', 'faults', 'learn', 'judge', 'traffic', 'traffic file', 'test', 'test under traffic']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'routec-snippets-'));
  try {
    const file = path.join(dir, 'snippets.route');
    fs.writeFileSync(file, policy);
    // The recorded traffic the traffic-file snippet names (docs/traffic.md), relative to the policy.
    const recorded = path.join(dir, 'traffic', 'recorded.jsonl');
    fs.mkdirSync(path.dirname(recorded));
    const lines = [];
    for (let i = 0; i < 400; i++) {
      lines.push(JSON.stringify({ id: `r${i}`, signals: { task: i % 3 === 0 ? 'code' : 'chat', prompt_tokens: 200 + 37 * i } }));
    }
    fs.writeFileSync(recorded, lines.join('\n') + '\n');
    const run = spawnSync(routecBinary(), ['check', file], { encoding: 'utf8' });
    assert.strictEqual(run.status, 0, `routec check failed on the expanded snippets:\n${policy}\n\n${run.stdout}${run.stderr}`);
    // Not even a warning: a fresh skeleton should not start with a squiggle.
    assert.strictEqual(`${run.stdout}${run.stderr}`.includes('Warning'), false, `routec check warned:\n${run.stdout}${run.stderr}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const name of Object.keys(snippets)) {
    assert.ok(used.has(name), `snippet \`${name}\` is not checked by this test`);
  }
});

module.exports = { expand };
