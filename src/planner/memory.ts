/**
 * memory.ts — will it fit, and with what micro-batch? Pure.
 *
 * Training memory peaks at one of two moments (checked against measured peaks in the tests):
 *   end of forward:  weights + AdamW moments (12 bytes/param; gradients were set to none) + the
 *                    activations autograd keeps (+ a bf16 copy of the weights under autocast);
 *   optimizer step:  weights + gradients + moments (16 bytes/param) + AdamW's temporaries, about two
 *                    copies of the largest parameter (the token embedding).
 * Activations per row at the data set's longest sequence come from the native probe (measured on
 * reduced-depth twins of the model): rows × (layers × perSamplePerLayer + perSampleBase). A
 * causal-LM decoder's chunked loss adds the LM head's gradient and a chunk of logits (twice) at the
 * end of the forward (model-shape.ts lmLossBytes). The shape facts (parameters, layers, the largest
 * parameter) come from model-shape.ts, for GPT-2 and the Llama-family decoders alike.
 * On a GPU, a fixed reserve covers the CUDA context and library workspaces, and a margin covers the
 * caching allocator's fragmentation.
 */
import { isDecoderShape, largestParameterBytes, layersOf, lmLossBytes, parameterTotal, widthOf, type PlannedModel } from './model-shape.js';

export const CUDA_RESERVE_BYTES = 1.0 * 2 ** 30; // CUDA context + cuBLAS/cuDNN workspaces
export const FRAGMENTATION_MARGIN = 0.95; // use at most 95% of what is left

export interface ActivationModel {
  seqLen: number;
  perSamplePerLayer: number;
  perSampleBase: number;
  /** where the per-row figures were measured */
  measuredOn: string;
  dtype: 'fp32' | 'bf16';
}

export function parameterCount(cfg: PlannedModel): number {
  return parameterTotal(cfg);
}

export interface MemoryEstimate {
  batch: number;
  /** the end of the forward: weights + moments (+ a bf16 copy) + activations (+ a causal-LM head's loss buffers) */
  forwardBytes: number;
  /** the optimizer step: weights + gradients + moments + AdamW's temporaries (torch's AdamW on a GPU) */
  optimizerBytes: number;
  /** 16 bytes/param: weights, gradients, two AdamW moments (fp32) */
  statesBytes: number;
  activationBytes: number;
  peakBytes: number;
  /** which moment is the peak */
  peakAt: 'forward' | 'optimizer';
}

export function trainingMemory(cfg: PlannedModel, act: ActivationModel, batch: number): MemoryEstimate {
  const P = parameterCount(cfg);
  const largest = largestParameterBytes(cfg);
  const activationBytes = batch * (layersOf(cfg) * act.perSamplePerLayer + act.perSampleBase);
  const forward = 12 * P + (act.dtype === 'bf16' ? 2 * P : 0) + activationBytes + lmLossBytes(cfg, batch * act.seqLen);
  const optimizer = 16 * P + 2 * largest;
  return {
    batch,
    forwardBytes: forward,
    optimizerBytes: optimizer,
    statesBytes: 16 * P,
    activationBytes,
    peakBytes: Math.max(forward, optimizer),
    peakAt: forward >= optimizer ? 'forward' : 'optimizer',
  };
}

export interface Fit {
  fits: boolean;
  /** the largest micro-batch that fits one GPU and divides its rows (micro × gradAccum = them), 0 when none fits */
  microBatch: number;
  gradAccum: number;
  usableBytes: number;
  peakBytes: number;
  reason: string;
}

/**
 * Keep the requested effective batch (per GPU share, `batchPerGpu`) exactly, using the largest
 * micro-batch that fits and divides it, and gradient accumulation for the rest.
 */
export function fitMicroBatch(cfg: PlannedModel, act: ActivationModel, gpuMemoryGiB: number, batchPerGpu: number): Fit {
  const usableBytes = (gpuMemoryGiB * 2 ** 30 - CUDA_RESERVE_BYTES) * FRAGMENTATION_MARGIN;
  const one = trainingMemory(cfg, act, 1);
  if (one.peakBytes > usableBytes) {
    return {
      fits: false,
      microBatch: 0,
      gradAccum: 0,
      usableBytes,
      peakBytes: one.peakBytes,
      reason: `needs ${(one.peakBytes / 2 ** 30).toFixed(1)} GiB at micro-batch 1 (${((16 * parameterCount(cfg)) / 2 ** 30).toFixed(1)} GiB of it weights, gradients and AdamW states), ${(usableBytes / 2 ** 30).toFixed(1)} GiB usable`,
    };
  }
  let largest = 1;
  while (largest < batchPerGpu && trainingMemory(cfg, act, largest + 1).peakBytes <= usableBytes) largest++;
  // The largest micro-batch that fits and divides the GPU's rows exactly: micro × accumulation is
  // then the batch asked for, never rounded up (7 rows at most 3 per pass: 1 × 7, not 3 × 3 = 9).
  let microBatch = largest;
  while (batchPerGpu % microBatch !== 0) microBatch--;
  const gradAccum = batchPerGpu / microBatch;
  const peak = trainingMemory(cfg, act, microBatch).peakBytes;
  return {
    fits: true,
    microBatch,
    gradAccum,
    usableBytes,
    peakBytes: peak,
    reason: gradAccum > 1 ? `micro-batch ${microBatch} × ${gradAccum} accumulation steps` : 'fits at the full batch',
  };
}

/**
 * Activation bytes one row keeps for backward, from the shape alone (no probe, nothing allocated):
 * per GPT-2 layer about T·C·34 + 5·H·T² two-byte values (Korthikanti et al. 2022, "Reducing
 * Activation Recomputation"), doubled for fp32; plus the embeddings' and the head's few T·C. A
 * Llama-family layer by the same accounting (no dropout masks), per token: the two RMSNorms'
 * inputs 2C, attention's input C, q and k after RoPE and v (q + 2kv), o_proj's input q, the MLP's
 * input C and SwiGLU's gate, up, silu(gate) and product 4F; the scores and their softmax 2·H·T over
 * the attended positions. An estimate for refusing a plan before allocating; the measured probe
 * replaces it once a measurement exists.
 */
export function analyticActivationBytesPerRow(cfg: PlannedModel, seqLen: number, dtype: 'fp32' | 'bf16'): number {
  const T = seqLen;
  const scale = dtype === 'fp32' ? 2 : 1;
  if (isDecoderShape(cfg)) {
    const C = cfg.hiddenSize;
    const q = cfg.numAttentionHeads * cfg.headDim;
    const kv = cfg.numKeyValueHeads * cfg.headDim;
    const attended = cfg.slidingWindow > 0 ? Math.min(T, cfg.slidingWindow) : T;
    const perLayer = (T * (4 * C + 2 * q + 2 * kv + 4 * cfg.intermediateSize) + 2 * cfg.numAttentionHeads * T * attended) * 2;
    return scale * (cfg.numHiddenLayers * perLayer) + 4 * 4 * T * C;
  }
  const C = widthOf(cfg);
  const perLayer = (34 * T * C + 5 * cfg.nHead * T * T) * 2;
  return scale * (cfg.nLayer * perLayer) + 4 * 4 * T * C;
}
