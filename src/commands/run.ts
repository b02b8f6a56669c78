/**
 * run.ts — `ftplan run`: the real fine-tune on the native core (the same Session the estimate's
 * numbers come from). This process either launches the workers of a data-parallel run
 * (train/distributed.ts) or trains (train/fine-tune.ts, whose loop is train/loop.ts), then reports
 * (report/run.ts).
 */
import { locateDataset } from '../data/loaders.js';
import { FtplanError } from '../errors.js';
import { obtainModel } from '../model/hf.js';
import { writeFileAtomic } from '../util/fs.js';
import { runMarkdown, runSummary } from '../report/run.js';
import { launchWorkers, workerEnv } from '../train/distributed.js';
import { runTraining } from '../train/fine-tune.js';
import { runDecoder } from '../train/inputs.js';
import { parseArgs, RUN_OPTIONS, RunArgsSchema } from './options.js';

export type { RunReport } from '../train/result.js';

export async function runRun(raw: Record<string, unknown>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const args = parseArgs(RunArgsSchema, RUN_OPTIONS, raw, 'run');
  const dist = workerEnv();
  if (!dist && args.nproc * args.nnodes > 1) {
    // the launcher: this node's workers do the run. A hub model and data set are fetched here
    // once, so the workers find them in the cache instead of downloading them side by side.
    await locateDataset(args.dataset);
    const need = args.init === 'random' || args.resume !== undefined ? 'shape' : 'weights';
    if (!(await runDecoder(args.model, args.task, need))) await obtainModel(args.model, need);
    const res = await launchWorkers(args);
    process.exitCode = res.code;
    return;
  }
  if (dist && dist.worldSize !== args.nproc * args.nnodes) {
    throw new FtplanError('ERR_INPUT', `WORLD_SIZE ${dist.worldSize} does not match --nproc ${args.nproc} × --nnodes ${args.nnodes}`, { fix: 'start workers through `ftplan run --nproc N`' });
  }
  const r = await runTraining(args, args.json ? () => {} : undefined, dist && dist.worldSize > 1 ? dist : null);
  if (dist && dist.rank !== 0) return; // rank 0 reports
  if (args.report) writeFileAtomic(args.report, runMarkdown(r));
  out(args.json ? `${JSON.stringify(r, null, 2)}\n` : runSummary(r));
  if (r.status === 'interrupted') process.exitCode = 130;
}

