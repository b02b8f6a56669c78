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

export function settingsToMeasure(args: EstimateArgs, cfg: AnyModelConfig): PeftSettings {
  if (args.method === 'auto') return autoMeasured(args, cfg);
  return peftSettings(args, cfg, args.model);
}

/**
 * --method auto: the method the local measurement runs, from which the planner prices each method
 * (its shapes give the others' weights and trainable state; the measured activations carry over).
 * Full fine-tuning, with --gradient-checkpointing as given; the planner may choose otherwise here.
 */
export function autoMeasured(args: EstimateArgs, _cfg: AnyModelConfig): PeftSettings {
  return { ...FULL, gradientCheckpointing: args.gradientCheckpointing === true };
}
