/**
 * checkpoint.ts — a run's checkpoints on disk: the output folder checked before any work, the
 * latest complete checkpoint found for --resume (and whether this run may continue it), and a
 * checkpoint written so that a crash mid-write leaves the earlier ones as they were.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { batchPlan, microBatchesPerStep, type BatchPlan } from '../batch-plan.js';
import { FtplanError, fromNative } from '../errors.js';
import { saveDecoderCheckpoint } from '../model/decoder-checkpoint.js';
import { saveCheckpoint } from '../model/hf.js';
import { writeAdapter, type AdapterInfo } from '../model/peft-adapter.js';
import { isDecoderConfig, type AnyModelConfig } from '../model/model-config.js';
import { writeFileAtomic } from '../util/fs.js';
import type { NativeSession } from '../native.js';

/** trainer_state.json, in the Hugging Face Trainer's spelling. */
export interface TrainerState {
  global_step: number;
  epochs_done: number;
  total_steps: number;
  steps_per_epoch?: number;
  seed: number;
  /** the micro-batch */
  batch_size: number;
  grad_accum: number;
  /** ranks of the run that wrote it (absent: 1); grad_accum × world_size is what must match */
  world_size?: number;
  epochs: number;
  train_rows: number;
  lr: number;
  scheduler: string;
}

/** A failed write during a run: which file, the system's reason, the checkpoint still intact, what to do. */
export function checkpointWriteError(e: unknown, what: string, previous: string | null): FtplanError {
  const err = e as NodeJS.ErrnoException & { fn?: string };
  const reasons: Record<string, string> = { ENOSPC: 'no space left on the device', EFBIG: 'file too large (a file-size limit: ulimit -f)', EDQUOT: 'disk quota exceeded', EACCES: 'permission denied', EROFS: 'read-only file system', ENOENT: 'the folder is gone' };
  const why = err?.code && reasons[err.code] ? `${err.code}: ${reasons[err.code]}` : (err?.message ?? String(e)).split('\n')[0];
  const file = err?.path ? `${err.path}: ` : '';
  const kept = previous ? `the previous checkpoint ${previous} is intact` : 'no earlier checkpoint of this run exists';
  return new FtplanError('ERR_IO', `writing ${what} failed (${file}${why}); the run stopped, ${kept}`, {
    fix: `free disk space or point --output-dir at a disk with room${previous ? `, then continue with \`ftplan run … --resume ${previous}\` (the same flags; the output folder may be copied elsewhere first)` : ', then run again'}`,
    exitCode: 1,
    cause: e,
  });
}

/** --output-dir must be a folder this process can write, found out before anything is measured. */
export function checkOutputDir(dir: string): void {
  const abs = resolve(dir);
  try {
    // Level by level: Node's recursive mkdir loops forever on some paths (under /proc, say).
    const missing: string[] = [];
    for (let p = abs; !existsSync(p); p = dirname(p)) missing.unshift(p);
    for (const p of missing) mkdirSync(p);
    const probe = join(abs, `.ftplan-write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `--output-dir ${dir}: is not a writable folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      fix: 'pick a folder you can write to, with room for the checkpoints',
    });
  }
}

/** A checkpoint folder, or the latest complete `checkpoint-N` in an output folder. */
export function findCheckpoint(path: string): { dir: string; state: TrainerState } {
  const read = (dir: string): TrainerState | null => {
    try {
      if (!existsSync(join(dir, 'training_state.pt'))) return null;
      return JSON.parse(readFileSync(join(dir, 'trainer_state.json'), 'utf8')) as TrainerState;
    } catch {
      return null;
    }
  };
  const direct = read(path);
  if (direct) return { dir: resolve(path), state: direct };
  const found = existsSync(path)
    ? readdirSync(path)
        .filter((d) => /^checkpoint-\d+$/.test(d))
        .map((d) => ({ dir: resolve(path, d), state: read(join(path, d)) }))
        .filter((c): c is { dir: string; state: TrainerState } => c.state !== null)
        .sort((a, b) => b.state.global_step - a.state.global_step)
    : [];
  if (!found[0]) {
    throw new FtplanError('ERR_INPUT', `--resume: no complete checkpoint in ${resolve(path)}`, { fix: 'point --resume (or --output-dir) at the folder of the run to continue; checkpoints are written each epoch and every --save-steps' });
  }
  return found[0];
}

/**
 * Refuses a checkpoint written with other settings. The micro-batches per optimizer step across all
 * ranks must match (the same steps see the same rows); how they split over ranks may differ.
 */
export function checkResumable(from: { dir: string; state: TrainerState }, want: { seed: number; batch: BatchPlan; epochs: number; trainRows: number; lr: number; scheduler: string }): void {
  const st = from.state;
  const saved = batchPlan(st.batch_size, st.grad_accum, st.world_size ?? 1);
  const mismatch = (['seed', 'batch_size', 'grad_accum', 'epochs', 'train_rows', 'lr', 'scheduler'] as const).filter((k) =>
    k === 'grad_accum'
      ? microBatchesPerStep(saved) !== microBatchesPerStep(want.batch)
      : st[k] !== { seed: want.seed, batch_size: want.batch.microBatch, epochs: want.epochs, train_rows: want.trainRows, lr: want.lr, scheduler: want.scheduler }[k],
  );
  if (mismatch.length) {
    throw new FtplanError('ERR_INPUT', `${from.dir} was written by a run with other settings (${mismatch.map((k) => `${k} ${JSON.stringify(st[k])}`).join(', ')})`, { fix: 'resume with the flags of the run that wrote it' });
  }
}

export interface CheckpointSource {
  session: NativeSession;
  /** GPT-2's record or a decoder's: each is written in its own Hugging Face layout */
  config: AnyModelConfig;
  /** the classification head's classes (a causal-lm decoder has none) */
  labels: string[];
  /** the folder whose tokenizer files the checkpoint carries (undefined: GPT-2's, built in) */
  tokenizerFrom: string | undefined;
  /** a decoder's source config.json, whose other fields (bos/eos ids, …) the written one carries */
  baseConfig?: Record<string, unknown>;
  /** lora/qlora: checkpoints hold the adapter (PEFT's layout), never the frozen base */
  adapter?: AdapterInfo | null;
}

/** The model's weights and config in the Hugging Face layout of its family; a LoRA run's adapter in PEFT's. */
async function saveModel(dir: string, src: CheckpointSource): Promise<void> {
  if (src.adapter) {
    writeAdapter(dir, await src.session.trainableState(), src.adapter, src.config);
    return;
  }
  await saveFolder(dir, src, await src.session.state());
}

/** Weights as a Hugging Face model folder of the config's family (GPT-2's Conv1D layout is the writer's). */
async function saveFolder(dir: string, src: CheckpointSource, state: Awaited<ReturnType<NativeSession['state']>>): Promise<void> {
  if (!isDecoderConfig(src.config)) {
    saveCheckpoint(dir, src.config, state, { labels: src.labels, tokenizerFrom: src.tokenizerFrom });
    return;
  }
  const labels = src.config.task === 'classification' ? src.labels : undefined;
  saveDecoderCheckpoint(dir, src.config, state, { labels, tokenizerFrom: src.tokenizerFrom, baseConfig: src.baseConfig });
}

/**
 * Writes a checkpoint: the model in the Hugging Face layout and trainer_state.json; with the
 * training state (AdamW moments, generator states) the folder is written whole under a temporary
 * name, then renamed, so a crash (even SIGKILL) mid-write leaves the earlier checkpoints as they
 * were. The final model at the top of the output folder is written file by file, each atomically.
 * `previous`: the latest complete checkpoint, named when this write fails.
 */
export async function writeCheckpoint(dir: string, src: CheckpointSource, state: TrainerState, withTrainingState: boolean, previous: string | null): Promise<void> {
  const target = withTrainingState ? `${dir}.partial-${process.pid}` : dir;
  try {
    if (withTrainingState) rmSync(target, { recursive: true, force: true }); // a leftover of a crashed save
    await saveModel(target, src);
    writeFileAtomic(join(target, 'trainer_state.json'), `${JSON.stringify(state, null, 2)}\n`);
    if (withTrainingState) {
      const file = join(target, 'training_state.pt');
      await src.session.saveTrainingState(file).catch((e: unknown) => Promise.reject(Object.assign(e as object, { path: file })));
      rmSync(dir, { recursive: true, force: true });
      renameSync(target, dir);
    }
  } catch (e) {
    // Disk full, a file-size limit, a folder gone: the half-written folder goes, the checkpoints
    // written before stay as they were, and the run stops saying which file failed and why.
    if (withTrainingState) rmSync(target, { recursive: true, force: true });
    throw checkpointWriteError(e, dir, previous);
  }
}

/**
 * The base with the adapters merged in (W + alpha/r · B·A, the core's mergedState) as a Hugging Face
 * model folder: what `--merge` writes, loadable without PEFT.
 */
export async function writeMerged(dir: string, src: CheckpointSource): Promise<void> {
  try {
    await saveFolder(dir, src, await src.session.mergedState());
  } catch (e) {
    if (e instanceof FtplanError) throw e;
    throw checkpointWriteError(e, dir, null);
  }
}

/** Loads a checkpoint's training state (AdamW moments, generator states) into the session. */
export async function loadTrainingState(session: NativeSession, dir: string): Promise<void> {
  const file = join(dir, 'training_state.pt');
  try {
    await session.loadTrainingState(file);
  } catch (e) {
    throw fromNative(e, `loading ${file}`);
  }
}
