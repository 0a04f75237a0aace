// Explanations: the path a decision took through the decision diagram,
// step by step as routec-runtime's `Router::explain` writes it (threshold
// trees on one signal are one step, shown as an interval). The decision
// itself always comes from the module; this walk only describes it, and is
// checked to end in the leaf the module chose.

const F64 = new Float64Array(1);
const U64 = new BigUint64Array(F64.buffer);

/**
 * `x` with 6 decimals, rounded as Rust's `format!("{x:.6}")` rounds: the
 * exact binary value, ties to even (JS `toFixed` rounds ties up and turns
 * to exponents past 1e21).
 */
function fixed6(x) {
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : x < 0 ? '-inf' : 'NaN';
  F64[0] = x;
  const bits = U64[0];
  const negative = bits >> 63n === 1n;
  const exponent = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & 0xfffffffffffffn;
  // x = mantissa * 2^power exactly.
  const mantissa = exponent === 0 ? fraction : fraction | (1n << 52n);
  const power = (exponent === 0 ? 1 : exponent) - 1075;
  const scaled = mantissa * 1_000_000n;
  let q;
  if (power >= 0) {
    q = scaled << BigInt(power);
  } else {
    const den = 1n << BigInt(-power);
    q = scaled / den;
    const twice = 2n * (scaled % den);
    if (twice > den || (twice === den && q % 2n === 1n)) q += 1n;
  }
  const digits = q.toString().padStart(7, '0');
  const text = `${digits.slice(0, -6)}.${digits.slice(-6)}`;
  return negative ? `-${text}` : text;
}

/** Rust's `trim`: 6 decimals, trailing zeros and point removed, `-0` as `0`. */
export function trim(x) {
  let s = fixed6(x);
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s === '-0' ? '0' : s;
}

/** A value of a signal as the language writes it (`Router::show_value`). */
export function showValue(signal, value) {
  switch (signal.kind) {
    case 'enum': {
      const v = signal.variants[Math.trunc(Math.max(value, 0))];
      return v === undefined ? String(value) : v;
    }
    case 'bool':
      return value !== 0 ? 'true' : 'false';
    case 'ratio':
      return `${trim(value * 100)}%`;
    case 'duration':
      return `${trim(value * 1000)}ms`;
    case 'money':
      return `$${trim(value)}`;
    default:
      return trim(value);
  }
}

/**
 * The compact walk of the diagram: each node with its branches; a threshold
 * node's whole tree on its signal flattened into ascending cuts and one
 * target per interval (routec-runtime's `flatten`, neighbours with the same
 * target merged). References: `r >= 0` a node, `r < 0` leaf `-1 - r`.
 */
export function compactDiagram(diagram) {
  const nodes = diagram.nodes;
  return nodes.map((node, i) => {
    if (node.test !== 'threshold') return node;
    const segments = [];
    const stack = [[i, -Infinity, Infinity]];
    while (stack.length > 0) {
      const [at, lo, hi] = stack.pop();
      const n = at >= 0 ? nodes[at] : undefined;
      if (n !== undefined && n.signal === node.signal && n.test === 'threshold') {
        const [below, atOrAbove] = n.next;
        if (n.cut <= lo) stack.push([atOrAbove, lo, hi]);
        else if (n.cut >= hi) stack.push([below, lo, hi]);
        else {
          stack.push([atOrAbove, n.cut, hi]);
          stack.push([below, lo, n.cut]);
        }
        continue;
      }
      if (segments.length === 0 || segments[segments.length - 1][1] !== at) segments.push([lo, at]);
    }
    return {
      signal: node.signal,
      test: 'intervals',
      cuts: segments.slice(1).map((s) => s[0]),
      next: segments.map((s) => s[1]),
    };
  });
}

/**
 * The steps from the root to a leaf for the inputs `valueOf(signal)` gives
 * (`[value, origin]`, origin `request`, `default` or `invalid`); returns
 * `{ steps, leaf }`.
 */
export function walk(meta, compact, valueOf) {
  const steps = [];
  let at = meta.diagram.root;
  for (let guard = 0; at >= 0 && guard <= compact.length; guard++) {
    const node = compact[at];
    const signal = meta.signals[node.signal];
    const [value, origin] = valueOf(node.signal);
    const shown = showValue(signal, value);
    let test;
    switch (node.test) {
      case 'enum': {
        const t = Math.trunc(value);
        const i = value >= 0 && t < node.next.length ? t : 0;
        at = node.next[i];
        test = `${signal.name} = ${shown}`;
        break;
      }
      case 'bool':
        at = node.next[value !== 0 ? 1 : 0];
        test = `${signal.name} = ${shown}`;
        break;
      default: {
        const cuts = node.cuts;
        let k = 0;
        while (k < cuts.length && cuts[k] <= value) k++;
        at = node.next[k];
        const lower = k > 0 ? showValue(signal, cuts[k - 1]) : undefined;
        const upper = k < cuts.length ? showValue(signal, cuts[k]) : undefined;
        if (lower !== undefined && upper !== undefined) test = `${signal.name} = ${shown} in [${lower}, ${upper})`;
        else if (lower !== undefined) test = `${signal.name} = ${shown} >= ${lower}`;
        else if (upper !== undefined) test = `${signal.name} = ${shown} < ${upper}`;
        else test = `${signal.name} = ${shown}`;
      }
    }
    steps.push({ signal: signal.name, value: shown, origin, test });
  }
  return { steps, leaf: -1 - at };
}
