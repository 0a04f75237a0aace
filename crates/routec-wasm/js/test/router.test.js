// The module, run by this engine through the package, reproduces the shared
// test vectors and routec-runtime's explanations; bad modules and bad
// requests get clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { load, RoutecError, ABI_VERSION } from '../index.js';

const bytes = readFileSync(new URL('./fixtures/support.wasm', import.meta.url));
const vectors = JSON.parse(
  readFileSync(new URL('../../../../tests/vectors/support.vectors.json', import.meta.url), 'utf8'),
);
const explained = JSON.parse(readFileSync(new URL('./fixtures/support.explain.json', import.meta.url), 'utf8'));

test('the module is the vectors’ table', async () => {
  const router = await load(bytes);
  assert.equal(router.info.sourceHash, vectors.source_hash);
  assert.equal(router.info.abi, ABI_VERSION);
  assert.equal(router.info.policy, 'support_chat');
});

test('the shared vectors are reproduced', async () => {
  const router = await load(bytes);
  assert.ok(vectors.vectors.length >= 1000);
  for (const [n, v] of vectors.vectors.entries()) {
    const d = router.decide(v.request, v.key);
    assert.deepEqual(
      { rule_line: d.rule, plan: d.plan, defaulted: d.defaulted },
      v.expect,
      `vector ${n}: ${JSON.stringify(v.request)}`,
    );
  }
});

test('explanations are routec-runtime’s', async () => {
  const router = await load(bytes);
  assert.ok(explained.explanations.length > 100);
  for (const [n, c] of explained.explanations.entries()) {
    const e = router.explain(c.request, c.key);
    const got = {
      rule: e.rule,
      ruleText: e.ruleText,
      plan: e.plan,
      splits: e.splits,
      cell: e.cell,
      missing: e.defaulted.filter((s) => !e.invalid.includes(s)),
      invalid: e.invalid,
      path: e.path,
    };
    assert.deepEqual(got, c.expect, `explanation ${n}: ${JSON.stringify(c.request)}`);
  }
});

/** A request that lands in a split leaf of the vectors' table (searched, so
 * the tests do not depend on which cells the optimizer splits). */
async function splitRequest() {
  const router = await load(bytes);
  for (const task of ['chat', 'code', 'factual', 'reasoning']) {
    for (const plan of ['free', 'pro', 'enterprise']) {
      for (const lang of ['en', 'es', 'de', 'ja', 'other']) {
        for (const prompt_tokens of [500, 3000, 9000, 40000]) {
          const request = { task, plan, lang, prompt_tokens, difficulty: '50%' };
          if (router.explain(request).splits.length > 1) return request;
        }
      }
    }
  }
  throw new Error('the table has no split leaf');
}

test('sticky splits: one key, one plan; the hash is the runtime’s', async () => {
  const router = await load(bytes);
  assert.equal(router.keyHash(''), 0xf52a15e9a9b5e89bn);
  assert.equal(router.keyHash('user-42'), 0x7a1596f0e94b5793n);
  const request = await splitRequest();
  const plans = new Set();
  for (let i = 0; i < 2000; i++) {
    const key = `user-${i}`;
    const first = router.decide(request, key).plan;
    assert.equal(router.decide(request, key).plan, first);
    plans.add(first);
  }
  // This cell is split: different keys take different sides.
  assert.ok(router.explain(request).splits.length > 1);
  assert.ok(plans.size > 1, [...plans].join(', '));
  // A key longer than the module's key area grows its memory.
  const long = 'é'.repeat(300_000);
  const d = router.decide(request, long);
  assert.equal(router.decide(request, long).plan, d.plan);
  assert.equal(typeof router.keyHash(long), 'bigint');
});

test('keyless requests split by the compiled shares', async () => {
  // `explain` decides too (a keyless one takes a position): explain with
  // another instance, whose sequence is its own.
  const router = await load(bytes);
  const request = await splitRequest();
  const e = (await load(bytes)).explain(request);
  assert.ok(e.splits.length > 1);
  // routec-runtime's rule: the n-th keyless split decision of a router takes
  // the position frac(n * phi), so the first takes the first plan with a
  // positive share and every plan gets its share within a couple of requests.
  const first = e.splits.find((s) => s.share > 0).plan;
  assert.equal(router.decide(request).plan, first);
  const n = 1000;
  const counts = new Map();
  for (let i = 0; i < n; i++) {
    const plan = router.decide(request, i % 2 ? null : undefined).plan;
    counts.set(plan, (counts.get(plan) ?? 0) + 1);
  }
  for (const s of e.splits) {
    assert.ok(Math.abs((counts.get(s.plan) ?? 0) - s.share * n) <= 2, `${s.plan}: ${counts.get(s.plan)} of ${n}`);
  }
});

test('missing, invalid and undefined values take their defaults', async () => {
  const router = await load(bytes);
  const d = router.decide({ has_images: 'maybe', prompt_tokens: undefined, task: 3 });
  assert.deepEqual(d.invalid.sort(), ['has_images', 'task'].filter((s) => d.defaulted.includes(s)).sort());
  assert.ok(d.defaulted.includes('has_images'));
  assert.ok(!d.invalid.includes('prompt_tokens'));
  const all = router.decide({});
  assert.ok(all.defaulted.length > 0);
  assert.deepEqual(all.invalid, []);
});

test('bad requests are refused with clear errors', async () => {
  const router = await load(bytes);
  const refused = (fn, code, message) =>
    assert.throws(fn, (e) => e instanceof RoutecError && e.code === code && message.test(e.message));
  for (const bad of [null, undefined, 'task=code', 42, [1, 2]]) {
    refused(() => router.decide(bad), 'request', /a request is an object keyed by signal name/);
  }
  refused(() => router.decide({ tsak: 'code' }), 'request', /unknown signal `tsak`; did you mean `task`\?/);
  refused(() => router.decide({ zzzzzz: 1 }), 'request', /^unknown signal `zzzzzz`$/);
  refused(() => router.decide({}, 42), 'key', /the key must be a string/);
  refused(() => router.decide({}, { id: 1 }), 'key', /the key must be a string/);
  // The router still works after refusing.
  assert.equal(typeof router.decide({ task: 'code' }, 'k').plan, 'string');
});

test('bad modules are refused with clear errors', async () => {
  const refused = async (source, code, message) =>
    assert.rejects(load(source), (e) => e instanceof RoutecError && e.code === code && message.test(e.message));
  await refused(new Uint8Array([1, 2, 3]), 'not_wasm', /not a WebAssembly module/);
  await refused(new TextEncoder().encode('{"schema_version": 1}'), 'not_wasm', /not a WebAssembly module/);
  await refused('support.wasm', 'not_wasm', /takes the bytes of a module/);
  await refused(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), 'not_wasm', /binary version/);
  // A valid module that routec did not write.
  await refused(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), 'not_routec', /no `routec` section/);
  // Truncated anywhere: refused, never half-loaded.
  for (const cut of [9, 20, 100, bytes.length / 2, bytes.length - 1]) {
    await assert.rejects(load(bytes.subarray(0, Math.floor(cut))), (e) => e instanceof RoutecError && ['corrupt', 'not_routec'].includes(e.code));
  }
  // A corrupt byte anywhere, even one the engine would accept (a constant, a share).
  for (const at of [100, bytes.length - 200, bytes.length - 60, bytes.length - 1]) {
    const flipped = new Uint8Array(bytes);
    flipped[at] ^= 0x10;
    await assert.rejects(load(flipped), (e) => e instanceof RoutecError && ['corrupt', 'not_routec'].includes(e.code));
  }
  // Bytes after the checksum.
  await refused(new Uint8Array([...bytes, 0, 0]), 'corrupt', /truncated|checksum/);
  // Another ABI version (same length, so the module stays well formed).
  const text = new TextDecoder().decode(bytes);
  const at = text.indexOf('"abi":2');
  assert.ok(at > 0);
  const other = new Uint8Array(bytes);
  other[at + 6] = '3'.charCodeAt(0);
  await refused(other, 'abi', /ABI version 3; this package reads version 2: upgrade routec-wasm/);
  other[at + 6] = '1'.charCodeAt(0);
  await refused(other, 'abi', /ABI version 1; this package reads version 2: recompile/);
  await refused(await WebAssembly.compile(other), 'abi', /ABI version 1/);
  // A compiled module works as well as bytes.
  const router = await load(await WebAssembly.compile(bytes));
  assert.equal(router.info.policy, 'support_chat');
});
