// The planner per method: trainable and quantised counts from the shape, the memory parts adding
// up by hand on a small decoder, checkpointing only when needed, FLOPs per token per method, NF4's
// dequantisation traffic, and --exact keeping the configuration it is given.
import { describe, expect, it } from 'vitest';
import { decoderPresetConfig } from '../../src/model/decoder-presets.js';
import { decoderParameterCount } from '../../src/model/decoder-size.js';
import { analyticActivationBytesPerRow } from '../../src/planner/memory.js';
import { loadGpus } from '../../src/pricing/catalog.js';
import { bandFor, percentile, type ErrorBands } from '../../src/planner/error-band.js';
import { activationBytesPerRow, exactFit, fitMethod, hostMemoryNeed, methodMemory, usableBytes, type ActivationInput, type MemoryConfig } from '../../src/planner/method-memory.js';
import { predictExact } from '../../src/planner/method-plan.js';
import { flopsParts, methodFlopsPerToken, methodStep } from '../../src/planner/method-time.js';
import { ftplanPrecision, methodCounts, methodSpec, nf4BytesPerParam, targetedLinears, type Precision } from '../../src/planner/method.js';
import { parameterTensorsOf } from '../../src/planner/model-shape.js';

const gpus = loadGpus();
const tiny = decoderPresetConfig('tiny-llama', 'causal-lm'); // V 512, C 64, F 160, 2 layers, 4 heads × 16 (2 kv)
const llama8b = decoderPresetConfig('llama-3.1-8b', 'causal-lm');
const act: ActivationInput = { seqLen: 32, perRowPerBlock: 100_000, perRowBase: 20_000, source: 'analytic', basis: 'test' };
const fp32 = ftplanPrecision('fp32');
const bf16True: Precision = { compute: 'bf16', masterBytes: 2, gradBytes: 2, momentBytes: 2 };

describe('what each method trains and holds', () => {
  it('LoRA: r·(in + out) per targeted linear per block; QLoRA quantises exactly the targeted weights', () => {
    // tiny-llama: q 64→64, k 64→32, v 64→32, o 64→64, gate/up 64→160, down 160→64
    const qv = methodCounts(tiny, methodSpec({ method: 'lora', loraR: 4, loraTargets: ['q_proj', 'v_proj'] }), parameterTensorsOf(tiny));
    expect(qv.adapter).toBe(2 * (4 * (64 + 64) + 4 * (64 + 32)));
    expect(qv.trainable).toBe(qv.adapter); // causal-lm: lm_head frozen (PEFT's default)
    expect(qv.frozen).toBe(decoderParameterCount(tiny));
    expect(qv.trainableTensors).toBe(2 * 2 * 2);
    const all = methodCounts(tiny, methodSpec({ method: 'qlora', loraR: 8, loraTargets: null }), parameterTensorsOf(tiny));
    const weights = 64 * 64 + 64 * 32 + 64 * 32 + 64 * 64 + 2 * 64 * 160 + 160 * 64;
    expect(all.quantized).toBe(2 * weights);
    expect(all.adapter).toBe(2 * 8 * (128 + 96 + 96 + 128 + 2 * 224 + 224));
    // Llama-3.1-8B, r 16 on every linear: PEFT's published count for this configuration
    const big = methodCounts(llama8b, methodSpec({ method: 'lora', loraR: 16 }), parameterTensorsOf(llama8b));
    expect(big.adapter).toBe(41_943_040);
    // a classifier's score head trains under LoRA (modules_to_save)
    const cls = decoderPresetConfig('tiny-llama', 'classification', { numLabels: 3 });
    expect(methodCounts(cls, methodSpec({ method: 'lora', loraR: 4, loraTargets: ['q_proj'] }), parameterTensorsOf(cls)).trainable).toBe(2 * 4 * 128 + 3 * 64);
  });

  it('an unknown target is an error that names the model\'s linears', () => {
    expect(() => targetedLinears(tiny, ['c_attn'])).toThrow(/c_attn is not a linear.*q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj/);
  });

  it('NF4: half a byte a weight + an fp32 absmax per 64 (0.5 bit), or 0.127 bit with double quantisation', () => {
    expect(nf4BytesPerParam(false)).toBe(0.5 + 0.5 / 8);
    expect(nf4BytesPerParam(true)).toBeCloseTo(0.5 + (8 / 64 + 32 / (64 * 256)) / 8, 12);
  });
});

describe('memory parts add up by hand (tiny-llama, causal-lm)', () => {
  const P = decoderParameterCount(tiny);
  const cfg = (spec: ReturnType<typeof methodSpec>, precision: Precision = fp32): MemoryConfig => ({ model: tiny, spec, counts: methodCounts(tiny, spec, parameterTensorsOf(tiny)), precision, activation: act, loss: 'chunked', shards: 1 });

  it('full, fp32: 4 B weights + 8 B moments + activations + the chunked loss at the end of the forward; + 4 B gradients at the step', () => {
    const m = methodMemory(cfg(methodSpec({ method: 'full' })), 2, 1, false);
    expect(m.weightsBytes).toBe(4 * P);
    expect(m.gradientBytes).toBe(4 * P);
    expect(m.momentBytes).toBe(8 * P);
    expect(m.activationBytes).toBe(2 * (2 * 100_000 + 20_000));
    // 64 positions × 512 logits fit one chunk: head gradient + hidden gradient + 2 × logits
    expect(m.lossBytes).toBe(512 * 64 * 4 + 64 * 64 * 4 + 2 * 64 * 512 * 4);
    expect(m.forwardBytes).toBe(m.weightsBytes + m.momentBytes + m.activationBytes + m.lossBytes);
    expect(m.optimizerBytes).toBe(16 * P + 2 * 512 * 64 * 4);
    expect(m.peakBytes).toBe(Math.max(m.forwardBytes, m.optimizerBytes));
    // with accumulation the first micro-batch's gradients are still there during the next forward
    expect(methodMemory(cfg(methodSpec({ method: 'full' })), 2, 3, false).forwardBytes).toBe(m.forwardBytes + 4 * P);
  });

  it('LoRA: the base in bf16, the adapters in fp32 with their gradients and moments; no LM-head gradient', () => {
    const spec = methodSpec({ method: 'lora', loraR: 4, loraTargets: ['q_proj', 'v_proj'] });
    const c = methodCounts(tiny, spec, parameterTensorsOf(tiny));
    const m = methodMemory(cfg(spec), 1, 1, false);
    expect(m.weightsBytes).toBe(2 * P + 4 * c.adapter);
    expect(m.gradientBytes).toBe(4 * c.adapter);
    expect(m.momentBytes).toBe(8 * c.adapter);
    expect(m.lossBytes).toBe(32 * 64 * 4 + 2 * 32 * 512 * 4);
  });

  it('QLoRA: targeted weights at NF4 bytes, the rest in bf16', () => {
    const spec = methodSpec({ method: 'qlora', loraR: 8, doubleQuant: true });
    const c = methodCounts(tiny, spec, parameterTensorsOf(tiny));
    const m = methodMemory(cfg(spec), 1, 1, false);
    expect(m.weightsBytes).toBeCloseTo(c.quantized * nf4BytesPerParam(true) + (P - c.quantized) * 2 + 4 * c.adapter, 6);
  });

  it('bf16 everywhere (frameworks\' "bf16-true"): 2 B weights, gradients and each moment', () => {
    const m = methodMemory(cfg(methodSpec({ method: 'full' }), bf16True), 1, 1, false);
    expect([m.weightsBytes, m.gradientBytes, m.momentBytes]).toEqual([2 * P, 2 * P, 4 * P]);
  });

  it('checkpointing keeps each block\'s input and one block\'s activations', () => {
    expect(activationBytesPerRow(tiny, act, fp32, true)).toBe(2 * 32 * 64 * 4 + 100_000 + 20_000);
    expect(activationBytesPerRow(tiny, act, bf16True, true)).toBe(2 * 32 * 64 * 2 + 100_000 + 20_000);
    expect(activationBytesPerRow(tiny, act, fp32, false)).toBe(2 * 100_000 + 20_000);
  });

  it('FSDP over N divides weights, gradients and moments and gathers two blocks', () => {
    const one = methodMemory(cfg(methodSpec({ method: 'full' })), 1, 1, false);
    const four = methodMemory({ ...cfg(methodSpec({ method: 'full' })), shards: 4 }, 1, 1, false);
    expect(four.gradientBytes).toBe(one.gradientBytes / 4);
    expect(four.momentBytes).toBe(one.momentBytes / 4);
    expect(four.weightsBytes).toBeGreaterThan(one.weightsBytes / 4);
  });
});

describe('the CPU host check before anything is allocated, per method', () => {
  const N = decoderParameterCount(llama8b);

  it('full: 16 B a parameter (+ 2 B for the autocast copy) + activations + the loss chunk', () => {
    const h = hostMemoryNeed(tiny, 2, 64, 'bf16', 2 ** 40);
    expect(h.statesBytes).toBe(18 * decoderParameterCount(tiny));
    expect(h.activationBytes).toBeGreaterThanOrEqual(2 * analyticActivationBytesPerRow(tiny, 64, 'bf16'));
    expect(h.totalBytes).toBe(h.statesBytes + h.activationBytes);
  });

  it('LoRA and QLoRA hold a frozen base: an 8B QLoRA fits a 24 GiB host that full fine-tuning does not', () => {
    const at = (method: 'full' | 'lora' | 'qlora') => hostMemoryNeed(llama8b, 1, 256, 'bf16', 22 * 2 ** 30, { spec: methodSpec({ method }), checkpointing: false });
    const qlora = methodSpec({ method: 'qlora' });
    const c = methodCounts(llama8b, qlora, 0);
    expect(at('full').statesBytes).toBe(18 * N);
    expect(at('full').fits).toBe(false);
    expect(at('lora').statesBytes).toBe(2 * N + (4 + 2 + 4 + 8) * c.trainable); // the adapters: fp32, a bf16 copy, gradients, moments
    expect(at('qlora').statesBytes).toBeCloseTo(c.quantized * nf4BytesPerParam(false) + 2 * (N - c.quantized) + 18 * c.trainable, 0);
    expect(at('qlora').fits).toBe(true);
    expect(at('qlora').statesBytes).toBeLessThan(at('lora').statesBytes / 2); // NF4 blocks; embeddings and LM head stay bf16
  });

  it('checkpointing keeps each block\'s input instead of its activations', () => {
    const spec = { spec: methodSpec({ method: 'lora' }), checkpointing: false };
    const off = hostMemoryNeed(llama8b, 4, 1024, 'bf16', 2 ** 40, spec);
    const on = hostMemoryNeed(llama8b, 4, 1024, 'bf16', 2 ** 40, { ...spec, checkpointing: true });
    expect(on.statesBytes).toBe(off.statesBytes);
    expect(on.activationBytes).toBeLessThan(off.activationBytes / 5);
  });
});

describe('fitting a GPU: the largest micro-batch, checkpointing only when needed', () => {
  const spec = methodSpec({ method: 'lora', loraR: 16 });
  const config = (activation: ActivationInput): MemoryConfig => ({ model: llama8b, spec, counts: methodCounts(llama8b, spec, parameterTensorsOf(llama8b)), precision: ftplanPrecision('bf16'), activation, loss: 'chunked', shards: 1 });
  // 2,048 tokens a row, 32 blocks of ~0.6 GB each: a few rows fill a big GPU
  const big: ActivationInput = { seqLen: 2048, perRowPerBlock: 6e8, perRowBase: 1e8, source: 'analytic', basis: 'test' };

  it('without checkpointing while any micro-batch fits; the micro-batch divides the rows', () => {
    const f = fitMethod(config(big), 80, 8);
    expect(f.fits).toBe(true);
    expect(f.gradientCheckpointing).toBe(false);
    expect(8 % f.microBatch).toBe(0);
    expect(f.microBatch * f.gradAccum).toBe(8);
    expect(f.memory.peakBytes).toBeLessThanOrEqual(usableBytes(80));
    if (f.microBatch < 8) expect(methodMemory(config(big), f.microBatch * 2, 8 / (f.microBatch * 2), false).peakBytes).toBeGreaterThan(usableBytes(80));
  });

  it('checkpointing when not even one row fits without it, and says so', () => {
    const f = fitMethod(config(big), 24, 8);
    expect(f.fits).toBe(true);
    expect(f.gradientCheckpointing).toBe(true);
    expect(methodMemory(config(big), 1, 8, false).peakBytes).toBeGreaterThan(usableBytes(24));
    expect(f.reason).toMatch(/with gradient checkpointing/);
  });

  it('full fine-tuning of an 8B model fits no 24 GB GPU even with checkpointing: the reason gives the states', () => {
    const fullSpec = methodSpec({ method: 'full' });
    const f = fitMethod({ ...config(big), spec: fullSpec, counts: methodCounts(llama8b, fullSpec, parameterTensorsOf(llama8b)) }, 24, 8);
    expect(f.fits).toBe(false);
    expect(f.reason).toMatch(/GiB of it weights, gradients and AdamW states/);
  });

  it('--exact keeps the configuration and only reports whether it fits', () => {
    const e = exactFit(config(big), 80, 3, 2, true);
    expect([e.microBatch, e.gradAccum, e.gradientCheckpointing]).toEqual([3, 2, true]);
    expect(e.memory).toEqual(methodMemory(config(big), 3, 2, true));
    expect(exactFit(config(big), 24, 16, 1, false).fits).toBe(false);
  });
});

describe('time per method', () => {
  const T = 2048;
  const f = flopsParts(llama8b, T);
  const c = (method: 'full' | 'lora' | 'qlora') => methodCounts(llama8b, methodSpec({ method, loraR: 16 }), parameterTensorsOf(llama8b));

  it('full 6N + attention; frozen base 4N + 6·adapters + attention; checkpointing + 2N_blocks (+ adapters) + attention/3', () => {
    expect(methodFlopsPerToken(llama8b, c('full'), methodSpec({ method: 'full' }), T, false)).toBe(6 * (f.blocks + f.head) + f.attention);
    const lora = c('lora');
    expect(methodFlopsPerToken(llama8b, lora, methodSpec({ method: 'lora', loraR: 16 }), T, false)).toBe(4 * (f.blocks + f.head) + 6 * lora.adapter + f.attention);
    expect(methodFlopsPerToken(llama8b, lora, methodSpec({ method: 'lora', loraR: 16 }), T, true)).toBeCloseTo(4 * (f.blocks + f.head) + 6 * lora.adapter + f.attention + 2 * f.blocks + 2 * lora.adapter + f.attention / 3, 0);
  });

  it('QLoRA adds the dequantisation traffic: (NF4 bytes + 2) per weight, per pass, over the bandwidth', () => {
    const spec = methodSpec({ method: 'qlora', loraR: 16 });
    const q = c('qlora');
    const gpu = gpus.A100!;
    const step = methodStep({ model: llama8b, spec, counts: q, precision: ftplanPrecision('bf16'), measurement: null, kernelsPerLayer: 120 }, gpu, gpus, { count: 1, shards: 1, microBatch: 1, gradAccum: 2, seqLen: T, checkpointing: false });
    expect(step.dequantMs).toBeCloseTo((2 * 2 * q.quantized * (nf4BytesPerParam(false) + 2)) / (gpu.memoryBandwidthGBs * 1e9) * 1000, 6);
    expect(step.basis).toBe('analytic');
    const lora = methodStep({ model: llama8b, spec: methodSpec({ method: 'lora', loraR: 16 }), counts: c('lora'), precision: ftplanPrecision('bf16'), measurement: null, kernelsPerLayer: 120 }, gpu, gpus, { count: 1, shards: 1, microBatch: 1, gradAccum: 2, seqLen: T, checkpointing: false });
    expect(step.tokensPerSec).toBeLessThan(lora.tokensPerSec);
    expect(lora.dequantMs).toBe(0);
    // AdamW's traffic is over the trainable parameters only
    expect(lora.optimizerMs).toBeCloseTo((32 * c('lora').trainable) / (gpu.memoryBandwidthGBs * 1e9) * 1000, 9);
  });

  it('predictExact: the row\'s GPUs, micro-batch and checkpointing as given; whole-instance tokens/s', () => {
    const mi = { spec: methodSpec({ method: 'lora', loraR: 16 }), precision: ftplanPrecision('bf16'), loss: 'chunked' as const, activation: { seqLen: T, perRowPerBlock: 1e8, perRowBase: 1e7, source: 'analytic' as const, basis: 'test' }, exact: { microBatch: 2, gradAccum: 1, checkpointing: true }, bands: null, kernelsPerLayer: 120, parameterTensors: parameterTensorsOf(llama8b) };
    const one = predictExact({ model: llama8b, measurement: null, gpus, gpu: 'H100', count: 1, seqLen: T }, mi);
    const eight = predictExact({ model: llama8b, measurement: null, gpus, gpu: 'H100', count: 8, seqLen: T }, mi);
    expect(one.fit.microBatch).toBe(2);
    expect(one.fit.gradientCheckpointing).toBe(true);
    expect(eight.step.tokensPerSec).toBeGreaterThan(7 * one.step.tokensPerSec);
    expect(eight.step.tokensPerSec).toBeLessThanOrEqual(8 * one.step.tokensPerSec);
    expect(eight.fit.memory.peakBytes).toBe(one.fit.memory.peakBytes);
  });
});

describe('error bands', () => {
  it('the percentile interpolates between order statistics', () => {
    expect(percentile([1, 2, 3, 4, 5], 50)).toBe(3);
    expect(percentile([0, 10], 80)).toBe(8);
    expect(percentile([], 80)).toBeNaN();
  });

  it('a row takes its basis\'s band; a basis without published support has none', () => {
    const bands: ErrorBands = { schema: 'ftplan.error-bands/1', percentile: 80, source: 'test', commit: 'abcdef0123456789', date: '2026-11-30', tokensPerSec: { analytic: { pct: 30, medianPct: 15, rows: 20 } }, memory: { pct: 12, medianPct: 6, rows: 25 } };
    expect(bandFor(bands, 'analytic')).toEqual({ tokensPerSecPct: 30, memoryPct: 12, source: 'test @ abcdef01, 2026-11-30' });
    expect(bandFor(bands, 'extrapolated')?.tokensPerSecPct).toBeNull();
    expect(bandFor(null, 'analytic')).toBeNull();
  });
});
