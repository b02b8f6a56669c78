// The planner's formulas on Llama-family shapes: parameters, the largest tensor, the kernels and
// parameter tensors of a step, the chunked causal-LM loss's extra memory, the analytic activations
// — each from the decoder's own fields, never GPT-2's read off another shape.
import { describe, expect, it } from 'vitest';
import { decoderPresetConfig } from '../../src/model/decoder-presets.js';
import { decoderParameterCount } from '../../src/model/decoder-size.js';
import { modelConfig } from '../../src/model/presets.js';
import { analyticActivationBytesPerRow, fitMicroBatch, parameterCount, trainingMemory, type ActivationModel } from '../../src/planner/memory.js';
import { kernelsPerLayerOf, largestParameterBytes, lmLossBytes, parameterTensorsOf } from '../../src/planner/model-shape.js';
import { instanceStep, type LocalMeasurement } from '../../src/planner/performance.js';

const act: ActivationModel = { seqLen: 128, perSamplePerLayer: 4e6, perSampleBase: 1e6, measuredOn: 'test', dtype: 'bf16' };

describe('the planner on Llama-family decoders', () => {
  it('counts the published parameters, the embedding as the largest tensor, and the family\'s parameter tensors', () => {
    const llama = decoderPresetConfig('llama-3.1-8b', 'causal-lm');
    expect(parameterCount(llama)).toBe(8_030_261_248);
    expect(parameterCount(decoderPresetConfig('qwen2.5-0.5b', 'causal-lm'))).toBe(494_032_768);
    expect(largestParameterBytes(llama)).toBe(128_256 * 4096 * 4);
    // 32 layers × (2 norms + 7 linears) + embed_tokens + norm + lm_head (untied)
    expect(parameterTensorsOf(llama)).toBe(32 * 9 + 3);
    // qwen2.5: q/k/v biases, tied head (none for causal-lm, score for classification)
    const qwen = decoderPresetConfig('qwen2.5-0.5b', 'causal-lm');
    expect(parameterTensorsOf(qwen)).toBe(24 * 12 + 2);
    expect(parameterTensorsOf({ ...qwen, task: 'classification', numLabels: 3 })).toBe(24 * 12 + 3);
    // qwen3's q/k norms add two tensors a layer and two norms' worth of kernels
    const qwen3 = decoderPresetConfig('qwen3-0.6b', 'causal-lm');
    expect(parameterTensorsOf(qwen3)).toBe(28 * 11 + 2);
    expect(kernelsPerLayerOf(qwen3)).toBeGreaterThan(kernelsPerLayerOf(qwen));
    // GPT-2 keeps its own numbers
    const gpt2 = modelConfig('gpt2', { numLabels: 3 });
    expect(parameterTensorsOf(gpt2)).toBe(12 * 12 + 5);
    expect(kernelsPerLayerOf(gpt2)).toBe(75);
  });

  it('a causal-LM step holds the LM head\'s gradient and a chunk of logits at the end of the forward; a classification head does not', () => {
    const lm = decoderPresetConfig('qwen2.5-0.5b', 'causal-lm');
    const cls = decoderPresetConfig('qwen2.5-0.5b', 'classification', { numLabels: 3 });
    // 8 rows × 128 positions: 1,024 rows of 151,936 logits (622 MB) come in chunks of 64 MiB (110 rows), held twice
    const chunkRows = Math.floor(2 ** 26 / (151_936 * 4));
    expect(chunkRows).toBe(110);
    expect(lmLossBytes(lm, 1024)).toBe(151_936 * 896 * 4 + 1024 * 896 * 4 + 2 * chunkRows * 151_936 * 4);
    // a few rows: their logits alone
    expect(lmLossBytes(lm, 16)).toBe(151_936 * 896 * 4 + 16 * 896 * 4 + 2 * 16 * 151_936 * 4);
    expect(lmLossBytes(cls, 1024)).toBe(0);
    const a = trainingMemory(lm, act, 8);
    const b = trainingMemory(cls, act, 8);
    expect(a.activationBytes).toBe(b.activationBytes);
    const P = decoderParameterCount(lm);
    expect(a.forwardBytes).toBe(12 * P + 2 * P + a.activationBytes + lmLossBytes(lm, 8 * 128));
    expect(a.peakBytes).toBe(Math.max(a.forwardBytes, a.optimizerBytes));
  });

  it('an 8B model does not fit a 24 GB GPU for full fine-tuning (16 bytes a parameter), and says why', () => {
    const fit = fitMicroBatch(decoderPresetConfig('llama-3.1-8b', 'causal-lm'), act, 24, 8);
    expect(fit.fits).toBe(false);
    expect(fit.reason).toMatch(/119\.\d GiB of it weights, gradients and AdamW states/);
    const small = fitMicroBatch(decoderPresetConfig('qwen2.5-0.5b', 'causal-lm'), act, 80, 8);
    expect(small.fits).toBe(true);
    expect(small.microBatch * small.gradAccum).toBe(8);
  });

  it('analytic activations grow with SwiGLU\'s width, the kv heads and the attended positions (a sliding window caps them)', () => {
    const base = decoderPresetConfig('tiny-llama', 'causal-lm');
    const T = 64;
    const a = analyticActivationBytesPerRow(base, T, 'bf16');
    expect(analyticActivationBytesPerRow({ ...base, intermediateSize: base.intermediateSize * 2 }, T, 'bf16')).toBeGreaterThan(a);
    expect(analyticActivationBytesPerRow(base, T, 'fp32')).toBeGreaterThan(a);
    const windowed = { ...base, slidingWindow: 8 };
    expect(analyticActivationBytesPerRow(windowed, T, 'bf16')).toBeLessThan(a);
  });

  it('the step overhead counts the decoder\'s kernels and tensors when given, GPT-2\'s otherwise', () => {
    const m: LocalMeasurement = { device: 'cpu', deviceName: 'cpu', dtype: 'bf16', stepMs: 100, tokensPerStep: 4096, flopsPerToken: 6e9, achievedFlops: 1e11, parameters: 1e9, nLayer: 24, evalTokensPerSec: null, tokensPerSec: 1000 };
    const gpu = { memoryGiB: 80, memoryBandwidthGBs: 3350, fp32: 67, bf16: 989, interconnect: { GBs: 450, kind: 'NVLink' } } as never;
    const gpt2Like = instanceStep(m, gpu, 1, 4096, 1, {});
    const decoder = instanceStep({ ...m, parameterTensors: 24 * 12 + 2, kernelsPerLayer: 120 }, gpu, 1, 4096, 1, {});
    expect(decoder.overheadMs).toBeGreaterThan(gpt2Like.overheadMs);
    expect(decoder.computeMs).toBe(gpt2Like.computeMs);
  });
});
