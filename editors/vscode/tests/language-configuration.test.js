// language-configuration.json: the comment token is the language's, brackets and pairs are
// consistent, and its regular expressions (which VS Code compiles as JavaScript regexps) do what
// the editor needs on lines from examples/support.route.
'use strict';

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const test = require('node:test');
const { EXTENSION } = require('./helpers');

const config = JSON.parse(fs.readFileSync(path.join(EXTENSION, 'language-configuration.json'), 'utf8'));

test('comments, brackets and pairs', () => {
  assert.deepStrictEqual(config.comments, { lineComment: '//' });
  const brackets = config.brackets.map(([o, c]) => o + c).sort();
  assert.deepStrictEqual(brackets, ['()', '[]', '{}']);
  const pairs = config.autoClosingPairs.map((p) => p.open + p.close).sort();
  assert.deepStrictEqual(pairs, ['""', '()', '[]', '{}']);
  assert.deepStrictEqual(config.autoClosingPairs.find((p) => p.open === '"').notIn.sort(), ['comment', 'string']);
});

test('words keep quantities and names whole', () => {
  const word = new RegExp(config.wordPattern, 'g');
  const words = (line) => line.match(word);
  assert.deepStrictEqual(words('  price input $0.05/Mtok, output $0.08/Mtok'), ['price', 'input', '$0.05/Mtok', 'output', '$0.08/Mtok']);
  assert.deepStrictEqual(words('  latency ttft p50 90ms p95 1.4s, decode 170 tok'), ['latency', 'ttft', 'p50', '90ms', 'p95', '1.4s', 'decode', '170', 'tok']);
  assert.deepStrictEqual(words('  when prompt_tokens > 100k => medium_spec'), ['when', 'prompt_tokens', '100k', 'medium_spec']);
  assert.deepStrictEqual(words('adjust by lang { ja -9% }'), ['adjust', 'by', 'lang', 'ja', '-9%']);
});

test('indentation follows braces and brackets, not comments or strings', () => {
  const increase = new RegExp(config.indentationRules.increaseIndentPattern);
  const decrease = new RegExp(config.indentationRules.decreaseIndentPattern);
  for (const line of ['model small {', '  quality by task {', 'route {', '  otherwise => optimize [', 'slo {  ', 'model small {  // the cheap one']) {
    assert.ok(increase.test(line.trimEnd()), `should indent after: ${line}`);
  }
  for (const line of ['  params { quantization: "fp8" }', '// model small {', '  /// see `model x {`', '  owner "{"']) {
    assert.ok(!increase.test(line), `should not indent after: ${line}`);
  }
  for (const line of ['}', '  }', ']']) assert.ok(decrease.test(line), `should outdent: ${line}`);
  assert.ok(!decrease.test('  when x => y'));
});

test('region markers fold', () => {
  const start = new RegExp(config.folding.markers.start);
  const end = new RegExp(config.folding.markers.end);
  assert.ok(start.test('// region models') && start.test('  //#region'));
  assert.ok(end.test('// endregion') && end.test('//#endregion'));
  assert.ok(!start.test('model regional {'));
});

test('Enter after a doc comment continues it', () => {
  const rule = config.onEnterRules.find((r) => r.action.appendText === '/// ');
  assert.ok(rule);
  assert.ok(new RegExp(rule.beforeText).test('  /// The same weights as `medium`.'));
  assert.ok(!new RegExp(rule.beforeText).test('  // a plain comment'));
});
