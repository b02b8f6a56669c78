/**
 * safetensors.ts — read and write the safetensors format (Hugging Face): an 8-byte little-endian
 * header length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__},
 * then the raw little-endian tensor bytes. Every field is checked against the file before a byte of
 * tensor data is trusted; errors name the file, the tensor and the fix.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { FtplanError } from '../errors.js';

export type SafeDtype = 'F32' | 'F16' | 'BF16' | 'F64';
const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);
/** A header larger than this is not a model header (HF's own reader refuses > 100 MB too). */
const MAX_HEADER = 100 * 1024 * 1024;

export interface TensorData {
  shape: number[];
  /** always float32 in memory; `dtype` is what the file stored */
  data: Float32Array;
  dtype: SafeDtype;
}

export interface SafetensorsFile {
  tensors: Map<string, TensorData>;
  metadata: Record<string, string>;
}

function bad(file: string, message: string, fix = 'the file is damaged or not safetensors: download the checkpoint again'): FtplanError {
  return new FtplanError('ERR_INPUT', `${file}: ${message}`, { fix });
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function toFloat32(bytes: Buffer, dtype: SafeDtype, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  else if (dtype === 'F64') for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
  else if (dtype === 'F16') for (let i = 0; i < count; i++) out[i] = f16ToF32(view.getUint16(i * 2, true));
  else {
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) u32[i] = view.getUint16(i * 2, true) << 16; // bf16 = the top half of an f32
  }
  return out;
}

/** Parse a safetensors file; `bytes` lets a caller (the fuzzer) pass data that is not on disk. */
export function readSafetensors(file: string, bytes?: Buffer): SafetensorsFile {
  let buf: Buffer;
  try {
    buf = bytes ?? readFileSync(file);
  } catch (e) {
    throw bad(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the path and its permissions');
  }
  if (buf.length < 8) throw bad(file, `is ${buf.length} bytes: too short for a safetensors header`);
  const headerLen = buf.readBigUInt64LE(0);
  if (headerLen > BigInt(buf.length - 8)) throw bad(file, `header length ${headerLen} runs past the end of the file (${buf.length} bytes)`);
  if (headerLen > BigInt(MAX_HEADER)) throw bad(file, `header length ${headerLen} is implausibly large`);
  const hl = Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(8, 8 + hl).toString('utf8'));
  } catch (e) {
    throw bad(file, `header is not JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad(file, 'header is not a JSON object');
  const dataStart = 8 + hl;
  const dataLen = buf.length - dataStart;
  const tensors = new Map<string, TensorData>();
  let metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info !== null && typeof info === 'object' && !Array.isArray(info)) metadata = info as Record<string, string>;
      else throw bad(file, '__metadata__ is not an object');
      continue;
    }
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (t === null || typeof t !== 'object') throw bad(file, `tensor '${name}' has no description`);
    if (typeof t.dtype !== 'string' || !(t.dtype in DTYPE_BYTES)) throw bad(file, `tensor '${name}' has unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!FLOAT_DTYPES.has(t.dtype)) {
      throw bad(file, `tensor '${name}' is ${t.dtype}; GPT-2 weights are floating point (F32, F16, BF16)`, 'use a checkpoint saved by transformers (save_pretrained)');
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(file, `tensor '${name}' has an invalid shape ${JSON.stringify(t.shape)}`);
    const o = t.data_offsets;
    if (!Array.isArray(o) || o.length !== 2 || !o.every((d) => Number.isSafeInteger(d) && d >= 0) || (o[0] as number) > (o[1] as number)) {
      throw bad(file, `tensor '${name}' has invalid data_offsets ${JSON.stringify(o)}`);
    }
    const [begin, end] = o as [number, number];
    if (end > dataLen) throw bad(file, `tensor '${name}' data_offsets [${begin}, ${end}] run past the data (${dataLen} bytes): the file is truncated or its header lies`);
    const count = (t.shape as number[]).reduce((a, b) => a * b, 1);
    const size = DTYPE_BYTES[t.dtype] as number;
    if (end - begin !== count * size) throw bad(file, `tensor '${name}' shape ${JSON.stringify(t.shape)} × ${t.dtype} needs ${count * size} bytes, data_offsets give ${end - begin}`);
    ranges.push([begin, end, name]);
    tensors.set(name, { shape: t.shape as number[], dtype: t.dtype as SafeDtype, data: toFloat32(buf.subarray(dataStart + begin, dataStart + end), t.dtype as SafeDtype, count) });
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1] as [number, number, string];
    const cur = ranges[i] as [number, number, string];
    if (cur[0] < prev[1]) throw bad(file, `tensors '${prev[2]}' and '${cur[2]}' overlap in the data`);
  }
  return { tensors, metadata };
}

/** Serialize tensors (F32) in safetensors layout: header padded to 8 bytes, tensors in name order. */
export function encodeSafetensors(tensors: Map<string, { shape: number[]; data: Float32Array }>, metadata: Record<string, string> = { format: 'pt' }): Buffer {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name) as { shape: number[]; data: Float32Array };
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${name}: shape ${JSON.stringify(t.shape)} does not match ${t.data.length} values`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + count * 4] };
    offset += count * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const hbytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + hbytes.length + offset);
  out.writeBigUInt64LE(BigInt(hbytes.length), 0);
  hbytes.copy(out, 8);
  let pos = 8 + hbytes.length;
  for (const name of names) {
    const t = tensors.get(name) as { data: Float32Array };
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, pos); // little-endian hosts
    pos += t.data.byteLength;
  }
  return out;
}

/** Write a file atomically: a temp file in the same folder, fsync, rename over the target. */
export function writeFileAtomic(path: string, data: Buffer | string): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, buf.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    // Disk full, a file-size limit, no permission: no half-written file is left, and the error
    // names the file it was writing (writeSync's does not).
    rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException;
    err.path = path;
    throw err;
  }
}
