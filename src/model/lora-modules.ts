/**
 * lora-modules.ts — the linear layers LoRA can adapt in each family, by HF module path, with their
 * torch Linear shapes [out, in]: GPT-2's c_attn, c_proj (attention and MLP) and c_fc (HF Conv1D
 * layers, whose adapters have the same shapes as a Linear's in PEFT); a Llama-family decoder's
 * q/k/v/o_proj and gate/up/down_proj. The head (score, lm_head) is never a target: PEFT's
 * "all-linear" leaves the output layer out. Pure: shapes from the model record (layout.ts,
 * decoder-layout.ts), so the CLI checks --lora-target and an adapter file before any native work.
 */
import { usageError } from '../errors.js';
import { decoderShapes } from './decoder-layout.js';
import { expectedShapes } from './layout.js';
import { isDecoderConfig, modelLayers, type AnyModelConfig } from './model-config.js';

export const GPT2_LINEAR = ['c_attn', 'c_proj', 'c_fc'] as const;
export const DECODER_LINEAR = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

/** The leaf names of the family's adaptable linear layers. */
export function linearLeaves(cfg: AnyModelConfig): readonly string[] {
  return isDecoderConfig(cfg) ? DECODER_LINEAR : GPT2_LINEAR;
}

const leafOf = (modulePath: string) => modulePath.slice(modulePath.lastIndexOf('.') + 1);

/** Every adaptable linear layer: module path (transformer.h.0.attn.c_attn, model.layers.0.self_attn.q_proj) → [out, in]. */
export function linearModules(cfg: AnyModelConfig): Map<string, [number, number]> {
  const shapes = isDecoderConfig(cfg) ? decoderShapes(cfg) : expectedShapes(cfg);
  const leaves = new Set(linearLeaves(cfg));
  const out = new Map<string, [number, number]>();
  for (const [name, shape] of shapes) {
    if (!name.endsWith('.weight') || shape.length !== 2) continue;
    const mod = name.slice(0, -'.weight'.length);
    if (leaves.has(leafOf(mod))) out.set(mod, [shape[0] as number, shape[1] as number]);
  }
  return out;
}

/**
 * `--lora-target`'s text as leaf names: all-linear (or nothing) is every leaf; a comma list is
 * checked against the family's leaves, an unknown one named with the valid ones listed.
 */
export function parseTargets(text: string | undefined, cfg: AnyModelConfig, modelName: string): string[] {
  const valid = linearLeaves(cfg);
  const t = (text ?? 'all-linear').trim();
  if (t === 'all-linear') return [...valid];
  const names = t.split(',').map((s) => s.trim());
  if (names.some((n) => n === '')) throw usageError(`--lora-target ${t}: an empty name in the list`, `separate names by single commas, e.g. --lora-target ${valid.slice(0, 2).join(',')}`);
  for (const n of names) {
    if (!valid.includes(n)) {
      const family = isDecoderConfig(cfg) ? cfg.modelType : 'gpt2';
      throw usageError(`--lora-target ${n}: ${modelName} (${family}) has no linear layer named ${n}; its linear layers are ${valid.join(', ')}`, `name some of ${valid.join(', ')}, or give all-linear`);
    }
  }
  return [...new Set(names)].sort((a, b) => valid.indexOf(a) - valid.indexOf(b));
}

/** The module paths that get adapters for these leaf names, with their [out, in] shapes. */
export function targetedModules(cfg: AnyModelConfig, targets: readonly string[]): Map<string, [number, number]> {
  const want = new Set(targets);
  return new Map([...linearModules(cfg)].filter(([m]) => want.has(leafOf(m))));
}

/** The classification head's parameters (score: classes × width), 0 for causal-lm (lm_head stays frozen, as PEFT's default). */
export function headParameters(cfg: AnyModelConfig): number {
  if (isDecoderConfig(cfg)) return cfg.task === 'classification' ? cfg.numLabels * cfg.hiddenSize : 0;
  return cfg.numLabels * cfg.nEmbd;
}

/** LoRA's trainable parameters: Σ over the targeted layers r·(in + out), plus the head. */
export function loraParameters(cfg: AnyModelConfig, targets: readonly string[], r: number): { adapters: number; head: number; modules: number; total: number } {
  let adapters = 0;
  const mods = targetedModules(cfg, targets);
  for (const [, [out, inp]] of mods) adapters += r * (inp + out);
  const head = headParameters(cfg);
  return { adapters, head, modules: mods.size, total: adapters + head };
}

/** Every parameter of the model as the core holds it (a tied LM head once). */
export function modelParameters(cfg: AnyModelConfig): number {
  const shapes = isDecoderConfig(cfg) ? decoderShapes(cfg) : expectedShapes(cfg);
  let n = 0;
  for (const s of shapes.values()) n += s.reduce((a, b) => a * b, 1);
  return n;
}

/** Parameters of the last `n` blocks (head: --unfreeze-last). */
export function lastBlocksParameters(cfg: AnyModelConfig, n: number): number {
  const shapes = isDecoderConfig(cfg) ? decoderShapes(cfg) : expectedShapes(cfg);
  const layers = modelLayers(cfg);
  const prefix = isDecoderConfig(cfg) ? 'model.layers.' : 'transformer.h.';
  let total = 0;
  for (const [name, s] of shapes) {
    if (!name.startsWith(prefix)) continue;
    const i = Number(name.slice(prefix.length).split('.')[0]);
    if (i >= layers - n) total += s.reduce((a, b) => a * b, 1);
  }
  return total;
}
