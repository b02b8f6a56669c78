/**
 * decoder-size.ts — a decoder's parameter count and training FLOPs per token, from its shape alone
 * (analytic: the same numbers the native core's modules have, without building them).
 */
import type { DecoderConfig, Task } from './decoder-config.js';

export interface DecoderParameterBreakdown {
  /** model.embed_tokens */
  embedding: number;
  /** all model.layers.* (attention with its biases and q/k norms, MLP, the two RMSNorms) */
  layers: number;
  perLayer: { attention: number; mlp: number; norms: number };
  /** model.norm */
  finalNorm: number;
  /** lm_head (0 when tied to embed_tokens) or score */
  head: number;
  total: number;
}

/** Parameters per module: what transformers' `model.num_parameters()` reports for the task's class. */
export function decoderParameterBreakdown(cfg: DecoderConfig): DecoderParameterBreakdown {
  const h = cfg.hiddenSize;
  const q = cfg.numAttentionHeads * cfg.headDim;
  const kv = cfg.numKeyValueHeads * cfg.headDim;
  const attention = h * q + 2 * h * kv + q * h + (cfg.qkvBias ? q + 2 * kv : 0) + (cfg.oBias ? h : 0) + (cfg.qkNorm ? 2 * cfg.headDim : 0);
  const mlp = 3 * h * cfg.intermediateSize + (cfg.mlpBias ? 2 * cfg.intermediateSize + h : 0);
  const norms = 2 * h;
  const embedding = cfg.vocabSize * h;
  const layers = cfg.numHiddenLayers * (attention + mlp + norms);
  const head = cfg.task === 'classification' ? cfg.numLabels * h : cfg.tieWordEmbeddings ? 0 : cfg.vocabSize * h;
  return { embedding, layers, perLayer: { attention, mlp, norms }, finalNorm: h, head, total: embedding + layers + h + head };
}

export function decoderParameterCount(cfg: DecoderConfig): number {
  return decoderParameterBreakdown(cfg).total;
}

export interface DecoderFlops {
  /** training FLOPs per token (forward + backward) */
  flopsPerToken: number;
  /** weights of the matrix multiplies one token goes through (the 6N's N) */
  matmulParameters: number;
  /** the attention term (score and value products), per token */
  attentionFlops: number;
}

/**
 * Training FLOPs per token, in the convention of Chowdhery et al. 2022 (PaLM, appendix B) and
 * Hoffmann et al. 2022 (Chinchilla, appendix F), the one ftplan uses for GPT-2 (6N + 12·L·C·T):
 *
 *   flopsPerToken = 6 · N  +  12 · L · T_att · H · d_head
 *
 * N: the weights of the matrix multiplies a token goes through — per layer q/k/v/o and
 * gate/up/down (biases, norms and the embedding lookup are not multiplies), plus the LM head
 * (V·hidden, tied or not: the product is computed either way) for causal-lm, or only the score
 * head (numLabels·hidden) for classification. 6 = 2 (multiply-add) × 3 (forward, and backward's
 * two products). The attention term is 2 products (QKᵀ and AV) × 2 × 3 per query head per layer,
 * each over T_att = the positions a token attends to: the sequence length, or the sliding window
 * when it is shorter. Like PaLM's, it does not halve for the causal mask (kernels that skip the
 * masked half do less work; the planner's efficiency absorbs it).
 */
export function decoderFlopsPerToken(cfg: DecoderConfig, seqLen: number, task: Task = cfg.task): DecoderFlops {
  if (!Number.isInteger(seqLen) || seqLen <= 0) throw new Error(`decoderFlopsPerToken: seqLen ${seqLen} is not a positive whole number`);
  const h = cfg.hiddenSize;
  const q = cfg.numAttentionHeads * cfg.headDim;
  const kv = cfg.numKeyValueHeads * cfg.headDim;
  const perLayer = h * q + 2 * h * kv + q * h + 3 * h * cfg.intermediateSize;
  const head = task === 'classification' ? cfg.numLabels * h : cfg.vocabSize * h;
  const matmulParameters = cfg.numHiddenLayers * perLayer + head;
  const attended = cfg.slidingWindow > 0 ? Math.min(seqLen, cfg.slidingWindow) : seqLen;
  const attentionFlops = 12 * cfg.numHiddenLayers * attended * cfg.numAttentionHeads * cfg.headDim;
  return { flopsPerToken: 6 * matmulParameters + attentionFlops, matmulParameters, attentionFlops };
}
