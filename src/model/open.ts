/**
 * open.ts — a native training session for `--model`: a preset (random init), or a Hugging Face
 * folder / hub id (its weights; a missing score head initialised and reported). `--init random`
 * takes only the shape, since throughput does not depend on weight values.
 */
import { fromNative } from '../errors.js';
import { loadNative, type NativeSession, type TrainOptions } from '../native.js';
import { loadCheckpoint, readHfConfig, resolveModel, type LoadedCheckpoint, type ModelSource } from './hf.js';
import { modelConfig, type ModelConfig } from './presets.js';

export interface OpenedModel {
  source: ModelSource;
  config: ModelConfig;
  session: NativeSession;
  /** what was loaded and what was initialised */
  report: { init: 'random' | 'pretrained'; file?: string; loaded: number; initialised: string[]; ignored: string[] };
  checkpoint?: LoadedCheckpoint;
}

/** The model's shape without loading weights (for estimates). */
export function modelShape(spec: string, numLabels: number): { source: ModelSource; config: ModelConfig } {
  const source = resolveModel(spec);
  if (source.kind === 'preset') return { source, config: modelConfig(source.name, { numLabels }) };
  const cfg = readHfConfig(source.dir, numLabels).model;
  return { source, config: { ...cfg, numLabels } };
}

export async function openModel(spec: string, opts: TrainOptions & { numLabels: number; init?: 'pretrained' | 'random' }): Promise<OpenedModel> {
  const { numLabels, init = 'pretrained', ...train } = opts;
  const source = resolveModel(spec);
  const checkpoint = source.kind === 'folder' && init === 'pretrained' ? loadCheckpoint(source.dir, { numLabels }) : undefined;
  const config = checkpoint ? checkpoint.config.model : modelShape(spec, numLabels).config;
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
    report: { init: 'pretrained', file: checkpoint.file, loaded: result.loaded.length, initialised: result.missing, ignored: checkpoint.ignored },
  };
}
