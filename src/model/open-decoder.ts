/**
 * open-decoder.ts — a native training session for a Llama-family decoder (llama, mistral, qwen2,
 * qwen3): from a record alone (a preset's shape, random init: throughput does not depend on the
 * weights), or from a Hugging Face folder (config.json read by families.ts for the task, its
 * weights loaded; a missing classification head initialised and reported).
 */
import { fromNative } from '../errors.js';
import { loadNative, type NativeSession, type TrainOptions } from '../native.js';
import type { DecoderConfig, Task } from './decoder-config.js';
import { loadDecoderCheckpoint, readDecoderConfig, type LoadedDecoderCheckpoint } from './decoder-checkpoint.js';


/** LoRA's matrices are the method's, made fresh by it (B zero): not a checkpoint's missing weights. */
const LORA_PARAM = /\.lora_[AB]\.weight$/;
export type DecoderSource = { kind: 'config'; config: DecoderConfig } | { kind: 'folder'; dir: string };

export interface OpenedDecoder {
  config: DecoderConfig;
  session: NativeSession;
  /** id2label of a classification checkpoint, in id order, when it matches the head */
  labels: string[] | null;
  /** what was loaded and what was initialised */
  report: { init: 'random' | 'pretrained'; file?: string; loaded: number; initialised: string[]; ignored: string[] };
  checkpoint?: LoadedDecoderCheckpoint;
}

export interface OpenDecoderOptions extends TrainOptions {
  task: Task;
  /** classification: the data set's classes (replacing the file's head when they differ) */
  numLabels?: number;
  /** 'random': a folder's shape only */
  init?: 'pretrained' | 'random';
  /** the tokenizer's pad id, when config.json has no pad_token_id */
  tokenizerPadTokenId?: number;
}

export async function openDecoder(source: DecoderSource, opts: OpenDecoderOptions): Promise<OpenedDecoder> {
  const { task, numLabels, init = 'pretrained', tokenizerPadTokenId, ...train } = opts;
  const name = source.kind === 'folder' ? source.dir : `${source.config.modelType} (${task})`;
  const checkpoint = source.kind === 'folder' && init === 'pretrained' ? loadDecoderCheckpoint(source.dir, { task, numLabels, tokenizerPadTokenId }) : undefined;
  const read = source.kind === 'folder' ? (checkpoint?.config ?? readDecoderConfig(source.dir, { task, numLabels, tokenizerPadTokenId })) : null;
  const config = read ? read.config : { ...(source as { config: DecoderConfig }).config, task, ...(numLabels !== undefined ? { numLabels } : {}) };
  let session: NativeSession;
  try {
    session = new (loadNative().Session)({ model: config, ...train });
    await session.init();
  } catch (e) {
    throw fromNative(e, `building ${name}`);
  }
  const labels = read?.labels ?? null;
  if (!checkpoint) return { config, session, labels, report: { init: 'random', loaded: 0, initialised: ['all'], ignored: [] } };
  let result;
  try {
    result = await session.loadState(checkpoint.state);
  } catch (e) {
    throw fromNative(e, `loading ${checkpoint.file}`);
  }
  return { config, session, labels, checkpoint, report: { init: 'pretrained', file: checkpoint.file, loaded: result.loaded.length, initialised: result.missing.filter((n) => !LORA_PARAM.test(n)), ignored: checkpoint.ignored } };
}
