/**
 * sweep.ts — `ftplan sweep`'s flags (registry.ts): the run's flags it trains every trial with, each
 * sweep dimension's values (a list or a range, read by sweep/space.ts), and the search: method,
 * halving, metric, budget, where its state lives. `--from-sweep` is `ftplan run`'s, declared here.
 */
import { z } from 'zod';
import { METRIC_NAMES } from '../sweep/halving.js';
import { DIMENSIONS } from '../sweep/space.js';
import { CATALOG, CLOUD_FILTER, GPU_FILTER, GPUS_FILTER, JSON_OUTPUT, positiveInt, REGION_FILTER, SPOT } from './common.js';
import { argsShape, choice, flag, optionTable, restate, type Flag } from './registry.js';
import { RUN_FLAGS } from './run.js';

/** Run flags that a sweep sets itself (each trial's folder, resuming, reports) or that do not apply to one machine's trials. */
export const NOT_SWEPT = ['output-dir', 'resume', 'report', 'json', 'budget', 'estimate', 'early-stopping-patience', 'merge', 'nproc', 'nnodes', 'node-rank', 'master-addr', 'master-port', 'dist-timeout', 'bucket-mb'] as const;

/** A dimension's flag: its values as text (sweep/space.ts reads and checks them). */
function dimensionFlag(d: (typeof DIMENSIONS)[number]): Flag {
  const run = (RUN_FLAGS as Record<string, Flag>)[d.flag];
  const what = run ? `${run.spec.describe}` : 'not in this ftplan: `ftplan run` has no such flag yet';
  const alias = run?.spec.alias;
  const def = run?.spec.default !== undefined ? `; default ${String(run.spec.default)}` : '';
  return flag({ type: 'string', describe: `${what}: one value, or values to try (a,b,c${d.range ? ', or lo:hi with --trials' : ''})${def}`, ...(alias ? { alias } : {}) }, z.string().optional());
}

const RUN_BASE = Object.fromEntries(Object.entries(RUN_FLAGS).filter(([k]) => !(NOT_SWEPT as readonly string[]).includes(k) && !DIMENSIONS.some((d) => d.flag === k))) as Record<string, Flag>;
const DIMENSION_FLAGS = Object.fromEntries(DIMENSIONS.map((d) => [d.flag, dimensionFlag(d)])) as Record<string, Flag>;

export const SWEEP_ONLY_FLAGS = {
  search: flag(
    { type: 'string', choices: ['grid', 'random'], describe: 'grid: every combination of the lists; random: --trials seeded draws (default: grid, random when a flag gives a range)' } as const,
    z.enum(['grid', 'random'], { error: '--search must be grid or random' }).optional(),
  ),
  trials: flag({ type: 'number', describe: 'random search: how many trials to draw' }, positiveInt('--trials').max(1000, '--trials must be at most 1000').optional()),
  eta: flag({ type: 'number', describe: 'successive halving: keep the best 1/eta of the trials at each rung', default: 3 }, z.number({ error: '--eta must be a number' }).finite('--eta must be finite')),
  'min-fraction': flag(
    { type: 'number', describe: 'the first rung trains each trial for this fraction of its run; each next rung eta times longer, the last to the end (default: 1/eta², three rungs; 1: no halving, the grid)' },
    z.number({ error: '--min-fraction must be a number' }).finite('--min-fraction must be finite').optional(),
  ),
  metric: choice(METRIC_NAMES, { describe: 'what each rung keeps the best trials by (the task\'s evaluation at the rung\'s end)', default: 'eval-loss' }),
  budget: flag({ type: 'number', describe: 'USD: refuse a plan that would cost more here (needs --price-per-hour or --instance); trials stop before passing it' }, z.number({ error: '--budget must be a number' }).positive('--budget must be positive').finite().optional()),
  'budget-hours': flag({ type: 'number', describe: 'hours: refuse a plan that would take longer here' }, z.number({ error: '--budget-hours must be a number' }).positive('--budget-hours must be positive').finite().optional()),
  dir: flag({ type: 'string', describe: 'the sweep\'s folder: its state (sweep.json), the plan\'s measurements and each trial\'s run; run again with the same flags to continue a stopped sweep', default: 'ftplan-sweep' }, z.string().min(1)),
  'dry-run': flag({ type: 'boolean', describe: 'print the plan and stop (nothing trained, nothing written)', default: false }, z.boolean()),
  emit: flag({ type: 'string', describe: 'write a SkyPilot task YAML that runs this sweep on the plan\'s instance instead of running it here', choices: ['skypilot'] } as const, z.literal('skypilot', { error: '--emit must be skypilot' }).optional()),
  output: flag({ type: 'string', describe: 'with --emit: write the YAML here (default: stdout)' }, z.string().min(1).optional()),
  json: restate(JSON_OUTPUT, { describe: 'print the plan (--dry-run) or the sweep\'s report as JSON' }),
  report: flag({ type: 'string', describe: 'also write the report to this file: Markdown (.md, linking each trial\'s curves.svg) or one self-contained HTML page (.html, the curves inline)' }, z.string().regex(/\.(md|html)$/i, '--report must name a .md or .html file').optional()),
  steps: flag({ type: 'number', describe: 'the plan\'s measurement: timed steps per batch shape (at least)', default: 5 }, positiveInt('--steps').max(1000, '--steps must be at most 1000')),
  'min-time': flag(
    { type: 'number', describe: 'the plan\'s measurement: seconds of timed steps per batch shape (0: exactly --steps)', default: 5 },
    z.number({ error: '--min-time must be a number' }).nonnegative('--min-time must be >= 0').max(3600, '--min-time must be at most 3600 seconds'),
  ),
  cloud: CLOUD_FILTER,
  region: REGION_FILTER,
  gpu: GPU_FILTER,
  gpus: GPUS_FILTER,
  spot: SPOT,
  catalog: CATALOG,
};

export const SWEEP_FLAGS: Record<string, Flag> = { ...RUN_BASE, ...DIMENSION_FLAGS, ...SWEEP_ONLY_FLAGS };
export const SWEEP_OPTIONS = optionTable(SWEEP_FLAGS);
const ONLY_SHAPE = argsShape(SWEEP_ONLY_FLAGS);
/** The sweep's own flags typed; the run's and the dimensions' as the run's flag table has them. */
export type SweepArgs = z.infer<z.ZodObject<typeof ONLY_SHAPE>> & { pricePerHour?: number; instance?: string; seed: number; evalSteps: number; [k: string]: unknown };
export const SweepArgsSchema = z
  .object({ ...(argsShape(RUN_BASE) as Record<string, z.ZodType>), ...(argsShape(DIMENSION_FLAGS) as Record<string, z.ZodType>), ...ONLY_SHAPE })
  .strict()
  .refine((a: Record<string, unknown>) => a.budget === undefined || a.pricePerHour !== undefined || a.instance !== undefined, { message: '--budget needs --price-per-hour or --instance (the spend is hours × price; or give --budget-hours)', path: ['budget'] })
  .refine((a) => a.output === undefined || a.emit !== undefined, { message: '--output names where --emit writes: give --emit skypilot', path: ['output'] });

/** `ftplan run --from-sweep <dir>`: the sweep's winner's settings become the run's flags (flags given explicitly win). */
export const FROM_SWEEP = flag({ type: 'string', describe: 'train the winner of the sweep in this folder: its settings (and the sweep\'s model, data set and flags) become this run\'s; flags given here win' }, z.string().min(1).optional());
