// Reading one signal value as a request carries it: the rules of
// `routec explain --request` (routec-runtime's `values.rs`), ported exactly.
// A value that does not fit its signal gives `undefined`; the caller marks
// the signal invalid and the module applies its default.
//
// Values are what JSON can carry: strings, numbers and booleans. Anything
// else (null, objects, arrays, bigints) does not fit any signal.

/** Unicode White_Space, which Rust's `str::trim` removes (JS `trim` differs: it removes U+FEFF and keeps U+0085). */
function isRustWhitespace(c) {
  return (
    (c >= 0x09 && c <= 0x0d) ||
    c === 0x20 ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

function rustTrim(s) {
  let a = 0;
  let b = s.length;
  while (a < b && isRustWhitespace(s.charCodeAt(a))) a++;
  while (b > a && isRustWhitespace(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

// What Rust's `f64::from_str` accepts, less `inf`/`nan` (never finite, so
// always refused here): an optional sign, digits with at most one point
// (at least one digit), an optional exponent.
const RUST_FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseRustFloat(text) {
  return RUST_FLOAT.test(text) ? Number(text) : undefined;
}

const SCALED = [
  ['', 1],
  ['k', 1e3],
  ['M', 1e6],
];
const PERCENT = [['%', 0.01]];
const DURATION = [
  ['', 1],
  ['ms', 1e-3],
  ['s', 1],
  ['m', 60],
  ['h', 3600],
  ['d', 86400],
];

function isDigitPointOrMinus(c) {
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d;
}

/** A JSON number, or a string of a number and one of `units` (suffix, scale); finite only. */
function numberOrUnit(value, units) {
  let v;
  if (typeof value === 'number') {
    v = value;
  } else if (typeof value === 'string') {
    const s = rustTrim(value);
    let split = 0;
    while (split < s.length && isDigitPointOrMinus(s.charCodeAt(split))) split++;
    const unit = rustTrim(s.slice(split));
    const found = units.find((u) => u[0] === unit);
    if (found === undefined) return undefined;
    const number = parseRustFloat(s.slice(0, split));
    if (number === undefined) return undefined;
    v = number * found[1];
  } else {
    return undefined;
  }
  return Number.isFinite(v) ? v : undefined;
}

/** `true`/`false`, as booleans or strings. */
export function boolean(value) {
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  return undefined;
}

/** The index of an enum variant written as a string. */
export function variant(variants, value) {
  if (typeof value !== 'string') return undefined;
  const i = variants.indexOf(value);
  return i < 0 ? undefined : i;
}

/** A whole number `>= 0`, or a string such as `"12k"` or `"1M"`. */
export function tokens(value) {
  const v = numberOrUnit(value, SCALED);
  return v !== undefined && v >= 0 && Number.isInteger(v) ? v : undefined;
}

/** A whole number, or a string such as `"2k"`. */
export function int(value) {
  const v = numberOrUnit(value, SCALED);
  return v !== undefined && Number.isInteger(v) ? v : undefined;
}

/** A number in `0..=1`, or a percentage string such as `"10%"`. */
export function ratio(value) {
  let v;
  if (typeof value === 'number') v = value;
  else if (typeof value === 'string') v = numberOrUnit(value, PERCENT);
  return v !== undefined && v >= 0 && v <= 1 ? v : undefined;
}

/** Seconds `>= 0`, or a string such as `"200ms"`, `"3m"`. */
export function duration(value) {
  const v = numberOrUnit(value, DURATION);
  return v !== undefined && v >= 0 ? v : undefined;
}

/** USD `>= 0`, as a number or a string such as `"$0.5"`. */
export function money(value) {
  let v;
  if (typeof value === 'string') {
    if (!value.startsWith('$')) return undefined;
    v = parseRustFloat(value.slice(1));
    if (v !== undefined && !Number.isFinite(v)) v = undefined;
  } else if (typeof value === 'number') {
    v = value;
  }
  // Rust lets an infinite number through here; `Request::set` then calls it
  // invalid. The same outcome, one step earlier.
  return v !== undefined && v >= 0 && Number.isFinite(v) ? v : undefined;
}

/**
 * The reader of one signal (from the module's metadata): a function from a
 * request value to a number in base units (an enum's variant index, 0/1 for
 * bools), or `undefined` when the value does not fit.
 */
export function reader(signal) {
  switch (signal.kind) {
    case 'bool':
      return (v) => {
        const b = boolean(v);
        return b === undefined ? undefined : b ? 1 : 0;
      };
    case 'enum': {
      const variants = signal.variants;
      return (v) => variant(variants, v);
    }
    case 'tokens':
      return tokens;
    case 'int':
      return int;
    case 'ratio':
      return ratio;
    case 'duration':
      return duration;
    case 'money':
      return money;
    default:
      return () => undefined;
  }
}
