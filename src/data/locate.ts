/**
 * locate.ts — the files of a data set: a file, a folder of train/test files (also a Hugging Face
 * snapshot's data/*.parquet shards), or a hub id (org/name) from the hub cache, downloaded into it
 * when it is not there (src/hub/).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { FtplanError } from '../errors.js';
import { findSnapshot, hubCacheDir, isRepoId, type CachedSnapshot } from '../hub/cache.js';
import { hubSnapshot } from '../hub/download.js';
import { HubRequestError } from '../hub/errors.js';
import type { SplitName } from './dataset.js';
import { FORMATS, inputError } from './read-rows.js';

const SPLIT_RE = /^(train|training|test|testing|validation|valid|val|dev)(?:[-_.].*)?\.(jsonl|json|csv|tsv|parquet)$/i;

function splitOf(file: string): SplitName | null {
  const m = SPLIT_RE.exec(basename(file));
  if (!m) return null;
  const s = (m[1] as string).toLowerCase();
  if (s.startsWith('train')) return 'train';
  if (s.startsWith('test')) return 'test';
  return 'validation';
}

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
    if (!usable(files)) throw inputError(dir, `is in the hub cache but has no ${opts.evalOnly ? 'test, validation or train' : 'training'} split file`, `remove ${dir} and run again to download it afresh`);
    return { name: spec, source: `hub cache (${dir})${note}`, files };
  }
  throw new FtplanError('ERR_INPUT', `--dataset ${spec}: no such file or folder`, { fix: 'pass a jsonl/csv/tsv/parquet file, a folder with train/test files, or a Hugging Face data set id (org/name)' });
}
