/**
 * proxy.ts — measuring a model too big to time whole here: the same architecture with d/4, d/2 and
 * d blocks (the real width, heads, vocabulary, micro-batch and sequence lengths: nothing is scaled
 * but the depth), each timed and metered by a Session of its own (measureProxy); every figure is fitted as
 * fixed (embeddings, head, loss, optimizer set-up) + per block by least squares over the depths,
 * and read at the real depth. A transformer's blocks are identical, so step time and each memory
 * part are linear in the depth up to noise; the fit's residual is kept in the record.
 *
 * d is 4 unless the LM head outweighs 4 blocks (a large vocabulary on narrow blocks: Qwen2.5-0.5B's
 * head has the matmul parameters of 9 blocks); then the smallest power of two whose blocks match the
 * head, at most half the real depth, so that the blocks' share of the deepest proxy's step stands
 * above the step time's noise. A per-block time the fit still finds not positive (noise larger than
 * the blocks' share) is replaced by scaling the deepest proxy's step by FLOPs, and the record says so.
 *
 * When (proxyRule): the whole model's weights, gradients and AdamW states plus one micro-batch's
 * activations would not fit this host's memory, or one training step is more than
 * PROXY_STEP_FLOPS (6·N·tokens a step: about a minute of a 2-core CPU), and the model has more
 * blocks than the deepest proxy. `--proxy` / `--no-proxy` force it either way.
 */
import { loadavg } from 'node:os';
import type { Measurement } from '../measurement.js';
import { FtplanError, fromNative } from '../errors.js';
import type { AnyModelConfig } from '../model/model-config.js';
import { isDecoderConfig } from '../model/model-config.js';
import type { NativeAddon } from '../native.js';
import { hostMemoryNeed } from '../planner/method-memory.js';
import { blockParameters, type MethodSpec } from '../planner/method.js';
import { layersOf, parameterTotal } from '../planner/model-shape.js';
import { assemble, sessionFigures, type MeasureSpec } from './measure.js';
import { timeRunStepsInterleaved, type TimedSteps } from './steps.js';

/** the depths measured when 4 blocks outweigh the head (the common case: 7B–70B models) */
export const PROXY_BLOCKS = [1, 2, 4] as const;

/** The depths a proxy of `cfg` measures (see the header). */
export function proxyDepths(cfg: AnyModelConfig): number[] {
  const L = layersOf(cfg);
  const head = isDecoderConfig(cfg) && cfg.task === 'causal-lm' ? cfg.vocabSize * cfg.hiddenSize : 0;
  const block = blockParameters(cfg);
  let d = PROXY_BLOCKS[PROXY_BLOCKS.length - 1] as number;
  while (d * block < head && d * 2 <= L / 2) d *= 2;
  return [d / 4, d / 2, d].filter((b) => b < L);
}
/** 6·N·tokens of one step above which a whole-model measurement takes minutes on a small CPU. */
export const PROXY_STEP_FLOPS = 3e12;

/** fixed + perBlock × blocks, by least squares over the measured depths. */
export interface DepthFit {
  fixed: number;
  perBlock: number;
  /** the largest |residual| at a measured depth, relative to its value */
  maxResidual: number;
}

export function fitDepth(points: readonly { blocks: number; value: number }[]): DepthFit {
  if (points.length < 2) throw new RangeError('fitDepth: at least two depths');
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.blocks, 0) / n;
  const my = points.reduce((s, p) => s + p.value, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.blocks - mx) * (p.value - my);
    sxx += (p.blocks - mx) ** 2;
  }
  if (sxx === 0) throw new RangeError('fitDepth: the depths must differ');
  const perBlock = sxy / sxx;
  const fixed = my - perBlock * mx;
  const maxResidual = Math.max(...points.map((p) => Math.abs(fixed + perBlock * p.blocks - p.value) / Math.max(Math.abs(p.value), 1e-12)));
  return { fixed, perBlock, maxResidual };
}

export const atDepth = (f: DepthFit, blocks: number): number => f.fixed + f.perBlock * blocks;

/** The same model with `blocks` blocks. */
export function withDepth(cfg: AnyModelConfig, blocks: number): AnyModelConfig {
  return isDecoderConfig(cfg) ? { ...cfg, numHiddenLayers: blocks } : { ...cfg, nLayer: blocks };
}

export interface ProxyDecision {
  proxy: boolean;
  reason: string;
}

/** Whether to measure a proxy (see the header); `force` is --proxy (true) / --no-proxy (false). */
export function proxyRule(cfg: AnyModelConfig, o: { microBatch: number; gradAccum: number; seqLen: number; dtype: 'fp32' | 'bf16'; availableBytes: number; force?: boolean; method?: { spec: MethodSpec; checkpointing: boolean } }): ProxyDecision {
  const L = layersOf(cfg);
  const deepest = PROXY_BLOCKS[PROXY_BLOCKS.length - 1] as number;
  if (o.force === false) return { proxy: false, reason: '--no-proxy' };
  if (L <= deepest) return { proxy: false, reason: `${L} blocks: measured whole (a proxy needs more than ${deepest})` };
  if (o.force === true) return { proxy: true, reason: '--proxy' };
  const need = hostMemoryNeed(cfg, o.microBatch, o.seqLen, o.dtype, o.availableBytes, o.method);
  if (!need.fits) return { proxy: true, reason: `the whole model needs ${(need.totalBytes / 2 ** 30).toFixed(1)} GiB to train here, ${(o.availableBytes / 2 ** 30).toFixed(1)} GiB available` };
  const flops = 6 * parameterTotal(cfg) * o.microBatch * o.gradAccum * o.seqLen;
  if (flops > PROXY_STEP_FLOPS) return { proxy: true, reason: `one step is ${(flops / 1e12).toFixed(1)} TFLOP (6·N·tokens), more than ${PROXY_STEP_FLOPS / 1e12} TFLOP: minutes a step on a CPU` };
  return { proxy: false, reason: `the whole model fits and a step is ${(flops / 1e12).toFixed(2)} TFLOP` };
}

/**
 * A proxy stops timing rounds before --steps once the mean per-block step time per position (the
 * slope over the depths of each round, averaged: roundSlopes) has a standard error under this share of itself, from at least
 * two rounds, and --min-time is reached: at a 7B–70B width the blocks dominate every step and two
 * rounds agree, where a small model's head-heavy proxy keeps going.
 */
export const PROXY_SLOPE_ERROR = 0.05;

/**
 * Each round's per-block step time per padded position: the least-squares slope of its step times
 * over the depths, over the round's length (rounds cycle through the data's lengths, and a block's
 * time is close to proportional to the length: unscaled, two rounds at 36 and 42 positions would
 * differ by their lengths' 15%, not by noise).
 */
export function roundSlopes(depths: readonly number[], rounds: readonly (readonly number[])[], lens: readonly number[]): number[] {
  return rounds.flatMap((r, k) => (r.length === depths.length && r.every((x) => Number.isFinite(x)) ? [fitDepth(depths.map((blocks, i) => ({ blocks, value: r[i] as number }))).perBlock / (lens[k] ?? 1)] : []));
}

/** The mean of `xs` and its standard error relative to it (Infinity for fewer than two or a mean not above zero). */
export function meanError(xs: readonly number[]): { mean: number; relativeError: number } {
  const n = xs.length;
  const mean = n ? xs.reduce((a, b) => a + b, 0) / n : NaN;
  if (n < 2 || !(mean > 0)) return { mean, relativeError: Infinity };
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  return { mean, relativeError: sd / Math.sqrt(n) / mean };
}

export interface ProxyRecord {
  blocks: number[];
  of: number;
  /** timed rounds (a step of every depth each), and the per-block step time's standard error over them, relative */
  rounds: number;
  perBlockError: number | null;
  /** per measured depth: step ms, peak and static bytes */
  points: { blocks: number; stepMs: number; peakMemoryBytes: number; staticMemoryBytes: number; evalStepMs: number | null }[];
  fits: Record<'stepMs' | 'peakMemoryBytes' | 'staticMemoryBytes', DepthFit>;
  summary: string;
}

/**
 * The measurements of the proxies (one per depth, deepest last), carried to the real depth: every
 * timed and memory figure by its depth fit, the shape's own figures (parameters, FLOPs) from the
 * whole model. Pure: the measuring is measureProxy's.
 */
export function extrapolate(cfg: AnyModelConfig, shape: { parameters: number; matmulParameters: number; flopsPerToken: number }, measured: { blocks: number; m: Measurement }[]): Measurement & { kind: 'proxy'; proxy: ProxyRecord } {
  const L = layersOf(cfg);
  const deepest = measured[measured.length - 1] as { blocks: number; m: Measurement };
  const fit = (get: (m: Measurement) => number) => fitDepth(measured.map(({ blocks, m }) => ({ blocks, value: get(m) })));
  const step = fit((m) => m.stepMs);
  const peak = fit((m) => m.peakMemoryBytes);
  const stat = fit((m) => m.staticMemoryBytes);
  // a per-block time not above zero is noise, not a cost: the deepest proxy's step scaled by FLOPs
  const byFlops = !(step.perBlock > 0);
  const flopsScale = shape.flopsPerToken / deepest.m.flopsPerToken;
  const stepMs = byFlops ? deepest.m.stepMs * flopsScale : atDepth(step, L);
  const evalFit = measured.every(({ m }) => m.evalStepMs !== null) ? fit((m) => m.evalStepMs as number) : null;
  const evalStepMs = evalFit ? (byFlops || !(evalFit.perBlock > 0) ? (deepest.m.evalStepMs as number) * flopsScale : atDepth(evalFit, L)) : null;
  const sm = deepest.m.stepModel;
  const model = sm
    ? byFlops
      ? { interceptMs: sm.interceptMs * flopsScale, msPerPosition: sm.msPerPosition * flopsScale, fit: sm.fit }
      : { interceptMs: atDepth(fit((m) => m.stepModel?.interceptMs ?? m.stepMs), L), msPerPosition: Math.max(0, atDepth(fit((m) => m.stepModel?.msPerPosition ?? 0), L)), fit: sm.fit }
    : undefined;
  const tokensPerSec = (deepest.m.tokensPerStep / stepMs) * 1000;
  const blocks = measured.map((x) => x.blocks);
  // the k-th timed step of every depth is round k (steps.ts steps them in turn)
  const rounds = Array.from({ length: Math.min(...measured.map(({ m }) => m.stepMsAll.length)) }, (_, k) => measured.map(({ m }) => m.stepMsAll[k] as number));
  const slope = meanError(roundSlopes(blocks, rounds, deepest.m.stepSeqLens ?? []));
  const perBlockError = Number.isFinite(slope.relativeError) ? slope.relativeError : null;
  const record: ProxyRecord = {
    blocks,
    of: L,
    rounds: rounds.length,
    perBlockError,
    points: measured.map(({ blocks: b, m }) => ({ blocks: b, stepMs: m.stepMs, peakMemoryBytes: m.peakMemoryBytes, staticMemoryBytes: m.staticMemoryBytes, evalStepMs: m.evalStepMs })),
    fits: { stepMs: step, peakMemoryBytes: peak, staticMemoryBytes: stat },
    summary: (byFlops
      ? `proxy: ${blocks.join(', ')} of ${L} blocks (memory fitted as fixed + per block; step time scaled by FLOPs from ${deepest.blocks} blocks, ×${flopsScale.toFixed(2)}: the per-block fit was not positive, the blocks' time under the step's noise)`
      : `proxy: ${blocks.join(', ')} of ${L} blocks (step time and memory fitted as fixed + per block, largest residual ${(100 * Math.max(step.maxResidual, peak.maxResidual)).toFixed(1)}%${perBlockError === null ? '' : `; per-block time ±${(100 * perBlockError).toFixed(1)}% over ${rounds.length} rounds`})`
    ).concat(evalStepMs === null ? '; eval not timed on a proxy' : ''),
  };
  return {
    ...deepest.m,
    modelConfig: cfg,
    stepMs,
    stepMsMin: stepMs,
    stepMsMax: stepMs,
    stepMsAll: [],
    ...(model ? { stepModel: model } : {}),
    tokensPerSec,
    samplesPerSec: (deepest.m.samplesPerSec * deepest.m.stepMs) / stepMs,
    evalStepMs,
    evalTokensPerSec: evalStepMs && deepest.m.evalTokensPerSec && deepest.m.evalStepMs ? (deepest.m.evalTokensPerSec * deepest.m.evalStepMs) / evalStepMs : null,
    peakMemoryBytes: atDepth(peak, L),
    staticMemoryBytes: atDepth(stat, L),
    rssPeakBytes: null,
    parameters: shape.parameters,
    matmulParameters: shape.matmulParameters,
    flopsPerToken: shape.flopsPerToken,
    achievedFlops: shape.flopsPerToken * tokensPerSec,
    kind: 'proxy',
    proxy: record,
  };
}

/**
 * Measure the proxies and extrapolate. Each depth is built once: its timed Session reports its own
 * memory (training's peak, the state between steps) and is closed before the next measurement. The
 * activation probe works on reduced-depth twins of its own, so it runs once, on the deepest proxy,
 * and its per-block figures stand for the real model.
 */
export async function measureProxy(spec: MeasureSpec & { activationSeqLen: number }, addon: NativeAddon, progress?: (line: string) => void): Promise<Measurement & { kind: 'proxy'; proxy: ProxyRecord }> {
  const L = layersOf(spec.model);
  const depths = proxyDepths(spec.model);
  if (depths.length < 2) throw new FtplanError('ERR_INPUT', `${spec.name}: ${L} blocks is too shallow for a proxy`, { fix: 'measure it whole (--no-proxy)' });
  const info = addon.runtimeInfo();
  const loadBefore = loadavg()[0] ?? 0;
  // the step times first, every depth stepped in turn (steps.ts), so that the machine's speed
  // drifts fall on all of them alike: the per-block time is a difference of their steps. --steps
  // counts rounds (a round of each depth: fewer left Qwen2.5-0.5B's per-block time, a small share
  // of a step its LM head dominates, 46% short, bench/RESULTS.md), fewer once the per-block time is
  // settled (PROXY_SLOPE_ERROR); --min-time counts every depth's steps, the time this timing
  // takes. At least one warm-up step at the longest length: the peak each session reports is the
  // longest batch's.
  progress?.(`proxy: timing ${depths.join(', ')} of ${L} blocks, a step of each in turn, ${spec.minMs / 1000} s of steps and ${spec.steps} rounds (fewer once the per-block time's standard error is under ${100 * PROXY_SLOPE_ERROR}%)…`);
  let timed: TimedSteps[];
  try {
    timed = await timeRunStepsInterleaved(addon, depths.map((b) => withDepth(spec.model, b)), { batchSize: spec.batch.microBatch, gradAccum: spec.batch.gradAccum, dtype: spec.dtype, device: spec.device, threads: spec.threads, seed: spec.seed, warmupSteps: Math.max(1, spec.warmupSteps), steps: spec.steps, minMs: spec.minMs, lens: spec.seq.sampleLens, ...(spec.peft ? { peft: spec.peft } : {}), settled: (rounds, lens) => meanError(roundSlopes(depths, rounds, lens)).relativeError <= PROXY_SLOPE_ERROR });
  } catch (e) {
    throw fromNative(e, `timing training steps of ${spec.name}'s proxies on ${spec.device}`);
  }
  progress?.(`proxy: activation memory per block, on ${depths[depths.length - 1]} blocks…`);
  const deepest = withDepth(spec.model, depths[depths.length - 1] as number);
  let activation: Measurement['activation'];
  try {
    const probe = await addon.probeActivations({ model: deepest, seqLen: spec.activationSeqLen, dtype: spec.dtype, device: spec.device, threads: spec.threads, seed: spec.seed, syntheticWeights: true, ...spec.peft });
    const held = (timed[timed.length - 1] as TimedSteps).held;
    activation = { seqLen: spec.activationSeqLen, perSamplePerLayer: probe.perSamplePerLayer, perSampleBase: probe.perSampleBase, measuredOn: `${held.device} (${held.deviceName})`, dtype: spec.dtype };
  } catch (e) {
    throw fromNative(e, `probing activation memory of ${spec.name} on ${spec.device}`);
  }
  // no eval batches: a forward of 64 rows at a 7B–70B width costs more than the training steps
  // here; the plan takes eval at its stated ratio to the training throughput (recommend.ts)
  const measured = depths.map((blocks, i) => {
    const model = withDepth(spec.model, blocks);
    const steps = timed[i] as TimedSteps;
    const one = { ...spec, name: `${spec.name} (${blocks} of ${L} blocks)`, model, evalBatchSize: 0 };
    const m = assemble(one, sessionFigures(spec, steps, addon.flopsPerToken(model, spec.seq.seqLen)), steps, null, info, loadBefore);
    return { blocks, m: { ...m, activation } as Measurement };
  });
  const f = addon.flopsPerToken(spec.model, spec.seq.seqLen);
  const whole = extrapolate(spec.model, { parameters: parameterTotal(spec.model), matmulParameters: f.matmulParameters, flopsPerToken: f.flopsPerToken }, measured);
  return { ...whole, model: spec.name, activation };
}
