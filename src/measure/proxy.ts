/**
 * proxy.ts — measuring a model too big to time whole here: the same architecture with d/4, d/2 and
 * d blocks (the real width, heads, vocabulary, micro-batch and sequence lengths: nothing is scaled
 * but the depth), each measured by measure() as a whole model would be; every figure is fitted as
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
import type { Measurement } from '../measurement.js';
import { FtplanError, fromNative } from '../errors.js';
import type { AnyModelConfig } from '../model/model-config.js';
import { isDecoderConfig } from '../model/model-config.js';
import type { NativeAddon } from '../native.js';
import { hostMemoryNeed } from '../planner/method-memory.js';
import { blockParameters, type MethodSpec } from '../planner/method.js';
import { layersOf, parameterTotal } from '../planner/model-shape.js';
import { measure, type MeasureSpec } from './measure.js';
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

export interface ProxyRecord {
  blocks: number[];
  of: number;
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
  const record: ProxyRecord = {
    blocks,
    of: L,
    points: measured.map(({ blocks: b, m }) => ({ blocks: b, stepMs: m.stepMs, peakMemoryBytes: m.peakMemoryBytes, staticMemoryBytes: m.staticMemoryBytes, evalStepMs: m.evalStepMs })),
    fits: { stepMs: step, peakMemoryBytes: peak, staticMemoryBytes: stat },
    summary: (byFlops
      ? `proxy: ${blocks.join(', ')} of ${L} blocks (memory fitted as fixed + per block; step time scaled by FLOPs from ${deepest.blocks} blocks, ×${flopsScale.toFixed(2)}: the per-block fit was not positive, the blocks' time under the step's noise)`
      : `proxy: ${blocks.join(', ')} of ${L} blocks (step time and memory fitted as fixed + per block, largest residual ${(100 * Math.max(step.maxResidual, peak.maxResidual)).toFixed(1)}%)`
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
 * Measure the proxies and extrapolate. The activation probe already works on reduced-depth twins,
 * so it runs once, on the deepest proxy, and its per-block figures stand for the real model.
 */
export async function measureProxy(spec: MeasureSpec & { activationSeqLen: number }, addon: NativeAddon, progress?: (line: string) => void): Promise<Measurement & { kind: 'proxy'; proxy: ProxyRecord }> {
  const L = layersOf(spec.model);
  const depths = proxyDepths(spec.model);
  // the step times first, every depth stepped in turn (steps.ts), so that the machine's speed
  // drifts fall on all of them alike: the per-block time is a difference of their steps. --steps
  // counts rounds (a round of each depth: fewer left Qwen2.5-0.5B's per-block time, a small share
  // of a step its LM head dominates, 46% short, bench/RESULTS.md); --min-time counts every depth's
  // steps, the time this timing takes.
  progress?.(`proxy: timing ${depths.join(', ')} of ${L} blocks, a step of each in turn, at least ${spec.steps} rounds and ${spec.minMs / 1000} s of steps…`);
  let timed: TimedSteps[];
  try {
    timed = await timeRunStepsInterleaved(addon, depths.map((b) => withDepth(spec.model, b)), { batchSize: spec.batch.microBatch, gradAccum: spec.batch.gradAccum, dtype: spec.dtype, device: spec.device, threads: spec.threads, seed: spec.seed, warmupSteps: spec.warmupSteps, steps: spec.steps, minMs: spec.minMs, lens: spec.seq.sampleLens, ...(spec.peft ? { peft: spec.peft } : {}) });
  } catch (e) {
    throw fromNative(e, `timing training steps of ${spec.name}'s proxies on ${spec.device}`);
  }
  const measured: { blocks: number; m: Measurement }[] = [];
  let activation: Measurement['activation'] | null = null;
  for (const [i, blocks] of depths.entries()) {
    progress?.(`proxy: memory of ${blocks} of ${L} blocks…`);
    // no eval batches: a forward of 64 rows at a 7B–70B width costs more than the training steps
    // here; the plan takes eval at its stated ratio to the training throughput (recommend.ts)
    const one = { ...spec, name: `${spec.name} (${blocks} of ${L} blocks)`, model: withDepth(spec.model, blocks), timedSteps: timed[i] as TimedSteps, evalBatchSize: 0 };
    // the probe measures per-block activations on its own reduced-depth twins: once is enough
    if (i === depths.length - 1) {
      const m = await measure({ ...one, activationSeqLen: spec.activationSeqLen }, addon);
      activation = m.activation;
      measured.push({ blocks, m });
    } else {
      const m = await measure({ ...one, activationSeqLen: null }, addon);
      measured.push({ blocks, m: { ...m, activation: { seqLen: spec.activationSeqLen, perSamplePerLayer: 0, perSampleBase: 0, measuredOn: 'not probed', dtype: spec.dtype } } });
    }
  }
  if (measured.length < 2) throw new FtplanError('ERR_INPUT', `${spec.name}: ${L} blocks is too shallow for a proxy`, { fix: 'measure it whole (--no-proxy)' });
  const f = addon.flopsPerToken(spec.model, spec.seq.seqLen);
  const whole = extrapolate(spec.model, { parameters: parameterTotal(spec.model), matmulParameters: f.matmulParameters, flopsPerToken: f.flopsPerToken }, measured);
  return { ...whole, model: spec.name, activation: activation as Measurement['activation'] };
}
