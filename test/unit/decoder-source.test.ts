// --model as a Llama-family decoder, from disk only: a preset, a folder, a hub id in a hub cache the
// test lays out, a hub id with no cached config (its published shape); GPT-2 left to the GPT-2
// path; the tokenizer that goes with each.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packagedTokenizerDir } from '../../src/data/lm-tokenizer.js';
import { FtplanError } from '../../src/errors.js';
import { DECODER_PRESETS } from '../../src/model/decoder-presets.js';
import { decoderTokenizer, folderFamily, readDecoderFolder, resolveDecoder } from '../../src/model/decoder-source.js';
import { decoderConfigToHf } from '../../src/model/families.js';
import { decoderPresetConfig } from '../../src/model/decoder-presets.js';
import { tempDir } from '../helpers.js';

const writeConfig = (dir: string, cfg: Record<string, unknown>) => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  return dir;
};

describe('resolveDecoder', () => {
  it('a decoder preset: its published shape, no folder', () => {
    const d = resolveDecoder('llama-3.1-8b', 'causal-lm')!;
    expect([d.preset, d.dir, d.source, d.config.numHiddenLayers, d.eosTokenId]).toEqual(['llama-3.1-8b', null, 'preset llama-3.1-8b', 32, 128001]);
  });

  it('a folder: its config.json, labels from id2label; a GPT-2 folder or preset is left to the GPT-2 path (null)', () => {
    const cfg = decoderPresetConfig('tiny-qwen2', 'classification', { numLabels: 3 });
    const dir = writeConfig(tempDir('dec-folder'), decoderConfigToHf(cfg, { labels: ['neg', 'neu', 'pos'] }));
    const d = resolveDecoder(dir, 'classification')!;
    expect(d.config).toEqual(cfg);
    expect(d.labels).toEqual(['neg', 'neu', 'pos']);
    expect(d.source).toBe(join(dir, 'config.json'));
    expect(folderFamily(dir)).toBe('qwen2');
    const gpt2 = writeConfig(tempDir('dec-gpt2'), { model_type: 'gpt2', n_embd: 8 });
    expect(resolveDecoder(gpt2, 'classification')).toBeNull();
    expect(folderFamily(gpt2)).toBe('gpt2');
    expect(resolveDecoder('gpt2', 'classification')).toBeNull();
  });

  it('a folder whose config.json has no pad_token_id takes the tokenizer_config.json pad token (Qwen: <|endoftext|>)', () => {
    const raw = { ...decoderConfigToHf(decoderPresetConfig('tiny-qwen3', 'causal-lm')), vocab_size: 151936, eos_token_id: 151645 } as Record<string, unknown>;
    delete raw.pad_token_id;
    const dir = writeConfig(tempDir('dec-pad'), raw);
    expect(readDecoderFolder(dir, 'causal-lm')!.config.padTokenId).toBe(151645); // no tokenizer files: eos
    copyFileSync(join(packagedTokenizerDir('qwen3'), 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
    expect(readDecoderFolder(dir, 'causal-lm')!.config.padTokenId).toBe(151643);
  });

  it('a hub id: the cached config.json when there is one, else its published shape; an unknown id is not settled here', () => {
    const cache = tempDir('dec-hub');
    const env = { HF_HUB_CACHE: cache } as NodeJS.ProcessEnv;
    const fromPreset = resolveDecoder('meta-llama/Llama-3.2-1B-Instruct', 'causal-lm', { env })!;
    expect(fromPreset.preset).toBe('llama-3.2-1b');
    expect(fromPreset.source).toMatch(/no cached config\.json: its published shape, preset llama-3\.2-1b/);
    // the same id with a (deliberately different) config.json in the cache: the cache wins
    const repo = join(cache, 'models--meta-llama--Llama-3.2-1B-Instruct');
    mkdirSync(join(repo, 'refs'), { recursive: true });
    writeFileSync(join(repo, 'refs', 'main'), 'abc123');
    writeConfig(join(repo, 'snapshots', 'abc123'), { ...DECODER_PRESETS['llama-3.2-1b']!.hf, num_hidden_layers: 2 });
    const cached = resolveDecoder('meta-llama/Llama-3.2-1B-Instruct', 'causal-lm', { env })!;
    expect([cached.preset, cached.config.numHiddenLayers, cached.dir]).toEqual([null, 2, join(repo, 'snapshots', 'abc123')]);
    expect(resolveDecoder('someone/unknown-model', 'causal-lm', { env })).toBeNull();
  });

  it('a folder with an unknown model_type is refused by name', () => {
    const dir = writeConfig(tempDir('dec-unknown'), { model_type: 'gemma2', hidden_size: 8 });
    expect(() => resolveDecoder(dir, 'causal-lm')).toThrow(FtplanError);
    expect(() => resolveDecoder(dir, 'causal-lm')).toThrow(/model_type 'gemma2' is not supported \(ftplan builds gpt2, llama, mistral, qwen2, qwen3\)/);
  });
});

describe('decoderTokenizer', () => {
  it('a Qwen preset: the Qwen3 package; a Llama 2 preset: no package, an error naming the hub id to pass', () => {
    expect(decoderTokenizer(resolveDecoder('qwen2.5-0.5b', 'causal-lm')!).eosToken).toBe('<|im_end|>');
    const err = (() => {
      try {
        decoderTokenizer(resolveDecoder('llama-2-7b', 'causal-lm')!);
      } catch (e) {
        return e as FtplanError;
      }
    })();
    expect(err?.message).toMatch(/preset llama-2-7b: no tokenizer/);
    expect(err?.fix).toMatch(/--model meta-llama\/Llama-2-7b-hf/);
  });
});
