/**
 * lm-data.ts — a data set as a causal-LM fine-tune sees it, in whichever form the user has it:
 * TRL's columns (`text`, `prompt` + `completion`, `messages`: lm-dataset.ts), or a labelled
 * classification set written as "text → label word" prompt/completion pairs (lm-from-labels.ts),
 * so the same tweets can be trained through a classification head or through the LM head and the
 * two compared. `auto` picks from the columns: messages, then prompt + completion, then a label
 * column (labels), else text.
 */
import { FtplanError } from '../errors.js';
import type { SplitName } from './dataset.js';
import { loadLmDataset, tokenizeLmRows, type LmDataset, type LmSplit } from './lm-dataset.js';
import { detectLmFormat, type LmFormat } from './lm-examples.js';
import { TWEET_SENTIMENT_TEMPLATE, toPromptCompletion } from './lm-from-labels.js';
import type { LmTokenizer } from './lm-tokenizer.js';
import type { TextTokenizer } from './tokenizer.js';
import { LABEL_COLUMNS, loadDataset, locateDataset, readRows } from './loaders.js';

import type { LmDataFormat } from './lm-formats.js';

export { LM_DATA_FORMATS, type LmDataFormat } from './lm-formats.js';

export interface LmData extends LmDataset {
  /** written from a labelled set: its classes (the completion words), where they came from, and the rows the label policies dropped per split */
  labelled: { labels: string[]; labelSource: string; template: string; dropped: Partial<Record<SplitName, { emptyText: number; missingLabel: number; unknownLabel: number }>> } | null;
}

export interface LmDataOptions {
  tokenizer: LmTokenizer;
  /** rows are cut to this many tokens (the model's positions, or --seq-len) */
  seqLen: number;
  format: LmDataFormat;
  textColumn?: string;
  labelColumn?: string;
  limit?: number;
  seed?: number;
  emptyText?: 'keep' | 'drop';
  unknownLabels?: 'drop' | 'error';
  evalOnly?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** The columns of the data set's first file (the training split's, else its eval split's). */
async function columnsOf(spec: string, opts: Pick<LmDataOptions, 'env' | 'evalOnly'>): Promise<string[]> {
  const located = await locateDataset(spec, opts.env, { evalOnly: opts.evalOnly });
  const file = (located.files.train ?? located.files.test ?? located.files.validation)?.[0];
  if (!file) return [];
  const rows = await readRows(file);
  return [...new Set(rows.slice(0, 100).flatMap((r) => Object.keys(r)))];
}

/** `auto` settled from the columns: TRL's first, then a label column (a labelled set), else text. */
export function resolveLmFormat(columns: string[], format: LmDataFormat, labelColumn?: string): LmFormat | 'labels' {
  if (format !== 'auto') return format;
  const trl = detectLmFormat(columns);
  if (trl === 'messages' || trl === 'prompt-completion') return trl;
  const lower = new Set(columns.map((c) => c.toLowerCase()));
  if ((labelColumn && columns.includes(labelColumn)) || LABEL_COLUMNS.some((c) => lower.has(c))) return 'labels';
  return trl ?? 'labels'; // no TRL column: loadDataset names the text and label columns it looked for
}

/** A labelled set as prompt/completion pairs, tokenized per split with the label policies' drops kept. */
async function labelledAsLm(spec: string, opts: LmDataOptions): Promise<LmData> {
  const ds = await loadDataset(spec, { textColumn: opts.textColumn, labelColumn: opts.labelColumn, limit: opts.limit, seed: opts.seed, emptyText: opts.emptyText, unknownLabels: opts.unknownLabels, evalOnly: opts.evalOnly, env: opts.env });
  const splits: Partial<Record<SplitName, LmSplit>> = {};
  const dropped: NonNullable<LmData['labelled']>['dropped'] = {};
  for (const [name, split] of Object.entries(ds.splits) as [SplitName, NonNullable<(typeof ds.splits)[SplitName]>][]) {
    const rows = toPromptCompletion(split.examples, ds.labels, TWEET_SENTIMENT_TEMPLATE);
    const lm = tokenizeLmRows(rows as unknown as Record<string, unknown>[], split.files, name, 'prompt-completion', { tokenizer: opts.tokenizer, seqLen: opts.seqLen, chat: null });
    lm.rowsRead = split.rowsRead;
    lm.skipped.limit = split.dropped.limit;
    splits[name] = lm;
    dropped[name] = { emptyText: split.dropped.emptyText, missingLabel: split.dropped.missingLabel, unknownLabel: split.dropped.unknownLabel };
  }
  const template = `prompt ${JSON.stringify(TWEET_SENTIMENT_TEMPLATE.prompt)}, completion ${JSON.stringify(TWEET_SENTIMENT_TEMPLATE.completion)}`;
  return {
    name: ds.name,
    source: ds.source,
    format: 'prompt-completion',
    formatSource: `a labelled set (text '${ds.textColumn}', label '${ds.labelColumn}') written as ${template}`,
    seqLen: opts.seqLen,
    tokenizer: opts.tokenizer.name,
    chatTemplate: null,
    splits,
    labelled: { labels: ds.labels, labelSource: ds.labelSource, template, dropped },
  };
}

/** The data set for a causal-LM run, profile or eval (every row tokenized; skips and cuts counted). */
export async function loadLmData(spec: string, opts: LmDataOptions): Promise<LmData> {
  if (!Number.isInteger(opts.seqLen) || opts.seqLen < 2) throw new RangeError(`loadLmData: seqLen ${opts.seqLen} must be a whole number ≥ 2`);
  const format = resolveLmFormat(opts.format === 'auto' ? await columnsOf(spec, opts) : [], opts.format, opts.labelColumn);
  if (format === 'labels') return labelledAsLm(spec, opts);
  // auto: lm-dataset.ts detects the same format from the columns (and says so in formatSource)
  const ds = await loadLmDataset(spec, { tokenizer: opts.tokenizer, seqLen: opts.seqLen, format: opts.format === 'auto' ? undefined : format, limit: opts.limit, seed: opts.seed, env: opts.env, evalOnly: opts.evalOnly });
  return { ...ds, labelled: null };
}

/** The split causal-LM evaluation runs on: test, else validation. */
export function lmEvalSplit(ds: LmDataset): LmSplit | undefined {
  return ds.splits.test ?? ds.splits.validation;
}

/** No row of the training split left to learn from: the error names what was skipped and why. */
export function noLmTrainingRows(ds: LmData): FtplanError {
  const t = ds.splits.train;
  return new FtplanError('ERR_INPUT', `${ds.name}: no training rows left to learn from${t ? ` (${t.rowsRead} read: ${t.skipped.noTarget} with no counted token within ${ds.seqLen} tokens, ${t.skipped.empty} empty)` : ' (no training split)'}`, {
    fix: 'raise --seq-len or shorten the prompts (a prompt that fills the sequence leaves no completion token), or check the columns',
  });
}

/**
 * A decoder's tokenizer for classification rows: with its special tokens (Llama 3's BOS in front),
 * as transformers' tokenizer(text) feeds *ForSequenceClassification; the score head reads the last
 * real token, so nothing is appended.
 */
export function classificationTokenizer(tok: LmTokenizer): TextTokenizer {
  return { name: `${tok.name}, special tokens added`, encode: (text) => tok.encode(text, { addSpecialTokens: true }), eosTokenId: tok.eosTokenId, vocabSize: tok.vocabSize };
}
