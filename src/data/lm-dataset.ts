/**
 * lm-dataset.ts — a causal-LM data set as users have it (the same files, folders and hub datasets
 * as classification: locate.ts, read-rows.ts), its format detected from the columns (TRL's
 * `text`, `prompt` + `completion`, `messages`), every row tokenized (lm-examples.ts) with what was
 * skipped, cut or mismatched counted per split.
 */
import { FtplanError } from '../errors.js';
import { seededSample } from './loaders.js';
import { compileChatTemplate, type CompiledChatTemplate } from './chat.js';
import type { SplitName } from './dataset.js';
import { detectLmFormat, LM_FORMATS, tokenizeLmRow, type LmExample, type LmFormat } from './lm-examples.js';
import type { LmTokenizer } from './lm-tokenizer.js';
import { locateDataset } from './locate.js';
import { readRows, type Row } from './read-rows.js';

export interface LmSplit {
  name: SplitName;
  files: string[];
  examples: LmExample[];
  rowsRead: number;
  skipped: {
    /** no counted token left within the sequence length (the prompt fills it) */
    noTarget: number;
    /** empty text or completion */
    empty: number;
    /** beyond --limit (training split) */
    limit: number;
  };
  /** rows cut to the sequence length (kept) */
  truncated: number;
  /** prompt/completion rows whose prompt tokens are not the start of the joint tokenization (TRL warns of these) */
  boundaryMismatch: number;
  /** tokens the loss counts, over all examples */
  targets: number;
}

export interface LmDataset {
  name: string;
  source: string;
  format: LmFormat;
  /** how the format was chosen, for the report */
  formatSource: string;
  seqLen: number;
  tokenizer: string;
  chatTemplate: string | null;
  splits: Partial<Record<SplitName, LmSplit>>;
}

export interface LmLoadOptions {
  tokenizer: LmTokenizer;
  seqLen: number;
  /** the format, when the columns do not say (default: detected) */
  format?: LmFormat;
  limit?: number;
  seed?: number;
  env?: NodeJS.ProcessEnv;
  evalOnly?: boolean;
}

/** The format for a data set's columns, or an error that lists what was looked for. */
export function lmFormatFor(columns: string[], wanted: LmFormat | undefined, file: string): { format: LmFormat; source: string } {
  if (wanted) {
    const need: Record<LmFormat, string[]> = { text: ['text'], 'prompt-completion': ['prompt', 'completion'], messages: ['messages'] };
    const missing = need[wanted].filter((c) => !columns.includes(c));
    if (missing.length) throw new FtplanError('ERR_INPUT', `${file}: the ${wanted} format needs column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `'${c}'`).join(' and ')} (columns: ${columns.join(', ')})`, { fix: `rename the columns, or pick the format the data has (${LM_FORMATS.join(', ')})` });
    return { format: wanted, source: 'given' };
  }
  const format = detectLmFormat(columns);
  if (!format) {
    throw new FtplanError('ERR_INPUT', `${file}: no causal-LM columns (columns: ${columns.join(', ')})`, {
      fix: "give the rows TRL's columns: 'text' (the whole text is trained), 'prompt' and 'completion' (only the completion counts), or 'messages' (a list of {role, content}; only the assistant's turns count)",
    });
  }
  return { format, source: `detected from the columns (${columns.join(', ')})` };
}

/** rowNumbers: each row's 1-based number in its files (default: its position), for messages. */
export function tokenizeLmRows(rows: Row[], files: string[], name: SplitName, format: LmFormat, opts: { tokenizer: LmTokenizer; seqLen: number; chat: CompiledChatTemplate | null; rowNumbers?: number[] }): LmSplit {
  const split: LmSplit = { name, files, examples: [], rowsRead: rows.length, skipped: { noTarget: 0, empty: 0, limit: 0 }, truncated: 0, boundaryMismatch: 0, targets: 0 };
  const fileLabel = files.length === 1 ? (files[0] as string) : `${files[0]} (+${files.length - 1} files)`;
  for (const [i, row] of rows.entries()) {
    const r = tokenizeLmRow(row, format, { tokenizer: opts.tokenizer, seqLen: opts.seqLen, chat: opts.chat }, `${fileLabel} row ${opts.rowNumbers?.[i] ?? i + 1}`);
    if (!r.ok) {
      split.skipped[r.reason]++;
      continue;
    }
    split.examples.push(r.example);
    if (r.example.truncated) split.truncated++;
    if (r.boundaryMismatch) split.boundaryMismatch++;
    split.targets += r.example.targets;
  }
  return split;
}

export async function loadLmDataset(spec: string, opts: LmLoadOptions): Promise<LmDataset> {
  if (!Number.isInteger(opts.seqLen) || opts.seqLen < 2) throw new RangeError(`loadLmDataset: seqLen ${opts.seqLen} must be a whole number ≥ 2`);
  const located = await locateDataset(spec, opts.env, { evalOnly: opts.evalOnly });
  const bySplit = new Map<SplitName, { files: string[]; rows: Row[] }>();
  for (const [split, files] of Object.entries(located.files) as [SplitName, string[]][]) {
    const rows: Row[] = [];
    for (const f of files) for (const r of await readRows(f)) rows.push(r);
    bySplit.set(split, { files, rows });
  }
  const first = (bySplit.get('train') ?? bySplit.get('test') ?? bySplit.get('validation')) as { files: string[]; rows: Row[] };
  const firstFile = first.files[0] as string;
  if (first.rows.length === 0) throw new FtplanError('ERR_INPUT', `${firstFile}: has no rows`, { fix: 'point --dataset at a file with rows' });
  const columns = [...new Set(first.rows.slice(0, 100).flatMap((r) => Object.keys(r)))];
  const { format, source: formatSource } = lmFormatFor(columns, opts.format, firstFile);
  const conversational = format === 'messages' || (format === 'prompt-completion' && first.rows.slice(0, 100).some((r) => Array.isArray(r.prompt) || Array.isArray(r.completion)));
  const tok = opts.tokenizer;
  const chat = conversational && tok.chatTemplate !== null ? compileChatTemplate(tok.chatTemplate, tok.chatTemplateFile ?? tok.name) : null;

  const splits: Partial<Record<SplitName, LmSplit>> = {};
  for (const [name, { files, rows }] of bySplit) {
    let keep = rows.map((_, i) => i);
    if (name === 'train' && opts.limit !== undefined && opts.limit < rows.length) keep = seededSample(keep, opts.limit, opts.seed ?? 42);
    const split = tokenizeLmRows(keep.map((i) => rows[i] as Row), files, name, format, { tokenizer: tok, seqLen: opts.seqLen, chat, rowNumbers: keep.map((i) => i + 1) });
    const cut = rows.length - keep.length;
    split.rowsRead = rows.length;
    split.skipped.limit = cut;
    splits[name] = split;
  }
  return { name: located.name, source: located.source, format, formatSource, seqLen: opts.seqLen, tokenizer: tok.name, chatTemplate: chat?.file ?? null, splits };
}
