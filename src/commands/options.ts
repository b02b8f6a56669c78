/** options.ts — the commands' flags, declared in src/flags/ (one registry per command: yargs spec and zod validator together). */
export { parseArgs, toYargs, type OptionSpec } from '../flags/registry.js';
export { ESTIMATE_OPTIONS, EstimateArgsSchema, type EstimateArgs } from '../flags/estimate.js';
export { PROFILE_OPTIONS, ProfileArgsSchema, type ProfileArgs } from '../flags/profile.js';
export { IMPORT_OPTIONS, ImportArgsSchema, PRICING_OPTIONS, PricingArgsSchema, type ImportArgs, type PricingArgs } from '../flags/pricing.js';
export { RUN_OPTIONS, RunArgsSchema, type RunArgs } from '../flags/run.js';
export { EVAL_OPTIONS, EvalArgsSchema, type EvalArgs } from '../flags/eval.js';
