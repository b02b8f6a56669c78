/**
 * setup.ts — `ftplan sweep`'s flags read into a sweep: the run flags every trial shares, the
 * dimensions that vary (space.ts), the trials with each one's `ftplan run` arguments validated as
 * the run validates them, the rungs and the metric. Every problem is an error here, before anything
 * is measured or trained.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { FtplanError } from '../errors.js';
import { camel, parseArgs } from '../flags/registry.js';
import { RUN_OPTIONS, RunArgsSchema, type RunArgs } from '../flags/run.js';
import { NOT_SWEPT, SWEEP_OPTIONS, SweepArgsSchema, type SweepArgs } from '../flags/sweep.js';
import { checkMetric, rungFractions, type MetricName } from './halving.js';
import { DIMENSIONS, parseAxis, trialsOf, type Axis, type Search, type Trial, type Value } from './space.js';

export interface SweepSetup {
  args: SweepArgs;
  /** the run flags every trial shares (camelCase, as the run's schema takes them), output folder aside */
  base: Record<string, unknown>;
  axes: Axis[];
  search: Search;
  trials: (Trial & { run: RunArgs })[];
  fractions: number[];
  eta: number;
  minFraction: number;
  metric: MetricName;
  /** what must match for a sweep folder to be continued: everything that changes a trial's training or the decisions */
  fingerprint: string;
}

/**
 * The task a run's evaluation reports on. `ftplan run` trains sequence classification; a run of
 * another task (a causal LM) reports other metrics, and its flags say so here.
 */
export function runTask(_run: RunArgs): 'classification' {
  return 'classification';
}

/** A trial's `ftplan run` arguments: the shared flags, its settings, its own folder. */
export function trialRunRaw(base: Record<string, unknown>, settings: Record<string, Value>): Record<string, unknown> {
  return { ...base, ...Object.fromEntries(Object.entries(settings).map(([k, v]) => [camel(k), v])) };
}

/**
 * A LoRA rank (swept or shared) trains adapters: --method lora unless --method qlora was given;
 * --method full or head with a rank is a contradiction, refused before anything is measured.
 */
export function loraByRank(base: Record<string, unknown>, axes: readonly Axis[]): void {
  const ranked = base.loraR !== undefined || axes.some((a) => a.flag === 'lora-r');
  if (!ranked) return;
  if (base.method === undefined) base.method = 'lora';
  else if (base.method !== 'lora' && base.method !== 'qlora') {
    throw new FtplanError('ERR_USAGE', `--lora-r is a LoRA adapter's rank, and --method is ${String(base.method)}`, { fix: 'leave --method out (a rank trains --method lora) or give --method lora or qlora' });
  }
}

export function sweepSetup(raw: Record<string, unknown>): SweepSetup {
  const args = parseArgs(SweepArgsSchema, SWEEP_OPTIONS, raw, 'sweep') as SweepArgs;
  // the run's defaults, then the run flags given to the sweep
  const base: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(RUN_OPTIONS)) {
    const k = camel(name);
    const shared = name in SWEEP_OPTIONS && !(NOT_SWEPT as readonly string[]).includes(name); // the sweep's own --json, --report, --budget are not the run's
    base[k] = shared && args[k] !== undefined ? args[k] : 'default' in spec ? spec.default : undefined;
  }
  // local paths as absolute ones: the state (and --from-sweep) may be read from another folder
  for (const k of ['dataset', 'model']) if (typeof base[k] === 'string' && existsSync(base[k])) base[k] = resolve(base[k]);
  const axes: Axis[] = [];
  for (const d of DIMENSIONS) {
    const text = args[camel(d.flag)];
    if (text === undefined) continue;
    if (!(d.flag in RUN_OPTIONS)) {
      throw new FtplanError('ERR_USAGE', `--${d.flag}: \`ftplan run\` has no --${d.flag} in this version, so it cannot be swept`, { fix: `leave --${d.flag} out` });
    }
    const axis = parseAxis(d, String(text));
    // one value is a setting every trial shares, not a dimension
    if ('list' in axis && axis.list.length === 1) base[camel(d.flag)] = axis.list[0];
    else axes.push(axis);
  }
  loraByRank(base, axes);
  const search: Search = args.search ?? (axes.some((a) => 'range' in a) ? 'random' : 'grid');
  const minFraction = args.minFraction ?? 1 / (args.eta * args.eta);
  const fractions = rungFractions(args.eta, minFraction);
  const trials = trialsOf(axes, search, args.trials, args.seed).map((t) => ({ ...t, run: parseArgs(RunArgsSchema, RUN_OPTIONS, { ...trialRunRaw(base, t.settings), outputDir: '.' }, 'sweep') }));
  checkMetric(args.metric, runTask(trials[0]!.run));
  // threads, device, prices and how often checkpoints are written do not change what a trial learns
  const { threads: _t, device: _d, pricePerHour: _p, instance: _i, saveSteps: _s, ...learning } = base;
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ learning, trials: trials.map((t) => [t.id, t.settings]), fractions, eta: args.eta, metric: args.metric }))
    .digest('hex')
    .slice(0, 16);
  return { args, base, axes, search, trials, fractions, eta: args.eta, minFraction, metric: args.metric, fingerprint };
}
