// Decision time in this engine, per module:
//   node bench/decide.mjs MODULE.wasm...
// For each module: 4,096 random requests (8% of signals missing, 3% invalid,
// numbers on and next to the diagram's thresholds, enum variants at random,
// keys `user-N`), decided
//   - through the JavaScript API: `router.decide(signals, key)`, which reads
//     the values, writes them and the key, calls the export and builds the
//     result object;
//   - through the raw export: the request's values, states and key bytes
//     (encoded beforehand with the package's reader) copied into memory
//     element by element, then `decide(len)`: what a host that encodes
//     requests itself pays per decision;
//   - through `decide_hashed`, the key's hash computed beforehand (as the
//     native benchmark's requests carry theirs): values and states copied,
//     then the call;
// repeated over rounds; prints the median and fastest round's time per
// decision of each, and the module's size. Results go to BENCHMARKS.md.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

import { load } from '../index.js';
import { reader } from '../values.js';

const REQUESTS = 4096;
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

function time(fn) {
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - start) / REQUESTS);
  }
  const warm = samples.slice(5); // the first rounds warm the JIT up
  return { median: median(warm), fastest: Math.min(...warm) };
}

async function bench(path) {
  const bytes = await readFile(path);
  const router = await load(bytes);
  const module = await WebAssembly.compile(bytes);
  const meta = JSON.parse(new TextDecoder().decode(WebAssembly.Module.customSections(module, 'routec')[0]));
  const batch = requests(router, meta);

  let sink = 0;
  const api = time(() => {
    for (const [signals, key] of batch) sink += router.decide(signals, key).planIndex;
  });

  // The raw export, on a second instance: inputs encoded once, copied per decision.
  const { exports: ex } = await WebAssembly.instantiate(module, {});
  const n = ex.signal_count();
  const buffer = ex.memory.buffer;
  const values = new Float64Array(buffer, ex.values_ptr(), n);
  const states = new Uint8Array(buffer, ex.states_ptr(), n);
  const keyArea = new Uint8Array(buffer, ex.key_ptr());
  const encoder = new TextEncoder();
  const readers = meta.signals.map(reader);
  const index = new Map(meta.signals.map((sig, i) => [sig.name, i]));
  // Each request encoded once, with the package's own value reader.
  const encoded = batch.map(([signals, key]) => {
    const v = new Float64Array(n);
    const s = new Uint8Array(n);
    for (const [name, value] of Object.entries(signals)) {
      const i = index.get(name);
      const x = readers[i](value);
      if (x === undefined) s[i] = 2;
      else {
        v[i] = x;
        s[i] = 1;
      }
    }
    const hash = router.keyHash(key);
    return { v, s, key: encoder.encode(key), lo: Number(hash & 0xffffffffn) | 0, hi: Number(hash >> 32n) | 0 };
  });
  // Element by element: for a handful of values, cheaper than `TypedArray.set`.
  const write = (e) => {
    for (let j = 0; j < n; j++) {
      values[j] = e.v[j];
      states[j] = e.s[j];
    }
    const k = e.key;
    for (let j = 0; j < k.length; j++) keyArea[j] = k[j];
    return k.length;
  };
  const raw = time(() => {
    for (const e of encoded) sink += ex.decide(write(e));
  });
  // As the native benchmark does (its requests carry their key hash,
  // computed when the key was set): the hash given, no key bytes.
  const writeValues = (e) => {
    for (let j = 0; j < n; j++) {
      values[j] = e.v[j];
      states[j] = e.s[j];
    }
  };
  const hashed = time(() => {
    for (const e of encoded) {
      writeValues(e);
      sink += ex.decide_hashed(e.lo, e.hi);
    }
  });
  // The same decisions: the raw export agrees with the API.
  for (let i = 0; i < 64; i++) {
    const want = router.decide(batch[i][0], batch[i][1]).planIndex;
    writeValues(encoded[i]);
    if (ex.decide(write(encoded[i])) !== want || ex.decide_hashed(encoded[i].lo, encoded[i].hi) !== want) {
      throw new Error(`${path}: the raw export and the API disagree on request ${i}`);
    }
  }
  return { name: basename(path, '.wasm'), size: bytes.length, api, raw, hashed, sink };
}

const paths = process.argv.slice(2);
if (paths.length === 0) {
  console.error('usage: node bench/decide.mjs MODULE.wasm...');
  process.exit(2);
}
console.log(`node ${process.version}, ${REQUESTS} requests x ${ROUNDS} rounds, ns per decision (median / fastest round)`);
console.log('module                       bytes        JS API    raw export   raw, hash given');
const show = (t) => `${t.median.toFixed(0)} / ${t.fastest.toFixed(0)}`.padStart(13);
for (const path of paths) {
  const r = await bench(path);
  console.log(`${r.name.padEnd(26)} ${String(r.size).padStart(7)} ${show(r.api)} ${show(r.raw)} ${show(r.hashed).padStart(17)}`);
}
