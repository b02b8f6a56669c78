// The broken-input corpus: every row is one input ftplan reads (a data file, a model folder, a price
// table, a flag) in a broken form, the command that reads it, and the exit code and message it must
// give. test/e2e/corpus.test.ts runs each through `node bin/ftplan.js`. See README.md here. Every
// input is made here from the fixtures below and test/fixtures.ts; the cases cut from the real tweet
// parquet file are in test/data/corpus.test.ts.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { labelledFileBytes, labelledRows, parquetDataPage, tinyHfCheckpoint } from '../fixtures.js';

export interface CorpusCase {
  name: string;
  category: 'data' | 'model' | 'pricing' | 'flags' | 'runtime';
  /** writes the broken input into `dir` (a fresh temporary folder per case) */
  setup?: (dir: string) => void;
  args: (dir: string) => string[];
  env?: Record<string, string>;
  exitCode: 1 | 2;
  /** what stderr must contain (every string) */
  message: (string | RegExp)[];
}

export const FIXTURES = resolve(import.meta.dirname, 'fixtures');
export const TWEETS = join(FIXTURES, 'tweets-small');
// A synthetic labelled data set as parquet (uncompressed, so a test can damage one part of a page)
const PARQUET = labelledFileBytes(labelledRows(300, 17), 'parquet', { uncompressed: true });
const PAGE = parquetDataPage(PARQUET);

const write = (path: string, data: string | Buffer) => {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
};
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const rows = (n: number, label: (i: number) => unknown) => Array.from({ length: n }, (_, i) => ({ text: `row ${i} is a tweet`, label: label(i) }));

const profile = (file: string, ...more: string[]) => (dir: string) => ['profile', '--dataset', join(dir, file), ...more];

// --- model folders: a random checkpoint of tiny-gpt2's shape (test/fixtures.ts), then broken -------
function copyTiny(dir: string): string {
  return tinyHfCheckpoint(join(dir, 'model'), { seed: 3 }).dir;
}
type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
function splitSafetensors(buf: Buffer): { header: Header; data: Buffer } {
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Header, data: buf.subarray(8 + n) };
}
export function joinSafetensors(header: object, data: Buffer): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}
/** tiny-gpt2 with its safetensors file rewritten by `edit` */
const brokenWeights = (edit: (st: { header: Header; data: Buffer }) => Buffer | void) => (dir: string) => {
  const m = copyTiny(dir);
  const file = join(m, 'model.safetensors');
  const st = splitSafetensors(readFileSync(file));
  const out = edit(st);
  writeFileSync(file, out ?? joinSafetensors(st.header, st.data));
};
const brokenConfig = (edit: (c: Record<string, unknown>) => void) => (dir: string) => {
  const m = copyTiny(dir);
  const c = JSON.parse(readFileSync(join(m, 'config.json'), 'utf8')) as Record<string, unknown>;
  edit(c);
  writeFileSync(join(m, 'config.json'), JSON.stringify(c));
};
const tensor = (h: Header, name: string) => h[name] as { dtype: string; shape: number[]; data_offsets: [number, number] };
const evalModel = (dir: string) => ['eval', '--model', join(dir, 'model'), '--dataset', TWEETS, '--device', 'cpu', '--threads', '1'];

// --- price tables -----------------------------------------------------------------------------
const CATALOG_HEADER = 'cloud,instanceType,gpu,gpuCount,vCPUs,memoryGiB,region,price,spotPrice,source,asOf,note';
const catalogRow = (o: Partial<Record<string, string>> = {}) => {
  const r = { cloud: 'aws', instanceType: 'g5.xlarge', gpu: 'A10G', gpuCount: '1', vCPUs: '4', memoryGiB: '16', region: 'us-east-1', price: '1.006', spotPrice: '', source: 'test corpus', asOf: '2026-05-20', note: '', ...o };
  return CATALOG_HEADER.split(',').map((k) => r[k as keyof typeof r]).join(',');
};
const catalog = (...lines: string[]) => (dir: string) => write(join(dir, 'catalog.csv'), [CATALOG_HEADER, ...lines].join('\n') + '\n');
const pricing = (dir: string) => ['pricing', '--catalog', join(dir, 'catalog.csv')];
const SKY_HEADER = 'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone';
const skypilot = (...lines: string[]) => (dir: string) => write(join(dir, 'aws', 'vms.csv'), [SKY_HEADER, ...lines].join('\n') + '\n');
const importSky = (dir: string) => ['pricing', 'import', join(dir, 'aws', 'vms.csv'), '--cloud', 'aws'];

// --- flags -------------------------------------------------------------------------------------
/** a command line from defaults, with `more` replacing a default flag of the same name (a flag given twice is its own case) */
function flags(base: Record<string, string>, more: string[]): string[] {
  const out = { ...base };
  const extra: string[] = [];
  for (let i = 0; i < more.length; i++) {
    const k = more[i] as string;
    const v = more[i + 1];
    if (k.startsWith('--') && v !== undefined && !v.startsWith('--')) {
      out[k] = v;
      i++;
    } else extra.push(k);
  }
  return [...Object.entries(out).flat(), ...extra];
}
const run = (...more: string[]) => (dir: string) => ['run', ...flags({ '--model': 'tiny', '--init': 'random', '--dataset': TWEETS, '--device': 'cpu', '--threads': '1', '--output-dir': join(dir, 'out') }, more)];
const estimate = (...more: string[]) => () => ['estimate', ...flags({ '--model': 'tiny', '--device': 'cpu', '--threads': '1', '--steps': '1', '--warmup-steps': '0', '--eval-batch-size': '0' }, more)];

export const CASES: CorpusCase[] = [
  // ---------------------------------------------------------------- data files
  { name: 'jsonl: a line that is not JSON', category: 'data', setup: (d) => write(join(d, 'd.jsonl'), '{"text":"a","label":0}\n{"text": oops}\n'), args: profile('d.jsonl'), exitCode: 2, message: ['d.jsonl:2: not JSON', 'fix or remove that line'] },
  { name: 'jsonl: a line that is an array', category: 'data', setup: (d) => write(join(d, 'd.jsonl'), '{"text":"a","label":0}\n[1,2]\n'), args: profile('d.jsonl'), exitCode: 2, message: ['d.jsonl:2: is not a JSON object'] },
  { name: 'jsonl: CSV content under a .jsonl name', category: 'data', setup: (d) => write(join(d, 'd.jsonl'), 'text,label\nhello,1\n'), args: profile('d.jsonl'), exitCode: 2, message: ['d.jsonl:1: not JSON'] },
  { name: 'json: an array that does not parse', category: 'data', setup: (d) => write(join(d, 'd.json'), '[{"text":"a","label":0},'), args: profile('d.json'), exitCode: 2, message: ['d.json: not JSON', 'array of objects'] },
  { name: 'json: an array of numbers', category: 'data', setup: (d) => write(join(d, 'd.json'), '[1, 2, 3]'), args: profile('d.json'), exitCode: 2, message: ['d.json: is not an array of objects'] },
  { name: 'csv: Latin-1 encoded', category: 'data', setup: (d) => write(join(d, 'd.csv'), Buffer.from('text,label\ncaf\xe9 au lait,1\nna\xefve,0\n', 'latin1')), args: profile('d.csv'), exitCode: 2, message: ['d.csv: is not UTF-8 text', 'iconv'] },
  { name: 'jsonl: UTF-16 with a byte-order mark', category: 'data', setup: (d) => write(join(d, 'd.jsonl'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"text":"a","label":0}\n', 'utf16le')])), args: profile('d.jsonl'), exitCode: 2, message: ['d.jsonl: is not UTF-8 text'] },
  { name: 'jsonl: empty file', category: 'data', setup: (d) => write(join(d, 'd.jsonl'), ''), args: profile('d.jsonl'), exitCode: 2, message: ['d.jsonl: is empty'] },
  { name: 'csv: only blank lines', category: 'data', setup: (d) => write(join(d, 'd.csv'), '\n\n  \n'), args: profile('d.csv'), exitCode: 2, message: ['d.csv: is empty'] },
  { name: 'csv: a header and no rows', category: 'data', setup: (d) => write(join(d, 'd.csv'), 'text,label\n'), args: profile('d.csv'), exitCode: 2, message: ['d.csv: has no rows'] },
  { name: 'csv: no label column', category: 'data', setup: (d) => write(join(d, 'd.csv'), 'text,id\nhello,1\nworld,2\n'), args: profile('d.csv'), exitCode: 2, message: ['d.csv: no label column found (columns: text, id', '--label-column'] },
  { name: 'csv: no text column', category: 'data', setup: (d) => write(join(d, 'd.csv'), 'body,label\nhello,1\nworld,0\n'), args: profile('d.csv'), exitCode: 2, message: ['d.csv: no text column found (columns: body, label', '--text-column'] },
  { name: 'csv: --label-column names a column that is not there', category: 'data', setup: (d) => write(join(d, 'd.csv'), 'text,label\nhello,1\nworld,0\n'), args: profile('d.csv', '--label-column', 'stars'), exitCode: 2, message: ["has no label column 'stars' (columns: text, label)", 'pass --label-column with one of: text, label'] },
  { name: 'csv: a row with an extra field', category: 'data', setup: (d) => write(join(d, 'd.csv'), 'text,label\nhello,1\nworld,0,surplus\n'), args: profile('d.csv'), exitCode: 2, message: ['d.csv:3: not valid CSV', 'same number of fields'] },
  { name: 'csv: a row with a missing field', category: 'data', setup: (d) => write(join(d, 'd.csv'), 'text,label\nhello,1\nworld\n'), args: profile('d.csv'), exitCode: 2, message: ['d.csv:3: not valid CSV'] },
  { name: 'tsv: commas where tabs belong', category: 'data', setup: (d) => write(join(d, 'd.tsv'), 'text,label\nhello,1\n'), args: profile('d.tsv'), exitCode: 2, message: ['d.tsv: no text column found (columns: text,label'] },
  { name: 'jsonl: one giant line (4 MiB) that is not JSON', category: 'data', setup: (d) => write(join(d, 'd.jsonl'), `{"text": "${'x'.repeat(4 << 20)}`), args: profile('d.jsonl'), exitCode: 2, message: ['d.jsonl:1: not JSON'] },
  { name: 'jsonl: labels of mixed type (numbers and names)', category: 'data', setup: (d) => write(join(d, 'd.jsonl'), jsonl(rows(6, (i) => (i % 2 ? 'positive' : 1)))), args: profile('d.jsonl'), exitCode: 2, message: ["column 'label' mixes numbers and names", 'one kind of label per column'] },
  { name: 'jsonl: a class id far beyond the others (1e308)', category: 'data', setup: (d) => write(join(d, 'd.jsonl'), jsonl(rows(4, (i) => [0, 1, 1e308, 1][i]))), args: profile('d.jsonl'), exitCode: 2, message: ["column 'label' has class id 1e+308: class ids must run 0, 1, …, K-1", 'number the classes from 0'] },
  { name: 'jsonl: every label missing', category: 'data', setup: (d) => write(join(d, 'd.jsonl'), jsonl(rows(4, () => null))), args: profile('d.jsonl'), exitCode: 2, message: ["column 'label' has no labels"] },
  { name: 'jsonl: a single class', category: 'data', setup: (d) => write(join(d, 'd.jsonl'), jsonl(rows(4, () => 'positive'))), args: profile('d.jsonl'), exitCode: 2, message: ["has only one class (positive)", 'at least two classes'] },
  {
    name: 'folder: an eval label the training split lacks (--unknown-labels error)',
    category: 'data',
    setup: (d) => {
      write(join(d, 'ds', 'train.jsonl'), jsonl(rows(6, (i) => ['negative', 'positive'][i % 2])));
      write(join(d, 'ds', 'test.jsonl'), jsonl(rows(3, (i) => ['negative', 'positive', 'sarcastic'][i])));
    },
    args: (d) => ['profile', '--dataset', join(d, 'ds'), '--unknown-labels', 'error'],
    exitCode: 2,
    message: ["label 'sarcastic' is not one of the training labels (negative, positive)", '--unknown-labels drop'],
  },
  { name: 'parquet: a file cut in half', category: 'data', setup: (d) => write(join(d, 'train.parquet'), PARQUET.subarray(0, PARQUET.length >> 1)), args: profile('train.parquet'), exitCode: 2, message: ['train.parquet: not a readable parquet file', 'truncated'] },
  { name: 'parquet: its footer cut off', category: 'data', setup: (d) => write(join(d, 'train.parquet'), PARQUET.subarray(0, PARQUET.length - 6)), args: profile('train.parquet'), exitCode: 2, message: ['train.parquet: not a readable parquet file'] },
  // The two failures the fuzzer found in hyparquet (test/data/corpus.test.ts has the originals, cut
  // from the real tweet parquet file), made on purpose: each aborted the process inside hyparquet (a
  // fatal V8 error) before the page headers were checked and pages were decoded in a child process.
  {
    name: 'parquet: a page header whose size runs past its column chunk',
    category: 'data',
    setup: (d) => {
      const b = Buffer.from(PARQUET);
      // compressed_page_size 8,191 or more (zigzag varint of the same length: 0xfe …, 0x7f), far past the page
      b.fill(0xfe, PAGE.compressedSize.at, PAGE.compressedSize.at + PAGE.compressedSize.length - 1);
      b[PAGE.compressedSize.at + PAGE.compressedSize.length - 1] = 0x7f;
      write(join(d, 'train.parquet'), b);
    },
    args: profile('train.parquet'),
    exitCode: 2,
    message: [`train.parquet: not a readable parquet file (a page at byte ${PAGE.offset} has no valid size)`],
  },
  {
    name: 'parquet: an RLE run header that claims 167 million values',
    category: 'data',
    setup: (d) => {
      const b = Buffer.from(PARQUET);
      b.set([0xfe, 0xff, 0xff, 0x9f, 0x01], PAGE.levelsRun); // varint 335,544,318: an RLE run (even) of 167,772,159
      write(join(d, 'train.parquet'), b);
    },
    args: profile('train.parquet'),
    exitCode: 2,
    message: ['train.parquet: not a readable parquet file (the decoder aborted', 'download it again'],
  },
  { name: 'parquet: JSON lines under a .parquet name', category: 'data', setup: (d) => write(join(d, 'train.parquet'), readFileSync(join(TWEETS, 'train.jsonl'))), args: profile('train.parquet'), exitCode: 2, message: ['train.parquet: not a readable parquet file'] },
  { name: 'an unknown file type (.xlsx)', category: 'data', setup: (d) => write(join(d, 'd.xlsx'), 'PK\u0003\u0004'), args: profile('d.xlsx'), exitCode: 2, message: ["unknown data file type '.xlsx'", 'use one of .jsonl'] },
  { name: 'a path that does not exist', category: 'data', args: profile('nowhere.jsonl'), exitCode: 2, message: ['nowhere.jsonl: no such file or folder'] },
  { name: 'a folder without a training file', category: 'data', setup: (d) => write(join(d, 'ds', 'notes.txt'), 'hi'), args: (d) => ['profile', '--dataset', join(d, 'ds')], exitCode: 2, message: ['has no training file', 'train.jsonl'] },
  { name: 'eval on a data set without a test split', category: 'data', setup: (d) => write(join(d, 'ds', 'train.jsonl'), jsonl(rows(6, (i) => i % 2))), args: (d) => ['eval', '--model', 'tiny', '--dataset', join(d, 'ds'), '--device', 'cpu'], exitCode: 2, message: ['has no eval split (test or validation)'] },

  // ---------------------------------------------------------------- model folders
  { name: 'model: config.json empty', category: 'model', setup: (d) => { copyTiny(d); writeFileSync(join(d, 'model', 'config.json'), ''); }, args: evalModel, exitCode: 2, message: ['config.json: is not valid JSON'] },
  { name: 'model: config.json is not JSON', category: 'model', setup: (d) => { copyTiny(d); writeFileSync(join(d, 'model', 'config.json'), '{"n_embd": 2,'); }, args: evalModel, exitCode: 2, message: ['config.json: is not valid JSON', 'restore it'] },
  { name: 'model: a folder without config.json', category: 'model', setup: (d) => mkdirSync(join(d, 'model')), args: evalModel, exitCode: 2, message: ['has no config.json', 'save_pretrained'] },
  { name: 'model: config.json of a BERT', category: 'model', setup: brokenConfig((c) => { c.model_type = 'bert'; }), args: evalModel, exitCode: 2, message: ["model_type 'bert' is not supported (ftplan builds gpt2, llama, mistral, qwen2, qwen3)"] },
  { name: 'model: config.json without n_embd', category: 'model', setup: brokenConfig((c) => { delete c.n_embd; }), args: evalModel, exitCode: 2, message: ['config.json: has no n_embd'] },
  { name: 'model: config.json with n_layer a string', category: 'model', setup: brokenConfig((c) => { c.n_layer = 'two'; }), args: evalModel, exitCode: 2, message: ['config.json: n_layer is not a number'] },
  { name: 'model: n_embd not divisible by n_head', category: 'model', setup: brokenConfig((c) => { c.n_head = 3; }), args: evalModel, exitCode: 2, message: ['config.json: is not a buildable GPT-2 config'] },
  { name: 'model: an unsupported activation', category: 'model', setup: brokenConfig((c) => { c.activation_function = 'relu'; }), args: evalModel, exitCode: 2, message: ["activation_function 'relu' is not supported"] },
  { name: 'model: shapes that do not match config.json (n_embd 4)', category: 'model', setup: brokenConfig((c) => { c.n_embd = 4; }), args: evalModel, exitCode: 2, message: ['config.json implies', 'use the pair transformers saved together'] },
  { name: 'model: more layers in the weights than config.json says', category: 'model', setup: brokenConfig((c) => { c.n_layer = 1; }), args: evalModel, exitCode: 2, message: ["is not part of GPT-2 (n_layer 1 in config.json)"] },
  { name: 'model: no model.safetensors', category: 'model', setup: (d) => rmSync(join(copyTiny(d), 'model.safetensors')), args: evalModel, exitCode: 2, message: ['has no model.safetensors', 'download the weights (model.safetensors) into it'] },
  { name: 'model: a sharded checkpoint whose index is empty', category: 'model', setup: (d) => { const m = copyTiny(d); rmSync(join(m, 'model.safetensors')); writeFileSync(join(m, 'model.safetensors.index.json'), '{}'); }, args: evalModel, exitCode: 2, message: ['model.safetensors.index.json: has no weight_map object', 'download model.safetensors.index.json again'] },
  { name: 'safetensors: header length beyond the file', category: 'model', setup: brokenWeights(({ header, data }) => { const b = joinSafetensors(header, data); b.writeBigUInt64LE(BigInt(b.length * 4), 0); return b; }), args: evalModel, exitCode: 2, message: ['model.safetensors: header length', 'runs past the end of the file'] },
  { name: 'safetensors: 5 bytes long', category: 'model', setup: brokenWeights(() => Buffer.from([1, 2, 3, 4, 5])), args: evalModel, exitCode: 2, message: ['is 5 bytes: too short for a safetensors header'] },
  { name: 'safetensors: a header that is not JSON', category: 'model', setup: brokenWeights(({ data }) => { const h = Buffer.from('{"a": nope}'); const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(h.length)); return Buffer.concat([l, h, data]); }), args: evalModel, exitCode: 2, message: ['header is not JSON'] },
  { name: 'safetensors: overlapping offsets', category: 'model', setup: brokenWeights(({ header }) => { const t = tensor(header, 'transformer.h.0.attn.c_attn.weight'); t.data_offsets = [t.data_offsets[0] - 8, t.data_offsets[1] - 8]; }), args: evalModel, exitCode: 2, message: ['overlap in the data'] },
  { name: 'safetensors: offsets out of range', category: 'model', setup: brokenWeights(({ header, data }) => { const t = tensor(header, 'transformer.ln_f.bias'); t.data_offsets = [data.length + 8, data.length + 16]; }), args: evalModel, exitCode: 2, message: ["tensor 'transformer.ln_f.bias' data_offsets", 'run past the data'] },
  { name: 'safetensors: offsets reversed', category: 'model', setup: brokenWeights(({ header }) => { const t = tensor(header, 'transformer.ln_f.bias'); t.data_offsets = [t.data_offsets[1], t.data_offsets[0]]; }), args: evalModel, exitCode: 2, message: ["tensor 'transformer.ln_f.bias' has invalid data_offsets"] },
  { name: 'safetensors: an unknown dtype', category: 'model', setup: brokenWeights(({ header }) => { tensor(header, 'transformer.ln_f.bias').dtype = 'F24'; }), args: evalModel, exitCode: 2, message: ['has unknown dtype "F24"'] },
  { name: 'safetensors: an integer dtype', category: 'model', setup: brokenWeights(({ header }) => { const t = tensor(header, 'transformer.ln_f.bias'); t.dtype = 'I32'; }), args: evalModel, exitCode: 2, message: ['is I32; GPT-2 weights are floating point'] },
  { name: 'safetensors: a shape that does not fit its bytes', category: 'model', setup: brokenWeights(({ header }) => { tensor(header, 'transformer.ln_f.bias').shape = [3]; }), args: evalModel, exitCode: 2, message: ["tensor 'transformer.ln_f.bias' shape [3] × F32 needs 12 bytes, data_offsets give 8"] },
  { name: 'safetensors: a negative dimension', category: 'model', setup: brokenWeights(({ header }) => { tensor(header, 'transformer.ln_f.bias').shape = [-2]; }), args: evalModel, exitCode: 2, message: ['has an invalid shape [-2]'] },
  { name: 'safetensors: a missing tensor', category: 'model', setup: brokenWeights(({ header }) => { delete header['transformer.h.1.mlp.c_fc.weight']; }), args: evalModel, exitCode: 2, message: ['is missing 1 GPT-2 tensor(s): transformer.h.1.mlp.c_fc.weight', 'download or save it again'] },
  { name: 'safetensors: NaN weights', category: 'model', setup: brokenWeights(({ header, data }) => { const t = tensor(header, 'transformer.h.0.mlp.c_proj.weight'); data.writeFloatLE(Number.NaN, t.data_offsets[0] + 4); }), args: evalModel, exitCode: 2, message: ["tensor 'transformer.h.0.mlp.c_proj.weight' contains NaN or infinite values (index", 'use an earlier checkpoint'] },
  { name: 'safetensors: infinite weights', category: 'model', setup: brokenWeights(({ header, data }) => { const t = tensor(header, 'transformer.wpe.weight'); data.writeFloatLE(Number.POSITIVE_INFINITY, t.data_offsets[0]); }), args: evalModel, exitCode: 2, message: ["tensor 'transformer.wpe.weight' contains NaN or infinite values (index 0)"] },
  { name: 'safetensors: __metadata__ not an object', category: 'model', setup: brokenWeights(({ header }) => { (header as Record<string, unknown>).__metadata__ = 7; }), args: evalModel, exitCode: 2, message: ['__metadata__ is not an object'] },
  { name: 'safetensors: truncated data (last 100 bytes gone)', category: 'model', setup: brokenWeights(({ header, data }) => joinSafetensors(header, data.subarray(0, data.length - 100))), args: evalModel, exitCode: 2, message: ['model.safetensors is truncated: the header says 410,856 bytes of tensors, the file has 410,756', 'download the checkpoint again'] },
  { name: 'a hub id that is not in the cache, offline', category: 'model', args: () => ['estimate', '--model', 'nobody/no-such-model', '--device', 'cpu'], env: { HF_HOME: '/nonexistent-hf-home', HF_HUB_OFFLINE: '1' }, exitCode: 2, message: ['HF_HUB_OFFLINE=1 and --model nobody/no-such-model is not in the cache at /nonexistent-hf-home/hub/models--nobody--no-such-model', 'unset HF_HUB_OFFLINE'] },

  // ---------------------------------------------------------------- price tables and SkyPilot catalogs
  { name: 'catalog: a negative price', category: 'pricing', setup: catalog(catalogRow({ price: '-1.5' })), args: pricing, exitCode: 2, message: ['catalog.csv:2: price', '(got -1.5)', 'a positive price'] },
  { name: 'catalog: a missing price', category: 'pricing', setup: catalog(catalogRow(), catalogRow({ region: 'us-west-2', price: '' })), args: pricing, exitCode: 2, message: ['catalog.csv:3: price', '(got null)'] },
  { name: 'catalog: a price that is not a number', category: 'pricing', setup: catalog(catalogRow({ price: 'cheap' })), args: pricing, exitCode: 2, message: ['catalog.csv:2: price'] },
  { name: 'catalog: a duplicate row', category: 'pricing', setup: catalog(catalogRow(), catalogRow()), args: pricing, exitCode: 2, message: ['catalog.csv:3: duplicate row for aws g5.xlarge in us-east-1'] },
  { name: 'catalog: wrong columns', category: 'pricing', setup: (d) => write(join(d, 'catalog.csv'), 'provider,machine,cost\naws,g5.xlarge,1.0\n'), args: pricing, exitCode: 2, message: ['is not an ftplan catalog (missing columns: cloud, instanceType'] },
  { name: 'catalog: a SkyPilot vms.csv whose cloud is not known', category: 'pricing', setup: (d) => write(join(d, 'mycloud', 'vms.csv'), `${SKY_HEADER}\ng5.xlarge,A10G,1,4,16,,1.006,,us-east-1,us-east-1a\n`), args: (d) => ['pricing', '--catalog', join(d, 'mycloud', 'vms.csv')], exitCode: 2, message: ["a SkyPilot catalog, but its cloud is not known from its folder ('mycloud')", '--catalog gcp='] },
  { name: 'catalog: header only', category: 'pricing', setup: catalog(), args: pricing, exitCode: 2, message: ['catalog.csv: has no rows'] },
  { name: 'catalog: an unclosed quote', category: 'pricing', setup: (d) => write(join(d, 'catalog.csv'), `${CATALOG_HEADER}\naws,"g5.xlarge,A10G,1\n`), args: pricing, exitCode: 2, message: ['catalog.csv: not valid CSV'] },
  { name: 'catalog: an unknown cloud', category: 'pricing', setup: catalog(catalogRow({ cloud: 'ibm' })), args: pricing, exitCode: 2, message: ['catalog.csv:2: cloud'] },
  { name: 'catalog: a bad as-of date', category: 'pricing', setup: catalog(catalogRow({ asOf: '20/05/2026' })), args: pricing, exitCode: 2, message: ['catalog.csv:2: asOf'] },
  { name: 'catalog: a path that does not exist', category: 'pricing', args: (d) => ['pricing', '--catalog', join(d, 'missing.csv')], exitCode: 2, message: ['missing.csv: cannot be read (ENOENT)', 'check the --catalog path'] },
  { name: 'SkyPilot: wrong columns', category: 'pricing', setup: (d) => write(join(d, 'aws', 'vms.csv'), 'Name,Cost\np3,3.06\n'), args: importSky, exitCode: 2, message: ['is not a SkyPilot vms.csv (missing columns: InstanceType, AcceleratorName'] },
  { name: 'SkyPilot: header only', category: 'pricing', setup: skypilot(), args: importSky, exitCode: 2, message: ['vms.csv: has no rows'] },
  { name: 'SkyPilot: only GPUs the planner does not know', category: 'pricing', setup: skypilot('p2.xlarge,K80,1,4,61,,0.9,0.27,us-east-1,us-east-1a'), args: importSky, exitCode: 2, message: ['no GPU instance the planner knows (K80)'] },
  { name: 'SkyPilot: only negative or missing prices', category: 'pricing', setup: skypilot('g5.xlarge,A10G,1,4,16,,-1.006,,us-east-1,us-east-1a', 'g5.2xlarge,A10G,1,8,32,,,,us-east-1,us-east-1a'), args: importSky, exitCode: 2, message: ['with a valid price'] },
  { name: 'SkyPilot: an unknown --cloud', category: 'pricing', setup: skypilot('g5.xlarge,A10G,1,4,16,,1.006,,us-east-1,us-east-1a'), args: (d) => ['pricing', 'import', join(d, 'aws', 'vms.csv'), '--cloud', 'ibm'], exitCode: 2, message: ['Invalid values', 'Argument: cloud'] },
  { name: 'SkyPilot: a file that does not exist', category: 'pricing', args: (d) => ['pricing', 'import', join(d, 'vms.csv'), '--cloud', 'aws'], exitCode: 2, message: ['vms.csv: cannot be read (ENOENT)'] },
  { name: 'a flag given twice', category: 'flags', args: () => ['estimate', '--device', 'cpu', '--device', 'cuda'], exitCode: 2, message: ['--device is given more than once', 'give it once'] },

  // ---------------------------------------------------------------- flags
  { name: 'run --batch-size 0', category: 'flags', args: run('--batch-size', '0'), exitCode: 2, message: ['--batch-size must be at least 1', 'ftplan run --help'] },
  { name: 'run --epochs -1', category: 'flags', args: run('--epochs', '-1'), exitCode: 2, message: ['--epochs must be at least 1'] },
  { name: 'run --epochs 1.5', category: 'flags', args: run('--epochs', '1.5'), exitCode: 2, message: ['--epochs must be a whole number'] },
  { name: 'run --lr NaN', category: 'flags', args: run('--lr', 'NaN'), exitCode: 2, message: ['--lr must be a number'] },
  { name: 'run --lr -0.1', category: 'flags', args: run('--lr', '-0.1'), exitCode: 2, message: ['--lr must be positive'] },
  { name: 'run --lr Infinity', category: 'flags', args: run('--lr', 'Infinity'), exitCode: 2, message: ['--lr must be'] },
  { name: 'run --warmup-ratio 1', category: 'flags', args: run('--warmup-ratio', '1'), exitCode: 2, message: ['--warmup-ratio must be in [0, 1)'] },
  { name: 'run --budget without a price', category: 'flags', args: run('--budget', '5'), exitCode: 2, message: ['--budget needs --price-per-hour or --instance'] },
  { name: 'run --instance not in the price tables', category: 'flags', args: run('--instance', 'no.such-instance', '--max-steps', '1'), exitCode: 2, message: ['--instance no.such-instance: not in the price tables'] },
  { name: 'run --output-dir that cannot be written (a file)', category: 'flags', setup: (d) => write(join(d, 'out'), 'a file, not a folder'), args: run('--max-steps', '1'), exitCode: 2, message: ['--output-dir', 'is not a writable folder'] },
  { name: 'run --output-dir under /proc', category: 'flags', args: run('--max-steps', '1', '--output-dir', '/proc/ftplan-out'), exitCode: 2, message: ['--output-dir /proc/ftplan-out', 'is not a writable folder'] },
  { name: 'run --resume with no checkpoint there', category: 'flags', setup: (d) => mkdirSync(join(d, 'out')), args: run('--resume'), exitCode: 2, message: ['--resume: no complete checkpoint in'] },
  { name: 'run --report to a .txt', category: 'flags', args: run('--report', 'r.txt'), exitCode: 2, message: ['--report must name a .md file'] },
  { name: 'run without --dataset', category: 'flags', args: () => ['run', '--model', 'tiny'], exitCode: 2, message: ['Missing required argument: dataset'] },
  { name: 'estimate --seq-len over the model\'s positions', category: 'flags', args: estimate('--seq-len', '5000'), exitCode: 2, message: ["--seq-len 5000 exceeds tiny's 256 positions", 'use --seq-len 256 or less'] },
  { name: 'estimate --device cuda:7 (not there)', category: 'flags', args: estimate('--device', 'cuda:7'), exitCode: 2, message: ['--device cuda:7 is not available', 'use one of: cpu'] },
  { name: 'estimate --device tpu', category: 'flags', args: estimate('--device', 'tpu'), exitCode: 2, message: ['--device must be auto, cpu, cuda or cuda:N'] },
  { name: 'estimate --batch-size 1.5', category: 'flags', args: estimate('--batch-size', '1.5'), exitCode: 2, message: ['--batch-size must be a whole number'] },
  { name: 'estimate --batch-size abc', category: 'flags', args: estimate('--batch-size', 'abc'), exitCode: 2, message: ['--batch-size must be a number'] },
  { name: 'estimate --steps 0', category: 'flags', args: estimate('--steps', '0'), exitCode: 2, message: ['--steps must be at least 1'] },
  { name: 'estimate --min-time -1', category: 'flags', args: estimate('--min-time', '-1'), exitCode: 2, message: ['--min-time must be >= 0'] },
  { name: 'estimate --min-time abc', category: 'flags', args: estimate('--min-time', 'abc'), exitCode: 2, message: ['--min-time must be a number'] },
  { name: 'estimate --threads 0', category: 'flags', args: estimate('--threads', '0'), exitCode: 2, message: ['--threads must be at least 1'] },
  { name: 'estimate --budget -3', category: 'flags', args: estimate('--budget', '-3'), exitCode: 2, message: ['--budget must be positive'] },
  { name: 'estimate --report plan.pdf', category: 'flags', args: estimate('--report', 'plan.pdf'), exitCode: 2, message: ['--report must name a .md or .html file'] },
  { name: 'estimate --measurement that is not JSON', category: 'flags', setup: (d) => write(join(d, 'm.json'), 'not json'), args: (d) => ['estimate', '--measurement', join(d, 'm.json')], exitCode: 2, message: ['m.json: not a readable JSON measurement'] },
  { name: 'estimate --measurement of another schema', category: 'flags', setup: (d) => write(join(d, 'm.json'), '{"schema":"other"}'), args: (d) => ['estimate', '--measurement', join(d, 'm.json')], exitCode: 2, message: ['m.json: not an ftplan measurement'] },
  { name: 'estimate --model with no such preset or folder', category: 'flags', args: estimate('--model', 'gpt5'), exitCode: 2, message: ['--model gpt5: not a preset (gpt2,', 'or pass a local folder'] },
  { name: 'an unknown flag', category: 'flags', args: () => ['estimate', '--bogus', '1'], exitCode: 2, message: ['Unknown argument: bogus'] },
  { name: 'no command', category: 'flags', args: () => [], exitCode: 2, message: ['name a command'] },
  { name: 'an unknown command', category: 'flags', args: () => ['train'], exitCode: 2, message: ['Unknown argument: train'] },
  { name: 'pricing --gpus 99', category: 'flags', args: () => ['pricing', '--gpus', '99'], exitCode: 2, message: ['--gpus must be at most 16'] },
  { name: 'profile --max-length 0', category: 'flags', args: () => ['profile', '--dataset', TWEETS, '--max-length', '0'], exitCode: 2, message: ['--max-length must be at least 1'] },
  { name: 'pricing import --as-of in another format', category: 'flags', setup: skypilot('g5.xlarge,A10G,1,4,16,,1.006,,us-east-1,us-east-1a'), args: (d) => [...importSky(d), '--as-of', 'yesterday'], exitCode: 2, message: ['--as-of must be a date YYYY-MM-DD'] },

  // ---------------------------------------------------------------- runtime: exit 1
  {
    name: 'estimate: a plan bigger than the RAM available (refused before allocating)',
    category: 'runtime',
    args: estimate('--model', 'gpt2-xl', '--batch-size', '8', '--seq-len', '512'),
    env: { FTPLAN_TEST_AVAILABLE_MEMORY: String(8 * 2 ** 30) },
    exitCode: 1,
    message: [/gpt2-xl at batch 8 × 512 tokens is too big to measure here, and so is its 4-block proxy .*: [\d.]+ GiB to train \([\d.]+ GiB weights, gradients and AdamW states \+ [\d.]+ GiB activations\), 8\.0 GiB available/, '--batch-size'],
  },
  {
    name: 'run: a plan bigger than the RAM available (refused before allocating)',
    category: 'runtime',
    args: run('--max-steps', '1', '--batch-size', '64'),
    env: { FTPLAN_TEST_AVAILABLE_MEMORY: String(2 ** 20) },
    exitCode: 1,
    message: [/tiny at batch 64 × \d+ tokens needs [\d.]+ GiB .*; this machine has 0\.0 GiB available/],
  },
];
