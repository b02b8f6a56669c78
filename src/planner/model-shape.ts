/**
 * model-shape.ts — the few facts of a model's shape the planner's memory and step formulas need,
 * for GPT-2 (presets.ts's record) and the Llama-family decoders (decoder-config.ts's record), so
 * that no formula reads GPT-2's fields off a model of another shape. Pure.
 */
import type { DecoderConfig } from '../model/decoder-config.js';
import { decoderParameterCount } from '../model/decoder-size.js';
import type { ModelConfig } from '../model/presets.js';

export type PlannedModel = ModelConfig | DecoderConfig;

export function isDecoderShape(cfg: PlannedModel): cfg is DecoderConfig {
  const t = (cfg as { modelType?: unknown }).modelType;
  return typeof t === 'string' && t !== 'gpt2';
}

/** GPT-2: wte, wpe, the blocks (2 LayerNorms, c_attn, c_proj, c_fc, c_proj with biases), ln_f, the score head. */
function gpt2Parameters(cfg: ModelConfig): number {
  const C = cfg.nEmbd;
  const F = cfg.nInner || 4 * C;
  const perLayer = 4 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * F + F) + (F * C + C);
  return cfg.vocabSize * C + cfg.nPositions * C + cfg.nLayer * perLayer + 2 * C + C * cfg.numLabels;
}

/** Trainable parameters: what the weights, gradients and AdamW moments are counted in (a tied LM head once). */
export function parameterTotal(cfg: PlannedModel): number {
  return isDecoderShape(cfg) ? decoderParameterCount(cfg) : gpt2Parameters(cfg);
}

export function layersOf(cfg: PlannedModel): number {
  return isDecoderShape(cfg) ? cfg.numHiddenLayers : cfg.nLayer;
}

/** The residual stream's width. */
export function widthOf(cfg: PlannedModel): number {
  return isDecoderShape(cfg) ? cfg.hiddenSize : cfg.nEmbd;
}

/** fp32 bytes of the largest parameter: the token embedding (vocab × width) in both families. */
export function largestParameterBytes(cfg: PlannedModel): number {
  return cfg.vocabSize * widthOf(cfg) * 4;
}

/**
 * Parameter tensors: gradient clipping and AdamW launch kernels per tensor. GPT-2: per block 2
 * LayerNorms and 4 linears, each weight + bias, plus wte, wpe, ln_f, score. Decoders: per layer 2
 * RMSNorms, 7 linear weights, the family's biases and q/k norms; plus embed_tokens, norm and the
 * head (score, or an untied lm_head).
 */
export function parameterTensorsOf(cfg: PlannedModel): number {
  if (!isDecoderShape(cfg)) return 12 * cfg.nLayer + 5;
  const perLayer = 2 + 7 + (cfg.qkvBias ? 3 : 0) + (cfg.oBias ? 1 : 0) + (cfg.mlpBias ? 3 : 0) + (cfg.qkNorm ? 2 : 0);
  const head = cfg.task === 'classification' || !cfg.tieWordEmbeddings ? 1 : 0;
  return cfg.numHiddenLayers * perLayer + 2 + head;
}

/**
 * Kernel launches per layer, forward + backward, of eager LibTorch: GPT-2's block about 75. A
 * Llama-family layer has more small ops — two RMSNorms of ~6 kernels each where GPT-2 has one fused
 * LayerNorm, RoPE on q and k (~6 each), the grouped-query expand, SwiGLU's gate × up — about 40
 * forward and twice that backward: 120; q/k RMSNorm (qwen3) adds two more norms (~36). Counted
 * from the ops, not measured: the overhead term matters only for small models on big GPUs.
 */
export function kernelsPerLayerOf(cfg: PlannedModel): number {
  if (!isDecoderShape(cfg)) return 75;
  return 120 + (cfg.qkNorm ? 36 : 0);
}

/** native/lm_loss.h's chunk: fp32 logits of at most max(all rows' fp32 hidden states, 64 MiB), never more rows than there are. */
export const LM_CHUNK_FLOOR_BYTES = 64 * 2 ** 20;

/**
 * Causal-LM: bytes the chunked LM-head loss holds at the end of the forward besides the kept
 * activations, for `rows` positions in the micro-batch (native/lm_loss.h computes the gradients in
 * the forward): the head's fp32 gradient (vocab × width), the hidden states' gradient (rows ×
 * width), and one chunk's fp32 logits twice (the logits and their softmax − one-hot gradient),
 * a chunk being at most max(rows × width, 64 MiB) bytes of logits. Measured against the counting
 * allocator on a small decoder with a 32k vocabulary: within 10% at 256 and 2,048 rows
 * (test/native/decoder-memory-model.test.ts). 0 for a classification head.
 */
export function lmLossBytes(cfg: PlannedModel, rows: number): number {
  if (!isDecoderShape(cfg) || cfg.task !== 'causal-lm') return 0;
  const V = cfg.vocabSize;
  const C = cfg.hiddenSize;
  const chunkRows = Math.min(rows, Math.floor(Math.max(rows * C * 4, LM_CHUNK_FLOOR_BYTES) / (V * 4)));
  return V * C * 4 + rows * C * 4 + 2 * Math.max(1, chunkRows) * V * 4;
}
