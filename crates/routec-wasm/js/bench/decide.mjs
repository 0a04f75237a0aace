// Decision time in this engine, per module:
//   node bench/decide.mjs MODULE.wasm...
// For each module: 4,096 random requests (8% of signals missing, 3% invalid,
// numbers on and next to the diagram's thresholds, enum variants at random,
// keys `user-N`), decided
//   - through the JavaScript API: `router.decide(signals, key)`, which reads
//     the values, writes them and the key, calls the export and builds the
//     result object;
//   - through the raw export (ABI 2): the request's values (`-inf` for a
//     missing signal, NaN for an invalid one), encoded beforehand with the
//     package's reader into one flat buffer of all requests, copied into
//     memory element by element, then `decide(-2)` (a key not written yet);
//     when the decision reaches a leaf that splits the module asks for the
//     key (returns -2): its bytes are copied likewise and `decide(len)`
//     decides again, hashing them. What a host that encodes requests itself
//     pays per decision (docs/wasm.md). *Key always*: the key's bytes copied
//     before every `decide(len)`, as ABI 1 required;
//   - through `decide_hashed`, the key's hash computed beforehand (as the
//     native benchmark's requests carry theirs): values copied, then the
//     call;
// in rounds, the raw variants interleaved round by round (so a change of
// load hits them alike); prints the median and fastest round's time per
// decision of each, the share of decisions that split, and the module's
// size. Each module is measured in a process of its own: in one process,
// the second module's calls would go through call sites the first made
// polymorphic. Results go to BENCHMARKS.md.
import { readFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

import { load } from '../index.js';
import { reader } from '../values.js';

const REQUESTS = 4096;
/** The key length that tells `decide` the key is not written yet. */
const KEY_LATER = -2;
const ROUNDS = 41;

function rng(seed) {
  let s = BigInt(seed);
  return () => {
    s = (s + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = s;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return Number((z ^ (z >> 31n)) >> 11n) / 2 ** 53;
  };
}

/** Random requests as a host would receive them (JSON values). */
function requests(router, meta) {
  const unit = rng(1);
  const cuts = meta.signals.map(() => []);
  for (const node of meta.diagram.nodes) if (node.test === 'threshold') cuts[node.signal].push(node.cut);
  const out = [];
  for (let n = 0; n < REQUESTS; n++) {
    const signals = {};
    meta.signals.forEach((s, i) => {
      const roll = unit();
      if (roll < 0.08) return;
      if (roll < 0.11) {
        signals[s.name] = s.kind === 'enum' ? 'no-such-value' : 'not a number';
        return;
      }
      switch (s.kind) {
        case 'enum':
          signals[s.name] = s.variants[Math.floor(unit() * s.variants.length)];
          break;
        case 'bool':
          signals[s.name] = unit() < 0.5;
          break;
        default: {
          const integer = s.kind === 'int' || s.kind === 'tokens';
          let v;
          if (cuts[i].length > 0 && unit() < 0.6) {
            const cut = cuts[i][Math.floor(unit() * cuts[i].length)];
            const step = integer ? 1 : Math.max(Math.abs(cut), 1) * 1e-9;
            v = cut + [-step, 0, step][Math.floor(unit() * 3)];
          } else {
            v = s.kind === 'ratio' ? unit() : s.kind === 'tokens' ? Math.exp(unit() * 12) * 60 : unit() * 100;
          }
          if (integer) v = Math.round(v);
          if (s.kind === 'ratio') v = Math.min(Math.max(v, 0), 1);
          if (s.kind !== 'int') v = Math.max(v, 0);
          signals[s.name] = v;
        }
      }
    });
    out.push([signals, `user-${n}`]);
  }
  return out;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Times `variants` (name -> function deciding every request once), interleaved round by round. */
function time(variants) {
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of Object.entries(variants)) {
      const start = process.hrtime.bigint();
      fn();
      samples[name].push(Number(process.hrtime.bigint() - start) / REQUESTS);
    }
  }
  const out = {};
  for (const [name, xs] of Object.entries(samples)) {
    const warm = xs.slice(5); // the first rounds warm the JIT up
    out[name] = { median: median(warm), fastest: Math.min(...warm) };
  }
  return out;
}

async function bench(path) {
  const bytes = await readFile(path);
  const router = await load(bytes);
  const module = await WebAssembly.compile(bytes);
  const meta = JSON.parse(new TextDecoder().decode(WebAssembly.Module.customSections(module, 'routec')[0]));
  const batch = requests(router, meta);

  // The raw export, on a second instance: inputs encoded once, copied per decision.
  const { exports: ex } = await WebAssembly.instantiate(module, {});
  const n = ex.signal_count();
  const buffer = ex.memory.buffer;
  const values = new Float64Array(buffer, ex.values_ptr(), n);
  const keyArea = new Uint8Array(buffer, ex.key_ptr());
  const encoder = new TextEncoder();
  const readers = meta.signals.map(reader);
  const index = new Map(meta.signals.map((sig, i) => [sig.name, i]));
  // Every request encoded once, with the package's own value reader, into
  // flat buffers: request `i`'s values at `i * n`, its key's bytes at
  // `keyStart[i]..keyStart[i + 1]`, its key's hash at `2 * i` (low, high).
  const inputs = new Float64Array(REQUESTS * n).fill(-Infinity);
  const keys = batch.map(([, key]) => encoder.encode(key));
  const keyStart = new Int32Array(REQUESTS + 1);
  keys.forEach((k, i) => (keyStart[i + 1] = keyStart[i] + k.length));
  const keyBytes = new Uint8Array(keyStart[REQUESTS]);
  const hashes = new Int32Array(2 * REQUESTS);
  batch.forEach(([signals, key], i) => {
    for (const [name, value] of Object.entries(signals)) {
      const s = index.get(name);
      const x = readers[s](value);
      inputs[i * n + s] = x === undefined || !Number.isFinite(x) ? NaN : x;
    }
    keyBytes.set(keys[i], keyStart[i]);
    const hash = router.keyHash(key);
    hashes[2 * i] = Number(hash & 0xffffffffn) | 0;
    hashes[2 * i + 1] = Number(hash >> 32n) | 0;
  });
  // Element by element: for a handful of values, cheaper than `TypedArray.set`.
  const writeValues = (i) => {
    const at = i * n;
    for (let j = 0; j < n; j++) values[j] = inputs[at + j];
  };
  const writeKey = (i) => {
    const from = keyStart[i];
    const to = keyStart[i + 1];
    for (let j = from; j < to; j++) keyArea[j - from] = keyBytes[j];
    return to - from;
  };
  let sink = 0;
  // The JS API first, on its own: it makes garbage, the raw paths none.
  const { api } = time({
    api: () => {
      for (const [signals, key] of batch) sink += router.decide(signals, key).planIndex;
    },
  });
  const raw = (i) => {
    writeValues(i);
    const plan = ex.decide(KEY_LATER);
    return plan === KEY_LATER ? ex.decide(writeKey(i)) : plan;
  };
  const t = time({
    raw: () => {
      for (let i = 0; i < REQUESTS; i++) sink += raw(i);
    },
    keyAlways: () => {
      for (let i = 0; i < REQUESTS; i++) {
        writeValues(i);
        sink += ex.decide(writeKey(i));
      }
    },
    // As the native benchmark does (its requests carry their key hash,
    // computed when the key was set): the hash given, no key bytes.
    hashed: () => {
      for (let i = 0; i < REQUESTS; i++) {
        writeValues(i);
        sink += ex.decide_hashed(hashes[2 * i], hashes[2 * i + 1]);
      }
    },
  });
  // The same decisions: the raw export agrees with the API.
  let split = 0;
  for (let i = 0; i < REQUESTS; i++) {
    const d = router.decide(batch[i][0], batch[i][1]);
    if (meta.leaves[d.leaf].splits.length > 1) split++;
    if (raw(i) !== d.planIndex || ex.decide(writeKey(i)) !== d.planIndex || ex.decide_hashed(hashes[2 * i], hashes[2 * i + 1]) !== d.planIndex) {
      throw new Error(`${path}: the raw export and the API disagree on request ${i}`);
    }
  }
  return { name: basename(path, '.wasm'), size: bytes.length, api, ...t, split: split / REQUESTS, sink };
}

const show = (t) => `${t.median.toFixed(0)} / ${t.fastest.toFixed(0)}`.padStart(13);
const args = process.argv.slice(2);
if (args[0] === '--one' && args.length === 2) {
  const r = await bench(args[1]);
  const split = `${(100 * r.split).toFixed(1)}%`.padStart(6);
  console.log(`${r.name.padEnd(22)} ${String(r.size).padStart(7)} ${show(r.api)} ${show(r.raw)} ${show(r.keyAlways)} ${show(r.hashed)} ${split}`);
} else if (args.length > 0) {
  console.log(`node ${process.version}, ${REQUESTS} requests x ${ROUNDS} rounds, ns per decision (median / fastest round)`);
  console.log('module                   bytes        JS API    raw export    key always    hash given  split');
  for (const path of args) {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--one', path], { stdio: 'inherit' });
    if (child.status !== 0) process.exit(child.status ?? 1);
  }
} else {
  console.error('usage: node bench/decide.mjs MODULE.wasm...');
  process.exit(2);
}
