// The broken-input cases cut from the real tweet parquet file (FTPLAN_DATA) at the byte offsets the
// fuzzer found: each once aborted the process inside hyparquet (a fatal V8 error). The same failures
// made on purpose in a synthetic file are in test/corpus/cases.ts (npm test).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ftplanAsync, tempDir } from '../helpers.js';
import { TWEETS } from '../real-data.js';

const STACK = /^\s+at .+:\d+:\d+\)?$/m;
const parquet = readFileSync(join(TWEETS, 'test.parquet'));

const cases: [string, () => Buffer, string[]][] = [
  ['the real test.parquet cut in half', () => parquet.subarray(0, 97_000), ['train.parquet: not a readable parquet file', 'truncated']],
  ['its footer cut off', () => parquet.subarray(0, parquet.length - 6), ['train.parquet: not a readable parquet file']],
  ['62 bytes cut from a page header (a Thrift list of 198 million booleans)', () => Buffer.concat([parquet.subarray(0, 52789), parquet.subarray(52851)]), ['train.parquet: not a readable parquet file (a page at byte']],
  [
    'one byte of an RLE run changed (a run of 163 million values)',
    () => {
      const b = Buffer.from(parquet);
      b[191618] = 0xff;
      return b;
    },
    ['train.parquet: not a readable parquet file (the decoder aborted', 'download it again'],
  ],
];

describe('broken copies of the real tweet parquet file', () => {
  it('the file itself is the one the offsets were found in (194,547 bytes)', () => {
    expect(parquet.length).toBe(194_547);
  });

  it.each(cases)('%s: exit 2, the file named, no crash, no stack', async (_name, make, message) => {
    const dir = tempDir('ftplan-corpus-');
    writeFileSync(join(dir, 'train.parquet'), make());
    const r = await ftplanAsync(['profile', '--dataset', join(dir, 'train.parquet')]);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(2);
    for (const m of message) expect(r.stderr).toContain(m);
    expect(r.stderr).not.toMatch(STACK);
  });
});
