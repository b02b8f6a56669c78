/**
 * decoder-checkpoint.ts — Llama-family checkpoints (llama, mistral, qwen2, qwen3) in and out, in
 * Hugging Face's layout one to one: the same tensor names and shapes (decoder-layout.ts), one
 * model.safetensors or shards named by model.safetensors.index.json, config.json beside them.
 *
 * In: every header checked against the config before a byte of weights is read (preflight.ts: a
 * shard the index names but the folder lacks, a truncated file, a wrong shape), then every tensor
 * read and checked finite. What the model does not use (a tied lm_head, rotary_emb buffers) is
 * reported as ignored; a missing classification head as initialised.
 * Out: what transformers' save_pretrained writes — model.safetensors, or model-0000k-of-0000n
 * shards and their index when the weights pass maxShardBytes; a tied lm_head is not written.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FtplanError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { DecoderConfig, Task } from './decoder-config.js';
import { decoderConfigToHf, parseDecoderConfigDetailed, type DecoderHfConfig } from './families.js';
import type { NamedTensor } from './layout.js';
import { INDEX_FILE, SINGLE_FILE, preflightCheckpoint, type CheckpointCheck } from './preflight.js';
import { encodeSafetensors, readSafetensors } from './safetensors.js';

export type DecoderState = Record<string, NamedTensor>;

export interface LoadedDecoderWeights {
  dir: string;
  /** HF names, ready for Session.loadState */
  state: DecoderState;
  /** parameters no file has (initialised instead): only score.weight gets this far */
  missing: string[];
  /** file tensors the model does not use (a tied lm_head, rotary_emb.inv_freq buffers) */
  ignored: string[];
  /** model.safetensors, or the index of a sharded checkpoint */
  file: string;
  files: string[];
  fileDtypes: string[];
  check: CheckpointCheck;
}

/** config.json of a decoder folder, read by families.ts for `task` (numLabels: the data set's classes, replacing the file's). */
export function readDecoderConfig(dir: string, opts: { task: Task; numLabels?: number; tokenizerPadTokenId?: number }): DecoderHfConfig {
  const file = join(dir, 'config.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${file}: is not readable JSON (${(e as Error).message})`, { fix: 'restore config.json from the original download' });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new FtplanError('ERR_INPUT', `${file}: is not a JSON object`, { fix: 'restore config.json from the original download' });
  return parseDecoderConfigDetailed(raw as Record<string, unknown>, { ...opts, file });
}

export interface LoadedDecoderCheckpoint extends LoadedDecoderWeights {
  config: DecoderHfConfig;
}

/** A decoder folder for `task`: config.json (families.ts) and the weights it implies. */
export function loadDecoderCheckpoint(dir: string, opts: { task: Task; numLabels?: number; tokenizerPadTokenId?: number }): LoadedDecoderCheckpoint {
  const config = readDecoderConfig(dir, opts);
  return { ...loadDecoderWeights(dir, config.config), config };
}

/** The weights in `dir` for a model of shape `cfg` (config.json parsed by the caller). */
export function loadDecoderWeights(dir: string, cfg: DecoderConfig): LoadedDecoderWeights {
  const check = preflightCheckpoint(dir, cfg);
  const read = new Map(check.files.map((file) => [file, readSafetensors(file)]));
  const state: DecoderState = {};
  for (const [name, p] of check.match.params) {
    const t = read.get(p.file)!.tensors.get(p.key);
    if (!t) throw new FtplanError('ERR_INPUT', `${p.file}: tensor '${p.key}' vanished between the header check and the read`, { fix: 'the file changed while it was read: load it again' });
    const bad = t.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new FtplanError('ERR_INPUT', `${p.file}: tensor '${p.key}' contains NaN or infinite values (index ${bad})`, { fix: 'the checkpoint is broken (a diverged run?): use an earlier checkpoint' });
    state[name] = { shape: t.shape, data: t.data };
  }
  const fileDtypes = new Set([...read.values()].flatMap((st) => [...st.tensors.values()].map((t) => t.dtype)));
  return { dir, state, missing: check.match.missing, ignored: check.match.ignored, file: check.index ?? (check.files[0] as string), files: check.files, fileDtypes: [...fileDtypes], check };
}

/** Tokenizer and generation files a decoder's folder may carry, copied with its weights. */
export const DECODER_SIDE_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model', 'chat_template.jinja', 'generation_config.json'];

/** transformers' shard names: model-00001-of-00003.safetensors. */
export const shardName = (k: number, n: number) => `model-${String(k).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;

export interface DecoderSaveOptions {
  /** the classification head's class names (config.json's id2label) */
  labels?: string[];
  /** the source's config.json, whose other fields (bos/eos ids, …) are carried */
  baseConfig?: Record<string, unknown>;
  /** copy DECODER_SIDE_FILES from this folder (the source model's) */
  tokenizerFrom?: string;
  /**
   * Shard the weights past this many bytes (transformers' max_shard_size). Each shard is encoded
   * in one Buffer, so it stays well below Node's 4 GiB; default 2 GB.
   */
  maxShardBytes?: number;
  extraFiles?: Record<string, string>;
}

/** Writes a checkpoint transformers loads with Llama/Mistral/Qwen2/Qwen3 *.from_pretrained(dir). Returns the files written. */
export function saveDecoderCheckpoint(dir: string, cfg: DecoderConfig, state: DecoderState, opts: DecoderSaveOptions): string[] {
  const configJson = decoderConfigToHf(cfg, { labels: opts.labels, base: opts.baseConfig }); // first: a record it cannot express writes nothing
  const tensors = new Map(Object.entries(state).filter(([name]) => !(name === 'lm_head.weight' && cfg.tieWordEmbeddings)));
  const max = opts.maxShardBytes ?? 2e9;
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  // Shards in the model's order (as save_pretrained fills them), each closed before it passes max.
  const shards: Map<string, NamedTensor>[] = [];
  let size = Infinity;
  for (const [name, t] of tensors) {
    if (size + t.data.byteLength > max && !(shards.length > 0 && size === 0)) {
      shards.push(new Map());
      size = 0;
    }
    shards[shards.length - 1]!.set(name, t);
    size += t.data.byteLength;
  }
  // The other layout's files go first: a folder holds one checkpoint.
  const stale = readdirSync(dir).filter((f) => f === SINGLE_FILE || f === INDEX_FILE || /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
  for (const f of stale) rmSync(join(dir, f), { force: true });
  if (shards.length <= 1) {
    writeFileAtomic(join(dir, SINGLE_FILE), encodeSafetensors(shards[0] ?? new Map(), { format: 'pt' }));
    written.push(SINGLE_FILE);
  } else {
    const weightMap: Record<string, string> = {};
    let total = 0;
    shards.forEach((shard, i) => {
      const file = shardName(i + 1, shards.length);
      writeFileAtomic(join(dir, file), encodeSafetensors(shard, { format: 'pt' }));
      written.push(file);
      for (const [name, t] of shard) {
        weightMap[name] = file;
        total += t.data.byteLength;
      }
    });
    writeFileAtomic(join(dir, INDEX_FILE), `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`);
    written.push(INDEX_FILE);
  }
  writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(configJson, null, 2)}\n`);
  written.push('config.json');
  for (const f of opts.tokenizerFrom ? DECODER_SIDE_FILES.filter((f) => existsSync(join(opts.tokenizerFrom as string, f))) : []) {
    copyFileSync(join(opts.tokenizerFrom as string, f), join(dir, f));
    written.push(f);
  }
  for (const [f, text] of Object.entries(opts.extraFiles ?? {})) {
    writeFileAtomic(join(dir, f), text);
    written.push(f);
  }
  return written;
}
