// The Llama-family config.json: transformers' defaults and family traits, the bad configs refused
// with the file and the fix, the written config read back to the same record, and the presets'
// parameter counts against the figures the Hugging Face Hub publishes for each repo's weights.
import { describe, expect, it } from 'vitest';
import { FtplanError } from '../../src/errors.js';
import { DecoderConfigSchema, type DecoderConfig } from '../../src/model/decoder-config.js';
import { DECODER_PRESETS, decoderPresetConfig, decoderPresetForHubId, decoderPresetNames } from '../../src/model/decoder-presets.js';
import { decoderFlopsPerToken, decoderParameterBreakdown, decoderParameterCount } from '../../src/model/decoder-size.js';
import { architectureName, decoderConfigToHf, modelFamilyOf, parseDecoderConfig, parseDecoderConfigDetailed } from '../../src/model/families.js';

const FILE = '/models/x/config.json';
const parse = (raw: Record<string, unknown>, task: 'classification' | 'causal-lm' = 'causal-lm', numLabels?: number) => parseDecoderConfig(raw, { task, numLabels, file: FILE });

function refused(raw: Record<string, unknown>, message: RegExp, fix?: RegExp): void {
  let err: unknown;
  try {
    parse(raw);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FtplanError);
  const e = err as FtplanError;
  expect(e.code).toBe('ERR_INPUT');
  expect(e.exitCode).toBe(2);
  expect(e.message).toContain(FILE);
  expect(e.message).toMatch(message);
  if (fix) expect(e.fix).toMatch(fix);
}

const small = (model_type: string, extra: Record<string, unknown> = {}) => ({ model_type, vocab_size: 100, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, eos_token_id: 3, ...extra });

describe('parseDecoderConfig: transformers semantics per family', () => {
  it('llama: attention_bias sets q/k/v and o, mlp_bias the MLP; kv heads default to heads; head_dim to hidden/heads', () => {
    const c = parse(small('llama', { attention_bias: true, mlp_bias: true }));
    expect([c.qkvBias, c.oBias, c.mlpBias, c.qkNorm]).toEqual([true, true, true, false]);
    expect(c.numKeyValueHeads).toBe(4);
    expect(c.headDim).toBe(8);
    expect(c.padTokenId).toBe(3); // no pad_token_id: eos
    expect([c.rmsNormEps, c.ropeTheta, c.maxPositionEmbeddings, c.tieWordEmbeddings]).toEqual([1e-6, 10000, 2048, false]);
    expect(c.slidingWindow).toBe(0);
  });

  it('llama: explicit head_dim wider than hidden/heads is kept (Llama 3.2 style)', () => {
    expect(parse(small('llama', { head_dim: 16 })).headDim).toBe(16);
  });

  it('mistral: sliding_window default 4096, null = none; kv heads default 8 (MistralConfig), null = heads; no biases', () => {
    const dflt = parse(small('mistral', { num_attention_heads: 8 }));
    expect(dflt.slidingWindow).toBe(4096);
    expect(dflt.numKeyValueHeads).toBe(8);
    expect(parse(small('mistral', { sliding_window: null, num_key_value_heads: null })).slidingWindow).toBe(0);
    expect(parse(small('mistral', { num_key_value_heads: null })).numKeyValueHeads).toBe(4);
    const c = parse(small('mistral', { sliding_window: 16, num_key_value_heads: 2, attention_bias: true }));
    expect(c.slidingWindow).toBe(16);
    expect([c.qkvBias, c.oBias, c.mlpBias]).toEqual([false, false, false]); // MistralAttention has no bias, whatever the file says
  });

  it('qwen2: q/k/v bias always, o never; use_sliding_window false means no window', () => {
    const c = parse(small('qwen2', { num_key_value_heads: 2, sliding_window: 32768, use_sliding_window: false, attention_bias: false }));
    expect([c.qkvBias, c.oBias, c.qkNorm, c.slidingWindow]).toEqual([true, false, false, 0]);
    expect(parse(small('qwen2', { num_key_value_heads: 2, use_sliding_window: true, sliding_window: 8, max_window_layers: 0 })).slidingWindow).toBe(8);
    expect(parse(small('qwen2', { num_key_value_heads: 2, use_sliding_window: true, sliding_window: 8, max_window_layers: 2 })).slidingWindow).toBe(0);
  });

  it('qwen3: q/k norm, attention_bias, head_dim default 128 (Qwen3Config)', () => {
    const c = parse(small('qwen3', { num_key_value_heads: 2, attention_bias: true }));
    expect([c.qkvBias, c.oBias, c.qkNorm, c.headDim]).toEqual([true, true, true, 128]);
    expect(parse(small('qwen3', { num_key_value_heads: 2, head_dim: 16 })).headDim).toBe(16);
  });

  it('rope_scaling: llama3 under rope_type or type, default = plain, transformers 5 rope_parameters', () => {
    const scaling = { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    const a = parse(small('llama', { rope_scaling: { ...scaling, rope_type: 'llama3' } }));
    expect([a.ropeScalingType, a.ropeScalingFactor, a.ropeLowFreqFactor, a.ropeHighFreqFactor, a.ropeOriginalMaxPositionEmbeddings]).toEqual(['llama3', 8, 1, 4, 8192]);
    expect(parse(small('llama', { rope_scaling: { ...scaling, type: 'llama3' } })).ropeScalingType).toBe('llama3');
    expect(parse(small('llama', { rope_scaling: { rope_type: 'default' } })).ropeScalingType).toBe('none');
    const v5 = parse(small('llama', { rope_parameters: { rope_type: 'llama3', rope_theta: 500000, ...scaling } }));
    expect([v5.ropeScalingType, v5.ropeTheta]).toEqual(['llama3', 500000]);
  });

  it('qwen2/qwen3 layer_types: all full = no window, all sliding = the window (with use_sliding_window)', () => {
    const base = small('qwen2', { num_key_value_heads: 2, sliding_window: 8, max_window_layers: 1 });
    expect(parse({ ...base, use_sliding_window: true, layer_types: ['full_attention', 'full_attention'] }).slidingWindow).toBe(0);
    expect(parse({ ...base, use_sliding_window: true, layer_types: ['sliding_attention', 'sliding_attention'] }).slidingWindow).toBe(8);
    expect(parse({ ...base, use_sliding_window: false, layer_types: ['sliding_attention', 'sliding_attention'] }).slidingWindow).toBe(0);
  });

  it('eos/bos: LlamaConfig and MistralConfig default to 2 and 1, so a file without ids pads with 2', () => {
    const { eos_token_id: _, ...raw } = small('llama');
    const d = parseDecoderConfigDetailed(raw, { task: 'causal-lm', file: FILE });
    expect([d.eosTokenId, d.bosTokenId, d.config.padTokenId]).toEqual([2, 1, 2]);
  });

  it('pad id: config, else the tokenizer, else eos (the first of a list)', () => {
    expect(parse(small('llama', { pad_token_id: 7 })).padTokenId).toBe(7);
    expect(parseDecoderConfig(small('llama'), { task: 'causal-lm', file: FILE, tokenizerPadTokenId: 9 }).padTokenId).toBe(9);
    expect(parse(small('llama', { eos_token_id: [5, 6] })).padTokenId).toBe(5);
  });

  it('labels: numLabels from the option, else num_labels / id2label, else 2; id2label in id order', () => {
    const raw = small('qwen2', { num_key_value_heads: 2, id2label: { 1: 'neutral', 0: 'negative', 2: 'positive' } });
    const d = parseDecoderConfigDetailed(raw, { task: 'classification', file: FILE });
    expect(d.config.numLabels).toBe(3);
    expect(d.labels).toEqual(['negative', 'neutral', 'positive']);
    expect(parse(small('llama')).numLabels).toBe(2);
    expect(parse(raw, 'classification', 5).numLabels).toBe(5);
  });

  it('the family of a file: model_type, else architectures, else GPT-2; unknown names the supported ones', () => {
    expect(modelFamilyOf({ model_type: 'qwen3' }, FILE)).toBe('qwen3');
    expect(modelFamilyOf({ architectures: ['MistralForCausalLM'] }, FILE)).toBe('mistral');
    expect(modelFamilyOf({ n_embd: 768 }, FILE)).toBe('gpt2');
    expect(() => modelFamilyOf({ model_type: 'gemma2' }, FILE)).toThrow(/model_type 'gemma2' is not supported \(ftplan builds gpt2, llama, mistral, qwen2, qwen3\)/);
  });
});

describe('parseDecoderConfig: bad configs are refused with the file and the fix', () => {
  it('unknown model_type', () => refused(small('phi3'), /model_type 'phi3' is not supported.*gpt2, llama, mistral, qwen2, qwen3/));
  it('gpt2 is not a decoder family here', () => refused(small('gpt2'), /'gpt2'/, /readHfConfig/));
  it('hidden not divisible by heads without head_dim', () => refused(small('llama', { hidden_size: 30 }), /hidden_size 30 is not divisible by num_attention_heads 4/, /head_dim/));
  it('kv heads not dividing heads', () => refused(small('llama', { num_key_value_heads: 3 }), /num_key_value_heads 3 does not divide num_attention_heads 4/, /divisor of 4/));
  it('qwen2 head_dim × heads ≠ hidden', () => refused(small('qwen2', { num_key_value_heads: 2, head_dim: 16 }), /head_dim 16 × num_attention_heads 4 = 64, not hidden_size 32/));
  it('unsupported rope_scaling names what is supported', () => refused(small('llama', { rope_scaling: { type: 'yarn', factor: 4 } }), /rope_scaling type 'yarn' is not supported \(ftplan implements default and llama3\)/));
  it('llama3 scaling missing a number', () => refused(small('llama', { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1 } }), /rope_scaling.high_freq_factor/));
  it('missing required fields', () => {
    const { hidden_size: _, ...raw } = small('llama');
    refused(raw, /has no hidden_size/, /LlamaConfig/);
  });
  it('a field of the wrong type', () => refused(small('llama', { num_hidden_layers: '2' }), /num_hidden_layers is "2", not a number/));
  it('an activation other than SiLU', () => refused(small('llama', { hidden_act: 'gelu' }), /hidden_act 'gelu'/));
  it('no pad and no eos (Qwen classes have no default ids)', () => refused({ ...small('qwen3', { num_key_value_heads: 2 }), eos_token_id: undefined }, /no pad_token_id/, /pad_token_id/));
  it('layer_types with the window on some layers only, or malformed', () => {
    const base = small('qwen3', { num_key_value_heads: 2, use_sliding_window: true, sliding_window: 8 });
    refused({ ...base, layer_types: ['full_attention', 'sliding_attention'] }, /window on 1 of 2 layers/, /every layer/);
    refused({ ...base, layer_types: ['full_attention'] }, /layer_types is not a list of 2/);
  });
  it('odd head_dim', () => refused(small('llama', { head_dim: 7 }), /head_dim 7 is odd/));
  it('a window on only some qwen2 layers', () => refused(small('qwen2', { num_key_value_heads: 2, use_sliding_window: true, sliding_window: 8, max_window_layers: 1 }), /layers 1…1 only/, /max_window_layers/));
});

describe('decoderConfigToHf: the written config.json reads back to the same record', () => {
  const cases: [string, 'classification' | 'causal-lm', number?][] = decoderPresetNames().flatMap((n) => [[n, 'causal-lm'] as [string, 'causal-lm'], [n, 'classification', 3] as [string, 'classification', number]]);
  it.each(cases)('%s (%s)', (name, task, numLabels) => {
    const c = decoderPresetConfig(name, task, { numLabels });
    const hf = decoderConfigToHf(c, { labels: numLabels ? ['negative', 'neutral', 'positive'] : undefined, eosTokenId: 2 });
    expect(hf.architectures).toEqual([architectureName(c.modelType, task)]);
    expect(hf.model_type).toBe(c.modelType);
    const back: DecoderConfig = parseDecoderConfig(JSON.parse(JSON.stringify(hf)), { task, file: FILE });
    expect(back).toEqual(c);
    if (task === 'classification') expect(hf.id2label).toEqual({ 0: 'negative', 1: 'neutral', 2: 'positive' });
  });

  it('architectures per family and task; a record no class can express is a programming error', () => {
    expect(architectureName('llama', 'causal-lm')).toBe('LlamaForCausalLM');
    expect(architectureName('qwen2', 'classification')).toBe('Qwen2ForSequenceClassification');
    const q2 = decoderPresetConfig('tiny-qwen2', 'causal-lm');
    expect(() => decoderConfigToHf({ ...q2, oBias: true })).toThrow(/qwen2/);
    const ll = decoderPresetConfig('tiny-llama', 'causal-lm');
    expect(() => decoderConfigToHf({ ...ll, slidingWindow: 8 })).toThrow(/sliding window/);
  });

  it('carries the base config.json fields it does not own, and replaces those it does', () => {
    const c = decoderPresetConfig('tiny-mistral', 'causal-lm');
    const hf = decoderConfigToHf(c, { base: { bos_token_id: 1, transformers_version: '4.46.0', sliding_window: 4096, hidden_size: 1 } });
    expect(hf.transformers_version).toBe('4.46.0');
    expect(hf.sliding_window).toBe(16);
    expect(hf.hidden_size).toBe(64);
  });
});

describe('presets: the published shapes and parameter counts', () => {
  it('every preset parses for both tasks and passes the record schema', () => {
    for (const name of decoderPresetNames()) {
      for (const task of ['causal-lm', 'classification'] as const) expect(DecoderConfigSchema.safeParse(decoderPresetConfig(name, task)).success).toBe(true);
    }
  });

  it('Llama-3.1-8B = 8,030,261,248 and Qwen2.5-0.5B = 494,032,768 (causal-LM), as the hub reports', () => {
    expect(decoderParameterCount(decoderPresetConfig('llama-3.1-8b', 'causal-lm'))).toBe(8_030_261_248);
    expect(decoderParameterCount(decoderPresetConfig('qwen2.5-0.5b', 'causal-lm'))).toBe(494_032_768);
  });

  it('every preset with a published count matches it', () => {
    const withCounts = Object.entries(DECODER_PRESETS).filter(([, p]) => p.publishedParameters !== undefined);
    expect(withCounts.length).toBeGreaterThanOrEqual(9);
    for (const [name, p] of withCounts) expect(decoderParameterCount(decoderPresetConfig(name, 'causal-lm')), name).toBe(p.publishedParameters);
  });

  it('Qwen3-0.6B: 596,049,920 without the tied lm_head the file stores (transformers num_parameters)', () => {
    const c = decoderPresetConfig('qwen3-0.6b', 'causal-lm');
    expect(decoderParameterCount(c)).toBe(596_049_920);
    expect(decoderParameterCount({ ...c, tieWordEmbeddings: false })).toBe(751_632_384); // the hub's figure for the repo's file
  });

  it('classification swaps the LM head for a numLabels × hidden score head', () => {
    const lm = decoderParameterBreakdown(decoderPresetConfig('llama-3.1-8b', 'causal-lm'));
    const cls = decoderParameterBreakdown(decoderPresetConfig('llama-3.1-8b', 'classification', { numLabels: 3 }));
    expect(lm.head).toBe(128256 * 4096);
    expect(cls.head).toBe(3 * 4096);
    expect(cls.total).toBe(lm.total - lm.head + cls.head);
  });

  it('the tiny shapes carry their family traits', () => {
    const l = decoderPresetConfig('tiny-llama', 'causal-lm');
    expect([l.ropeScalingType, l.numKeyValueHeads < l.numAttentionHeads]).toEqual(['llama3', true]);
    expect(decoderPresetConfig('tiny-mistral', 'causal-lm').slidingWindow).toBe(16);
    expect(decoderPresetConfig('tiny-qwen2', 'causal-lm').qkvBias).toBe(true);
    const q3 = decoderPresetConfig('tiny-qwen3', 'causal-lm');
    expect([q3.qkNorm, q3.tieWordEmbeddings, q3.headDim * q3.numAttentionHeads !== q3.hiddenSize]).toEqual([true, true, true]);
  });

  it('hub ids (base and instruct, any case) resolve to presets; others do not', () => {
    expect(decoderPresetForHubId('meta-llama/Llama-3.1-8B')).toBe('llama-3.1-8b');
    expect(decoderPresetForHubId('meta-llama/llama-3.1-8b-instruct')).toBe('llama-3.1-8b');
    expect(decoderPresetForHubId('Qwen/Qwen2.5-0.5B-Instruct')).toBe('qwen2.5-0.5b');
    expect(decoderPresetForHubId('mistralai/Mistral-7B-Instruct-v0.3')).toBe('mistral-7b');
    expect(decoderPresetForHubId('Qwen/Qwen3-8B')).toBe('qwen3-8b');
    expect(decoderPresetForHubId('openai-community/gpt2')).toBeNull();
  });
});

describe('decoderFlopsPerToken: 6N + 12·L·T·H·d_head', () => {
  it('Llama-3.1-8B causal-LM at T = 2048, worked by hand', () => {
    const c = decoderPresetConfig('llama-3.1-8b', 'causal-lm');
    const perLayer = 4096 * 4096 + 2 * 4096 * 1024 + 4096 * 4096 + 3 * 4096 * 14336;
    const n = 32 * perLayer + 128256 * 4096;
    const f = decoderFlopsPerToken(c, 2048, 'causal-lm');
    expect(f.matmulParameters).toBe(n);
    expect(f.matmulParameters).toBe(8_030_261_248 - 128256 * 4096 - 4096 * 65); // all but the embedding and the 65 RMSNorm weights
    expect(f.attentionFlops).toBe(12 * 32 * 2048 * 32 * 128);
    expect(f.flopsPerToken).toBe(6 * n + 12 * 32 * 2048 * 4096);
  });

  it('classification counts the score head, not the LM head; tied embeddings still multiply for causal-LM', () => {
    const c = decoderPresetConfig('qwen2.5-0.5b', 'causal-lm');
    const lm = decoderFlopsPerToken(c, 128, 'causal-lm');
    const cls = decoderFlopsPerToken({ ...c, task: 'classification', numLabels: 3 }, 128, 'classification');
    expect(lm.matmulParameters - cls.matmulParameters).toBe(151936 * 896 - 3 * 896);
    expect(lm.attentionFlops).toBe(cls.attentionFlops);
  });

  it('a sliding window shorter than the sequence bounds the attention term', () => {
    const c = decoderPresetConfig('tiny-mistral', 'causal-lm');
    expect(decoderFlopsPerToken(c, 64).attentionFlops).toBe(12 * 2 * 16 * 4 * 16);
    expect(decoderFlopsPerToken(c, 8).attentionFlops).toBe(12 * 2 * 8 * 4 * 16);
    expect(() => decoderFlopsPerToken(c, 0)).toThrow(/seqLen/);
  });
});
