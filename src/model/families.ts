/**
 * families.ts — a Hugging Face config.json for the Llama-family decoders (model_type llama,
 * mistral, qwen2, qwen3) read into the DecoderConfig record, and written back the way
 * transformers' save_pretrained writes it.
 *
 * The defaults are each transformers config class's own (LlamaConfig, MistralConfig,
 * Qwen2Config, Qwen3Config): a field absent from the file means what it means to transformers,
 * so a checkpoint ftplan reads is the model transformers would build from the same folder.
 * Where transformers' classes differ, the table in decoder-config.ts says how; the defaults that
 * are easy to get wrong:
 *   - num_key_value_heads absent: llama → num_attention_heads; mistral → 8; qwen2, qwen3 → 32
 *     (the classes' keyword defaults); null → num_attention_heads in every family.
 *   - head_dim absent: qwen3 → 128 (Qwen3Config's default); the others → hidden_size / heads.
 *   - sliding_window: mistral's default is 4096 (null: no window); qwen2/qwen3 apply theirs only
 *     with use_sliding_window true, and then only to layers ≥ max_window_layers.
 *   - rope_scaling null, absent or rope_type "default" → plain RoPE; "llama3" → Llama 3.1's
 *     frequency scaling. transformers 5's `rope_parameters` (rope_type + rope_theta) is read too.
 */
import { FtplanError } from '../errors.js';
import { DecoderConfigSchema, DECODER_MODEL_TYPES, type DecoderConfig, type DecoderModelType, type Task } from './decoder-config.js';

/** Every model_type ftplan builds: GPT-2 (presets.ts / hf.ts) and the decoders here. */
export const SUPPORTED_MODEL_TYPES = ['gpt2', ...DECODER_MODEL_TYPES] as const;
export type ModelFamily = (typeof SUPPORTED_MODEL_TYPES)[number];

/** The rope_scaling types ftplan implements ('default' is plain RoPE). */
export const SUPPORTED_ROPE_TYPES = ['default', 'llama3'] as const;

const CLASS_PREFIX: Record<DecoderModelType, string> = { llama: 'Llama', mistral: 'Mistral', qwen2: 'Qwen2', qwen3: 'Qwen3' };

/** transformers' keyword defaults per class, for the fields a config.json may leave out. */
const DEFAULTS: Record<DecoderModelType, { kvHeads: number | null; headDim: number | null; maxPositions: number; slidingWindow: number | null }> = {
  llama: { kvHeads: null, headDim: null, maxPositions: 2048, slidingWindow: null },
  mistral: { kvHeads: 8, headDim: null, maxPositions: 4096 * 32, slidingWindow: 4096 },
  qwen2: { kvHeads: 32, headDim: null, maxPositions: 32768, slidingWindow: 4096 },
  qwen3: { kvHeads: 32, headDim: 128, maxPositions: 32768, slidingWindow: 4096 },
};

function inputError(file: string, message: string, fix: string): FtplanError {
  return new FtplanError('ERR_INPUT', `${file}: ${message}`, { fix });
}

/** The HF class for a family and task, e.g. LlamaForCausalLM, Qwen2ForSequenceClassification. */
export function architectureName(modelType: DecoderModelType, task: Task): string {
  return `${CLASS_PREFIX[modelType]}${task === 'causal-lm' ? 'ForCausalLM' : 'ForSequenceClassification'}`;
}

/**
 * Which family a config.json describes: its model_type, or (for a file without one) the class
 * named in `architectures`; a file with neither is GPT-2, as ftplan has always read such files.
 */
export function modelFamilyOf(raw: Record<string, unknown>, file: string): ModelFamily {
  const mt = raw.model_type;
  if (mt === undefined || mt === null) {
    const arch = Array.isArray(raw.architectures) ? String(raw.architectures[0] ?? '') : '';
    const found = (Object.entries(CLASS_PREFIX) as [DecoderModelType, string][]).find(([, p]) => arch.startsWith(p) && /^(ForCausalLM|ForSequenceClassification|Model)$/.test(arch.slice(p.length)));
    return found ? found[0] : 'gpt2';
  }
  if ((SUPPORTED_MODEL_TYPES as readonly unknown[]).includes(mt)) return mt as ModelFamily;
  throw inputError(file, `model_type '${String(mt)}' is not supported (ftplan builds ${SUPPORTED_MODEL_TYPES.join(', ')})`, `pick a checkpoint whose config.json has model_type ${SUPPORTED_MODEL_TYPES.join(', ')}, or a preset (ftplan estimate --help lists them)`);
}

export interface ParseDecoderOptions {
  task: Task;
  /** classes of a classification head; default: the file's num_labels / id2label, else 2 (HF's default) */
  numLabels?: number;
  /** the file named in messages (config.json's path) */
  file: string;
  /** the tokenizer's pad id, used when config.json has no pad_token_id (before falling back to eos) */
  tokenizerPadTokenId?: number;
}

/** A config.json read into the decoder record, with what the record does not hold. */
export interface DecoderHfConfig {
  config: DecoderConfig;
  /** id2label in id order, when the file has one matching numLabels */
  labels: string[] | null;
  /** eos_token_id (the first, when the file lists several) */
  eosTokenId: number | null;
  bosTokenId: number | null;
}

/** config.json's object → DecoderConfig (see parseDecoderConfigDetailed for labels and eos/bos). */
export function parseDecoderConfig(raw: Record<string, unknown>, opts: ParseDecoderOptions): DecoderConfig {
  return parseDecoderConfigDetailed(raw, opts).config;
}

export function parseDecoderConfigDetailed(raw: Record<string, unknown>, opts: ParseDecoderOptions): DecoderHfConfig {
  const { file } = opts;
  const family = modelFamilyOf(raw, file);
  if (family === 'gpt2') throw inputError(file, "model_type is 'gpt2', not one of the Llama-family decoders", 'read GPT-2 configs with readHfConfig (hf.ts)');
  const fix = `use the config.json the model was published with (transformers' ${CLASS_PREFIX[family]}Config fields)`;
  const d = DEFAULTS[family];

  const num = (k: string, dflt?: number | null): number | null => {
    const v = raw[k];
    if (v === undefined) {
      if (dflt === undefined) throw inputError(file, `has no ${k} (a ${family} config needs it)`, fix);
      return dflt;
    }
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw inputError(file, `${k} is ${JSON.stringify(v)}, not a number`, fix);
    return v;
  };
  const int = (k: string, dflt?: number | null): number | null => {
    const v = num(k, dflt);
    if (v !== null && (!Number.isInteger(v) || v <= 0)) throw inputError(file, `${k} is ${v}, not a positive whole number`, fix);
    return v;
  };
  const required = (k: string): number => {
    const v = int(k);
    if (v === null) throw inputError(file, `${k} is null (a ${family} config needs it)`, fix);
    return v;
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const v = raw[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') throw inputError(file, `${k} is ${JSON.stringify(v)}, not true or false`, fix);
    return v;
  };

  const act = raw.hidden_act ?? raw.hidden_activation ?? 'silu';
  if (act !== 'silu') throw inputError(file, `hidden_act '${String(act)}' is not supported (the ${family} MLP is SwiGLU: SiLU-gated)`, fix);

  const vocabSize = required('vocab_size');
  const hiddenSize = required('hidden_size');
  const intermediateSize = required('intermediate_size');
  const numHiddenLayers = required('num_hidden_layers');
  const numAttentionHeads = required('num_attention_heads');
  const numKeyValueHeads = int('num_key_value_heads', d.kvHeads) ?? numAttentionHeads;
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw inputError(file, `num_key_value_heads ${numKeyValueHeads} does not divide num_attention_heads ${numAttentionHeads} (each key/value head serves a whole group of query heads)`, `set num_key_value_heads to a divisor of ${numAttentionHeads}`);
  }
  const fileHeadDim = int('head_dim', d.headDim);
  let headDim: number;
  if (fileHeadDim === null) {
    if (hiddenSize % numAttentionHeads !== 0) {
      throw inputError(file, `hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numAttentionHeads}, and there is no head_dim`, `set head_dim, or pick num_attention_heads among the divisors of ${hiddenSize}`);
    }
    headDim = hiddenSize / numAttentionHeads;
  } else headDim = fileHeadDim;
  if (family === 'qwen2' && headDim * numAttentionHeads !== hiddenSize) {
    // Qwen2's attention has no separate head width: its projections are hidden_size wide.
    throw inputError(file, `head_dim ${headDim} × num_attention_heads ${numAttentionHeads} = ${headDim * numAttentionHeads}, not hidden_size ${hiddenSize} (qwen2 requires them equal)`, 'remove head_dim, or make head_dim × num_attention_heads equal hidden_size');
  }
  if (headDim % 2 !== 0) throw inputError(file, `head_dim ${headDim} is odd (RoPE rotates pairs of channels)`, fix);

  const maxPositionEmbeddings = int('max_position_embeddings', d.maxPositions) ?? d.maxPositions;
  const rope = readRope(raw, file, maxPositionEmbeddings);

  // Biases and norms: the families' fixed choices, and llama/qwen3's attention_bias.
  const attentionBias = family === 'llama' || family === 'qwen3' ? bool('attention_bias', false) : false;
  const qkvBias = family === 'qwen2' ? true : attentionBias;
  const oBias = family === 'qwen2' ? false : attentionBias;
  const mlpBias = family === 'llama' ? bool('mlp_bias', false) : false;

  const slidingWindow = readSlidingWindow(raw, family, file, numHiddenLayers, d.slidingWindow);

  let labels: string[] | null = null;
  if (raw.id2label && typeof raw.id2label === 'object') {
    const entries = Object.entries(raw.id2label as Record<string, unknown>).map(([k, v]) => [Number(k), String(v)] as const);
    if (entries.some(([k]) => !Number.isInteger(k) || k < 0)) throw inputError(file, 'id2label has keys that are not class ids', fix);
    labels = entries.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }
  const fileLabels = typeof raw.num_labels === 'number' ? raw.num_labels : labels?.length;
  const numLabels = opts.numLabels ?? fileLabels ?? 2;

  const firstId = (k: string): number | null => {
    const v = raw[k];
    const id = Array.isArray(v) ? v[0] : v;
    if (id === undefined || id === null) return null;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw inputError(file, `${k} is ${JSON.stringify(v)}, not a token id`, fix);
    return id;
  };
  // LlamaConfig and MistralConfig default to bos 1, eos 2 (Llama 2's SentencePiece ids); the Qwen classes to none
  const classIds = family === 'llama' || family === 'mistral';
  const eosTokenId = raw.eos_token_id === undefined && classIds ? 2 : firstId('eos_token_id');
  const bosTokenId = raw.bos_token_id === undefined && classIds ? 1 : firstId('bos_token_id');
  const padTokenId = firstId('pad_token_id') ?? opts.tokenizerPadTokenId ?? eosTokenId;
  if (padTokenId === null) {
    throw inputError(file, 'has no pad_token_id and no eos_token_id, and the tokenizer names no pad token', 'set pad_token_id in config.json (the id of a token the model never needs to predict, e.g. its end-of-text token)');
  }

  const candidate = {
    modelType: family,
    task: opts.task,
    vocabSize,
    hiddenSize,
    intermediateSize,
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    maxPositionEmbeddings,
    rmsNormEps: num('rms_norm_eps', 1e-6) ?? 1e-6,
    ropeTheta: rope.theta ?? num('rope_theta', 10000) ?? 10000,
    ropeScalingType: rope.type,
    ropeScalingFactor: rope.factor,
    ropeLowFreqFactor: rope.low,
    ropeHighFreqFactor: rope.high,
    ropeOriginalMaxPositionEmbeddings: rope.original,
    qkvBias,
    oBias,
    mlpBias,
    qkNorm: family === 'qwen3',
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    slidingWindow,
    attentionDropout: num('attention_dropout', 0) ?? 0,
    numLabels,
    padTokenId,
    initializerRange: num('initializer_range', 0.02) ?? 0.02,
  };
  const parsed = DecoderConfigSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw inputError(file, `is not a buildable ${family} config: ${issue?.path.join('.')}: ${issue?.message}`, fix);
  }
  return { config: parsed.data, labels: labels && labels.length === numLabels ? labels : null, eosTokenId, bosTokenId };
}

interface Rope {
  type: 'none' | 'llama3';
  theta: number | null;
  factor: number;
  low: number;
  high: number;
  original: number;
}

/** The record's values for plain RoPE: the four llama3 numbers are unused, fixed so records compare equal. */
export function plainRope(maxPositionEmbeddings: number): Omit<Rope, 'type' | 'theta'> {
  return { factor: 1, low: 1, high: 4, original: maxPositionEmbeddings };
}

function readRope(raw: Record<string, unknown>, file: string, maxPositions: number): Rope {
  const params = raw.rope_parameters;
  let scaling = raw.rope_scaling;
  let theta: number | null = null;
  if (params && typeof params === 'object' && !Array.isArray(params)) {
    const p = params as Record<string, unknown>;
    if (typeof p.rope_theta === 'number') theta = p.rope_theta;
    if (scaling === undefined || scaling === null) scaling = p;
  }
  const none: Rope = { type: 'none', theta, ...plainRope(maxPositions) };
  if (scaling === undefined || scaling === null) return none;
  if (typeof scaling !== 'object' || Array.isArray(scaling)) throw inputError(file, `rope_scaling is ${JSON.stringify(scaling)}, not an object`, 'set rope_scaling to null or to the object the model was published with');
  const s = scaling as Record<string, unknown>;
  const type = s.rope_type ?? s.type ?? 'default';
  if (type === 'default') return none;
  if (type !== 'llama3') {
    throw inputError(file, `rope_scaling type '${String(type)}' is not supported (ftplan implements ${SUPPORTED_ROPE_TYPES.join(' and ')})`, 'use a model with plain RoPE or Llama 3.1-style scaling (rope_type "llama3"), or set rope_scaling to null to train at the original context length');
  }
  const field = (k: string): number => {
    const v = s[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw inputError(file, `rope_scaling.${k} is ${JSON.stringify(v)}; llama3 scaling needs a positive number`, 'copy rope_scaling from the published config.json (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings)');
    return v;
  };
  const r: Rope = { type: 'llama3', theta, factor: field('factor'), low: field('low_freq_factor'), high: field('high_freq_factor'), original: field('original_max_position_embeddings') };
  if (!Number.isInteger(r.original)) throw inputError(file, `rope_scaling.original_max_position_embeddings is ${r.original}, not a whole number`, 'copy rope_scaling from the published config.json');
  if (r.high <= r.low) throw inputError(file, `rope_scaling.high_freq_factor ${r.high} is not above low_freq_factor ${r.low} (llama3 scaling interpolates between them)`, 'copy rope_scaling from the published config.json');
  return r;
}

function readSlidingWindow(raw: Record<string, unknown>, family: DecoderModelType, file: string, layers: number, dflt: number | null): number {
  if (family === 'llama') return 0; // LlamaAttention has no window: the field is ignored, as transformers does
  const w = raw.sliding_window === undefined ? dflt : raw.sliding_window;
  if (w !== null && (typeof w !== 'number' || !Number.isInteger(w) || w <= 0)) throw inputError(file, `sliding_window is ${JSON.stringify(w)}, not null or a positive whole number`, 'set sliding_window to null (no window) or a token count');
  if (family === 'mistral') return w ?? 0;
  // qwen2/qwen3: the window only with use_sliding_window, and only on the layers layer_types marks
  // "sliding_attention" (when the file lists them), else on layers >= max_window_layers
  if (raw.layer_types !== undefined && raw.layer_types !== null) {
    const types = raw.layer_types;
    if (!Array.isArray(types) || types.length !== layers || types.some((t) => t !== 'full_attention' && t !== 'sliding_attention')) {
      throw inputError(file, `layer_types is not a list of ${layers} "full_attention" / "sliding_attention" entries`, 'remove layer_types (max_window_layers then decides), or list one type per layer');
    }
    const sliding = types.filter((t) => t === 'sliding_attention').length;
    if (raw.use_sliding_window !== true || w === null || sliding === 0) return 0;
    if (sliding < layers) {
      throw inputError(file, `layer_types puts the ${w}-token window on ${sliding} of ${layers} layers; ftplan applies one attention pattern to every layer`, 'make every layer "full_attention" (no window) or every layer "sliding_attention", or set use_sliding_window to false');
    }
    return w;
  }
  if (raw.use_sliding_window !== true || w === null) return 0;
  const mwl = raw.max_window_layers === undefined || raw.max_window_layers === null ? 28 : Number(raw.max_window_layers);
  if (!Number.isInteger(mwl) || mwl < 0) throw inputError(file, `max_window_layers is ${JSON.stringify(raw.max_window_layers)}, not a layer count`, 'set max_window_layers to a whole number');
  if (mwl >= layers) return 0;
  if (mwl > 0) {
    throw inputError(file, `use_sliding_window applies the ${w}-token window to layers ${mwl}…${layers - 1} only (max_window_layers ${mwl}); ftplan applies one attention pattern to every layer`, 'set max_window_layers to 0 (window on every layer) or to num_hidden_layers (no window), or use_sliding_window to false');
  }
  return w;
}

/** Options for decoderConfigToHf: labels of a classification head, and the source's config.json to carry its other fields (bos/eos ids). */
export interface DecoderHfOptions {
  labels?: string[];
  base?: Record<string, unknown>;
  bosTokenId?: number | null;
  eosTokenId?: number | null;
}

/**
 * The config.json ftplan writes with a checkpoint: transformers' field names for the family, the
 * class of the task in `architectures`, and every shape field explicit, so reading it back gives
 * the same record (parseDecoderConfig(decoderConfigToHf(c)) equals c).
 * Throws (a programming error, not the user's) when the record mixes families' traits that
 * transformers' class for its model_type cannot express.
 */
export function decoderConfigToHf(cfg: DecoderConfig, opts: DecoderHfOptions = {}): Record<string, unknown> {
  const fam = cfg.modelType;
  const bad = (why: string) => new Error(`decoderConfigToHf: a ${fam} config cannot have ${why}`);
  if (cfg.qkNorm !== (fam === 'qwen3')) throw bad(`qkNorm ${cfg.qkNorm}`);
  if (fam === 'qwen2' && (!cfg.qkvBias || cfg.oBias)) throw bad('q/k/v without bias or o_proj with one (Qwen2 always has q/k/v bias, never o bias)');
  if ((fam === 'llama' || fam === 'qwen3') && cfg.qkvBias !== cfg.oBias) throw bad('different q/k/v and o_proj biases (attention_bias sets both)');
  if (fam === 'mistral' && (cfg.qkvBias || cfg.oBias)) throw bad('attention biases');
  if (fam !== 'llama' && cfg.mlpBias) throw bad('MLP biases');
  if (fam === 'llama' && cfg.slidingWindow > 0) throw bad('a sliding window');
  if (fam === 'qwen2' && cfg.headDim * cfg.numAttentionHeads !== cfg.hiddenSize) throw bad('head_dim × heads different from hidden_size');

  const out: Record<string, unknown> = { ...(opts.base ?? {}) };
  for (const k of ['rope_parameters', 'layer_types', 'use_sliding_window', 'max_window_layers', 'sliding_window', 'attention_bias', 'mlp_bias', 'id2label', 'label2id', 'num_labels']) delete out[k];
  Object.assign(out, {
    architectures: [architectureName(fam, cfg.task)],
    model_type: fam,
    hidden_act: 'silu',
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numHiddenLayers,
    num_attention_heads: cfg.numAttentionHeads,
    num_key_value_heads: cfg.numKeyValueHeads,
    head_dim: cfg.headDim,
    max_position_embeddings: cfg.maxPositionEmbeddings,
    rms_norm_eps: cfg.rmsNormEps,
    rope_theta: cfg.ropeTheta,
    rope_scaling:
      cfg.ropeScalingType === 'llama3'
        ? { rope_type: 'llama3', factor: cfg.ropeScalingFactor, low_freq_factor: cfg.ropeLowFreqFactor, high_freq_factor: cfg.ropeHighFreqFactor, original_max_position_embeddings: cfg.ropeOriginalMaxPositionEmbeddings }
        : null,
    tie_word_embeddings: cfg.tieWordEmbeddings,
    attention_dropout: cfg.attentionDropout,
    initializer_range: cfg.initializerRange,
    pad_token_id: cfg.padTokenId,
    torch_dtype: 'float32',
  });
  if (fam === 'llama' || fam === 'qwen3') out.attention_bias = cfg.qkvBias;
  if (fam === 'llama') out.mlp_bias = cfg.mlpBias;
  if (fam === 'mistral') out.sliding_window = cfg.slidingWindow > 0 ? cfg.slidingWindow : null;
  if (fam === 'qwen2' || fam === 'qwen3') {
    out.use_sliding_window = cfg.slidingWindow > 0;
    out.sliding_window = cfg.slidingWindow > 0 ? cfg.slidingWindow : null;
    out.max_window_layers = cfg.slidingWindow > 0 ? 0 : cfg.numHiddenLayers;
  }
  if (opts.bosTokenId !== undefined) out.bos_token_id = opts.bosTokenId;
  if (opts.eosTokenId !== undefined) out.eos_token_id = opts.eosTokenId;
  if (cfg.task === 'classification') {
    const labels = opts.labels ?? Array.from({ length: cfg.numLabels }, (_, i) => `LABEL_${i}`);
    if (labels.length !== cfg.numLabels) throw new Error(`decoderConfigToHf: ${labels.length} labels for a ${cfg.numLabels}-class head`);
    out.num_labels = cfg.numLabels;
    out.id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
    out.label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
  }
  return out;
}
