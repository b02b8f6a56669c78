// The planner's memory model on Llama-family decoders (model-shape.ts: parameters, the largest
// tensor, the chunked causal-LM loss's extra bytes), fed by the native activation probe, against
// the peak the native core's counting allocator measures — for both heads, a vocabulary large
// enough that the LM head's gradient and logits matter.
import { describe, expect, it } from 'vitest';
import type { DecoderConfig } from '../../src/model/decoder-config.js';
import { decoderPresetConfig } from '../../src/model/decoder-presets.js';
import { loadNative } from '../../src/native.js';
import { trainingMemory } from '../../src/planner/memory.js';
import { largestParameterBytes } from '../../src/planner/model-shape.js';

describe('memory fit of a decoder, measured', () => {
  const addon = loadNative();
  // tiny-llama's layers, 6 of them, with a 32k vocabulary: the embedding and LM head are most of the
  // parameters, as in the real models. (A classification head's last layer keeps only the last
  // token, which the probe's per-layer cost does not know: the prediction is high by about a layer.)
  const shape = (task: 'classification' | 'causal-lm'): DecoderConfig => ({ ...decoderPresetConfig('tiny-llama', task, { numLabels: 3 }), vocabSize: 32_000, numHiddenLayers: 6 });

  // On a CPU the native AdamW is one fused pass with no temporaries, so the measured peak is the
  // larger of the end of the forward and weights + gradients + moments; a GPU's torch AdamW adds
  // two copies of the largest tensor, which the plan counts (optimizerBytes).
  for (const task of ['classification', 'causal-lm'] as const) {
    it(`${task}: the peak the probe and the planner predict is within 10% of the measured one (batch 4 and 32 × 64)`, async () => {
      const cfg = shape(task);
      const p = await addon.probeActivations({ model: cfg, seqLen: 64, threads: 1 });
      for (const batch of [4, 32]) {
        const r = await addon.benchmark({ model: cfg, batchSize: 2, seqLen: 16, steps: 1, warmupSteps: 0, threads: 1, probeBatchSizes: [batch], probeSeqLen: 64 });
        const measured = r.probe[0]!.peakBytes;
        const m = trainingMemory(cfg, { ...p, seqLen: 64, measuredOn: 'cpu', dtype: 'fp32' }, batch);
        const predicted = Math.max(m.forwardBytes, m.optimizerBytes - 2 * largestParameterBytes(cfg));
        expect(Math.abs(predicted - measured) / measured, `batch ${batch}: predicted ${predicted}, measured ${measured}`).toBeLessThan(0.1);
        // the LM head's loss buffers are what makes a causal-LM step's peak (a classification head has none)
        if (task === 'causal-lm') expect(m.forwardBytes).toBeGreaterThan(m.optimizerBytes - 2 * largestParameterBytes(cfg));
      }
    });
  }
});
