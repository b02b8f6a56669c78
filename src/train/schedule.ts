/**
 * schedule.ts — learning-rate schedules with Hugging Face's semantics (transformers'
 * get_linear_schedule_with_warmup / get_cosine_schedule_with_warmup / constant with warmup): the
 * optimizer step with index `step` (0-based) runs at lr × factor(step). Pure.
 */
export type Scheduler = 'linear' | 'cosine' | 'constant';

export function lrFactor(kind: Scheduler, step: number, totalSteps: number, warmupSteps: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  if (kind === 'constant') return 1;
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  if (kind === 'linear') return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** HF TrainingArguments.get_warmup_steps: ceil(total × ratio). */
export function warmupSteps(totalSteps: number, ratio: number): number {
  return Math.ceil(totalSteps * ratio);
}
