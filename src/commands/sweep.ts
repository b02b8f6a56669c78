/**
 * sweep.ts — `ftplan sweep`: a small hyperparameter search priced before it runs and run cheaply.
 * The flags become trials (sweep/setup.ts); the plan is made from real measured steps
 * (sweep/measure.ts, the estimate's pipeline) and printed first, checked against --budget; then the
 * trials train here one after another by successive halving (sweep/halving.ts), each an `ftplan
 * run` in its own folder (sweep/trainer.ts), with the state written after every result so a stopped
 * sweep continues with the same decisions; the report closes it (report/sweep.ts).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { FtplanError } from '../errors.js';
import { instancePrice } from '../pricing/instance-price.js';
import { progressLine, renderPlan, renderSweep, sweepMarkdown } from '../report/sweep.js';
import { sweepHtml } from '../report/sweep-html.js';
import { successiveHalving } from '../sweep/halving.js';
import { measureSweep } from '../sweep/measure.js';
import { checkBudget, planSweep, type SweepPlan } from '../sweep/plan.js';
import { sweepReport } from '../sweep/result.js';
import { sweepSetup, type SweepSetup } from '../sweep/setup.js';
import { sweepSkypilotTask } from '../sweep/skypilot.js';
import { readSweepState, trialDir, writeSweepState, type SweepState } from '../sweep/state.js';
import { trialCurves, runTrainer } from '../sweep/trainer.js';
import { writeFileAtomic } from '../util/fs.js';

const pricePerHour = (s: SweepSetup): number | null => (s.args.pricePerHour ?? (s.args.instance ? instancePrice(s.args.instance).price : null)) as number | null;

export async function runSweep(raw: Record<string, unknown>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const setup = sweepSetup(raw);
  const { args } = setup;
  const dir = resolve(args.dir);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const price = pricePerHour(setup);
  let state = readSweepState(dir);
  if (state && state.fingerprint !== setup.fingerprint) {
    throw new FtplanError('ERR_USAGE', `--dir ${args.dir} holds a sweep with other settings (another space, data, model or rungs)`, { fix: 'continue it with the flags that started it, or give a new --dir' });
  }
  const writing = !args.dryRun && !args.emit;
  let plan: SweepPlan;
  if (state) {
    plan = state.plan;
    log(`continuing the sweep in ${dir}: ${state.results.length} rung result(s) done`);
  } else {
    if (writing) mkdirSync(dir, { recursive: true });
    const m = await measureSweep(setup.trials, args, writing ? dir : null, log);
    plan = planSweep({ trials: m.trials, fractions: setup.fractions, eta: setup.eta, evalSteps: args.evalSteps, here: m.here, startupSeconds: m.startupSeconds, pricePerHour: price, instances: m.instances });
    const now = new Date().toISOString();
    state = {
      schema: 'ftplan.sweep/1',
      fingerprint: setup.fingerprint,
      base: setup.base,
      search: setup.search,
      metric: setup.metric,
      eta: setup.eta,
      minFraction: setup.minFraction,
      fractions: setup.fractions,
      trials: m.trials,
      here: m.here,
      instances: m.instances,
      startupSeconds: m.startupSeconds,
      pricePerHour: price,
      plan,
      startedAt: now,
      updatedAt: now,
      finishedAt: null,
      starts: 0,
      results: [],
      decisions: [],
      winner: null,
    } satisfies SweepState;
  }
  const header = { trials: setup.trials.length, search: setup.search, eta: setup.eta, metric: setup.metric, pricePerHour: price, dimensions: setup.axes.map((a) => `--${a.flag}`) };
  // the plan first: on stdout, or on stderr when stdout carries the JSON
  (args.json ? log : (x: string) => out(`${x}\n`))(renderPlan(plan, header));
  checkBudget(plan, { usd: args.budget, hours: args.budgetHours });
  if (args.dryRun) {
    if (args.json) out(`${JSON.stringify(sweepReport(dir, state, 'planned', 'dry run: nothing trained'), null, 2)}\n`);
    return;
  }
  if (args.emit) {
    const t = sweepSkypilotTask(setup, plan);
    const head = `# SkyPilot task written by ftplan sweep: ${setup.trials.length} trials by successive halving on ${t.source}.\n# Start it with: sky launch -c ftplan-sweep ${args.output ?? 'sweep.yaml'}\n`;
    if (args.output) {
      writeFileAtomic(args.output, head + t.yaml);
      log(`wrote ${args.output}: sky launch -c ftplan-sweep ${args.output}`);
    } else out(head + t.yaml);
    return;
  }
  const s = state;
  if (!s.winner) {
    s.starts += 1; // a finished sweep started again only reports
    writeSweepState(dir, s);
  }
  const byId = new Map(s.trials.map((t) => [t.id, t]));
  const runs = setup.trials.map((t) => ({ ...byId.get(t.id)!, run: t.run }));
  const spentHours = () => s.results.reduce((a, r) => a + r.seconds, 0) / 3600;
  const trainer = runTrainer({
    dir,
    trials: runs,
    log,
    budgetLeft: () => (args.budget !== undefined && price !== null ? args.budget - spentHours() * price : null),
    onReport: (id) => trialCurves(trialDir(dir, id)),
  });
  const outcome = await successiveHalving({ trials: s.trials, fractions: s.fractions, eta: s.eta, metric: s.metric }, trainer, s, { now: () => Date.now() }, {
    save: (st) => writeSweepState(dir, st as SweepState),
    segment: (e) => log(progressLine({ rung: e.rung, rungs: s.fractions.length, trial: e.trial.id, settings: byId.get(e.trial.id)!.settings, index: e.index, of: e.of, fromStep: e.fromStep, toStep: e.toStep, totalSteps: e.trial.totalSteps, spentHours: spentHours(), plannedHours: plan.total.hours, pricePerHour: price })),
  });
  let message: string;
  if (outcome.status === 'done') {
    if (!s.winner) {
      s.winner = { trial: outcome.winner, ranking: outcome.ranking };
      s.finishedAt = new Date().toISOString();
      writeSweepState(dir, s);
    }
    message = `${s.trials.length} trials, ${s.fractions.length} rung(s): the winner is ${outcome.winner}`;
  } else {
    const why = outcome.reason === 'budget' ? 'the --budget is spent' : outcome.reason === 'interrupted' ? 'interrupted' : outcome.reason;
    message = `stopped in rung ${outcome.rung + 1} at trial ${outcome.trial} (${why}); the same command continues it${outcome.reason === 'budget' ? ' (with a larger --budget)' : ''}`;
  }
  const curves: Record<string, string | null> = {};
  const reportDir = args.report ? dirname(resolve(args.report)) : dir;
  for (const t of s.trials) {
    const svg = join(trialDir(dir, t.id), 'curves.svg');
    curves[t.id] = existsSync(svg) ? relative(reportDir, svg) : null;
  }
  const readIfExists = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : null);
  const report = sweepReport(dir, s, outcome.status === 'done' ? 'done' : 'stopped', message, curves);
  if (args.report) {
    mkdirSync(reportDir, { recursive: true });
    const file = resolve(args.report);
    if (/\.html$/i.test(file)) {
      const svgs = Object.fromEntries(s.trials.map((t) => [t.id, readIfExists(join(trialDir(dir, t.id), 'curves.svg'))]));
      writeFileSync(file, sweepHtml(report, svgs));
    } else writeFileSync(file, sweepMarkdown(report));
  }
  out(args.json ? `${JSON.stringify(report, null, 2)}\n` : renderSweep(report));
  // a budget reached is an end the user asked for (as a run's); a signal is 130; anything else a failure
  if (outcome.status !== 'done' && outcome.reason !== 'budget') process.exitCode = outcome.reason === 'interrupted' ? 130 : 1;
}
