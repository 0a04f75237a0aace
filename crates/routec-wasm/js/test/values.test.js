// The package reads request values exactly as routec-runtime does: every
// case of fixtures/values.json (written by the Rust side from
// `routec_runtime::values`) and the values only JavaScript can make.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { reader } from '../values.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/values.json', import.meta.url), 'utf8'));

test('request values read as routec-runtime reads them', () => {
  assert.ok(fixture.cases.length > 500);
  const failures = [];
  for (const c of fixture.cases) {
    const read = reader({ kind: c.kind, variants: fixture.variants });
    const got = read(c.value);
    const want = c.expect === null ? undefined : c.expect;
    if (!Object.is(got, want)) failures.push(`${c.kind} ${JSON.stringify(c.value)}: got ${got}, want ${want}`);
  }
  assert.deepEqual(failures, []);
});

test('values JSON cannot carry are invalid', () => {
  for (const kind of ['bool', 'tokens', 'int', 'ratio', 'duration', 'money', 'enum']) {
    const read = reader({ kind, variants: ['a'] });
    for (const v of [NaN, Infinity, -Infinity, 10n, Symbol('x'), () => 1, new Date(0), new Number(1), new String('a')]) {
      assert.equal(read(v), undefined, `${kind} ${String(v)}`);
    }
  }
});
