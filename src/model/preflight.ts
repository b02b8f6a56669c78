/**
 * preflight.ts — check a Hugging Face checkpoint (GPT-2 or a Llama-family decoder) from its headers
 * alone, without reading the weights: a broken download is found on the laptop, before anyone rents
 * a GPU for it.
 *
 * One file (model.safetensors) or a sharded one (model.safetensors.index.json + its shards), as
 * transformers finds them (model.safetensors first). For each file: the header (bounded size, valid
 * JSON), every dtype known, byte lengths = elements × dtype size, offsets inside the file (else it is
 * truncated), no overlaps, the tensors tiling the data section; across the checkpoint: every tensor
 * a parameter of the shape config.json implies (layout.ts for GPT-2, decoder-layout.ts for the
 * Llama family: the mappings loading uses), none twice, the whole trunk present; for a sharded one, the index's shards all there and each tensor in
 * the shard the index names.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FtplanError } from '../errors.js';
import { matchDecoderTensors } from './decoder-layout.js';
import { matchTensors, type FileTensor, type TensorMatch } from './layout.js';
import { isDecoderConfig, type AnyModelConfig } from './model-config.js';
import { checkSafetensorsLayout, readSafetensorsHeader, type SafetensorsHeader } from './safetensors.js';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';
/** Weight files ftplan does not read, named when they are all a folder has. */
const OTHER_WEIGHTS = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'tf_model.h5', 'flax_model.msgpack'];

export type WeightFiles =
  | { kind: 'single'; file: string }
  | { kind: 'sharded'; index: string }
  | { kind: 'none'; other: string | null };

/** Which weights a folder has, in transformers' order of preference. */
export function findWeights(dir: string): WeightFiles {
  if (existsSync(join(dir, SINGLE_FILE))) return { kind: 'single', file: join(dir, SINGLE_FILE) };
  if (existsSync(join(dir, INDEX_FILE))) return { kind: 'sharded', index: join(dir, INDEX_FILE) };
  return { kind: 'none', other: OTHER_WEIGHTS.find((f) => existsSync(join(dir, f))) ?? null };
}

export interface CheckpointCheck {
  dir: string;
  layout: 'single' | 'sharded';
  /** the safetensors files checked (the shards, for a sharded checkpoint) */
  files: string[];
  /** the index, for a sharded checkpoint */
  index: string | null;
  tensors: number;
  /** bytes of tensor data the headers describe (what loading will read) */
  tensorBytes: number;
  dtypes: string[];
  match: TensorMatch;
}

function inputError(file: string, message: string, fix: string): FtplanError {
  return new FtplanError('ERR_INPUT', `${file}: ${message}`, { fix });
}

/** model.safetensors.index.json -> its weight_map (tensor -> shard file name), checked. */
export function readShardIndex(index: string): Map<string, string> {
  let raw: unknown;
  const fix = 'download model.safetensors.index.json again (it comes with the shards)';
  try {
    raw = JSON.parse(readFileSync(index, 'utf8'));
  } catch (e) {
    throw inputError(index, `is not valid JSON (${(e as Error).message})`, fix);
  }
  const map = (raw as { weight_map?: unknown } | null)?.weight_map;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || map === null || typeof map !== 'object' || Array.isArray(map)) {
    throw inputError(index, 'has no weight_map object (tensor name -> shard file)', fix);
  }
  const out = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
    // a shard is a file beside the index: a path elsewhere is refused, not followed
    if (typeof shard !== 'string' || shard === '' || shard !== basename(shard) || shard === '.' || shard === '..') {
      throw inputError(index, `weight_map puts '${tensor}' in ${JSON.stringify(shard)}, not a file name in this folder`, fix);
    }
    out.set(tensor, shard);
  }
  if (out.size === 0) throw inputError(index, 'has an empty weight_map', fix);
  return out;
}

/**
 * The checkpoint in `dir` checked from its headers against `model` (config.json's shape, with the
 * head of the data set's classes): nothing but headers is read. Throws an FtplanError naming the
 * file and the fix; a folder without safetensors weights is an error too (findWeights first to
 * allow it).
 */
export function preflightCheckpoint(dir: string, model: AnyModelConfig): CheckpointCheck {
  const found = findWeights(dir);
  if (found.kind === 'none') {
    throw inputError(dir, `has no ${SINGLE_FILE}${found.other ? ` (it has ${found.other})` : ''}`, found.other ? 'ftplan reads safetensors: save the model with transformers\' save_pretrained(safe_serialization=True)' : 'download the weights (model.safetensors) into it, or save the model with transformers\' save_pretrained');
  }
  const headers: SafetensorsHeader[] = [];
  const tensors: FileTensor[] = [];
  let index: string | null = null;
  if (found.kind === 'single') {
    const h = readSafetensorsHeader(found.file);
    headers.push(h);
    for (const t of h.tensors) tensors.push({ key: t.name, shape: t.shape, file: found.file });
  } else {
    index = found.index;
    const weightMap = readShardIndex(found.index);
    const shards = [...new Set(weightMap.values())];
    const absent = shards.filter((s) => !existsSync(join(dir, s)) || !statSync(join(dir, s)).isFile());
    if (absent.length) {
      throw inputError(found.index, `names ${absent.length} of its ${shards.length} shards that are not in ${dir}: ${absent.slice(0, 3).join(', ')}${absent.length > 3 ? ', …' : ''}`, 'download the missing shard files (they come with the index)');
    }
    const where = new Map<string, string>(); // tensor -> the shard whose header has it
    for (const shard of shards) {
      const file = join(dir, shard);
      const h = readSafetensorsHeader(file);
      headers.push(h);
      for (const t of h.tensors) {
        const other = where.get(t.name);
        if (other) throw inputError(file, `tensor '${t.name}' is also in ${other}`, 'the shards are from different checkpoints: download them again together');
        where.set(t.name, file);
        tensors.push({ key: t.name, shape: t.shape, file });
      }
    }
    for (const [tensor, shard] of weightMap) {
      const at = where.get(tensor);
      if (at !== join(dir, shard)) {
        throw inputError(join(dir, shard), `has no tensor '${tensor}', which ${basename(found.index)} puts there${at ? ` (it is in ${basename(at)})` : ''}`, 'the index and the shards are from different downloads: download them again together');
      }
    }
  }
  const where = found.kind === 'single' ? found.file : found.index;
  const match = isDecoderConfig(model) ? matchDecoderTensors(model, tensors, where) : matchTensors(model, tensors, where);
  // After the names: a tensor missing from the header reads as "missing", not as a gap in the data.
  for (const h of headers) checkSafetensorsLayout(h);
  const all = headers.flatMap((h) => h.tensors);
  return {
    dir,
    layout: found.kind,
    files: headers.map((h) => h.file),
    index,
    tensors: all.length,
    tensorBytes: all.reduce((a, t) => a + (t.end - t.begin), 0),
    dtypes: [...new Set(all.map((t) => t.dtype))].sort(),
    match,
  };
}
