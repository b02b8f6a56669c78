/**
 * resolve.ts — `--model` for any family, with `--task`: a Llama-family decoder first
 * (decoder-source.ts: a decoder preset, a folder, a hub id in the cache, or a hub id's published
 * shape), else the GPT-2 path (hf.ts: a GPT-2 preset, a folder, a hub id fetched into the cache),
 * whose folder may still turn out to hold a decoder's config.json (a hub download). GPT-2 trains a
 * classification head only: `--task causal-lm` with it is a usage error, not a silent switch.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { folderLmTokenizer, PACKAGED_TOKENIZERS, packagedTokenizer, type LmTokenizer, type PackagedTokenizer } from '../data/lm-tokenizer.js';
import { usageError } from '../errors.js';
import type { DecoderConfig, Task } from './decoder-config.js';
import { decoderTokenizer, readDecoderFolder, resolveDecoder, type ResolvedDecoder } from './decoder-source.js';
import { obtainModel, type ModelNeed, type ModelSource } from './hf.js';
import { isDecoderPreset } from './decoder-presets.js';
import { shapeOf } from './open.js';
import type { ModelConfig } from './presets.js';
import { isRepoId } from '../hub/cache.js';

export type ResolvedModel =
  | { family: 'gpt2'; task: 'classification'; config: ModelConfig; source: ModelSource; dir: string | null; decoder: null }
  | { family: DecoderConfig['modelType']; task: Task; config: DecoderConfig; decoder: ResolvedDecoder; dir: string | null; source: null };

export interface ResolveOptions {
  task: Task;
  /** classification: the data set's classes */
  numLabels?: number;
  /** shape: config.json (and the tokenizer); weights: the weights too (run, eval) */
  need: ModelNeed;
  env?: NodeJS.ProcessEnv;
}

/** GPT-2 with --task causal-lm: ftplan trains GPT-2 with a classification head only. */
export function gpt2CausalLmError(spec: string) {
  return usageError(`--model ${spec} is GPT-2, and ftplan fine-tunes GPT-2 with a classification head only (--task causal-lm needs a Llama-family model: llama, mistral, qwen2, qwen3)`, 'use --task classification with GPT-2, or a Llama-family model (a preset such as qwen2.5-0.5b, a folder, or a hub id) for causal-lm');
}

export async function resolveAnyModel(spec: string, opts: ResolveOptions): Promise<ResolvedModel> {
  const { task, numLabels, need, env } = opts;
  // A hub id whose weights are needed goes through the download first (resolveDecoder reads only
  // what is on disk, and would take a cached config.json without its weights, or a preset's shape).
  const download = need === 'weights' && !isDecoderPreset(spec) && isRepoId(spec) && spec.includes('/');
  const d = download ? null : resolveDecoder(spec, task, { numLabels, env });
  if (d) return { family: d.config.modelType, task, config: d.config, decoder: d, dir: d.dir, source: null };
  const source = await obtainModel(spec, need, { env });
  if (source.kind === 'folder') {
    const fromFolder = readDecoderFolder(source.dir, task, { numLabels });
    if (fromFolder) return { family: fromFolder.config.modelType, task, config: fromFolder.config, decoder: { ...fromFolder, source: `${spec} (${fromFolder.source})` }, dir: source.dir, source: null };
  }
  if (task === 'causal-lm') throw gpt2CausalLmError(spec);
  return { family: 'gpt2', task: 'classification', config: shapeOf(source, numLabels ?? 2), source, dir: source.kind === 'folder' ? source.dir : null, decoder: null };
}

/** The model's longest sequence (GPT-2's n_positions, a decoder's max_position_embeddings). */
export function positionsOf(m: ResolvedModel): number {
  return m.family === 'gpt2' ? m.config.nPositions : m.config.maxPositionEmbeddings;
}

/**
 * A causal-LM tokenizer named on the command line (profile --tokenizer): a packaged one (llama3,
 * qwen3), a decoder preset or hub id (its folder's, else its package's), or a folder with
 * tokenizer.json.
 */
export function lmTokenizerFor(spec: string, env?: NodeJS.ProcessEnv): LmTokenizer {
  if (spec in PACKAGED_TOKENIZERS) return packagedTokenizer(spec as PackagedTokenizer);
  const d = resolveDecoder(spec, 'causal-lm', { env });
  if (d) return decoderTokenizer(d);
  if (existsSync(join(spec, 'tokenizer.json'))) return folderLmTokenizer(spec);
  throw usageError(`--tokenizer ${spec}: not a packaged tokenizer (${Object.keys(PACKAGED_TOKENIZERS).join(', ')}), a Llama-family preset or model, or a folder with tokenizer.json`, 'name one of those');
}
