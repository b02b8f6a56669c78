/**
 * batch-plan.ts — what "batch" means, once. A run's optimizer step takes `gradAccum` micro-batches
 * of `microBatch` rows on each of `ranks` data-parallel processes; the rows per step (the effective
 * batch) and the steps per epoch follow from those three numbers and are computed only here.
 *
 * Words used across ftplan: micro-batch = the rows one forward/backward sees (--batch-size, the
 * native step's batch); effective batch = rows per optimizer step over all ranks (what a plan is
 * priced at, and what must match to resume a checkpoint). The native core is handed micro-batches
 * and returns timings; it is never told the effective batch.
 */
export interface BatchPlan {
  /** rows per forward/backward on one rank (--batch-size) */
  readonly microBatch: number;
  /** micro-batches per optimizer step on one rank (--grad-accum) */
  readonly gradAccum: number;
  /** data-parallel processes (--nproc × --nnodes; a plan row's GPUs) */
  readonly ranks: number;
}

export function batchPlan(microBatch: number, gradAccum = 1, ranks = 1): BatchPlan {
  for (const [k, v] of Object.entries({ microBatch, gradAccum, ranks })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k} must be a positive integer, got ${v}`);
  }
  return { microBatch, gradAccum, ranks };
}

/** Rows per optimizer step over all ranks: microBatch × gradAccum × ranks. */
export function effectiveBatch(b: BatchPlan): number {
  return b.microBatch * b.gradAccum * b.ranks;
}

/** Micro-batches per optimizer step over all ranks: gradAccum × ranks. */
export function microBatchesPerStep(b: BatchPlan): number {
  return b.gradAccum * b.ranks;
}

/**
 * Optimizer steps per epoch of `rows` training rows, as HF Trainer counts them: len(dataloader) =
 * ceil(rows / microBatch) micro-batches (the last one partial), one step per gradAccum·ranks of
 * them, the remainder dropped; at least 1.
 */
export function stepsPerEpoch(b: BatchPlan, rows: number): number {
  return Math.max(1, Math.floor(Math.ceil(rows / b.microBatch) / microBatchesPerStep(b)));
}

/** "micro-batch 8 × 4 accumulation × 2 GPU(s) = 64 rows per step" (the parts that are not 1 are always shown when any is). */
export function describeBatch(b: BatchPlan, rankWord = 'GPU(s)'): string {
  return `micro-batch ${b.microBatch} × ${b.gradAccum} accumulation × ${b.ranks} ${rankWord} = ${effectiveBatch(b)} rows per step`;
}
