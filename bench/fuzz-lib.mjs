// fuzz-lib.mjs — a small, seeded mutation fuzzer for ftplan's parsers. Shared by the quick run in
// the tests (test/fuzz.test.ts, on src/) and the long run (bench/fuzz.mjs, on dist/).
//
// Every case mutates one real input (the tiny-gpt2 checkpoint's model.safetensors or config.json, a
// small data file) and hands it to the parser. The contract: the parser returns, or throws an
// FtplanError (a message naming the input and a fix). Any other exception (TypeError, RangeError,
// a stack overflow, …) is a failure; the slowest case is reported, so a hang shows.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** mulberry32: a tiny deterministic PRNG (the same seed gives the same cases everywhere). */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
  };
}

// ---------------------------------------------------------------------------------------------
// Byte-level mutations (any file)

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x22, 0x2c, 0x5b, 0x5d, 0x7b, 0x7d, 0x0a, 0x3a, 0x2d, 0x30, 0x39, 0x2e, 0x65];

export function mutateBytes(buf, r) {
  const b = Buffer.from(buf);
  const n = 1 + r.int(4);
  let out = b;
  for (let k = 0; k < n; k++) {
    const len = out.length;
    switch (r.int(8)) {
      case 0: // bit flip
        if (len) out[r.int(len)] ^= 1 << r.int(8);
        break;
      case 1: // byte set
        if (len) out[r.int(len)] = r.pick(INTERESTING);
        break;
      case 2: // truncate
        out = out.subarray(0, r.int(len + 1));
        break;
      case 3: { // delete a range
        const at = r.int(len + 1);
        out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(len, at + 1 + r.int(64)))]);
        break;
      }
      case 4: { // duplicate a range
        const at = r.int(len + 1);
        const piece = out.subarray(at, at + 1 + r.int(64));
        out = Buffer.concat([out.subarray(0, at), piece, out.subarray(at)]);
        break;
      }
      case 5: { // insert random bytes
        const at = r.int(len + 1);
        const ins = Buffer.from(Array.from({ length: 1 + r.int(16) }, () => r.int(256)));
        out = Buffer.concat([out.subarray(0, at), ins, out.subarray(at)]);
        break;
      }
      case 6: // append garbage
        out = Buffer.concat([out, Buffer.from(Array.from({ length: 1 + r.int(32) }, () => r.int(256)))]);
        break;
      default: // overwrite a 4- or 8-byte word with an extreme
        if (len >= 8) {
          const at = r.int(len - 7);
          const v = r.pick([0xffffffffn, 0x7fffffffffffffffn, 0n, 1n, 0xffffffffffffffffn, BigInt(len), BigInt(len * 1000)]);
          out.writeBigUInt64LE(v & 0xffffffffffffffffn, at);
        }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON-level mutations

const WEIRD = [null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, '', 'x', 'F32', 'NaN', [], [1], [-1], [0, 0], [1e20, 2e20], {}, { a: 1 }, '\u0000', 'é'];

function mutateValue(v, r, depth = 0) {
  if (depth < 3 && v && typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length && r.next() < 0.7) {
      const k = r.pick(keys);
      const copy = Array.isArray(v) ? [...v] : { ...v };
      switch (r.int(4)) {
        case 0:
          if (Array.isArray(copy)) copy.splice(Number(k), 1);
          else delete copy[k];
          break;
        case 1:
          copy[k] = mutateValue(copy[k], r, depth + 1);
          break;
        case 2:
          copy[k] = r.pick(WEIRD);
          break;
        default:
          if (!Array.isArray(copy)) copy[`${k}_${r.int(9)}`] = copy[k];
          else copy.push(r.pick(WEIRD));
      }
      return copy;
    }
  }
  if (typeof v === 'number' && r.next() < 0.5) return r.pick([v + 1, v - 1, v * 2, -v, 0, v / 3, v * 1e6]);
  return r.pick(WEIRD);
}

export function mutateJson(text, r) {
  return JSON.stringify(mutateValue(JSON.parse(text), r));
}

/** safetensors: header edits (dtype, shape, offsets, keys, the length prefix) or byte mutations. */
export function mutateSafetensors(buf, r) {
  const choice = r.int(10);
  if (choice < 3) return mutateBytes(buf, r);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  let data = buf.subarray(8 + n);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = r.pick(names);
  const t = header[name];
  switch (choice) {
    case 3: // dtype
      t.dtype = r.pick(['F16', 'BF16', 'F64', 'I64', 'I32', 'U8', 'BOOL', 'F8_E4M3', 'F24', '', 7, null]);
      break;
    case 4: // shape
      t.shape = r.pick([[], [0], [-1], [t.shape[0] ?? 1], [...t.shape, 1], [...t.shape].reverse(), [2 ** 31, 2 ** 31], [1.5], ['2'], null]);
      break;
    case 5: { // offsets: shifted, swapped with another tensor's, reversed, out of range
      const other = header[r.pick(names)];
      const o = t.data_offsets;
      const k = r.int(5);
      if (k === 0) [t.data_offsets, other.data_offsets] = [other.data_offsets, t.data_offsets];
      else if (k === 1) t.data_offsets = [o[1], o[0]];
      else if (k === 2) t.data_offsets = [o[0] + 4 * (1 + r.int(4)), o[1] + 4 * (1 + r.int(4))];
      else if (k === 3) t.data_offsets = [o[0], data.length + 1 + r.int(100)];
      else t.data_offsets = r.pick([[0, 0], [-8, 0], [0.5, 4], null, [0], ['0', '8']]);
      break;
    }
    case 6: // drop or duplicate a tensor
      if (r.next() < 0.5) delete header[name];
      else header[`${name}.copy`] = { ...t };
      break;
    case 7: // data: truncated, extended, NaN/Inf written into a tensor
      if (r.next() < 0.5) data = data.subarray(0, r.int(data.length));
      else {
        data = Buffer.from(data);
        const at = t.data_offsets[0] + 4 * r.int(Math.max(1, (t.data_offsets[1] - t.data_offsets[0]) / 4));
        if (at + 4 <= data.length) data.writeFloatLE(r.pick([Number.NaN, Number.POSITIVE_INFINITY, -0, 3e38]), at);
      }
      break;
    case 8: // any JSON edit of the header
      return withHeader(JSON.parse(mutateJson(JSON.stringify(header), r)), data, r);
    default: // a lying length prefix
      return withHeader(header, data, r, true);
  }
  return withHeader(header, data, r);
}

function withHeader(header, data, r, lie = false) {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  const n = lie ? r.pick([0n, 1n, BigInt(h.length - 1), BigInt(h.length + 1), BigInt(h.length + data.length + 9), 2n ** 63n, 2n ** 64n - 1n]) : BigInt(h.length);
  len.writeBigUInt64LE(n);
  return Buffer.concat([len, h, data]);
}

export function mutateText(buf, r) {
  // Text data files: byte mutations, or a structural edit of one line (a field dropped, a
  // delimiter or quote inserted, a label changed to another type, a line doubled).
  if (r.next() < 0.5) return mutateBytes(buf, r);
  const lines = buf.toString('utf8').split('\n');
  const i = r.int(lines.length);
  const line = lines[i] ?? '';
  const k = r.int(6);
  if (k === 0) lines.splice(i, 1);
  else if (k === 1) lines.splice(i, 0, line, line);
  else if (k === 2) lines[i] = line.slice(0, r.int(line.length + 1));
  else if (k === 3) lines[i] = line + r.pick([',', '\t', '"', '"x', ',,', '}', '{"text":1,"label":[1]}', '{"label":"x"}']);
  else if (k === 4) lines[i] = line.replace(/"label":\s*("[^"]*"|\d+)/, `"label":${JSON.stringify(r.pick(WEIRD))}`);
  else lines[i] = line.replace(/,/g, r.pick([';', '\t', '', '","']));
  return Buffer.from(lines.join('\n'));
}

// ---------------------------------------------------------------------------------------------

/**
 * Runs `cases` mutations of `seed` through `parse(dir)`. `place(dir, bytes)` writes the mutated input
 * where the parser looks. Returns counts, the first failures (anything but success or FtplanError)
 * and the slowest case.
 */
export async function fuzz({ name, seed, mutate, place, parse, isExpected, cases, seedNumber = 1, dir, keepSlowest = false }) {
  const r = rng(seedNumber);
  const out = { name, cases: 0, accepted: 0, rejected: 0, failures: [], slowestMs: 0, slowestCase: -1, ms: 0 };
  const t0 = performance.now();
  mkdirSync(dir, { recursive: true });
  // A rejection nobody handles (a parser's stray promise) would end a CLI process: a failure too.
  // (Counted only when no other listener, e.g. a parser's own scoped guard, is installed.)
  let stray = [];
  const onStray = (e) => {
    if (process.listenerCount('unhandledRejection') === 1) stray.push(e);
  };
  process.on('unhandledRejection', onStray);
  for (let i = 0; i < cases; i++) {
    const caseDir = join(dir, `case-${i % 4}`);
    rmSync(caseDir, { recursive: true, force: true });
    mkdirSync(caseDir, { recursive: true });
    const bytes = mutate(seed, r);
    place(caseDir, bytes);
    const ts = performance.now();
    try {
      await parse(caseDir);
      out.accepted++;
    } catch (e) {
      if (isExpected(e)) out.rejected++;
      else if (out.failures.length < 20) {
        const failed = join(dir, `failure-${out.failures.length}.bin`);
        writeFileSync(failed, bytes);
        out.failures.push({ case: i, error: `${e?.name}: ${e?.message}`.slice(0, 300), input: failed });
      } else out.failures.push({ case: i, error: `${e?.name}: ${String(e?.message).slice(0, 100)}` });
    }
    await new Promise((res) => setImmediate(res)); // let this case's stray rejections surface
    if (stray.length) {
      out.failures.push({ case: i, error: `unhandled rejection: ${stray[0]?.message ?? String(stray[0])}`.slice(0, 300) });
      stray = [];
    }
    const took = performance.now() - ts;
    if (took > out.slowestMs) {
      out.slowestMs = took;
      out.slowestCase = i;
      if (keepSlowest) writeFileSync(join(dir, 'slowest.bin'), bytes);
    }
    out.cases++;
  }
  process.off('unhandledRejection', onStray);
  out.ms = performance.now() - t0;
  return out;
}

/** The targets: the parser under test from `mod` (src/ in tests, dist/ in the bench). */
export function targets(mod, files) {
  const { loadCheckpoint, loadDataset, FtplanError } = mod;
  const isExpected = (e) => e instanceof FtplanError;
  const writeModel = (dir, { config, weights }) => {
    writeFileSync(join(dir, 'config.json'), config);
    writeFileSync(join(dir, 'model.safetensors'), weights);
  };
  return {
    safetensors: {
      seed: files.weights,
      mutate: mutateSafetensors,
      place: (dir, b) => writeModel(dir, { config: files.config, weights: b }),
      parse: (dir) => loadCheckpoint(dir, { numLabels: 3 }),
      isExpected,
    },
    config: {
      seed: files.config,
      mutate: (b, r) => (r.next() < 0.8 ? Buffer.from(mutateJson(b.toString('utf8'), r)) : mutateBytes(b, r)),
      place: (dir, b) => writeModel(dir, { config: b, weights: files.weights }),
      parse: (dir) => loadCheckpoint(dir, { numLabels: 3 }),
      isExpected,
    },
    ...Object.fromEntries(
      Object.entries(files.data).map(([ext, seed]) => [
        `data-${ext}`,
        {
          seed,
          mutate: ext === 'parquet' ? mutateBytes : mutateText,
          place: (dir, b) => writeFileSync(join(dir, `train.${ext}`), b),
          parse: (dir) => loadDataset(join(dir, `train.${ext}`)),
          isExpected,
        },
      ]),
    ),
  };
}
