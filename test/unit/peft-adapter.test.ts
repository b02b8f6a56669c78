// Adapter folders in Hugging Face PEFT's layout: written and read back, PEFT's key names and
// adapter_config.json fields, a file in the exact format PEFT writes (adapter names and
// modules_to_save included), and every bad input with its message.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FtplanError } from '../../src/errors.js';
import { decoderPresetConfig } from '../../src/model/decoder-presets.js';
import { targetedModules } from '../../src/model/lora-modules.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapterConfigJson, coreName, peftKey, readAdapter, writeAdapter, type AdapterInfo } from '../../src/model/peft-adapter.js';
import { modelConfig } from '../../src/model/presets.js';
import { encodeSafetensors, readSafetensors } from '../../src/model/safetensors.js';
import type { AnyModelConfig } from '../../src/model/model-config.js';
import type { NamedTensors } from '../../src/native/types.js';
import { argsWithAdapter, checkAdapterResumable } from '../../src/train/adapter.js';
import { peftSettings } from '../../src/train/peft.js';
import { expectInputError, tempDir } from '../helpers.js';

const gpt2 = modelConfig('tiny', { numLabels: 3 });
// a small Llama-family shape: 2 layers, hidden 64, 4 heads of 16, 2 KV heads, MLP 128
const decoder = { ...decoderPresetConfig('qwen2.5-0.5b', 'classification', { numLabels: 3 }), hiddenSize: 64, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 16, intermediateSize: 128, numHiddenLayers: 2, vocabSize: 300 };

/** Deterministic values, different per tensor, so a swapped or transposed tensor shows. */
function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.13 + i * 0.37));
}

/** The trainable state a LoRA session of `cfg` would hand back (core names). */
function loraState(cfg: AnyModelConfig, targets: string[], r: number, head: boolean): NamedTensors {
  const st: NamedTensors = {};
  let seed = 1;
  for (const [mod, [out, inp]] of targetedModules(cfg, targets)) {
    st[`${mod}.lora_A.weight`] = { shape: [r, inp], data: values(r * inp, seed++) };
    st[`${mod}.lora_B.weight`] = { shape: [out, r], data: values(out * r, seed++) };
  }
  if (head) {
    const C = 'nEmbd' in cfg ? cfg.nEmbd : (cfg as { hiddenSize: number }).hiddenSize;
    st['score.weight'] = { shape: [cfg.numLabels, C], data: values(cfg.numLabels * C, seed++) };
  }
  return st;
}

const info = (o: Partial<AdapterInfo> = {}): AdapterInfo => ({ method: 'lora', task: 'classification', r: 4, alpha: 8, dropout: 0.05, targets: ['q_proj', 'v_proj'], baseModel: 'base-model', baseDtype: 'bf16', doubleQuant: false, labels: ['negative', 'neutral', 'positive'], ...o });

const inputError = expectInputError;

/** An adapter folder written the way PEFT's save_pretrained writes one (its keys, its config), by hand. */
function peftWritten(dir: string, cfg: AnyModelConfig, o: { keys?: (core: string) => string; config?: Record<string, unknown>; state?: NamedTensors } = {}): NamedTensors {
  const state = o.state ?? loraState(cfg, ['q_proj', 'v_proj'], 4, true);
  const keys = o.keys ?? ((core: string) => `base_model.model.${core}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, ADAPTER_WEIGHTS), encodeSafetensors(new Map(Object.entries(state).map(([k, t]) => [keys(k), t])), { format: 'pt' }));
  // the fields PEFT 0.13's LoraConfig writes for a SEQ_CLS model (no ftplan block)
  const config = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: 'Qwen/Qwen2.5-0.5B',
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: 16,
    lora_dropout: 0.1,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: ['classifier', 'score'],
    peft_type: 'LORA',
    r: 4,
    rank_pattern: {},
    revision: null,
    target_modules: ['v_proj', 'q_proj'],
    task_type: 'SEQ_CLS',
    use_dora: false,
    use_rslora: false,
    ...o.config,
  };
  writeFileSync(join(dir, ADAPTER_CONFIG), JSON.stringify(config));
  return state;
}

describe('adapter files', () => {
  it('use PEFT\'s key names: base_model.model.<module>.lora_A.weight, the head as base_model.model.score.weight', () => {
    expect(peftKey('model.layers.0.self_attn.q_proj.lora_A.weight')).toBe('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(coreName('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')).toEqual({ name: 'model.layers.0.self_attn.q_proj.lora_A.weight', module: 'model.layers.0.self_attn.q_proj', part: 'lora_A' });
    // what set_peft_model_state_dict accepts: the adapter name still in the key
    expect(coreName('base_model.model.transformer.h.1.attn.c_attn.lora_B.default.weight')?.name).toBe('transformer.h.1.attn.c_attn.lora_B.weight');
    expect(coreName('base_model.model.score.modules_to_save.default.weight')).toEqual({ name: 'score.weight', module: 'score', part: 'head' });
    expect(coreName('base_model.model.model.embed_tokens.weight')).toBeNull();
    expect(coreName('model.layers.0.self_attn.q_proj.lora_A.weight')).toBeNull();
  });

  it('round-trip: written from a session\'s trainable state, read back to the same tensors under the core\'s names', () => {
    for (const [cfg, targets] of [[gpt2, ['c_attn', 'c_proj', 'c_fc']], [decoder, ['q_proj', 'v_proj']]] as const) {
      const dir = tempDir('ftplan-adapter-');
      const st = loraState(cfg, [...targets], 4, true);
      expect(writeAdapter(dir, st, info({ targets: [...targets] }), cfg)).toEqual([ADAPTER_WEIGHTS, ADAPTER_CONFIG]);
      const file = readSafetensors(join(dir, ADAPTER_WEIGHTS));
      expect([...file.tensors.keys()].every((k) => k.startsWith('base_model.model.'))).toBe(true);
      expect(file.tensors.has('base_model.model.score.weight')).toBe(true);
      const back = readAdapter(dir, cfg, { model: 'base-model' });
      expect(Object.keys(back.state).sort()).toEqual(Object.keys(st).sort());
      for (const [k, t] of Object.entries(st)) {
        expect(back.state[k]!.shape).toEqual(t.shape);
        expect(Array.from(back.state[k]!.data)).toEqual(Array.from(t.data));
      }
      expect(back.head).toBe(true);
      expect(back.info.targets.sort()).toEqual([...targets].sort());
      expect(back.info).toMatchObject({ method: 'lora', task: 'classification', r: 4, alpha: 8, dropout: 0.05, baseDtype: 'bf16', labels: ['negative', 'neutral', 'positive'] });
      // GPT-2: attention's and the MLP's c_proj both carry adapters
      if (cfg === gpt2) expect(back.modules).toContain('transformer.h.0.mlp.c_proj');
    }
  });

  it('write adapter_config.json with the fields PEFT writes, and ftplan\'s block', () => {
    const c = adapterConfigJson(info({ method: 'qlora', doubleQuant: true, targets: ['q_proj', 'v_proj'] }), decoder);
    expect(c).toMatchObject({ peft_type: 'LORA', task_type: 'SEQ_CLS', r: 4, lora_alpha: 8, lora_dropout: 0.05, target_modules: ['q_proj', 'v_proj'], modules_to_save: ['score'], bias: 'none', fan_in_fan_out: false, base_model_name_or_path: 'base-model', inference_mode: true, init_lora_weights: true, use_rslora: false, use_dora: false });
    expect(c.ftplan).toEqual({ method: 'qlora', baseDtype: 'bf16', doubleQuant: true, family: 'qwen2', task: 'classification', labels: ['negative', 'neutral', 'positive'] });
    // GPT-2's Conv1D: PEFT records fan_in_fan_out true
    expect(adapterConfigJson(info({ targets: ['c_attn'] }), gpt2).fan_in_fan_out).toBe(true);
    const lm = adapterConfigJson(info({ task: 'causal-lm', labels: null }), { ...decoder, task: 'causal-lm' });
    expect(lm).toMatchObject({ task_type: 'CAUSAL_LM', modules_to_save: null });
    // every PEFT field is JSON PEFT can read back
    expect(JSON.parse(JSON.stringify(c))).toEqual(c);
  });

  it('read a folder as PEFT writes it: stripped keys, or with the adapter name and modules_to_save still in them', () => {
    const plain = tempDir('ftplan-peft-');
    const st = peftWritten(plain, decoder);
    const a = readAdapter(plain, decoder, { model: 'Qwen/Qwen2.5-0.5B' });
    expect(a.info).toMatchObject({ method: 'lora', r: 4, alpha: 16, dropout: 0.1, labels: null, baseDtype: 'bf16' });
    expect(a.info.targets.sort()).toEqual(['q_proj', 'v_proj']);
    expect(Array.from(a.state['model.layers.1.self_attn.v_proj.lora_B.weight']!.data)).toEqual(Array.from(st['model.layers.1.self_attn.v_proj.lora_B.weight']!.data));
    const named = tempDir('ftplan-peft-');
    peftWritten(named, decoder, { keys: (k) => `base_model.model.${k.replace(/\.(lora_[AB])\.weight$/, '.$1.default.weight').replace(/^score\.weight$/, 'score.modules_to_save.default.weight')}` });
    const b = readAdapter(named, decoder, { model: 'Qwen/Qwen2.5-0.5B' });
    expect(Object.keys(b.state).sort()).toEqual(Object.keys(a.state).sort());
    expect(b.head).toBe(true);
  });

  it('carry the adapter\'s settings into the run\'s flags, refusing a flag that disagrees', () => {
    const dir = tempDir('ftplan-adapter-');
    writeAdapter(dir, loraState(decoder, ['q_proj', 'v_proj'], 4, true), info({ method: 'qlora', doubleQuant: true }), decoder);
    const a = readAdapter(dir, decoder, { model: 'base-model' });
    const args = argsWithAdapter({}, a.info, dir);
    expect(args).toMatchObject({ method: 'qlora', loraR: 4, loraAlpha: 8, loraDropout: 0.05, baseDtype: 'bf16', doubleQuant: true });
    const s = peftSettings(args, decoder, 'base-model');
    expect(s.lora?.targets).toEqual(['q_proj', 'v_proj']);
    expect(() => argsWithAdapter({ loraR: 8 }, a.info, dir)).toThrow(/--lora-r 8: .* was trained with r 4/);
    expect(() => argsWithAdapter({ loraTarget: 'q_proj' }, a.info, dir)).toThrow(/--lora-target q_proj: .* adapters on q_proj, v_proj/);
    expect(() => checkAdapterResumable(dir, a.info, peftSettings({ method: 'qlora', loraR: 8, loraAlpha: 8, loraTarget: 'q_proj,v_proj' }, decoder, 'm'))).toThrow(/holds an adapter of a run with other settings \(r 4\)/);
    expect(() => checkAdapterResumable(dir, a.info, s)).not.toThrow();
  });
});

describe('bad adapter folders', () => {
  it('name the folder or file and the fix: missing files, pickle only, not LoRA, DoRA', () => {
    const none = join(tempDir('ftplan-adapter-'), 'nope');
    inputError(() => readAdapter(none, decoder, { model: 'm' }), /--adapter .*nope: no such folder/);
    const empty = tempDir('ftplan-adapter-');
    inputError(() => readAdapter(empty, decoder, { model: 'm' }), /has no adapter_config\.json/);
    const pickle = tempDir('ftplan-adapter-');
    peftWritten(pickle, decoder);
    rmSync(join(pickle, ADAPTER_WEIGHTS));
    writeFileSync(join(pickle, 'adapter_model.bin'), 'x');
    const e = inputError(() => readAdapter(pickle, decoder, { model: 'Qwen/Qwen2.5-0.5B' }), /has no adapter_model\.safetensors \(only adapter_model\.bin/);
    expect(e.fix).toMatch(/safe_serialization=True/);
    const ia3 = tempDir('ftplan-adapter-');
    peftWritten(ia3, decoder, { config: { peft_type: 'IA3' } });
    inputError(() => readAdapter(ia3, decoder, { model: 'Qwen/Qwen2.5-0.5B' }), /peft_type is "IA3", not "LORA"/);
    const dora = tempDir('ftplan-adapter-');
    peftWritten(dora, decoder, { config: { use_dora: true } });
    inputError(() => readAdapter(dora, decoder, { model: 'Qwen/Qwen2.5-0.5B' }), /use_dora \(DoRA\): ftplan trains and loads plain LoRA only/);
    const broken = tempDir('ftplan-adapter-');
    peftWritten(broken, decoder);
    writeFileSync(join(broken, ADAPTER_CONFIG), '{"r": 4,');
    inputError(() => readAdapter(broken, decoder, { model: 'Qwen/Qwen2.5-0.5B' }), /adapter_config\.json: is not JSON/);
  });

  it('refuse an adapter trained on another base unless --force-base, saying which base', () => {
    const dir = tempDir('ftplan-adapter-');
    peftWritten(dir, decoder);
    const e = inputError(() => readAdapter(dir, decoder, { model: 'meta-llama/Llama-3.2-1B' }), /the adapter was trained on Qwen\/Qwen2\.5-0\.5B \(base_model_name_or_path\), and --model is meta-llama\/Llama-3\.2-1B/);
    expect(e.fix).toMatch(/--model Qwen\/Qwen2\.5-0\.5B, or --force-base/);
    expect(readAdapter(dir, decoder, { model: 'meta-llama/Llama-3.2-1B', forceBase: true }).modules).toHaveLength(4);
  });

  it('refuse a module the model lacks, shapes that disagree with r or the model, a half pair, the wrong task or classes', () => {
    const model = 'Qwen/Qwen2.5-0.5B';
    const st = loraState(decoder, ['q_proj', 'v_proj'], 4, true);
    const deep = tempDir('ftplan-adapter-');
    peftWritten(deep, decoder, { state: { ...st, 'model.layers.5.self_attn.q_proj.lora_A.weight': { shape: [4, 64], data: values(256, 9) } } });
    inputError(() => readAdapter(deep, decoder, { model }), /tensor 'base_model\.model\.model\.layers\.5\.self_attn\.q_proj\.lora_A\.weight': Qwen\/Qwen2\.5-0\.5B \(qwen2\) has no linear layer model\.layers\.5\.self_attn\.q_proj/);
    const rank = tempDir('ftplan-adapter-');
    peftWritten(rank, decoder, { config: { r: 8 } });
    inputError(() => readAdapter(rank, decoder, { model }), /has shape \[4, 64\]: rank 4, and adapter_config\.json says r 8/);
    const wide = tempDir('ftplan-adapter-');
    peftWritten(wide, decoder, { state: { ...st, 'model.layers.0.self_attn.q_proj.lora_A.weight': { shape: [4, 32], data: values(128, 3) } } });
    inputError(() => readAdapter(wide, decoder, { model }), /q_proj\.lora_A\.weight' has shape \[4, 32\]; model\.layers\.0\.self_attn\.q_proj \(64 out × 64 in\) with r 4 needs \[4, 64\]/);
    const half = tempDir('ftplan-adapter-');
    const { ['model.layers.1.self_attn.v_proj.lora_B.weight']: _gone, ...rest } = st;
    peftWritten(half, decoder, { state: rest });
    inputError(() => readAdapter(half, decoder, { model }), /model\.layers\.1\.self_attn\.v_proj has lora_A without lora_B/);
    const extra = tempDir('ftplan-adapter-');
    peftWritten(extra, decoder, { state: { ...st, 'model.embed_tokens.weight': { shape: [2, 2], data: values(4, 1) } } });
    inputError(() => readAdapter(extra, decoder, { model }), /tensor 'base_model\.model\.model\.embed_tokens\.weight' is not a LoRA matrix/);
    const clf = tempDir('ftplan-adapter-');
    peftWritten(clf, decoder);
    inputError(() => readAdapter(clf, { ...decoder, task: 'causal-lm' }, { model }), /the adapter is for classification, and the model is set up for causal-lm/);
    inputError(() => readAdapter(clf, { ...decoder, numLabels: 5 }, { model }), /the head has 3 classes, the data set has 5/);
  });

  it('keeps adapter_config.json as PEFT reads it: the JSON ftplan wrote parses with every PEFT field typed as PEFT types it', () => {
    const dir = tempDir('ftplan-adapter-');
    writeAdapter(dir, loraState(gpt2, ['c_attn'], 2, false), info({ r: 2, targets: ['c_attn'] }), gpt2);
    const c = JSON.parse(readFileSync(join(dir, ADAPTER_CONFIG), 'utf8')) as Record<string, unknown>;
    expect(typeof c.r).toBe('number');
    expect(Array.isArray(c.target_modules)).toBe(true);
    expect(c.peft_type).toBe('LORA');
    // no head trained: the file has adapters only, and reading it says so
    expect(readAdapter(dir, gpt2, { model: 'base-model' }).head).toBe(false);
  });
});
