/**
 * open.ts — a native training session for `--model`: a preset (random init), or a Hugging Face
 * folder / hub id (its weights; a missing score head initialised and reported; a hub id not in the
 * cache is downloaded). `--init random` takes only the shape, since throughput does not depend on
 * weight values.
 */
import { fromNative } from '../errors.js';
import { loadNative, type NativeSession, type TrainOptions } from '../native.js';
import { loadCheckpoint, obtainModel, readHfConfig, type LoadedCheckpoint, type ModelSource } from './hf.js';
import { modelConfig, type ModelConfig } from './presets.js';


/** LoRA's matrices are the method's, made fresh by it (B zero): not a checkpoint's missing weights. */
const LORA_PARAM = /\.lora_[AB]\.weight$/;
export interface OpenedModel {
  source: ModelSource;
  config: ModelConfig;
  session: NativeSession;
  /** what was loaded and what was initialised */
  report: { init: 'random' | 'pretrained'; file?: string; loaded: number; initialised: string[]; ignored: string[] };
  checkpoint?: LoadedCheckpoint;
}

/** The shape of a model already resolved (a preset, or a folder's config.json). */
export function shapeOf(source: ModelSource, numLabels: number): ModelConfig {
  if (source.kind === 'preset') return modelConfig(source.name, { numLabels });
  return { ...readHfConfig(source.dir, numLabels).model, numLabels };
}

/** The model's shape without its weights (for estimates): a hub id fetches config.json and the tokenizer only. */
export async function modelShape(spec: string, numLabels: number, env?: NodeJS.ProcessEnv): Promise<{ source: ModelSource; config: ModelConfig }> {
  const source = await obtainModel(spec, 'shape', { env });
  return { source, config: shapeOf(source, numLabels) };
}

export async function openModel(spec: string, opts: TrainOptions & { numLabels: number; init?: 'pretrained' | 'random' }): Promise<OpenedModel> {
  const { numLabels, init = 'pretrained', ...train } = opts;
  const source = await obtainModel(spec, init === 'pretrained' ? 'weights' : 'shape');
  const checkpoint = source.kind === 'folder' && init === 'pretrained' ? loadCheckpoint(source.dir, { numLabels }) : undefined;
  const config = checkpoint ? checkpoint.config.model : shapeOf(source, numLabels);
  const addon = loadNative();
  let session: NativeSession;
  try {
    session = new addon.Session({ model: config, ...train });
    await session.init();
  } catch (e) {
    throw fromNative(e, `building ${spec}`);
  }
  if (!checkpoint) return { source, config, session, report: { init: 'random', loaded: 0, initialised: ['all'], ignored: [] } };
  let result;
  try {
    result = await session.loadState(checkpoint.state);
  } catch (e) {
    throw fromNative(e, `loading ${checkpoint.file}`);
  }
  return {
    source,
    config,
    session,
    checkpoint,
    report: { init: 'pretrained', file: checkpoint.file, loaded: result.loaded.length, initialised: result.missing.filter((n) => !LORA_PARAM.test(n)), ignored: checkpoint.ignored },
  };
}
