/**
 * oom.ts — when the measurement runs out of memory at the requested micro-batch: find the largest
 * micro-batch that fits, and say which flags keep the same effective batch.
 */
import { batchPlan, effectiveBatch, type BatchPlan } from '../batch-plan.js';
import { FtplanError, fromNative } from '../errors.js';
import type { AnyModelConfig } from '../model/model-config.js';
import type { Dtype, NativeAddon } from '../native.js';

/** Micro-batch sizes to try after an out-of-memory at `batch`, largest first: halving down to 1. */
export function stepDownSizes(batch: number): number[] {
  const out: number[] = [];
  for (let b = Math.floor(batch / 2); b >= 1; b = Math.floor(b / 2)) out.push(b);
  return out;
}

export interface OomContext {
  /** the model's name as the user gave it (--model) */
  name: string;
  model: AnyModelConfig;
  batch: BatchPlan;
  dtype: Dtype;
  seed: number;
  /** the longest padded length the measurement took */
  seqLen: number;
  device: string;
  threads: number;
}

/**
 * The measurement ran out of memory at the micro-batch: find the largest that fits with the native
 * probe (one step at micro-batch 1, then halving sizes, largest first; each out-of-memory frees the
 * cache and steps down) and report it with the flags that keep the effective batch.
 */
export async function outOfMemory(c: OomContext, addon: NativeAddon, cause: unknown): Promise<FtplanError> {
  const sizes = stepDownSizes(c.batch.microBatch).filter((b) => b > 1);
  let fits = 0;
  const failed = [c.batch.microBatch];
  try {
    const r = await addon.benchmark({ model: c.model, batchSize: 1, seqLen: c.seqLen, gradAccum: 1, warmupSteps: 0, steps: 1, evalBatchSize: 0, evalSteps: 0, dtype: c.dtype, device: c.device, threads: c.threads, seed: c.seed, probeBatchSizes: sizes, probeSeqLen: c.seqLen, probeStopAtFit: true });
    fits = r.probe.find((p) => !p.outOfMemory)?.batchSize ?? 1;
    failed.push(...r.probe.filter((p) => p.outOfMemory).map((p) => p.batchSize));
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_OUT_OF_MEMORY') throw fromNative(e, `probing the largest batch of ${c.name} that fits on ${c.device}`);
    failed.push(1);
  }
  const at = `${c.name} (${c.dtype}, ${c.seqLen} tokens per row) ran out of memory on ${c.device} at batch ${failed.join(', ')}`;
  if (!fits) {
    return new FtplanError('ERR_OUT_OF_MEMORY', `${at}: not even batch 1 fits`, { fix: 'pick a smaller --model or --seq-len, use --dtype bf16, or measure on a machine with more memory', exitCode: 1, cause });
  }
  const want = effectiveBatch(c.batch);
  const fitting = batchPlan(fits, Math.ceil(want / (fits * c.batch.ranks)), c.batch.ranks);
  const got = effectiveBatch(fitting);
  return new FtplanError('ERR_OUT_OF_MEMORY', `${at}; the largest batch that fits is ${fits}`, {
    fix: `use --batch-size ${fitting.microBatch} --grad-accum ${fitting.gradAccum} (the same effective batch of ${want}${got !== want ? `, rounded up to ${got}` : ''})`,
    exitCode: 1,
    cause,
  });
}
