/**
 * method-memory.ts — the memory one GPU needs to train a model by a method, in parts that add up,
 * and the micro-batch and checkpointing that fit a GPU. Pure.
 *
 * Parts (bytes, per GPU):
 *   weights      the model as held: trainable parameters at the master precision (+ a bf16 copy under
 *                fp32-master autocast), frozen ones in the base dtype, NF4 ones at method.ts's
 *                nf4BytesPerParam, and the LoRA adapters at the master precision;
 *   gradients    one per trainable parameter;
 *   moments      AdamW's two per trainable parameter;
 *   activations  what autograd keeps for backward, per row: blocks × per-block + outside the blocks;
 *                with gradient checkpointing each block keeps only its input (one residual-stream
 *                position a token) and one block's activations are live during its recomputation;
 *   loss         a causal LM's logits: ftplan's chunked loss (model-shape.ts's accounting; the LM head's
 *                gradient only when the head trains) or whole logits (frameworks that materialise them:
 *                the logits in the compute dtype, fp32 log-probabilities and their fp32 gradient);
 *   temporaries  torch AdamW's two copies of the largest trainable tensor at the optimizer step.
 * Training peaks at the end of the forward (weights + moments + activations + loss, + gradients when an
 * earlier micro-batch of the step left them) or at the optimizer step (weights + gradients + moments +
 * temporaries). FSDP/ZeRO-3 over N GPUs divides weights, gradients and moments by N and gathers two
 * blocks' weights at a time (the one computing and the one prefetched).
 * The CUDA context and allocator reserve (memory.ts) come off the GPU's memory, not onto the peak: the
 * peak is what torch's allocator reports as allocated, which is what published runs print.
 */
import { analyticActivationBytesPerRow, CUDA_RESERVE_BYTES, FRAGMENTATION_MARGIN } from './memory.js';
import { blockParameters, DEFAULT_METHOD, ftplanPrecision, methodCounts, nf4BytesPerParam, type MethodCounts, type MethodSpec, type Precision } from './method.js';
import { isDecoderShape, layersOf, LM_CHUNK_FLOOR_BYTES, widthOf, type PlannedModel } from './model-shape.js';

/** Activation bytes one row keeps at `seqLen`: per block and outside the blocks, measured or from the shape. */
export interface ActivationInput {
  seqLen: number;
  perRowPerBlock: number;
  perRowBase: number;
  source: 'measured' | 'analytic';
  /** where the figures come from (the probe's device, or the formula) */
  basis: string;
}

export type LossKind = 'chunked' | 'full-logits';
export type AttentionKind = 'materialized' | 'fused';

/**
 * Activations from the shape (no probe): per decoder block and token, the two RMSNorms' inputs 2C,
 * attention's input C, q and k after RoPE and v (q + 2kv), o_proj's input q, the MLP's input C and
 * SwiGLU's gate, up, silu(gate) and product 4F values in the compute dtype; the attention
 * probabilities 2·H·T values (scores and softmax) when attention is materialised, or one fp32
 * log-sum-exp per head when a fused kernel (flash attention) recomputes them. GPT-2: Korthikanti et
 * al. 2022's 34·T·C + 5·H·T² bytes at two bytes a value (dropout masks included), the 5·H·T² term only when
 * materialised. Outside the blocks: 4 fp32 values a position (embedding output, final norm). Not
 * fitted to anything: the accounting of the tensors autograd saves; memory.ts's analytic guard uses
 * the same count for materialised attention.
 */
export function analyticActivations(cfg: PlannedModel, seqLen: number, compute: 'fp32' | 'bf16' | 'fp16', attention: AttentionKind): ActivationInput {
  const T = seqLen;
  const b = compute === 'fp32' ? 4 : 2;
  const C = widthOf(cfg);
  let perBlock: number;
  if (isDecoderShape(cfg)) {
    const q = cfg.numAttentionHeads * cfg.headDim;
    const kv = cfg.numKeyValueHeads * cfg.headDim;
    const attended = cfg.slidingWindow > 0 ? Math.min(T, cfg.slidingWindow) : T;
    const scores = attention === 'materialized' ? 2 * cfg.numAttentionHeads * T * attended * b : 4 * cfg.numAttentionHeads * T;
    perBlock = T * (4 * C + 2 * q + 2 * kv + 4 * cfg.intermediateSize) * b + scores;
  } else {
    // Korthikanti et al.'s figures are bytes at two bytes a value
    const scores = attention === 'materialized' ? 5 * cfg.nHead * T * T * (b / 2) : 4 * cfg.nHead * T;
    perBlock = 34 * T * C * (b / 2) + scores;
  }
  return { seqLen: T, perRowPerBlock: perBlock, perRowBase: 4 * 4 * T * C, source: 'analytic', basis: `analytic (tensors autograd keeps, ${attention} attention)` };
}

/** A measured per-row figure at another length: linear in the length (attention's T² term is then under-counted for longer rows; the probe runs at the longest row, so a plan reads it at or below that length). */
export function activationsAt(a: ActivationInput, seqLen: number): ActivationInput {
  if (seqLen === a.seqLen) return a;
  const f = seqLen / a.seqLen;
  return { ...a, seqLen, perRowPerBlock: a.perRowPerBlock * f, perRowBase: a.perRowBase * f };
}

export interface MemoryConfig {
  model: PlannedModel;
  spec: MethodSpec;
  counts: MethodCounts;
  precision: Precision;
  activation: ActivationInput;
  loss: LossKind;
  /** 1: a whole replica per GPU; N: FSDP/ZeRO-3 over N GPUs */
  shards: number;
  /** the optimizer steps each parameter as its gradient arrives (torchtune's optimizer_in_bwd): one gradient tensor alive at a time */
  optimizerInBackward?: boolean;
  /**
   * AdamW's temporaries at the step: 'per-tensor' (LibTorch's C++ AdamW, ftplan's: two copies of
   * the largest trainable tensor), 'foreach' (PyTorch's default on CUDA since 2.0: _foreach_sqrt of
   * every exp_avg_sq at once, one copy of all trainable parameters), or 'fused' (none).
   */
  optimizerTemporaries?: 'per-tensor' | 'foreach' | 'fused';
}

export interface MemoryParts {
  microBatch: number;
  gradAccum: number;
  gradientCheckpointing: boolean;
  shards: number;
  weightsBytes: number;
  gradientBytes: number;
  momentBytes: number;
  activationBytes: number;
  lossBytes: number;
  temporariesBytes: number;
  /** end of the forward: weights + moments (+ gradients of earlier micro-batches) + activations + loss */
  forwardBytes: number;
  /** optimizer step: weights + gradients + moments + temporaries */
  optimizerBytes: number;
  peakBytes: number;
  peakAt: 'forward' | 'optimizer';
}

const baseBytes = (spec: MethodSpec) => (spec.baseDtype === 'fp32' ? 4 : 2);

/** The weights as held on one GPU (before sharding). */
export function weightBytes(c: MethodCounts, spec: MethodSpec, p: Precision): number {
  const autocastCopy = p.compute !== 'fp32' && p.masterBytes === 4 ? 2 : 0;
  const trainable = c.trainable * (p.masterBytes + autocastCopy);
  if (c.method === 'full') return trainable;
  const plain = c.frozen - c.quantized;
  return trainable + c.quantized * nf4BytesPerParam(spec.doubleQuant) + plain * baseBytes(spec);
}

/** The chunked (ftplan) or whole-logits loss's bytes at the end of the forward, for `rows` positions. */
export function lossBytes(cfg: PlannedModel, c: MethodCounts, p: Precision, loss: LossKind, rows: number): number {
  if (!isDecoderShape(cfg) || cfg.task !== 'causal-lm') return 0;
  const V = cfg.vocabSize;
  const C = cfg.hiddenSize;
  if (loss === 'full-logits') return rows * V * ((p.compute === 'fp32' ? 4 : 2) + 4 + 4);
  const headTrains = c.method === 'full' || c.method === 'head';
  const chunkRows = Math.min(rows, Math.floor(Math.max(rows * C * 4, LM_CHUNK_FLOOR_BYTES) / (V * 4)));
  return (headTrains ? V * C * 4 : 0) + rows * C * 4 + 2 * Math.max(1, chunkRows) * V * 4;
}

/** Bytes one row keeps for backward, with or without checkpointing (the residual stream between blocks in the master dtype: fp32 under autocast, else the compute dtype). */
export function activationBytesPerRow(cfg: PlannedModel, a: ActivationInput, p: Precision, checkpointing: boolean): number {
  const L = layersOf(cfg);
  if (!checkpointing) return L * a.perRowPerBlock + a.perRowBase;
  const residual = p.masterBytes === 4 || p.compute === 'fp32' ? 4 : 2;
  return L * a.seqLen * widthOf(cfg) * residual + a.perRowPerBlock + a.perRowBase;
}

export function methodMemory(m: MemoryConfig, microBatch: number, gradAccum: number, checkpointing: boolean): MemoryParts {
  const { counts: c, precision: p } = m;
  const n = Math.max(1, m.shards);
  const blockWeights = blockParameters(m.model) * (c.method === 'full' ? p.masterBytes : baseBytes(m.spec));
  const weights = weightBytes(c, m.spec, p) / n + (n > 1 ? 2 * blockWeights : 0);
  const gradients = m.optimizerInBackward ? c.largestTrainable * p.gradBytes : (c.trainable * p.gradBytes) / n;
  const moments = (2 * c.trainable * p.momentBytes) / n;
  const activations = microBatch * activationBytesPerRow(m.model, m.activation, p, checkpointing);
  const loss = lossBytes(m.model, c, p, m.loss, microBatch * m.activation.seqLen);
  const kind = m.optimizerTemporaries ?? 'per-tensor';
  const temporaries = (kind === 'fused' ? 0 : kind === 'foreach' ? c.trainable * p.masterBytes : 2 * c.largestTrainable * p.masterBytes) / n;
  const forward = weights + moments + (gradAccum > 1 ? gradients : 0) + activations + loss;
  const optimizer = weights + gradients + moments + temporaries;
  return {
    microBatch,
    gradAccum,
    gradientCheckpointing: checkpointing,
    shards: n,
    weightsBytes: weights,
    gradientBytes: gradients,
    momentBytes: moments,
    activationBytes: activations,
    lossBytes: loss,
    temporariesBytes: temporaries,
    forwardBytes: forward,
    optimizerBytes: optimizer,
    peakBytes: Math.max(forward, optimizer),
    peakAt: forward >= optimizer ? 'forward' : 'optimizer',
  };
}

/** What torch can allocate on a GPU of this size: its memory less the CUDA context reserve, less the fragmentation margin. */
export function usableBytes(gpuMemoryGiB: number): number {
  return (gpuMemoryGiB * 2 ** 30 - CUDA_RESERVE_BYTES) * FRAGMENTATION_MARGIN;
}

export interface MethodFit {
  fits: boolean;
  microBatch: number;
  gradAccum: number;
  gradientCheckpointing: boolean;
  shards: number;
  usableBytes: number;
  memory: MemoryParts;
  reason: string;
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

/**
 * The largest micro-batch that fits one GPU and divides its rows (accumulation for the rest), without
 * gradient checkpointing when any micro-batch fits without it (checkpointing costs a forward), else
 * with it. Not even one row with checkpointing: does not fit, and the reason says what the states
 * alone take.
 */
export function fitMethod(m: MemoryConfig, gpuMemoryGiB: number, rowsPerGpu: number): MethodFit {
  const usable = usableBytes(gpuMemoryGiB);
  for (const checkpointing of [false, true]) {
    let best = 0;
    for (let micro = 1; micro <= rowsPerGpu; micro++) {
      if (rowsPerGpu % micro !== 0) continue;
      if (methodMemory(m, micro, rowsPerGpu / micro, checkpointing).peakBytes <= usable) best = micro;
      else if (methodMemory(m, micro, 1, checkpointing).peakBytes > usable) break; // larger micro-batches only need more
    }
    if (best > 0) {
      const accum = rowsPerGpu / best;
      const memory = methodMemory(m, best, accum, checkpointing);
      const how = accum > 1 ? `micro-batch ${best} × ${accum} accumulation steps` : 'fits at the full batch';
      return { fits: true, microBatch: best, gradAccum: accum, gradientCheckpointing: checkpointing, shards: m.shards, usableBytes: usable, memory, reason: checkpointing ? `${how}, with gradient checkpointing (needed: ${gib(methodMemory(m, 1, rowsPerGpu, false).peakBytes)} without it)` : how };
    }
  }
  const one = methodMemory(m, 1, rowsPerGpu, true);
  const states = one.weightsBytes + one.gradientBytes + one.momentBytes;
  return {
    fits: false,
    microBatch: 0,
    gradAccum: 0,
    gradientCheckpointing: true,
    shards: m.shards,
    usableBytes: usable,
    memory: one,
    reason: `needs ${gib(one.peakBytes)} at micro-batch 1 with gradient checkpointing (${gib(states)} of it weights, gradients and AdamW states${m.shards > 1 ? `, sharded over ${m.shards} GPUs` : ''}), ${gib(usable)} usable`,
  };
}

/** One given configuration (--exact): its memory, and whether it fits. */
export function exactFit(m: MemoryConfig, gpuMemoryGiB: number, microBatch: number, gradAccum: number, checkpointing: boolean): MethodFit {
  const usable = usableBytes(gpuMemoryGiB);
  const memory = methodMemory(m, microBatch, gradAccum, checkpointing);
  const fits = memory.peakBytes <= usable;
  return {
    fits,
    microBatch,
    gradAccum,
    gradientCheckpointing: checkpointing,
    shards: m.shards,
    usableBytes: usable,
    memory,
    reason: fits ? `as given: micro-batch ${microBatch} × ${gradAccum} accumulation${checkpointing ? ', gradient checkpointing' : ''}` : `as given it needs ${gib(memory.peakBytes)} per GPU, ${gib(usable)} usable`,
  };
}

export interface HostMemoryNeed {
  /** the weights as the method holds them + the trainable parameters' gradients and AdamW moments */
  statesBytes: number;
  /** one micro-batch's activations (and a causal LM's loss chunk) */
  activationBytes: number;
  totalBytes: number;
  availableBytes: number;
  fits: boolean;
}

/**
 * Whether training fits a CPU host's memory, from the shape alone (nothing allocated): ftplan's
 * precision (fp32 master weights, + a bf16 copy under autocast), the method's weights as held
 * (frozen ones in the base dtype, NF4 ones at half a byte), gradients and AdamW moments of the
 * trainable parameters only, and one micro-batch's analytic activations (with checkpointing: each
 * block's input and one block recomputed), against 90% of what is available. A frozen base needs
 * far less than full fine-tuning's 16 bytes a parameter; the method is full when not given.
 */
export function hostMemoryNeed(cfg: PlannedModel, batch: number, seqLen: number, dtype: 'fp32' | 'bf16', available: number, method?: { spec: MethodSpec; checkpointing: boolean }): HostMemoryNeed {
  const spec = method?.spec ?? DEFAULT_METHOD;
  const p = ftplanPrecision(dtype);
  const c = methodCounts(cfg, spec, 0);
  const statesBytes = weightBytes(c, spec, p) + c.trainable * (p.gradBytes + 2 * p.momentBytes);
  const perRow = analyticActivationBytesPerRow(cfg, seqLen, dtype);
  const L = layersOf(cfg);
  const rowBytes = method?.checkpointing ? L * seqLen * widthOf(cfg) * 4 + perRow / Math.max(1, L) : perRow;
  // the loss chunk; the LM head's gradient, when it trains, is already among the states
  const loss = lossBytes(cfg, { ...c, method: 'lora' }, p, 'chunked', batch * seqLen);
  const activationBytes = batch * rowBytes + loss;
  const totalBytes = statesBytes + activationBytes;
  return { statesBytes, activationBytes, totalBytes, availableBytes: available, fits: totalBytes <= available * 0.9 };
}
