// The native model's parameter counts for GPT-2's larger sizes against Hugging Face's (the native
// core builds each model: gigabytes of weights, a minute of CPU for gpt2-xl; CI only. gpt2 itself is
// checked in test/native/native.test.ts).
import { describe, expect, it } from 'vitest';
import { modelConfig } from '../../src/model/presets.js';
import { loadNative } from '../../src/native.js';

describe('GPT-2 shapes', () => {
  const addon = loadNative();
  // Hugging Face GPT2Model parameter counts (openai-community/gpt2*, sum of p.numel()).
  const HF = { 'gpt2-medium': 354_823_168, 'gpt2-large': 774_030_080, 'gpt2-xl': 1_557_611_200 };
  for (const [name, count] of Object.entries(HF)) {
    it(`${name} transformer has HF's ${count.toLocaleString()} parameters; the score head adds n_embd x 3`, async () => {
      const cfg = modelConfig(name);
      const c = await addon.parameterCounts(cfg);
      expect(c.transformer).toBe(count);
      expect(c.head).toBe(cfg.nEmbd * 3);
      expect(c.total).toBe(count + cfg.nEmbd * 3);
    }, 600_000);
  }
});
