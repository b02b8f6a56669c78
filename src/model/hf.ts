/**
 * hf.ts — Hugging Face GPT-2 checkpoints in and out.
 *
 * In: a folder with config.json + model.safetensors (or model.safetensors.index.json and its
 * shards), written by transformers for GPT2Model, GPT2LMHeadModel or GPT2ForSequenceClassification
 * (keys with or without "transformer."; Conv1D weights stored [in, out]; lm_head tied to wte and
 * absent; attn.bias buffers ignored). A missing `score` head is initialised and reported. Every
 * header is checked against config.json before a byte of weights is read (preflight.ts), then every
 * tensor again as it is loaded.
 * Out: the layout transformers reads for GPT2ForSequenceClassification: transformer.* + score.weight
 * in model.safetensors, config.json with num_labels/id2label/label2id/pad_token_id, tokenizer files.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FtplanError } from '../errors.js';
import { gpt2TokenizerConfigs, gpt2TokenizerFiles } from '../data/gpt2-files.js';
import { findSnapshot, hubCacheDir, isRepoId, repoDir, type CachedSnapshot } from '../hub/cache.js';
import { hubSnapshot, type RepoFile } from '../hub/download.js';
import { ModelConfigSchema, PRESETS, type ModelConfig } from './presets.js';
import { CONV1D, expectedShapes, matchTensors, transpose2d, type NamedTensor } from './layout.js';
import { preflightCheckpoint, type CheckpointCheck } from './preflight.js';
import { writeFileAtomic } from '../util/fs.js';
import { encodeSafetensors, readSafetensors } from './safetensors.js';
import { modelFamilyOf, parseDecoderConfig, SUPPORTED_MODEL_TYPES } from './families.js';
import { decoderPresetNames } from './decoder-presets.js';

export type { NamedTensor };
export { expectedShapes, transpose2d };
export type StateDict = Record<string, NamedTensor>;

export type ModelSource = { kind: 'preset'; name: string } | { kind: 'folder'; dir: string; name: string };

const TOKENIZER_FILES = ['tokenizer.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'];

function inputError(file: string, message: string, fix: string): FtplanError {
  return new FtplanError('ERR_INPUT', `${file}: ${message}`, { fix });
}

/**
 * --model as the local cache has it: a preset name, a local folder, or a hub id in the hub cache
 * (no network; `obtainModel` downloads what is missing).
 */
export function resolveModel(spec: string, env: NodeJS.ProcessEnv = process.env): ModelSource {
  const local = localModel(spec);
  if (local) return local;
  if (isRepoId(spec)) {
    const found = findSnapshot(hubCacheDir(env), 'model', spec);
    if (found && found.state('config.json') === 'present') return { kind: 'folder', dir: found.dir, name: spec };
    throw new FtplanError('ERR_INPUT', `--model ${spec}: not a preset (${Object.keys(PRESETS).join(', ')}), not a folder, and not in the local hub cache (looked in ${repoDir(hubCacheDir(env), 'model', spec)})`, {
      fix: spec.includes('/')
        ? `download it first (ftplan estimate --model ${spec} fetches its config and tokenizer; or huggingface-cli download ${spec}), set HF_HUB_CACHE / HF_HOME to the cache that has it, or pass a local folder`
        : `name a hub model by its full id to download it (org/name, e.g. openai-community/gpt2), or pass a local folder`,
    });
  }
  throw notAModel(spec);
}

function localModel(spec: string): ModelSource | null {
  if (PRESETS[spec]) return { kind: 'preset', name: spec };
  const path = resolve(spec);
  if (!existsSync(path)) return null;
  if (!existsSync(join(path, 'config.json'))) throw inputError(path, 'has no config.json', 'point --model at a folder written by transformers (save_pretrained), or use a preset');
  return { kind: 'folder', dir: path, name: spec };
}

function notAModel(spec: string): FtplanError {
  return new FtplanError('ERR_INPUT', `--model ${spec}: no such preset or folder`, { fix: `use one of ${[...Object.keys(PRESETS), ...decoderPresetNames()].join(', ')}, a folder with config.json, or a Hugging Face id (org/name)` });
}

/**
 * What a command needs of a model: its shape (config.json, and the tokenizer files the repo has),
 * or also its weights (model.safetensors, or the shard index and its shards).
 */
export type ModelNeed = 'shape' | 'weights';

function shardsOf(indexFile: string): string[] {
  const index = readJsonFile(indexFile);
  const map = index.weight_map;
  if (!map || typeof map !== 'object') throw inputError(indexFile, 'has no weight_map', 'restore it from the original download');
  return [...new Set(Object.values(map as Record<string, unknown>).map(String))].sort();
}

function missingFromSnapshot(need: ModelNeed) {
  return (snap: CachedSnapshot, offline: boolean): string[] => {
    const missing: string[] = [];
    if (snap.state('config.json') !== 'present') missing.push('config.json');
    // The tokenizer files the repo has: settled when each is either cached or known to be absent.
    // Offline, a cache without them is used as it is (GPT-2's own tokenizer stands in).
    const usable = snap.state('tokenizer.json') === 'present' || (snap.state('vocab.json') === 'present' && snap.state('merges.txt') === 'present');
    if (!offline && !usable && TOKENIZER_FILES.some((f) => snap.state(f) === 'unknown')) missing.push('its tokenizer files');
    if (need === 'weights' && snap.state('model.safetensors') !== 'present') {
      const index = 'model.safetensors.index.json';
      if (snap.state(index) === 'present') missing.push(...shardsOf(join(snap.dir, index)).filter((f) => snap.state(f) !== 'present'));
      else if (!(snap.state('model.safetensors') === 'absent' && snap.state(index) === 'absent')) missing.push('model.safetensors');
    }
    return missing;
  };
}

async function selectModelFiles(id: string, need: ModelNeed, files: RepoFile[], get: (path: string) => Promise<string>): Promise<{ fetch: string[]; absent: string[] }> {
  const has = new Set(files.map((f) => f.path));
  if (!has.has('config.json')) {
    throw new FtplanError('ERR_INPUT', `--model ${id}: the repo has no config.json (it has ${[...has].slice(0, 8).join(', ') || 'no files'}${has.size > 8 ? ', …' : ''})`, { fix: `ftplan fine-tunes checkpoints saved by transformers (${SUPPORTED_MODEL_TYPES.join(', ')}): pick a repo with config.json` });
  }
  const fetch = ['config.json', ...TOKENIZER_FILES.filter((f) => has.has(f))];
  const absent = TOKENIZER_FILES.filter((f) => !has.has(f));
  if (need === 'weights') {
    // the config first: a model ftplan cannot build is refused before gigabytes of weights arrive
    const configFile = await get('config.json');
    const raw = readJsonFile(configFile);
    if (modelFamilyOf(raw, configFile) === 'gpt2') readHfConfig(dirname(configFile));
    else parseDecoderConfig(raw, { task: 'causal-lm', file: configFile });
    const index = 'model.safetensors.index.json';
    if (has.has('model.safetensors')) fetch.push('model.safetensors');
    else if (has.has(index)) {
      const shards = shardsOf(await get(index));
      const lacking = shards.filter((f) => !has.has(f));
      if (lacking.length) throw new FtplanError('ERR_INPUT', `--model ${id}: ${index} names shards the repo does not have: ${lacking.slice(0, 3).join(', ')}`, { fix: 'the repo is incomplete: pick another revision or repo' });
      fetch.push(index, ...shards);
    } else {
      const other = ['pytorch_model.bin', 'tf_model.h5', 'flax_model.msgpack'].filter((f) => has.has(f));
      throw new FtplanError('ERR_INPUT', `--model ${id}: the repo has no model.safetensors${other.length ? ` (it has ${other.join(', ')})` : ''}`, {
        fix: 'ftplan reads safetensors weights: pick a repo that has model.safetensors, or convert the weights (transformers: save_pretrained(safe_serialization=True)) and pass the folder',
      });
    }
  }
  return { fetch, absent };
}

/**
 * --model for a command that uses it: a preset, a local folder, or a hub id (org/name) from the
 * hub cache, downloaded into that cache when it is not complete there (HF_HUB_OFFLINE=1: cache only).
 */
export async function obtainModel(spec: string, need: ModelNeed, opts: { env?: NodeJS.ProcessEnv; log?: (line: string) => void } = {}): Promise<ModelSource> {
  const local = localModel(spec);
  if (local) return local;
  if (isRepoId(spec) && spec.includes('/')) {
    const snap = await hubSnapshot({ type: 'model', id: spec, env: opts.env, log: opts.log, missing: missingFromSnapshot(need), select: (files, get) => selectModelFiles(spec, need, files, get) });
    return { kind: 'folder', dir: snap.dir, name: spec };
  }
  // a single name (distilgpt2): only what the cache has; downloads take the full org/name
  if (isRepoId(spec)) return resolveModel(spec, opts.env);
  throw notAModel(spec);
}

function readJsonFile(file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw inputError(file, `is not valid JSON (${(e as Error).message})`, 'restore it from the original download');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw inputError(file, 'is not a JSON object', 'restore it from the original download');
  return raw as Record<string, unknown>;
}

export interface HfConfig {
  model: ModelConfig;
  labels: string[] | null; // id2label in id order, when the checkpoint has a classification head config
  raw: Record<string, unknown>;
}

/** config.json -> ModelConfig; numLabels from id2label/num_labels, else `defaultLabels`. */
export function readHfConfig(dir: string, defaultLabels = 3): HfConfig {
  const file = join(dir, 'config.json');
  const c = readJsonFile(file);
  const fix = 'use a GPT-2 config.json written by transformers';
  if (c.model_type !== undefined && c.model_type !== 'gpt2') throw inputError(file, `model_type is '${String(c.model_type)}', not 'gpt2'`, 'ftplan fine-tunes GPT-2 models; pick a GPT-2 checkpoint');
  const act = c.activation_function ?? 'gelu_new';
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') throw inputError(file, `activation_function '${String(act)}' is not supported (GPT-2 uses gelu_new)`, fix);
  if (c.scale_attn_by_inverse_layer_idx === true || c.reorder_and_upcast_attn === true || c.scale_attn_weights === false) {
    throw inputError(file, 'uses attention options GPT-2 does not (scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn or scale_attn_weights=false)', fix);
  }
  let labels: string[] | null = null;
  if (c.id2label && typeof c.id2label === 'object') {
    const entries = Object.entries(c.id2label as Record<string, string>).map(([k, v]) => [Number(k), String(v)] as const);
    if (entries.some(([k]) => !Number.isInteger(k) || k < 0)) throw inputError(file, 'id2label has keys that are not class ids', fix);
    labels = entries.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }
  const numLabels = typeof c.num_labels === 'number' ? c.num_labels : labels?.length ?? defaultLabels;
  const num = (k: string, d?: number) => {
    const v = c[k];
    if (v === undefined || v === null) {
      if (d === undefined) throw inputError(file, `has no ${k}`, fix);
      return d;
    }
    if (typeof v !== 'number') throw inputError(file, `${k} is not a number`, fix);
    return v;
  };
  const parsed = ModelConfigSchema.safeParse({
    vocabSize: num('vocab_size'),
    nPositions: num('n_positions', num('n_ctx', 1024)),
    nEmbd: num('n_embd'),
    nLayer: num('n_layer'),
    nHead: num('n_head'),
    nInner: c.n_inner === null || c.n_inner === undefined ? 0 : num('n_inner'),
    numLabels,
    padTokenId: num('pad_token_id', num('eos_token_id', 50256)),
    layerNormEpsilon: num('layer_norm_epsilon', 1e-5),
    embdPdrop: num('embd_pdrop', 0.1),
    attnPdrop: num('attn_pdrop', 0.1),
    residPdrop: num('resid_pdrop', 0.1),
    initializerRange: num('initializer_range', 0.02),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw inputError(file, `is not a buildable GPT-2 config: ${issue?.path.join('.')}: ${issue?.message}`, fix);
  }
  return { model: parsed.data, labels: labels && labels.length === parsed.data.numLabels ? labels : null, raw: c };
}

export interface LoadedCheckpoint {
  dir: string;
  config: HfConfig;
  /** native names and layout, ready for Session.loadState */
  state: StateDict;
  /** native parameters the file does not have (initialised instead), e.g. score.weight */
  missing: string[];
  /** file tensors that are not parameters (tied lm_head, attention-mask buffers) */
  ignored: string[];
  /** model.safetensors, or the index of a sharded checkpoint */
  file: string;
  /** the safetensors files read (the shards, for a sharded checkpoint) */
  files: string[];
  fileDtypes: string[];
  check: CheckpointCheck;
}

export function loadCheckpoint(dir: string, opts: { numLabels?: number } = {}): LoadedCheckpoint {
  const config = readHfConfig(dir, opts.numLabels);
  if (opts.numLabels !== undefined && config.model.numLabels !== opts.numLabels) {
    // a fresh head for this data set's classes; the file's own head (if any) does not fit
    config.model = { ...config.model, numLabels: opts.numLabels };
    config.labels = null;
  }
  // Every header first (cheap: a truncated shard fails before gigabytes are read), then the data,
  // matched again from what was read (a file rewritten in between is caught, not half-trusted).
  const check = preflightCheckpoint(dir, config.model);
  const read = check.files.map((file) => ({ file, st: readSafetensors(file) }));
  const match = matchTensors(config.model, read.flatMap(({ file, st }) => [...st.tensors].map(([key, t]) => ({ key, shape: t.shape, file }))), check.index ?? (check.files[0] as string));
  const fileDtypes = new Set(read.flatMap(({ st }) => [...st.tensors.values()].map((t) => t.dtype)));
  const state: StateDict = {};
  for (const [name, p] of match.params) {
    const t = read.find((r) => r.file === p.file)!.st.tensors.get(p.key)!;
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i])) throw inputError(p.file, `tensor '${p.key}' contains NaN or infinite values (index ${i})`, 'the checkpoint is broken (a diverged run?): use an earlier checkpoint');
    }
    state[name] = p.conv1d ? transpose2d(t) : { shape: t.shape, data: t.data };
  }
  return { dir, config, state, missing: match.missing, ignored: match.ignored, file: check.index ?? (check.files[0] as string), files: check.files, fileDtypes: [...fileDtypes], check };
}

/** Native state -> HF GPT2ForSequenceClassification tensors (Conv1D back to [in, out]). */
export function toHfTensors(state: StateDict): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  for (const [name, t] of Object.entries(state)) out.set(name, CONV1D.test(name) ? transpose2d(t) : t);
  return out;
}

export function hfConfigJson(cfg: ModelConfig, labels: string[], base: Record<string, unknown> = {}): Record<string, unknown> {
  const id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
  const label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
  return {
    ...base,
    architectures: ['GPT2ForSequenceClassification'],
    model_type: 'gpt2',
    activation_function: 'gelu_new',
    vocab_size: cfg.vocabSize,
    n_positions: cfg.nPositions,
    n_ctx: cfg.nPositions,
    n_embd: cfg.nEmbd,
    n_layer: cfg.nLayer,
    n_head: cfg.nHead,
    n_inner: cfg.nInner || null,
    layer_norm_epsilon: cfg.layerNormEpsilon,
    embd_pdrop: cfg.embdPdrop,
    attn_pdrop: cfg.attnPdrop,
    resid_pdrop: cfg.residPdrop,
    initializer_range: cfg.initializerRange,
    scale_attn_weights: true,
    bos_token_id: (base.bos_token_id as number | undefined) ?? 50256,
    eos_token_id: (base.eos_token_id as number | undefined) ?? 50256,
    pad_token_id: cfg.padTokenId,
    id2label,
    label2id,
    num_labels: labels.length,
    torch_dtype: 'float32',
  };
}

export interface SaveOptions {
  labels: string[];
  /** copy tokenizer files from this folder (the source model's); without one, GPT-2's are written */
  tokenizerFrom?: string;
  baseConfig?: Record<string, unknown>;
  extraFiles?: Record<string, string>;
}

/** Write a checkpoint transformers loads with GPT2ForSequenceClassification.from_pretrained(dir). */
export function saveCheckpoint(dir: string, cfg: ModelConfig, state: StateDict, opts: SaveOptions): string[] {
  if (opts.labels.length !== cfg.numLabels) throw new Error(`saveCheckpoint: ${opts.labels.length} labels for a ${cfg.numLabels}-class head`);
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  writeFileAtomic(join(dir, 'model.safetensors'), encodeSafetensors(toHfTensors(state), { format: 'pt' }));
  written.push('model.safetensors');
  writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(hfConfigJson(cfg, opts.labels, opts.baseConfig), null, 2)}\n`);
  written.push('config.json');
  const copied = opts.tokenizerFrom ? TOKENIZER_FILES.filter((f) => existsSync(join(opts.tokenizerFrom as string, f))) : [];
  for (const f of copied) {
    copyFileSync(join(opts.tokenizerFrom as string, f), join(dir, f));
    written.push(f);
  }
  if (!copied.includes('vocab.json') && !copied.includes('tokenizer.json')) {
    // no source tokenizer (a preset): GPT-2's files, rebuilt from the embedded tokenizer
    const { vocabJson, mergesTxt } = gpt2TokenizerFiles();
    const files: Record<string, string> = { 'vocab.json': vocabJson, 'merges.txt': mergesTxt, ...gpt2TokenizerConfigs(cfg.nPositions) };
    for (const [f, text] of Object.entries(files)) {
      writeFileAtomic(join(dir, f), text);
      written.push(f);
    }
  }
  for (const [f, text] of Object.entries(opts.extraFiles ?? {})) {
    writeFileAtomic(join(dir, f), text);
    written.push(f);
  }
  return written;
}
