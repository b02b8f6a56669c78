/**
 * loaders.ts — text-classification data sets as users have them: jsonl, csv, tsv, parquet, a folder
 * of train/test files (also a Hugging Face snapshot's data/*.parquet shards), or a Hugging Face id
 * (org/name) from the hub cache, downloaded into it when it is not there (src/hub/). Text and label columns are detected or named; string labels map
 * to ids in a stable (sorted), recorded order; empty texts, missing and unknown labels follow a
 * policy and are counted, never a crash.
 */
import { checkParquetStructure } from './parquet-guard.js';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { findSnapshot, hubCacheDir, isRepoId, type CachedSnapshot } from '../hub/cache.js';
import { hubSnapshot } from '../hub/download.js';
import { HubRequestError } from '../hub/errors.js';
import { basename, extname, join, resolve } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { parquetMetadata } from 'hyparquet';
import { spawn } from 'node:child_process';
import { deserialize } from 'node:v8';
import { FtplanError } from '../errors.js';
import { rng } from './batching.js';

export type SplitName = 'train' | 'test' | 'validation';
export const TEXT_COLUMNS = ['text', 'sentence', 'content', 'tweet', 'review', 'document', 'input', 'question'];
export const LABEL_COLUMNS = ['label', 'labels', 'label_text', 'sentiment', 'class', 'target', 'category', 'output'];

export interface Example {
  text: string;
  label: number;
}

export interface SplitData {
  name: SplitName;
  files: string[];
  examples: Example[];
  /** rows read from the files, before any policy */
  rowsRead: number;
  dropped: { emptyText: number; missingLabel: number; unknownLabel: number; limit: number };
}

export interface Dataset {
  name: string;
  source: string; // 'folder' | 'file' | 'hub cache (<path>)'
  textColumn: string;
  labelColumn: string;
  /** label id -> name, in id order */
  labels: string[];
  labelSource: string;
  splits: Partial<Record<SplitName, SplitData>>;
}

export interface LoadOptions {
  textColumn?: string;
  labelColumn?: string;
  /** keep at most this many training rows: a seeded sample, in file order */
  limit?: number;
  seed?: number;
  /** what to do with rows whose text is empty: keep (default; fed as one end-of-text token) or drop */
  emptyText?: 'drop' | 'keep';
  /** rows whose label is not one of the training labels: drop (default) or error */
  unknownLabels?: 'drop' | 'error';
  env?: NodeJS.ProcessEnv;
  /**
   * Evaluation only (`ftplan eval`): a file given alone is the eval split (all of it), and a folder
   * or hub snapshot needs no training split, only test/validation.
   */
  evalOnly?: boolean;
  /**
   * The model's classes (its config.json id2label, in id order), for data without a training split
   * to take them from: class ids in the data are the model's ids, class names are matched to these.
   */
  modelLabels?: string[];
}

type Row = Record<string, unknown>;

/** Class ids above this are not a classification head but a mistake (an id, a score, a timestamp). */
const MAX_CLASS_ID = 100_000;

const FORMATS = ['.jsonl', '.json', '.csv', '.tsv', '.parquet'];
const SPLIT_RE = /^(train|training|test|testing|validation|valid|val|dev)(?:[-_.].*)?\.(jsonl|json|csv|tsv|parquet)$/i;

function inputError(file: string, message: string, fix: string): FtplanError {
  return new FtplanError('ERR_INPUT', `${file}: ${message}`, { fix });
}

function splitOf(file: string): SplitName | null {
  const m = SPLIT_RE.exec(basename(file));
  if (!m) return null;
  const s = (m[1] as string).toLowerCase();
  if (s.startsWith('train')) return 'train';
  if (s.startsWith('test')) return 'test';
  return 'validation';
}

// ---------------------------------------------------------------------------------------------
// Reading one file into rows

function readJsonl(file: string, text: string): Row[] {
  const rows: Row[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw inputError(`${file}:${i + 1}`, `not JSON (${(e as Error).message.split('\n')[0]})`, 'each line of a .jsonl file must be one JSON object; fix or remove that line');
    }
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      throw inputError(`${file}:${i + 1}`, 'is not a JSON object', 'each line of a .jsonl file must be one JSON object like {"text": …, "label": …}');
    }
    rows.push(row as Row);
  }
  return rows;
}

function readJson(file: string, text: string): Row[] {
  const trimmed = text.trimStart();
  if (!trimmed.startsWith('[')) return readJsonl(file, text); // many ".json" data files are JSON lines
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw inputError(file, `not JSON (${(e as Error).message})`, 'a .json data file must be an array of objects, or JSON lines');
  }
  if (!Array.isArray(data) || data.some((r) => r === null || typeof r !== 'object' || Array.isArray(r))) {
    throw inputError(file, 'is not an array of objects', 'a .json data file must be an array of objects, or JSON lines');
  }
  return data as Row[];
}

function readDelimited(file: string, text: string, delimiter: string): Row[] {
  try {
    return parseCsv(text, { columns: true, delimiter, skip_empty_lines: true, bom: true, relax_quotes: delimiter === '\t' }) as Row[];
  } catch (e) {
    const err = e as { message: string; lines?: number };
    throw inputError(
      err.lines ? `${file}:${err.lines}` : file,
      `not valid ${delimiter === '\t' ? 'TSV' : 'CSV'} (${err.message})`,
      'the first line must name the columns and every row must have the same number of fields (quote fields that contain the delimiter)',
    );
  }
}

/**
 * The decoding runs in a child process: hyparquet trusts counts inside a file's pages (a corrupt RLE
 * run of 160 million values grows a JS array past V8's limit, found by the fuzzer), and such a
 * failure is a fatal V8 error that no try/catch sees — it would abort ftplan. In a child it is only
 * that child's exit, reported as the file's error. The rows come back through the V8 serializer
 * (BigInt, Date and byte arrays intact). About 0.1 s per file.
 */
const PARQUET_CHILD = `
const [hyparquet, compressorsUrl, file] = process.argv.slice(1);
const fail = (e) => { process.stderr.write(String(e && e.message || e).split('\\n')[0]); process.exit(3); };
process.on('unhandledRejection', fail);
(async () => {
  const { parquetMetadata, parquetReadObjects } = await import(hyparquet);
  const { compressors } = await import(compressorsUrl);
  const b = (await import('node:fs')).readFileSync(file);
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  parquetMetadata(ab);
  const rows = await parquetReadObjects({ file: ab, compressors });
  await new Promise((r) => setImmediate(r));
  process.stdout.write((await import('node:v8')).serialize(rows));
})().catch(fail);
`;

function decodeInChild(file: string): Promise<Row[]> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['-e', PARQUET_CHILD, import.meta.resolve('hyparquet'), import.meta.resolve('hyparquet-compressors'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', rej);
    child.on('close', (code, signal) => {
      if (code === 0) {
        try {
          res(deserialize(Buffer.concat(out)) as Row[]);
        } catch (e) {
          rej(e);
        }
        return;
      }
      const fatal = (/Fatal JavaScript[^\n]*/.exec(err) ?? /Fatal[^\n]*/.exec(err))?.[0];
      rej(new Error(code === 3 ? err.trim() : `the decoder aborted (${signal ?? `exit ${code}`}${fatal ? `: ${fatal.trim()}` : ''})`));
    });
  });
}

async function readParquet(file: string, bytes: Buffer): Promise<Row[]> {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    checkParquetStructure(ab); // footer and page headers, before anything is decoded
    parquetMetadata(ab);
    return await decodeInChild(file);
  } catch (e) {
    throw inputError(file, `not a readable parquet file (${(e as Error)?.message ?? String(e)})`, 'the file may be truncated or not parquet: download it again');
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function readRows(file: string): Promise<Row[]> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw inputError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the path and its permissions');
  }
  const ext = extname(file).toLowerCase();
  if (ext === '.parquet') return readParquet(file, bytes);
  if (!FORMATS.includes(ext)) {
    throw inputError(file, `unknown data file type '${ext || '(none)'}'`, `use one of ${FORMATS.join(', ')}`);
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw inputError(file, 'is not UTF-8 text', 'convert it to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)');
  }
  if (text.trim() === '') throw inputError(file, 'is empty', 'point --dataset at a file with rows');
  if (ext === '.jsonl') return readJsonl(file, text);
  if (ext === '.json') return readJson(file, text);
  return readDelimited(file, text, ext === '.tsv' ? '\t' : ',');
}

// ---------------------------------------------------------------------------------------------
// Finding the files of a data set

function filesInFolder(dir: string): Partial<Record<SplitName, string[]>> {
  const out: Partial<Record<SplitName, string[]>> = {};
  const scan = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const split = splitOf(f);
      if (split && statSync(join(d, f)).isFile()) (out[split] ??= []).push(join(d, f));
    }
  };
  scan(dir);
  // A Hugging Face snapshot: data/train-00000-of-00001.parquet; prefer jsonl/csv at the top if both exist
  if (!out.train && existsSync(join(dir, 'data')) && statSync(join(dir, 'data')).isDirectory()) scan(join(dir, 'data'));
  // One format per split: when a split has the same data in several formats, take the first by preference.
  for (const [split, files] of Object.entries(out) as [SplitName, string[]][]) {
    const byExt = new Map<string, string[]>();
    for (const f of files) byExt.set(extname(f).toLowerCase(), [...(byExt.get(extname(f).toLowerCase()) ?? []), f]);
    const ext = FORMATS.find((e) => byExt.has(e));
    out[split] = ext ? (byExt.get(ext) as string[]) : files;
  }
  return out;
}

/** Shards named like train-00000-of-00003.parquet: all of them, or the split is not complete. */
function incompleteShards(files: string[]): string[] {
  const groups = new Map<string, { of: number; have: Set<number> }>();
  for (const f of files) {
    const m = /^(.*)-(\d+)-of-(\d+)(\.[^.]+)$/.exec(basename(f));
    if (!m) continue;
    const key = `${m[1]}|${m[3]}|${m[4]}`;
    const g = groups.get(key) ?? { of: Number(m[3]), have: new Set<number>() };
    g.have.add(Number(m[2]));
    groups.set(key, g);
  }
  const missing: string[] = [];
  for (const [key, g] of groups) {
    const [stem, of, ext] = key.split('|') as [string, string, string];
    for (let i = 0; i < g.of; i++) if (!g.have.has(i)) missing.push(`${stem}-${String(i).padStart(5, '0')}-of-${of}${ext}`);
  }
  return missing;
}

/**
 * The split files under `base` ('' or '<config>/') that the folder reader would use: train*, test*,
 * validation* directly in it or in its data/, parquet preferred, every shard of a split; null when
 * there is no training split there.
 */
function splitFilesUnder(paths: string[], base: string): string[] | null {
  const candidates = paths.filter((p) => {
    if (!p.startsWith(base)) return false;
    const parts = p.slice(base.length).split('/');
    return (parts.length === 1 || (parts.length === 2 && parts[0] === 'data')) && splitOf(p) !== null && FORMATS.includes(extname(p).toLowerCase());
  });
  const pick = (files: string[]) => {
    const top = files.filter((p) => !p.slice(base.length).includes('/'));
    return top.some((p) => splitOf(p) === 'train') ? top : files.filter((p) => p.startsWith(`${base}data/`));
  };
  const parquet = pick(candidates.filter((p) => extname(p).toLowerCase() === '.parquet'));
  if (parquet.some((p) => splitOf(p) === 'train')) return parquet;
  const any = pick(candidates);
  if (!any.some((p) => splitOf(p) === 'train')) return null;
  // one format per split, as the folder reader takes it
  const out: string[] = [];
  for (const split of ['train', 'test', 'validation'] as SplitName[]) {
    const files = any.filter((p) => splitOf(p) === split);
    const ext = FORMATS.find((e) => files.some((p) => extname(p).toLowerCase() === e));
    out.push(...files.filter((p) => extname(p).toLowerCase() === ext));
  }
  return out;
}

/** Of several configurations (sub-folders with their own splits), the one to read: 'default', or the only one. */
function pickConfig(id: string, configs: string[]): string | null {
  if (configs.length === 0) return null;
  if (configs.includes('default')) return 'default';
  if (configs.length === 1) return configs[0] as string;
  throw new FtplanError('ERR_INPUT', `--dataset ${id}: the repo has ${configs.length} configurations (${configs.join(', ')}) and ftplan reads one`, {
    fix: `download the files of the one you want (huggingface-cli download --repo-type dataset ${id} --include '${configs[0]}/*') and pass its folder`,
  });
}

/**
 * The data files of a hub data set repo that the folder reader will use, as the datasets library
 * uploads them (parquet, split files at the top, under data/, or under one configuration's folder),
 * and the folder they are read from ('' or the configuration).
 */
function selectDataFiles(id: string, paths: string[]): { files: string[]; config: string } {
  const top = splitFilesUnder(paths, '');
  if (top) return { files: top, config: '' };
  const folders = [...new Set(paths.filter((p) => p.includes('/')).map((p) => p.split('/')[0] as string))].filter((f) => f !== 'data' && !f.startsWith('.')).sort();
  const config = pickConfig(id, folders.filter((f) => splitFilesUnder(paths, `${f}/`)));
  if (config) return { files: splitFilesUnder(paths, `${config}/`) as string[], config };
  throw new NoDataFilesError(`--dataset ${id}: the repo has no training split file ftplan reads (train*.parquet / .jsonl / .csv / .tsv / .json at the top, under data/ or under a configuration's folder); it has ${paths.slice(0, 8).join(', ') || 'no files'}${paths.length > 8 ? ', …' : ''}`, {
    fix: 'download the data files yourself and pass the folder or file (a train file, and test/validation files if there are any)',
  });
}

/** A data set repo whose main branch has no split files ftplan reads. */
class NoDataFilesError extends FtplanError {
  constructor(message: string, opts: { fix: string }) {
    super('ERR_INPUT', message, opts);
  }
}

/** The branch where the hub keeps its parquet conversion of a data set: <config>/<split>/0000.parquet. */
const PARQUET_BRANCH = 'refs/convert/parquet';

/** The split of a conversion folder (train, test, validation; partial-* splits are not whole). */
const convertedSplit = (folder: string) => splitOf(`${folder}.parquet`);

/** The files of the parquet conversion to fetch: one configuration's split folders. */
function selectConverted(id: string, paths: string[]): string[] {
  const parquet = paths.filter((p) => p.split('/').length === 3 && p.endsWith('.parquet') && convertedSplit(p.split('/')[1] as string));
  const configs = [...new Set(parquet.filter((p) => convertedSplit(p.split('/')[1] as string) === 'train').map((p) => p.split('/')[0] as string))].sort();
  const config = pickConfig(id, configs);
  if (!config) throw new NoDataFilesError(`--dataset ${id}: the hub's parquet conversion has no training split`, { fix: 'download the data files yourself and pass the folder or file' });
  return parquet.filter((p) => p.startsWith(`${config}/`));
}

/** Splits of a cached conversion: its configuration's folder, and the parquet files of each split. */
function convertedSplits(id: string, dir: string): { root: string; files: Partial<Record<SplitName, string[]>> } | null {
  const configs = readdirSync(dir)
    .filter((c) => !c.startsWith('.') && statSync(join(dir, c)).isDirectory() && existsSync(join(dir, c, 'train')))
    .sort();
  const config = pickConfig(id, configs);
  if (!config) return null;
  const files: Partial<Record<SplitName, string[]>> = {};
  for (const folder of readdirSync(join(dir, config)).sort()) {
    const split = convertedSplit(folder);
    if (!split || !statSync(join(dir, config, folder)).isDirectory()) continue;
    const parts = readdirSync(join(dir, config, folder))
      .filter((f) => f.endsWith('.parquet'))
      .sort()
      .map((f) => join(dir, config, folder, f));
    if (parts.length) (files[split] ??= []).push(...parts);
  }
  return files.train ? { root: join(dir, config), files } : null;
}

/** The folder of a hub snapshot the data is read from: the snapshot, or its one configuration's folder. */
function dataRoot(id: string, dir: string): string | null {
  if (filesInFolder(dir).train) return dir;
  const configs = readdirSync(dir)
    .filter((f) => f !== 'data' && !f.startsWith('.') && statSync(join(dir, f)).isDirectory() && filesInFolder(join(dir, f)).train)
    .sort();
  const config = pickConfig(id, configs);
  return config ? join(dir, config) : null;
}

function missingFromMain(id: string) {
  return (cached: CachedSnapshot, offline: boolean): string[] => {
    let root: string | null;
    try {
      root = dataRoot(id, cached.dir);
    } catch (e) {
      if (offline) throw e;
      root = null; // several configurations cached: the repo's listing decides
    }
    if (!root) return ['a training split file'];
    return incompleteShards(Object.values(filesInFolder(root)).flat());
  };
}

/**
 * A hub data set: from the cache when it has a complete training split, else downloaded into it.
 * A repo whose main branch has no split files ftplan reads (a loading script, unsplit or unusual
 * files) is read from the hub's parquet conversion (refs/convert/parquet) when it has one.
 */
async function hubDataset(id: string, env: NodeJS.ProcessEnv): Promise<{ dir: string; files: Partial<Record<SplitName, string[]>>; note: string }> {
  const cacheDir = hubCacheDir(env);
  const mainCached = findSnapshot(cacheDir, 'dataset', id);
  const converted = findSnapshot(cacheDir, 'dataset', id, PARQUET_BRANCH);
  const mainComplete = (() => {
    try {
      return mainCached !== null && missingFromMain(id)(mainCached, false).length === 0;
    } catch {
      return false;
    }
  })();
  if (!mainComplete && converted) {
    const c = convertedSplits(id, converted.dir);
    if (c) return { dir: c.root, files: c.files, note: `, the hub's parquet conversion (${PARQUET_BRANCH})` };
  }
  try {
    const snap = await hubSnapshot({ type: 'dataset', id, env, missing: missingFromMain(id), select: async (files) => ({ fetch: selectDataFiles(id, files.map((f) => f.path)).files }) });
    const dir = dataRoot(id, snap.dir) ?? snap.dir;
    return { dir, files: filesInFolder(dir), note: '' };
  } catch (e) {
    if (!(e instanceof NoDataFilesError)) throw e;
    let snap;
    try {
      snap = await hubSnapshot({
        type: 'dataset',
        id,
        env,
        revision: PARQUET_BRANCH,
        missing: (cached) => (convertedSplits(id, cached.dir) ? [] : ['a training split']),
        select: async (files) => ({ fetch: selectConverted(id, files.map((f) => f.path)) }),
      });
    } catch (e2) {
      if (e2 instanceof HubRequestError && e2.status === 404) throw new FtplanError('ERR_INPUT', `${e.message}, and the hub has no parquet conversion of it`, { fix: e.fix });
      throw e2;
    }
    const c = convertedSplits(id, snap.dir);
    if (!c) throw e;
    return { dir: c.root, files: c.files, note: `, the hub's parquet conversion (${PARQUET_BRANCH})` };
  }
}

export async function locateDataset(spec: string, env: NodeJS.ProcessEnv = process.env, opts: { evalOnly?: boolean } = {}): Promise<{ name: string; source: string; files: Partial<Record<SplitName, string[]>> }> {
  const path = resolve(spec);
  // for evaluation, test or validation files stand alone; for training, a train file is needed
  const usable = (files: Partial<Record<SplitName, string[]>>) => Boolean(files.train || (opts.evalOnly && (files.test || files.validation)));
  if (existsSync(path)) {
    // a file given alone is what to train on, or, for evaluation, what to evaluate on
    if (statSync(path).isFile()) return { name: basename(path), source: 'file', files: opts.evalOnly ? { test: [path] } : { train: [path] } };
    const files = filesInFolder(path);
    if (!usable(files)) {
      if (opts.evalOnly) throw inputError(path, 'has no test, validation or train file', 'name it test.jsonl (or .csv, .tsv, .parquet; validation.* works too), or pass the file itself');
      throw inputError(path, 'has no training file', 'name it train.jsonl, train.csv, train.tsv or train.parquet (test.* and validation.* are read too), or pass the file itself');
    }
    return { name: basename(path), source: 'folder', files };
  }
  if (isRepoId(spec) && spec.includes('/')) {
    const { dir, files, note } = await hubDataset(spec, env);
    if (!usable(files)) throw inputError(dir, 'is in the hub cache but has no training split file', `remove ${dir} and run again to download it afresh`);
    return { name: spec, source: `hub cache (${dir})${note}`, files };
  }
  throw new FtplanError('ERR_INPUT', `--dataset ${spec}: no such file or folder`, { fix: 'pass a jsonl/csv/tsv/parquet file, a folder with train/test files, or a Hugging Face data set id (org/name)' });
}

// ---------------------------------------------------------------------------------------------
// Columns, labels, policies

function pickColumn(columns: string[], wanted: string | undefined, candidates: string[], what: string, file: string, exclude?: string): string {
  if (wanted) {
    if (!columns.includes(wanted)) throw inputError(file, `has no ${what} column '${wanted}' (columns: ${columns.join(', ')})`, `pass --${what}-column with one of: ${columns.join(', ')}`);
    return wanted;
  }
  const lower = new Map(columns.filter((c) => c !== exclude).map((c) => [c.toLowerCase(), c]));
  for (const c of candidates) {
    const hit = lower.get(c);
    if (hit) return hit;
  }
  throw inputError(file, `no ${what} column found (columns: ${columns.join(', ')}; looked for ${candidates.join(', ')})`, `name it with --${what}-column`);
}

function isMissing(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '') || (typeof v === 'number' && !Number.isFinite(v));
}

function labelKey(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? '1' : '0';
  return typeof v === 'string' ? v.trim() : String(v);
}

/** Integer-like labels (0, 1, "2") keep their ids; other labels are named classes. */
function isIntegerLike(v: unknown): boolean {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0;
  if (typeof v === 'bigint') return v >= 0n;
  return typeof v === 'string' && /^\d+$/.test(v.trim());
}

export async function loadDataset(spec: string, opts: LoadOptions = {}): Promise<Dataset> {
  const located = await locateDataset(spec, opts.env, { evalOnly: opts.evalOnly });
  const rowsBySplit = new Map<SplitName, { files: string[]; rows: Row[] }>();
  for (const [split, files] of Object.entries(located.files) as [SplitName, string[]][]) {
    const rows: Row[] = [];
    for (const f of files) for (const r of await readRows(f)) rows.push(r);
    rowsBySplit.set(split, { files, rows });
  }
  // Columns and classes come from the training split; evaluation-only data has none, and uses its
  // eval split for the columns and the model's own classes (modelLabels) for the labels.
  const train = (rowsBySplit.get('train') ?? rowsBySplit.get('test') ?? rowsBySplit.get('validation')) as { files: string[]; rows: Row[] };
  const firstFile = train.files[0] as string;
  if (train.rows.length === 0) throw inputError(firstFile, 'has no rows', 'point --dataset at a file with rows');
  const columns = [...new Set(train.rows.slice(0, 100).flatMap((r) => Object.keys(r)))];
  const textColumn = pickColumn(columns, opts.textColumn, TEXT_COLUMNS, 'text', firstFile);
  const labelColumn = pickColumn(columns, opts.labelColumn, LABEL_COLUMNS, 'label', firstFile, textColumn);

  // The label vocabulary comes from the training split, in a stable order.
  const trainLabels = train.rows.map((r) => r[labelColumn]).filter((v) => !isMissing(v));
  if (trainLabels.length === 0) throw inputError(firstFile, `column '${labelColumn}' has no labels`, 'name the label column with --label-column');
  const integer = trainLabels.every(isIntegerLike);
  const mixed = !integer && trainLabels.some((v) => typeof v === 'number');
  if (mixed) {
    throw inputError(firstFile, `column '${labelColumn}' mixes numbers and names`, 'use one kind of label per column: all class ids (0, 1, …) or all class names');
  }
  let labels: string[];
  let labelSource: string;
  const idOf = new Map<string, number>();
  if (!rowsBySplit.has('train') && opts.modelLabels) {
    // evaluation data on its own: the model's classes, by id or by name
    labels = [...opts.modelLabels];
    if (integer) {
      labels.forEach((_, i) => idOf.set(String(i), i));
      labelSource = `class ids 0..${labels.length - 1} in '${labelColumn}', the model's classes (id2label: ${labels.map((l, i) => `${i}=${l}`).join(', ')})`;
    } else {
      labels.forEach((l, i) => idOf.set(l, i));
      const names = [...new Set(trainLabels.map(labelKey))];
      if (!names.some((n) => idOf.has(n))) {
        throw inputError(firstFile, `the class names in '${labelColumn}' (${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}) are none of the model's classes (${labels.join(', ')})`, 'use class ids 0..K-1 in the label column, or evaluate a checkpoint whose config.json id2label names these classes');
      }
      labelSource = `class names in '${labelColumn}', matched to the model's classes (id2label: ${labels.map((l, i) => `${i}=${l}`).join(', ')})`;
    }
  } else if (integer) {
    const ids = [...new Set(trainLabels.map((v) => Number(labelKey(v))))].sort((a, b) => a - b);
    const max = ids[ids.length - 1] as number;
    if (ids.length < 2) throw inputError(firstFile, `column '${labelColumn}' has only one class (${max})`, 'a classifier needs at least two classes in the training split');
    if (max >= MAX_CLASS_ID) {
      throw inputError(firstFile, `column '${labelColumn}' has class id ${max}: class ids must run 0, 1, …, K-1 (this would be a head of ${max + 1} classes)`, 'number the classes from 0 without gaps, or use class names');
    }
    // names from a companion column (label_text), when the rows carry one
    const nameColumn = columns.find((c) => c !== labelColumn && /^(label_text|label_name|labels_text)$/i.test(c));
    labels = Array.from({ length: max + 1 }, (_, i) => String(i));
    labelSource = `class ids 0..${max} in '${labelColumn}'`;
    if (nameColumn) {
      for (const r of train.rows) {
        const id = r[labelColumn];
        const nm = r[nameColumn];
        if (!isMissing(id) && typeof nm === 'string' && nm.trim()) labels[Number(labelKey(id))] = nm.trim();
      }
      labelSource += `, names from '${nameColumn}'`;
    }
    for (let i = 0; i <= max; i++) idOf.set(String(i), i);
  } else {
    labels = [...new Set(trainLabels.map(labelKey))].sort();
    labels.forEach((l, i) => idOf.set(l, i));
    labelSource = `class names in '${labelColumn}', sorted: ${labels.map((l, i) => `${i}=${l}`).join(', ')}`;
  }
  if (labels.length < 2) throw inputError(firstFile, `column '${labelColumn}' has only one class (${labels[0]})`, 'a classifier needs at least two classes in the training split');

  const splits: Partial<Record<SplitName, SplitData>> = {};
  for (const [name, { files, rows }] of rowsBySplit) {
    const dropped = { emptyText: 0, missingLabel: 0, unknownLabel: 0, limit: 0 };
    let examples: Example[] = [];
    for (const [i, r] of rows.entries()) {
      const rawText = r[textColumn];
      const text = rawText === undefined || rawText === null ? '' : String(rawText);
      if (isMissing(r[labelColumn])) {
        dropped.missingLabel++;
        continue;
      }
      const id = idOf.get(labelKey(r[labelColumn]));
      if (id === undefined) {
        if (opts.unknownLabels === 'error') {
          throw inputError(`${files.join(', ')} row ${i + 1}`, `label '${labelKey(r[labelColumn])}' is not one of the training labels (${labels.join(', ')})`, 'fix the label, or pass --unknown-labels drop to skip such rows');
        }
        dropped.unknownLabel++;
        continue;
      }
      if (text.trim() === '' && (opts.emptyText ?? 'keep') === 'drop') {
        dropped.emptyText++;
        continue;
      }
      examples.push({ text, label: id });
    }
    if (name === 'train' && opts.limit !== undefined && opts.limit < examples.length) {
      examples = seededSample(examples, opts.limit, opts.seed ?? 42);
      dropped.limit = rows.length - dropped.emptyText - dropped.missingLabel - dropped.unknownLabel - examples.length;
    }
    splits[name] = { name, files, examples, rowsRead: rows.length, dropped };
  }
  return { name: located.name, source: located.source, textColumn, labelColumn, labels, labelSource, splits };
}

/** k rows chosen by a seeded partial Fisher-Yates shuffle, returned in their original order. */
export function seededSample<T>(xs: readonly T[], k: number, seed: number): T[] {
  const next = rng(seed);
  const idx = xs.map((_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(next() * (idx.length - i));
    [idx[i], idx[j]] = [idx[j] as number, idx[i] as number];
  }
  return idx
    .slice(0, k)
    .sort((a, b) => a - b)
    .map((i) => xs[i] as T);
}
