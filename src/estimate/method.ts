/**
 * method.ts — which method an estimate measures on this machine: the one --method names, with its
 * settings (train/peft.ts). `--method auto` (the planner prices full, LoRA and QLoRA and picks per
 * instance) decides here what the local measurement runs; autoMeasured is that decision's one place.
 */
import { usageError } from '../errors.js';
import type { EstimateArgs } from '../flags/estimate.js';
import type { AnyModelConfig } from '../model/model-config.js';
import { checkMethodFlags, peftSettings, type PeftSettings } from '../train/peft.js';

/** The method flags checked before anything is loaded (auto passes: the planner's). */
export function checkEstimateFlags(args: EstimateArgs): void {
  if (args.method !== 'auto') checkMethodFlags(args);
}

export function settingsToMeasure(args: EstimateArgs, cfg: AnyModelConfig): PeftSettings {
  if (args.method === 'auto') return autoMeasured(args, cfg);
  return peftSettings(args, cfg, args.model);
}

/** --method auto: the method the local measurement runs, from which the planner prices each method. */
export function autoMeasured(_args: EstimateArgs, _cfg: AnyModelConfig): PeftSettings {
  throw usageError('--method auto: this build prices one method at a time', 'give --method full, lora, qlora or head (and compare the estimates)');
}
