/**
 * method-time.ts — the step time of a method on a GPU instance. Pure.
 *
 * FLOPs per token (forward 2 per weight, backward 2 for the input's gradient + 2 for the weight's):
 *   full   6·N + attention                         (PaLM's 6N + 12·L·T·H·d_head, as measured here)
 *   lora   4·N + 6·N_adapters + attention           (frozen weights skip their weight gradient;
 *   qlora                                             a classifier's trained score head keeps its 6)
 *   head   blocks below the first trained one run forward only: 2·N_frozen + 6·N_trained + their share of attention
 *   gradient checkpointing adds the blocks' forward again: + 2·N_blocks (+ adapters) + attention / 3.
 * A micro-batch's compute = FLOPs ÷ (the GPU's dense peak for the compute dtype × efficiency);
 * efficiency from a GPU measurement (extrapolated) or the assumed saturation curve (analytic; see
 * performance.ts). QLoRA dequantises every NF4 weight in the forward and again in the backward (and
 * in the recomputed forward): each pass reads the codes and scales and writes bf16 weights, ÷ memory
 * bandwidth. AdamW's traffic counts only trainable parameters (32 bytes each in fp32, in proportion
 * at other precisions); kernel launches per block (model-shape.ts) + LoRA's own per targeted linear
 * + per trainable tensor. Data-parallel replicas all-reduce the trainable gradients (performance.ts);
 * FSDP/ZeRO-3 gathers the weights in the forward and the backward and reduce-scatters the gradients,
 * overlapped with compute (step = the larger of the two per micro-batch).
 */
import { decoderFlopsPerToken } from '../model/decoder-size.js';
import type { GpuSpec } from '../pricing/rows.js';
import { nf4BytesPerParam, blockLinears, headParameters, type MethodCounts, type MethodSpec, type Precision } from './method.js';
import { isDecoderShape, layersOf, type PlannedModel } from './model-shape.js';
import { ALLREDUCE_LATENCY_MS, allReduceMs, gpuEfficiency, KERNEL_LAUNCH_MS, KERNELS_PER_PARAM_TENSOR, OPTIMIZER_BYTES_PER_PARAM, peakFlops, T_HALF_REFERENCE_LAYER_WEIGHTS, type Basis, type LocalMeasurement } from './performance.js';

/** Kernels a LoRA-adapted linear adds per micro-batch (dropout, A, B, scale, add; their backward). */
export const LORA_KERNELS_PER_LINEAR = 15;
/** Kernels one NF4 dequantisation of a weight takes (unpack codes, look up, scale by the absmax, cast). */
export const DEQUANT_KERNELS = 4;

export interface FlopsParts {
  /** matmul weights of the blocks */
  blocks: number;
  /** the head's matmul weights (LM head or score) */
  head: number;
  /** the attention products per token, forward + backward */
  attention: number;
}

export function flopsParts(cfg: PlannedModel, seqLen: number): FlopsParts {
  const T = Math.max(1, Math.round(seqLen));
  if (isDecoderShape(cfg)) {
    const f = decoderFlopsPerToken(cfg, T);
    const head = headParameters(cfg);
    return { blocks: f.matmulParameters - head, head, attention: f.attentionFlops };
  }
  const blocks = cfg.nLayer * blockLinears(cfg).reduce((s, l) => s + l.in * l.out, 0);
  return { blocks, head: headParameters(cfg), attention: 12 * cfg.nLayer * cfg.nEmbd * T };
}

/** Training FLOPs per token for a method (see the header). */
export function methodFlopsPerToken(cfg: PlannedModel, c: MethodCounts, spec: MethodSpec, seqLen: number, checkpointing: boolean): number {
  const f = flopsParts(cfg, seqLen);
  const L = layersOf(cfg);
  const recompute = (blocksShare: number, adapters: number) => (checkpointing ? 2 * f.blocks * blocksShare + 2 * adapters + (f.attention / 3) * blocksShare : 0);
  if (c.method === 'full') return 6 * (f.blocks + f.head) + f.attention + recompute(1, 0);
  if (c.method === 'head') {
    const u = Math.min(L, spec.unfreezeLast) / L;
    return 2 * f.blocks * (1 - u) + 6 * f.blocks * u + 6 * f.head + f.attention * ((1 - u) / 3 + u) + recompute(u, 0);
  }
  const headTrains = !isDecoderShape(cfg) || cfg.task === 'classification';
  return 4 * f.blocks + (headTrains ? 6 : 4) * f.head + 6 * c.adapter + f.attention + recompute(1, c.adapter);
}

export interface MethodStepInput {
  model: PlannedModel;
  spec: MethodSpec;
  counts: MethodCounts;
  precision: Precision;
  /** what the efficiency is carried from: a GPU measurement (extrapolated), or a CPU one (analytic) */
  measurement: Pick<LocalMeasurement, 'device' | 'deviceName' | 'dtype' | 'achievedFlops' | 'tokensPerStep' | 'stepMs'> | null;
  /** kernel launches per block, forward + backward (model-shape.ts) */
  kernelsPerLayer: number;
}

export interface MethodStep {
  stepMs: number;
  computeMs: number;
  dequantMs: number;
  optimizerMs: number;
  overheadMs: number;
  /** gradient all-reduce (replicas) or the FSDP gathers not hidden under compute */
  commMs: number;
  efficiency: number;
  basis: Basis;
  flopsPerToken: number;
  tokensPerSec: number;
  scalingEfficiency: number;
}

/**
 * One optimizer step on `count` GPUs: each runs `gradAccum` micro-batches of `microBatch` rows of
 * `seqLen` tokens; `shards` > 1 is FSDP/ZeRO-3 over them, else data-parallel replicas.
 */
export function methodStep(s: MethodStepInput, gpu: GpuSpec, gpus: Record<string, GpuSpec>, o: { count: number; shards: number; microBatch: number; gradAccum: number; seqLen: number; checkpointing: boolean }): MethodStep {
  const { counts: c, precision: p, model } = s;
  const tokens = o.microBatch * o.seqLen;
  // the saturation curve's half-way point in proportion to GPT-2 small's per-layer matmul work (performance.ts)
  const halfScale = T_HALF_REFERENCE_LAYER_WEIGHTS / Math.max(1, flopsParts(model, o.seqLen).blocks / layersOf(model));
  const { efficiency, basis: b } = gpuEfficiency(s.measurement, gpu, gpus, tokens, p.compute, halfScale);
  // the measured step was full fine-tuning of this shape: another method or checkpointing is carried, not measured
  const basis: Basis = b === 'measured' && (c.method !== 'full' || o.checkpointing) ? 'extrapolated' : b;
  const flopsPerToken = methodFlopsPerToken(model, c, s.spec, o.seqLen, o.checkpointing);
  const bw = gpu.memoryBandwidthGBs * 1e9;
  const computeMs = ((flopsPerToken * tokens) / (peakFlops(gpu, p.compute) * efficiency)) * 1000;
  const passes = o.checkpointing ? 3 : 2;
  const dequantMs = c.quantized > 0 ? ((passes * c.quantized * (nf4BytesPerParam(s.spec.doubleQuant) + 2)) / bw) * 1000 : 0;
  const L = layersOf(model);
  const kernels =
    s.kernelsPerLayer * L * (o.checkpointing ? 4 / 3 : 1) + c.targetedPerBlock * L * (LORA_KERNELS_PER_LINEAR + (c.quantized > 0 ? DEQUANT_KERNELS * passes : 0)) + KERNELS_PER_PARAM_TENSOR * c.trainableTensors;
  const overheadMs = KERNEL_LAUNCH_MS * kernels;
  const optimizerBytes = OPTIMIZER_BYTES_PER_PARAM * ((p.masterBytes + p.gradBytes + 2 * p.momentBytes) / 16);
  const optimizerMs = ((optimizerBytes * c.trainable) / o.shards / bw) * 1000;
  const microMs = computeMs + dequantMs + overheadMs;
  let commMs = 0;
  let localMs: number;
  const link = { latencyMs: ALLREDUCE_LATENCY_MS, GBs: gpu.interconnect.GBs };
  if (o.shards > 1) {
    // all-gather of the held weights in the forward and the backward, per micro-batch; reduce-scatter of the gradients per step
    const held = c.method === 'full' ? c.total * p.masterBytes : c.frozen * 2 + c.trainable * p.masterBytes;
    const gatherMs = ((2 * ((o.shards - 1) / o.shards) * held) / (link.GBs * 1e9)) * 1000;
    const perMicro = Math.max(microMs, gatherMs);
    const scatterMs = (((o.shards - 1) / o.shards) * c.trainable * p.gradBytes) / (link.GBs * 1e9) * 1000;
    localMs = o.gradAccum * microMs + optimizerMs;
    commMs = o.gradAccum * (perMicro - microMs) + scatterMs;
  } else {
    // full fine-tuning on the measuring GPU at the measured tokens: the measured step itself
    localMs = basis === 'measured' && o.gradAccum === 1 && s.measurement ? s.measurement.stepMs : o.gradAccum * microMs + optimizerMs;
    commMs = allReduceMs(c.trainable * p.gradBytes, o.count, link);
  }
  const stepMs = localMs + commMs;
  return {
    stepMs,
    computeMs: o.gradAccum * computeMs,
    dequantMs: o.gradAccum * dequantMs,
    optimizerMs,
    overheadMs: o.gradAccum * overheadMs,
    commMs,
    efficiency,
    basis,
    flopsPerToken,
    tokensPerSec: ((o.count * o.gradAccum * tokens) / stepMs) * 1000,
    scalingEfficiency: localMs / stepMs,
  };
}
