/**
 * performance.ts — from the step time measured here to the step time on a target GPU instance. Pure.
 *
 * A step is modelled as  compute + optimizer + overhead:
 *   compute   = model FLOPs of the step / (the GPU's dense peak for the dtype × efficiency)
 *   optimizer = AdamW's memory traffic (≈ 32 bytes per parameter: read and write weights and two
 *               moments, read gradients) / memory bandwidth
 *   overhead  = kernel launches of eager LibTorch, ≈ 8 µs each: ~75 per GPT-2 block (forward +
 *               backward; a Llama-family layer ~120: model-shape.ts) and ~12 per parameter tensor
 *               (gradient clipping + AdamW, one tensor at a time)
 * Efficiency (the fraction of peak the matmuls reach) has two sources, named in each row's basis:
 *   extrapolated: measured here on a GPU (achieved FLOP/s ÷ this GPU's peak), carried to the target;
 *   analytic: measured on a CPU, so no GPU efficiency is known: a saturation curve
 *             E_MAX × tokens / (tokens + T_HALF) with T_HALF = 4 tokens per peak TFLOP/s — small
 *             batches leave big GPUs idle. The constants are assumptions, stated here and in the
 *             output, to be replaced by a measurement on that GPU (ftplan estimate --device cuda).
 * Data-parallel over N GPUs (what `ftplan run --nproc N` does): each GPU takes batch/N rows; after
 * the backward pass the fp32 gradients are all-reduced in 25 MB buckets, not overlapped with
 * compute. Ring all-reduce per bucket of b bytes: 2(N-1)/N × b / bandwidth + 2(N-1) × latency
 * (dataParallelStepMs). Where the two constants come from is part of every plan (ScalingModel):
 *   bandwidth — GPUs: the interconnect's published figure (pricing/gpus.json, NVIDIA datasheets):
 *               an upper bound, never measured here; CPU (Gloo): measured here (pricing/scaling.json,
 *               bench/scaling.mjs), where the same model predicted the measured 2-process step;
 *   latency   — GPUs: an assumption (ALLREDUCE_LATENCY_MS per ring hop, NCCL's order of magnitude
 *               on NVLink); CPU: the Gloo fit.
 */
import type { GpuSpec } from '../pricing/rows.js';

export const E_MAX = { bf16: 0.45, fp16: 0.45, fp32: 0.6 } as const;
export const T_HALF_PER_TFLOP = 4;
/**
 * The per-layer matmul weights T_HALF_PER_TFLOP was set at: GPT-2 small's (12·768²). The half-way
 * point of the saturation curve is the fixed cost of each matmul (launch, the last partial wave)
 * over its work per token, so it scales inversely with a layer's matmul weights: a 4096-wide
 * layer's GEMMs do ~28× GPT-2's work per token and fill the GPU at ~28× fewer tokens
 * (method-time.ts passes the ratio; memory.ts's full fine-tuning path keeps GPT-2's curve).
 */
export const T_HALF_REFERENCE_LAYER_WEIGHTS = 12 * 768 * 768;
export const KERNEL_LAUNCH_MS = 0.008;
export const KERNELS_PER_LAYER = 75;
export const KERNELS_PER_PARAM_TENSOR = 12;
export const OPTIMIZER_BYTES_PER_PARAM = 32;
export const ALLREDUCE_LATENCY_MS = 0.05;

export type Basis = 'measured' | 'extrapolated' | 'analytic';

export const BUCKET_BYTES = 25 * 1024 * 1024; // ftplan run's --bucket-mb default (DDP's)

/** A link for the all-reduce model: per-hop latency and bandwidth, and where each came from. */
export interface Link {
  latencyMs: number;
  GBs: number;
  source?: string;
}

/**
 * The link behind measured all-reduce times (model: ms = 2(N-1)·latency + 2(N-1)/N·bytes/bandwidth):
 * the latency from the smallest message (all latency), the bandwidth by least squares over the
 * messages of 1 MiB and more with that latency fixed (gradient buckets are MBs, so this is the
 * regime the plan uses).
 */
export function fitLink(points: { bytes: number; ms: number }[], n: number): Link {
  const f = (2 * (n - 1)) / n;
  const hops = 2 * (n - 1);
  const smallest = points.reduce((a, b) => (b.bytes < a.bytes ? b : a));
  const latencyMs = smallest.ms / hops;
  const big = points.filter((p) => p.bytes >= 1 << 20);
  let sxy = 0;
  let sxx = 0;
  for (const p of big.length ? big : points) {
    const x = (f * p.bytes) / 1e9; // GB each rank sends
    sxy += x * (p.ms - hops * latencyMs);
    sxx += x * x;
  }
  const msPerGB = sxx > 0 ? sxy / sxx : 0;
  return { latencyMs, GBs: msPerGB > 0 ? 1000 / msPerGB : Infinity };
}

/** The ring all-reduce of `bytes` split in buckets, on N ranks over `link` (ms). */
export function allReduceMs(bytes: number, n: number, link: Link, bucketBytes = BUCKET_BYTES): number {
  if (n <= 1) return 0;
  const buckets = Math.max(1, Math.ceil(bytes / bucketBytes));
  return ((2 * (n - 1)) / n) * (bytes / (link.GBs * 1e9)) * 1000 + buckets * 2 * (n - 1) * link.latencyMs;
}

/** One data-parallel step: each rank's compute (forward, backward, AdamW), then the gradient all-reduce. */
export function dataParallelStepMs(o: { computeMs: number; gradientBytes: number; bucketBytes?: number; n: number; link: Link }): { stepMs: number; allReduceMs: number; scalingEfficiency: number } {
  const ar = allReduceMs(o.gradientBytes, o.n, o.link, o.bucketBytes);
  return { stepMs: o.computeMs + ar, allReduceMs: ar, scalingEfficiency: o.computeMs / (o.computeMs + ar) };
}

export interface LocalMeasurement {
  device: string; // cpu | cuda:N
  deviceName: string;
  dtype: 'fp32' | 'bf16';
  stepMs: number;
  tokensPerStep: number;
  flopsPerToken: number;
  achievedFlops: number;
  parameters: number;
  /** the model's layers (GPT-2's n_layer, a decoder's num_hidden_layers) */
  nLayer: number;
  /** parameter tensors and kernel launches per layer (model-shape.ts); absent: GPT-2's (12·layers + 5, 75) */
  parameterTensors?: number;
  kernelsPerLayer?: number;
  evalTokensPerSec: number | null;
  tokensPerSec: number;
}

/** The dense peak a dtype runs at on a GPU (FLOP/s). T4 has no bf16: autocast falls back to fp32 math. fp16 (tensor cores with fp32 accumulate) for mixed precision on GPUs without bf16. */
export function peakFlops(gpu: GpuSpec, dtype: 'fp32' | 'bf16' | 'fp16'): number {
  const tflops = dtype === 'bf16' ? (gpu.bf16 ?? gpu.fp32) : dtype === 'fp16' ? gpu.fp16 : gpu.fp32;
  return tflops * 1e12;
}

/** Which entry of the GPU table a CUDA device name is (e.g. "NVIDIA H200" -> H200). */
export function matchGpu(deviceName: string, gpus: Record<string, GpuSpec>): string | null {
  const name = deviceName.toUpperCase();
  const candidates = Object.keys(gpus).sort((a, b) => b.length - a.length);
  for (const key of candidates) {
    const k = key.toUpperCase();
    if (k === 'A100-80GB' && name.includes('A100') && name.includes('80GB')) return key;
    if (k === 'H100-PCIE' && name.includes('H100') && name.includes('PCIE')) return key;
    if (!k.includes('-') && new RegExp(`\\b${k}\\b`).test(name)) return key;
  }
  return null;
}

export interface GpuStep {
  stepMs: number;
  computeMs: number;
  optimizerMs: number;
  overheadMs: number;
  allReduceMs: number;
  efficiency: number;
  basis: Basis;
  tokensPerSec: number; // whole instance
  scalingEfficiency: number; // tokens/s of N GPUs ÷ (N × tokens/s of one GPU at the full batch)
}

/**
 * The fraction of the GPU's dense peak the matmuls of a micro-batch of `tokensPerGpu` tokens reach:
 * measured on a GPU and carried along the saturation curve (extrapolated; measured on that GPU at
 * those tokens), or the analytic curve when the measurement was on a CPU.
 */
export function gpuEfficiency(m: Pick<LocalMeasurement, 'device' | 'deviceName' | 'dtype' | 'achievedFlops' | 'tokensPerStep'> | null, gpu: GpuSpec, gpus: Record<string, GpuSpec>, tokensPerGpu: number, dtype: 'fp32' | 'bf16' | 'fp16' = m?.dtype ?? 'bf16', halfScale = 1): { efficiency: number; basis: Basis } {
  const local = m && m.device.startsWith('cuda') ? matchGpu(m.deviceName, gpus) : null;
  if (m && local) {
    const localSpec = gpus[local] as GpuSpec;
    // measured efficiency at the measured tokens per step, scaled along the saturation curve
    const measuredEff = Math.min(0.95, m.achievedFlops / peakFlops(localSpec, m.dtype));
    const curve = (t: number, g: GpuSpec) => t / (t + T_HALF_PER_TFLOP * (peakFlops(g, m.dtype) / 1e12));
    const efficiency = Math.min(0.95, (measuredEff * curve(tokensPerGpu, gpu)) / curve(m.tokensPerStep, localSpec));
    return { efficiency, basis: gpu === localSpec && tokensPerGpu === m.tokensPerStep ? 'measured' : 'extrapolated' };
  }
  return { efficiency: analyticEfficiency(gpu, dtype, tokensPerGpu, halfScale), basis: 'analytic' };
}

/** The assumed saturation curve: E_MAX × tokens ÷ (tokens + T_HALF_PER_TFLOP × the GPU's peak TFLOP/s × halfScale). */
export function analyticEfficiency(gpu: GpuSpec, dtype: 'fp32' | 'bf16' | 'fp16', tokensPerGpu: number, halfScale = 1): number {
  const peak = peakFlops(gpu, dtype);
  return E_MAX[dtype] * (tokensPerGpu / (tokensPerGpu + T_HALF_PER_TFLOP * (peak / 1e12) * halfScale));
}

function singleGpuStep(m: LocalMeasurement, gpu: GpuSpec, gpus: Record<string, GpuSpec>, tokensPerGpu: number): Omit<GpuStep, 'allReduceMs' | 'tokensPerSec' | 'scalingEfficiency'> {
  const peak = peakFlops(gpu, m.dtype);
  const { efficiency, basis } = gpuEfficiency(m, gpu, gpus, tokensPerGpu);
  const computeMs = ((m.flopsPerToken * tokensPerGpu) / (peak * efficiency)) * 1000;
  const optimizerMs = ((OPTIMIZER_BYTES_PER_PARAM * m.parameters) / (gpu.memoryBandwidthGBs * 1e9)) * 1000;
  const paramTensors = m.parameterTensors ?? 12 * m.nLayer + 5; // GPT-2: per block 2 LayerNorms, 4 linears (weight + bias); + wte, wpe, ln_f, score
  const overheadMs = KERNEL_LAUNCH_MS * ((m.kernelsPerLayer ?? KERNELS_PER_LAYER) * m.nLayer + KERNELS_PER_PARAM_TENSOR * paramTensors);
  if (basis === 'measured') return { stepMs: m.stepMs, computeMs, optimizerMs, overheadMs, efficiency, basis };
  return { stepMs: computeMs + optimizerMs + overheadMs, computeMs, optimizerMs, overheadMs, efficiency, basis };
}

/**
 * One optimizer step on an instance of `count` GPUs: each GPU runs `accum` micro-batches of
 * `microTokens` tokens, then gradients are all-reduced and AdamW steps once.
 * scalingEfficiency = the step without the all-reduce ÷ the step with it (1 on one GPU).
 */
export function instanceStep(m: LocalMeasurement, gpu: GpuSpec, count: number, microTokens: number, accum: number, gpus: Record<string, GpuSpec>): GpuStep {
  const one = singleGpuStep(m, gpu, gpus, microTokens);
  const ar = allReduceMs(4 * m.parameters, count, { latencyMs: ALLREDUCE_LATENCY_MS, GBs: gpu.interconnect.GBs });
  const computeMs = accum * one.computeMs;
  const overheadMs = accum * one.overheadMs;
  const local = one.basis === 'measured' && accum === 1 ? one.stepMs : computeMs + overheadMs + one.optimizerMs;
  const stepMs = local + ar;
  const tokensPerSec = ((count * accum * microTokens) / stepMs) * 1000;
  return { stepMs, computeMs, optimizerMs: one.optimizerMs, overheadMs, allReduceMs: ar, efficiency: one.efficiency, basis: one.basis, tokensPerSec, scalingEfficiency: local / stepMs };
}
