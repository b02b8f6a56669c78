/**
 * loaders.ts — text-classification data sets as users have them (files and folders found by
 * locate.ts, each file read by read-rows.ts): text and label columns are detected or named; string
 * labels map to ids in a stable (sorted), recorded order; empty texts, missing and unknown labels
 * follow a policy and are counted, never a crash.
 */
import { rng } from './batching.js';
import type { Dataset, Example, LoadOptions, SplitData, SplitName } from './dataset.js';
import { locateDataset } from './locate.js';
import { inputError, readRows, type Row } from './read-rows.js';

export type { Dataset, Example, LoadOptions, SplitData, SplitName } from './dataset.js';
export { locateDataset } from './locate.js';
export { readRows } from './read-rows.js';

export const TEXT_COLUMNS = ['text', 'sentence', 'content', 'tweet', 'review', 'document', 'input', 'question'];
export const LABEL_COLUMNS = ['label', 'labels', 'label_text', 'sentiment', 'class', 'target', 'category', 'output'];

/** Class ids above this are not a classification head but a mistake (an id, a score, a timestamp). */
const MAX_CLASS_ID = 100_000;

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
