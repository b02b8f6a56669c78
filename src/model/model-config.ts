/**
 * model-config.ts — the model record the native core takes: GPT-2's (presets.ts, `ModelConfig`)
 * or a Llama-family decoder's (decoder-config.ts, `DecoderConfig`). `modelType` tells them apart:
 * a decoder always has one (llama, mistral, qwen2, qwen3); GPT-2's record has none. The few facts
 * every caller of the boundary needs (positions, vocabulary, task, classes, pad id) are read here,
 * whatever the family.
 */
import { DecoderConfigSchema, type DecoderConfig, type Task } from './decoder-config.js';
import { ModelConfigSchema, type ModelConfig } from './presets.js';

export type AnyModelConfig = ModelConfig | DecoderConfig;

export function isDecoderConfig(m: AnyModelConfig): m is DecoderConfig {
  const t = (m as { modelType?: unknown }).modelType;
  return t !== undefined && t !== 'gpt2';
}

/** The family's schema: DecoderConfigSchema for a record with a decoder modelType, else GPT-2's. */
export function modelConfigSchema(v: unknown): typeof DecoderConfigSchema | typeof ModelConfigSchema {
  const t = v !== null && typeof v === 'object' ? (v as { modelType?: unknown }).modelType : undefined;
  return t !== undefined && t !== 'gpt2' ? DecoderConfigSchema : ModelConfigSchema;
}

/** The longest sequence the model takes (n_positions, max_position_embeddings). */
export const maxPositions = (m: AnyModelConfig): number => (isDecoderConfig(m) ? m.maxPositionEmbeddings : m.nPositions);
export const modelTask = (m: AnyModelConfig): Task => (isDecoderConfig(m) ? m.task : 'classification');
export const modelFamily = (m: AnyModelConfig): string => (isDecoderConfig(m) ? m.modelType : 'gpt2');
export const modelLayers = (m: AnyModelConfig): number => (isDecoderConfig(m) ? m.numHiddenLayers : m.nLayer);
/** The residual stream's width (n_embd, hidden_size). */
export const modelWidth = (m: AnyModelConfig): number => (isDecoderConfig(m) ? m.hiddenSize : m.nEmbd);
