/**
 * lengths.ts — the token lengths an estimate plans with, per model family and task: the data set
 * profiled now with the model's own tokenizer (--dataset), else a profile shipped with ftplan of the
 * reference tweets (mteb/tweet_sentiment_extraction) —
 *   classification: the tweets' token lengths (GPT-2's tokenizer: the profile's);
 *   causal-lm: the tweets written as "tweet → sentiment word" prompt/completion pairs, tokenized by
 *   the Llama 3 or Qwen3 tokenizer (lm-profile.ts), so a preset's estimate needs nothing downloaded.
 * Both kinds of profile have the same per-split shape (rows, a token-length histogram), which is all
 * the sequence plan reads.
 */
import { defaultLmProfilePath, loadLmProfile, profileLmDataset } from '../data/lm-profile.js';
import { classificationTokenizer, loadLmData, type LmDataFormat } from '../data/lm-data.js';
import type { PackagedTokenizer } from '../data/lm-tokenizer.js';
import { packagedTokenizerForPreset } from '../data/lm-tokenizer.js';
import { loadDataset } from '../data/loaders.js';
import { loadProfile, profileDataset } from '../data/profile.js';
import { embeddedTokenizer } from '../data/tokenizer.js';
import type { Task } from '../model/decoder-config.js';
import { decoderTokenizer, type ResolvedDecoder } from '../model/decoder-source.js';

export interface LengthSplit {
  rows: number;
  tokens: { histogram: Record<string, number>; max: number; mean: number; total: number };
  /** causal-lm: tokens the loss counts per row */
  targets?: { mean: number; total: number };
}

export interface LengthProfile {
  name: string;
  task: Task;
  /** the classes (classification), null for causal-lm */
  labels: string[] | null;
  tokenizer: string;
  /** causal-lm: the rows' format (text, prompt-completion, messages) */
  format: string | null;
  splits: { train: LengthSplit; test?: LengthSplit };
  source: string;
  /** what the lengths stand in for, when they are not the model's own tokenizer's */
  note: string | null;
}

export interface LengthOptions {
  dataset?: string;
  textColumn?: string;
  labelColumn?: string;
  limit?: number;
  seed: number;
  emptyText: 'keep' | 'drop';
  unknownLabels: 'drop' | 'error';
  lmFormat: LmDataFormat;
  /** causal-lm rows are cut to this (the model's positions, or --seq-len) */
  seqLen: number;
}

/** The shipped causal-LM profile for a decoder: its preset's packaged tokenizer, else the one whose vocabulary size is nearest. */
function shippedLmTokenizer(d: ResolvedDecoder | null): { name: PackagedTokenizer; exact: boolean } {
  const packaged = d?.preset ? packagedTokenizerForPreset(d.preset) : null;
  if (packaged) return { name: packaged, exact: true };
  return { name: d && d.config.vocabSize > 140_000 ? 'qwen3' : 'llama3', exact: false };
}

/** The lengths of --dataset (or the shipped profile) for a GPT-2 model or a decoder (d), for `task`. */
export async function estimateLengths(task: Task, d: ResolvedDecoder | null, o: LengthOptions): Promise<LengthProfile> {
  if (task === 'causal-lm') {
    if (!o.dataset) {
      const tok = shippedLmTokenizer(d);
      const p = loadLmProfile(defaultLmProfilePath(tok.name));
      const note = tok.exact ? null : `token lengths of the ${tok.name} tokenizer (the shipped causal-LM profile nearest this model's vocabulary); pass --dataset to profile with the model's own tokenizer`;
      return { name: p.name, task, labels: null, tokenizer: p.tokenizer, format: p.format, splits: p.splits, source: `shipped causal-LM profile (${p.format} pairs, ${p.tokenizer})`, note };
    }
    const tokenizer = decoderTokenizer(d as ResolvedDecoder);
    const data = await loadLmData(o.dataset, { tokenizer, seqLen: o.seqLen, format: o.lmFormat, textColumn: o.textColumn, labelColumn: o.labelColumn, limit: o.limit, seed: o.seed, emptyText: o.emptyText, unknownLabels: o.unknownLabels });
    const p = profileLmDataset(data);
    return { name: p.name, task, labels: null, tokenizer: p.tokenizer, format: p.format, splits: p.splits, source: `profiled now from ${o.dataset} (${data.formatSource})`, note: null };
  }
  if (!o.dataset) {
    const p = loadProfile();
    const note = d ? `token lengths of GPT-2's tokenizer (the shipped profile of the tweets); pass --dataset to profile with ${d.config.modelType}'s own tokenizer` : null;
    return { name: p.name, task, labels: p.labels, tokenizer: p.tokenizer, format: null, splits: p.splits, source: 'shipped token-length profile', note };
  }
  const ds = await loadDataset(o.dataset, { textColumn: o.textColumn, labelColumn: o.labelColumn, limit: o.limit, seed: o.seed, emptyText: o.emptyText, unknownLabels: o.unknownLabels });
  // GPT-2 as ftplan has always profiled it (the embedded tokenizer); a decoder with its own, BOS included
  const p = profileDataset(ds, d ? classificationTokenizer(decoderTokenizer(d)) : embeddedTokenizer());
  return { name: p.name, task, labels: p.labels, tokenizer: p.tokenizer, format: null, splits: p.splits, source: `profiled now from ${o.dataset}`, note: null };
}
