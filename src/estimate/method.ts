/**
 * method.ts — which method an estimate measures on this machine: the one --method names, with its
 * settings (train/peft.ts). Under `--method auto` (the planner prices full, LoRA and QLoRA and picks
 * per instance) autoMeasured is the one place that decides what the local measurement runs.
 */
import type { EstimateArgs } from '../flags/estimate.js';
import type { AnyModelConfig } from '../model/model-config.js';
import { checkMethodFlags, FULL, peftSettings, type PeftSettings } from '../train/peft.js';

/** The method flags checked before anything is loaded (auto passes: the planner's). */
export function checkEstimateFlags(args: EstimateArgs): void {
  if (args.method !== 'auto') checkMethodFlags(args);
}

/** Whether a measurement of these settings fits this machine (the whole model or its deepest proxy). */
export type MeasurableHere = (s: PeftSettings) => boolean;

export function settingsToMeasure(args: EstimateArgs, cfg: AnyModelConfig, measurable: MeasurableHere = () => true): { settings: PeftSettings; note: string | null } {
  if (args.method === 'auto') return autoMeasured(args, cfg, measurable);
  return { settings: peftSettings(args, cfg, args.model), note: null };
}

/**
 * --method auto: the method the local measurement runs, from which the planner prices each method
 * (its shapes give the others' weights and trainable state; the measured activations carry over).
 * Full fine-tuning when it can be measured here, with --gradient-checkpointing as given; else LoRA
 * on a bf16 base, else QLoRA (the frozen base of an 8B model fits where its AdamW states do not),
 * each with the adapter flags given. None fitting: full, whose refusal names the fixes.
 */
export function autoMeasured(args: EstimateArgs, cfg: AnyModelConfig, measurable: MeasurableHere = () => true): { settings: PeftSettings; note: string | null } {
  const full: PeftSettings = { ...FULL, gradientCheckpointing: args.gradientCheckpointing === true };
  if (measurable(full)) return { settings: full, note: null };
  for (const method of ['lora', 'qlora'] as const) {
    const s = peftSettings({ ...args, method, doubleQuant: method === 'qlora' ? args.doubleQuant : undefined, unfreezeLast: undefined }, cfg, args.model);
    if (measurable(s))
      return {
        settings: s,
        note: `method: --method auto measured ${method === 'lora' ? 'LoRA' : 'QLoRA'} here, because full fine-tuning's weights, gradients and AdamW states do not fit this machine; every method is priced from its activations and each method's own weights and states`,
      };
  }
  return { settings: full, note: null };
}
