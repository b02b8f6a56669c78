/**
 * parquet-guard.ts — checks a parquet file's Thrift structures before hyparquet decodes them.
 *
 * hyparquet reads a Thrift list by allocating its declared size and reading elements that may take
 * no bytes (booleans), so a corrupt size (found by the fuzzer: a list of 198 million elements in a
 * page header of a few bytes) grows a JS array past V8's limit — a fatal error no try/catch sees,
 * the process aborts. This walks the footer and every page header with a bounded Thrift compact-
 * protocol reader (every list element needs at least one byte, nesting is limited) and throws an
 * ordinary Error on anything malformed, so the caller reports the file as corrupt.
 */
import { parquetMetadata } from 'hyparquet';

const MAX_DEPTH = 32;

class Reader {
  offset: number;
  constructor(
    readonly view: DataView,
    start: number,
    readonly end: number,
  ) {
    this.offset = start;
  }
  byte(): number {
    if (this.offset >= this.end) throw new Error('thrift structure runs past its bytes');
    return this.view.getUint8(this.offset++);
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
    }
    throw new Error('thrift varint longer than 10 bytes');
  }
  skip(n: number): void {
    if (n < 0 || this.offset + n > this.end) throw new Error('thrift field runs past its bytes');
    this.offset += n;
  }
}

const zigzag = (v: bigint) => (v >> 1n) ^ -(v & 1n);

function element(r: Reader, type: number, depth: number, inList: boolean): bigint | undefined {
  switch (type) {
    case 1: // TRUE
    case 2: // FALSE
      if (inList) r.skip(1); // in a list each boolean is a byte
      return undefined;
    case 3:
      r.skip(1);
      return undefined;
    case 4:
    case 5:
    case 6:
      return zigzag(r.varint());
    case 7:
      r.skip(8);
      return undefined;
    case 8: {
      const n = r.varint();
      if (n > BigInt(r.end - r.offset)) throw new Error(`thrift binary of ${n} bytes runs past its bytes`);
      r.skip(Number(n));
      return undefined;
    }
    case 9: // LIST
    case 10: {
      // SET
      const h = r.byte();
      let size = BigInt(h >> 4);
      if (size === 15n) size = r.varint();
      if (size > BigInt(r.end - r.offset)) throw new Error(`thrift list of ${size} elements in ${r.end - r.offset} bytes`);
      for (let i = 0n; i < size; i++) element(r, h & 0x0f, depth + 1, true);
      return undefined;
    }
    case 11: {
      // MAP
      const size = r.varint();
      if (size > BigInt(r.end - r.offset)) throw new Error(`thrift map of ${size} entries in ${r.end - r.offset} bytes`);
      if (size > 0n) {
        const kv = r.byte();
        for (let i = 0n; i < size; i++) {
          element(r, kv >> 4, depth + 1, true);
          element(r, kv & 0x0f, depth + 1, true);
        }
      }
      return undefined;
    }
    case 12:
      struct(r, depth + 1);
      return undefined;
    default:
      throw new Error(`thrift type ${type} unknown`);
  }
}

/** Walks one struct; returns its integer fields by id (enough to find a page's size). */
function struct(r: Reader, depth: number): Map<number, bigint> {
  if (depth > MAX_DEPTH) throw new Error('thrift structures nested too deep');
  const ints = new Map<number, bigint>();
  let fid = 0;
  for (;;) {
    const b = r.byte();
    const type = b & 0x0f;
    if (type === 0) return ints;
    const delta = b >> 4;
    fid = delta ? fid + delta : Number(zigzag(r.varint()));
    const v = element(r, type, depth, false);
    if (v !== undefined) ints.set(fid, v);
  }
}

/** Throws an Error when the footer or any page header is malformed. */
export function checkParquetStructure(ab: ArrayBuffer): void {
  const view = new DataView(ab);
  const n = ab.byteLength;
  if (n < 12) throw new Error(`${n} bytes: too short for parquet`);
  const magic = (o: number) => String.fromCharCode(view.getUint8(o), view.getUint8(o + 1), view.getUint8(o + 2), view.getUint8(o + 3));
  if (magic(0) !== 'PAR1' || magic(n - 4) !== 'PAR1') throw new Error('no PAR1 magic at both ends');
  const metaLen = view.getUint32(n - 8, true);
  if (metaLen + 8 > n - 4) throw new Error(`footer length ${metaLen} runs past the start of the file`);
  const footer = new Reader(view, n - 8 - metaLen, n - 8);
  struct(footer, 0);
  const meta = parquetMetadata(ab);
  for (const group of meta.row_groups) {
    for (const chunk of group.columns) {
      const md = chunk.meta_data;
      if (!md) continue;
      const start = Number(md.dictionary_page_offset ?? md.data_page_offset);
      const end = start + Number(md.total_compressed_size);
      if (!(start >= 0 && end <= n && start <= end)) throw new Error(`column chunk [${start}, ${end}) is outside the file`);
      let offset = start;
      while (offset < end - 1) {
        const r = new Reader(view, offset, end);
        const header = struct(r, 0);
        const size = header.get(3); // compressed_page_size
        if (size === undefined || size < 0n || BigInt(r.offset) + size > BigInt(end)) throw new Error(`a page at byte ${offset} has no valid size`);
        offset = r.offset + Number(size);
      }
    }
  }
}
