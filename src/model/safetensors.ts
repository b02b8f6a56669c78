/**
 * safetensors.ts — read and write the safetensors format (Hugging Face): an 8-byte little-endian
 * header length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__},
 * then the raw little-endian tensor bytes. Every field is checked against the file before a byte of
 * tensor data is trusted; errors name the file, the tensor and the fix.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { FtplanError } from '../errors.js';

export type SafeDtype = 'F32' | 'F16' | 'BF16' | 'F64';
/** Every dtype the safetensors format defines, with its size in bytes. */
const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1 };
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);
/** A header larger than this is not a model header (HF's own reader refuses > 100 MB too). */
export const MAX_HEADER = 100 * 1024 * 1024;

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

/** One tensor as the header describes it: byte offsets relative to the start of the data section. */
export interface TensorEntry {
  name: string;
  dtype: SafeDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** What the 8-byte length and the JSON header say, checked against the file's size. */
export interface SafetensorsHeader {
  file: string;
  fileBytes: number;
  headerBytes: number;
  /** where the tensor data starts (8 + headerBytes) and how many bytes follow */
  dataStart: number;
  dataBytes: number;
  /** in header order */
  tensors: TensorEntry[];
  metadata: Record<string, string>;
}

const REDOWNLOAD = 'the file is damaged or not safetensors: download the checkpoint again';

function bad(file: string, message: string, fix = REDOWNLOAD): FtplanError {
  return new FtplanError('ERR_INPUT', `${file}: ${message}`, { fix });
}

const count = (n: number) => n.toLocaleString('en-US');

/** The header length in the first 8 bytes, checked against the file's size and MAX_HEADER. */
function headerLength(file: string, first8: Buffer, fileBytes: number): number {
  if (fileBytes < 8) throw bad(file, `is ${fileBytes} bytes: too short for a safetensors header`);
  const headerLen = first8.readBigUInt64LE(0);
  if (headerLen > BigInt(fileBytes - 8)) throw bad(file, `header length ${headerLen} runs past the end of the file (${fileBytes} bytes): the file is truncated or not safetensors`);
  if (headerLen > BigInt(MAX_HEADER)) throw bad(file, `header length ${headerLen} is implausibly large (a model header is under ${MAX_HEADER / 2 ** 20} MB)`);
  return Number(headerLen);
}

/**
 * The one parser of a safetensors header: `head` holds at least the first 8 + header-length bytes of
 * the file, `fileBytes` is the file's size. Checks every field against the file without touching
 * tensor data: the JSON, each dtype and shape, byte length = elements × dtype size, offsets inside
 * the data section (else the file is truncated), no two tensors overlapping. Whether the tensors
 * tile the data section exactly is checkSafetensorsLayout's (a caller may first name a missing tensor).
 */
export function parseSafetensorsHeader(file: string, head: Buffer, fileBytes: number): SafetensorsHeader {
  const hl = headerLength(file, head, fileBytes);
  let header: unknown;
  try {
    header = JSON.parse(head.subarray(8, 8 + hl).toString('utf8'));
  } catch (e) {
    throw bad(file, `header is not JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad(file, 'header is not a JSON object');
  const dataStart = 8 + hl;
  const dataBytes = fileBytes - dataStart;
  const tensors: TensorEntry[] = [];
  let metadata: Record<string, string> = {};
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
      throw bad(file, `tensor '${name}' is ${t.dtype}; GPT-2 weights are floating point (ftplan reads F32, F16, BF16 and F64)`, 'use a checkpoint saved by transformers (save_pretrained)');
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(file, `tensor '${name}' has an invalid shape ${JSON.stringify(t.shape)}`);
    const o = t.data_offsets;
    if (!Array.isArray(o) || o.length !== 2 || !o.every((d) => Number.isSafeInteger(d) && d >= 0) || (o[0] as number) > (o[1] as number)) {
      throw bad(file, `tensor '${name}' has invalid data_offsets ${JSON.stringify(o)}`);
    }
    const [begin, end] = o as [number, number];
    const elements = (t.shape as number[]).reduce((a, b) => a * b, 1);
    const size = DTYPE_BYTES[t.dtype] as number;
    if (end - begin !== elements * size) throw bad(file, `tensor '${name}' shape ${JSON.stringify(t.shape)} × ${t.dtype} needs ${elements * size} bytes, data_offsets give ${end - begin}`);
    tensors.push({ name, dtype: t.dtype as SafeDtype, shape: t.shape as number[], begin, end });
  }
  const past = tensors.filter((t) => t.end > dataBytes);
  if (past.length) {
    const first = past.reduce((a, b) => (b.begin < a.begin ? b : a));
    const need = Math.max(...tensors.map((t) => t.end));
    throw new FtplanError(
      'ERR_INPUT',
      `${file} is truncated: the header says ${count(need)} bytes of tensors, the file has ${count(Math.max(0, dataBytes))} (tensor '${first.name}' data_offsets [${first.begin}, ${first.end}] run past the data; ${past.length} of ${tensors.length} tensors are cut off)`,
      { fix: 'the download stopped early: download the checkpoint again' },
    );
  }
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as TensorEntry;
    const cur = sorted[i] as TensorEntry;
    if (cur.begin < prev.end) throw bad(file, `tensors '${prev.name}' and '${cur.name}' overlap in the data`);
  }
  return { file, fileBytes, headerBytes: hl, dataStart, dataBytes, tensors, metadata };
}

/**
 * The tensors tile the data section exactly, as the format requires (HF's reader refuses anything
 * else): the first starts at 0, each starts where the one before ends, the last ends at the file's end.
 */
export function checkSafetensorsLayout(h: SafetensorsHeader): void {
  const sorted = [...h.tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const t of sorted) {
    if (t.begin !== at) throw bad(h.file, `bytes ${at}–${t.begin} of the data belong to no tensor (before '${t.name}'): the header does not describe the data`);
    at = t.end;
  }
  if (at !== h.dataBytes) throw bad(h.file, `has ${count(h.dataBytes - at)} bytes after the last tensor (the header accounts for ${count(at)} of ${count(h.dataBytes)}): the header does not describe the data`);
}

/**
 * Reads and parses only the header of a safetensors file (8 bytes, then the JSON): for checking a
 * checkpoint without reading its weights.
 */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw bad(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the path and its permissions (a hub snapshot links into blobs/: download it again if the link is broken)');
  }
  try {
    const fileBytes = fstatSync(fd).size;
    const readAt = (buf: Buffer, at: number) => {
      for (let done = 0; done < buf.length; ) {
        const n = readSync(fd, buf, done, buf.length - done, at + done);
        if (n === 0) throw bad(file, `ended while its header was read (${at + done} of ${at + buf.length} bytes)`);
        done += n;
      }
    };
    const first8 = Buffer.alloc(8);
    if (fileBytes >= 8) readAt(first8, 0);
    const hl = headerLength(file, first8, fileBytes); // before allocating: the length is bounded here
    const head = Buffer.alloc(8 + hl);
    first8.copy(head);
    readAt(head.subarray(8), 8);
    return parseSafetensorsHeader(file, head, fileBytes);
  } catch (e) {
    if (e instanceof FtplanError) throw e;
    throw bad(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the path and its permissions');
  } finally {
    closeSync(fd);
  }
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

/** The tensors of a file already read into memory whose header was parsed (and checked) from it. */
export function decodeSafetensors(h: SafetensorsHeader, buf: Buffer): SafetensorsFile {
  const tensors = new Map<string, TensorData>();
  for (const t of h.tensors) {
    const elements = t.shape.reduce((a, b) => a * b, 1);
    tensors.set(t.name, { shape: t.shape, dtype: t.dtype, data: toFloat32(buf.subarray(h.dataStart + t.begin, h.dataStart + t.end), t.dtype, elements) });
  }
  return { tensors, metadata: h.metadata };
}

/** Read a whole file into memory (an error naming the file when it cannot be read). */
export function readWhole(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw bad(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the path and its permissions');
  }
}

/** Parse a safetensors file; `bytes` lets a caller (the fuzzer) pass data that is not on disk. */
export function readSafetensors(file: string, bytes?: Buffer): SafetensorsFile {
  const buf = bytes ?? readWhole(file);
  const h = parseSafetensorsHeader(file, buf, buf.length);
  checkSafetensorsLayout(h);
  return decodeSafetensors(h, buf);
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
