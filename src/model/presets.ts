/**
 * presets.ts — GPT-2 shapes, defined once here and handed to the native core as full configs.
 * The four public sizes are Hugging Face's (openai-community/gpt2, -medium, -large, -xl configs);
 * `tiny` and `mini` are small shapes for tests and quick trials, with GPT-2's vocabulary.
 */
import { z } from 'zod';

/** HF GPT2Config fields (camelCase) that the native core takes. */
export const ModelConfigSchema = z
  .object({
    // Upper bounds far above any GPT-2 (a config that passes them is still a few GiB at most per
    // tensor): a corrupt config.json is refused here instead of sizing maps and buffers from it.
    vocabSize: z.number().int().positive().max(10_000_000),
    nPositions: z.number().int().positive().max(1 << 20),
    nEmbd: z.number().int().positive().max(1 << 16),
    nLayer: z.number().int().positive().max(1024),
    nHead: z.number().int().positive().max(1024),
    nInner: z.number().int().nonnegative().max(1 << 20), // 0: 4 * nEmbd
    numLabels: z.number().int().min(2).max(100_000),
    padTokenId: z.number().int().nonnegative(),
    layerNormEpsilon: z.number().positive(),
    embdPdrop: z.number().min(0).lt(1),
    attnPdrop: z.number().min(0).lt(1),
    residPdrop: z.number().min(0).lt(1),
    initializerRange: z.number().positive(),
  })
  .refine((c) => c.nEmbd % c.nHead === 0, {
    message: 'nEmbd must be divisible by nHead: pick nHead among the divisors of nEmbd',
    path: ['nHead'],
  })
  .refine((c) => c.padTokenId < c.vocabSize, { message: 'padTokenId must be below vocabSize', path: ['padTokenId'] });

export type ModelConfig = z.infer<typeof ModelConfigSchema>;

const GPT2_BASE: ModelConfig = {
  vocabSize: 50257,
  nPositions: 1024,
  nEmbd: 768,
  nLayer: 12,
  nHead: 12,
  nInner: 0,
  numLabels: 3,
  padTokenId: 50256,
  layerNormEpsilon: 1e-5,
  embdPdrop: 0.1,
  attnPdrop: 0.1,
  residPdrop: 0.1,
  initializerRange: 0.02,
};

export interface Preset {
  config: ModelConfig;
  description: string;
}

export const PRESETS: Record<string, Preset> = {
  gpt2: { config: { ...GPT2_BASE }, description: '124M: 12 layers, 12 heads, 768 channels' },
  'gpt2-medium': { config: { ...GPT2_BASE, nLayer: 24, nHead: 16, nEmbd: 1024 }, description: '355M: 24 layers, 16 heads, 1024 channels' },
  'gpt2-large': { config: { ...GPT2_BASE, nLayer: 36, nHead: 20, nEmbd: 1280 }, description: '774M: 36 layers, 20 heads, 1280 channels' },
  'gpt2-xl': { config: { ...GPT2_BASE, nLayer: 48, nHead: 25, nEmbd: 1600 }, description: '1.56B: 48 layers, 25 heads, 1600 channels' },
  mini: { config: { ...GPT2_BASE, nLayer: 4, nHead: 4, nEmbd: 128, nPositions: 512 }, description: 'test size: 4 layers, 4 heads, 128 channels' },
  tiny: { config: { ...GPT2_BASE, nLayer: 2, nHead: 2, nEmbd: 64, nPositions: 256 }, description: 'test size: 2 layers, 2 heads, 64 channels' },
};

export function presetNames(): string[] {
  return Object.keys(PRESETS);
}

/** A preset's config with overrides, validated. Throws a zod error on a bad combination. */
export function modelConfig(name: string, overrides: Partial<ModelConfig> = {}): ModelConfig {
  const preset = PRESETS[name];
  if (!preset) throw new Error(`unknown model preset '${name}'`);
  return ModelConfigSchema.parse({ ...preset.config, ...overrides });
}
