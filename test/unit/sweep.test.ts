// ftplan sweep's pure parts: the search space and its errors, the rungs, successive halving with a
// fake trainer on a fake clock (against the grid of the same trials), a stopped sweep continued from
// its state, and the plan's arithmetic.
import { describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { FtplanError } from '../../src/errors.js';
import { toYargs } from '../../src/flags/registry.js';
import { SWEEP_OPTIONS } from '../../src/flags/sweep.js';
import { explicitFlags } from '../../src/sweep/from-sweep.js';
import { RUN_OPTIONS } from '../../src/flags/run.js';
import { sweepSetup } from '../../src/sweep/setup.js';
import { checkMetric, rank, rungFractions, rungSizes, rungStep, successiveHalving, type Clock, type HalvingState, type SweepTrial, type Trainer } from '../../src/sweep/halving.js';
import { checkBudget, evalPasses, planSweep, type PlanInput } from '../../src/sweep/plan.js';
import { dimension, parseAxis, trialsOf } from '../../src/sweep/space.js';

const usage = (f: () => unknown, message: RegExp) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FtplanError);
    expect((e as FtplanError).exitCode).toBe(2);
    expect((e as FtplanError).message).toMatch(message);
    expect((e as FtplanError).fix).toBeTruthy();
    return;
  }
  throw new Error('no error');
};

describe('the search space', () => {
  it('reads lists and ranges per dimension', () => {
    expect(parseAxis(dimension('lr'), '1e-5, 3e-5,1e-4')).toEqual({ flag: 'lr', list: [1e-5, 3e-5, 1e-4] });
    expect(parseAxis(dimension('lr'), '1e-5:1e-3')).toEqual({ flag: 'lr', range: { lo: 1e-5, hi: 1e-3, log: true } });
    expect(parseAxis(dimension('weight-decay'), '0:0.1')).toEqual({ flag: 'weight-decay', range: { lo: 0, hi: 0.1, log: false } });
    expect(parseAxis(dimension('scheduler'), 'linear,cosine')).toEqual({ flag: 'scheduler', list: ['linear', 'cosine'] });
  });

  it('refuses an empty or contradictory space before anything runs', () => {
    usage(() => parseAxis(dimension('lr'), '1e-4,1e-4'), /listed twice/);
    usage(() => parseAxis(dimension('lr'), '0,1e-4'), /--lr 0: must be > 0/);
    usage(() => parseAxis(dimension('lr'), '-1e-4'), /must be > 0/);
    usage(() => parseAxis(dimension('lr'), '1e-3:1e-5'), /range is empty/);
    usage(() => parseAxis(dimension('lr'), 'fast'), /not a finite number/);
    usage(() => parseAxis(dimension('lr'), '1e-4,,3e-4'), /empty item/);
    usage(() => parseAxis(dimension('batch-size'), '8:32'), /range is not allowed/);
    usage(() => parseAxis(dimension('batch-size'), '8.5'), /whole number/);
    usage(() => parseAxis(dimension('warmup-ratio'), '0.5,1'), /must be < 1/);
    usage(() => parseAxis(dimension('scheduler'), 'linear,exp'), /not one of/);
    usage(() => trialsOf([], 'grid', undefined, 1), /search space is empty/);
    usage(() => trialsOf([{ flag: 'lr', list: [1e-4, 3e-4] }], 'grid', 4, 1), /--trials without a range/);
    usage(() => trialsOf([{ flag: 'lr', range: { lo: 1e-5, hi: 1e-3, log: true } }], 'grid', undefined, 1), /a grid cannot list it/);
    usage(() => trialsOf([{ flag: 'lr', range: { lo: 1e-5, hi: 1e-3, log: true } }], 'random', undefined, 1), /needs --trials/);
    usage(() => trialsOf([{ flag: 'lr', list: [1e-4, 3e-4] }], 'random', 3, 1), /only 2 different trials/);
  });

  it('grids every combination, the first flag slowest', () => {
    const t = trialsOf([{ flag: 'lr', list: [1e-4, 1e-3] }, { flag: 'batch-size', list: [8, 16] }], 'grid', undefined, 1);
    expect(t.map((x) => x.id)).toEqual(['t01', 't02', 't03', 't04']);
    expect(t.map((x) => x.settings)).toEqual([
      { lr: 1e-4, 'batch-size': 8 },
      { lr: 1e-4, 'batch-size': 16 },
      { lr: 1e-3, 'batch-size': 8 },
      { lr: 1e-3, 'batch-size': 16 },
    ]);
  });

  it('draws random trials log-uniformly, the same for the same seed, different for another', () => {
    const axes = [{ flag: 'lr', range: { lo: 1e-5, hi: 1e-3, log: true } }];
    const a = trialsOf(axes, 'random', 200, 7);
    expect(trialsOf(axes, 'random', 200, 7)).toEqual(a);
    expect(trialsOf(axes, 'random', 200, 8)).not.toEqual(a);
    const lrs = a.map((t) => t.settings.lr as number);
    expect(Math.min(...lrs)).toBeGreaterThanOrEqual(1e-5);
    expect(Math.max(...lrs)).toBeLessThanOrEqual(1e-3);
    // log-uniform: about half the draws below the geometric middle 1e-4 (uniform would put ~9% there)
    const below = lrs.filter((x) => x < 1e-4).length / lrs.length;
    expect(below).toBeGreaterThan(0.35);
    expect(below).toBeLessThan(0.65);
    expect(new Set(lrs).size).toBe(lrs.length);
  });
});

describe('rungs', () => {
  it('fractions grow by eta to the whole run; sizes shrink by eta; one trial left skips to the end', () => {
    expect(rungFractions(3, 1 / 9).map((f) => +f.toFixed(4))).toEqual([0.1111, 0.3333, 1]);
    expect(rungFractions(2, 0.25)).toEqual([0.25, 0.5, 1]);
    expect(rungFractions(3, 1)).toEqual([1]);
    expect(rungSizes(9, 3, 3)).toEqual([9, 3, 1]);
    expect(rungSizes(27, 4, 3)).toEqual([27, 9, 3, 1]);
    expect(rungSizes(3, 3, 3)).toEqual([3, 0, 1]);
    expect(rungStep(30, 1 / 9)).toBe(3);
    expect(rungStep(5, 0.01)).toBe(1);
    usage(() => rungFractions(1.5, 0.1), /--eta 1.5: .* at least 2/);
    usage(() => rungFractions(3, 0), /--min-fraction 0: must be in \(0, 1\]/);
  });

  it('ranks by the metric\'s direction, a non-finite value last, ties by the trials\' order', () => {
    const r = (trial: string, loss: number, accuracy: number) => ({ trial, rung: 0, step: 1, status: 'paused', seconds: 1, metrics: { loss, accuracy } });
    const res = [r('t01', 0.5, 0.7), r('t02', NaN, 0.9), r('t03', 0.4, 0.7), r('t04', 0.5, 0.6)];
    expect(rank(res, 'eval-loss', ['t01', 't02', 't03', 't04']).map((x) => x.trial)).toEqual(['t03', 't01', 't04', 't02']);
    expect(rank(res, 'accuracy', ['t01', 't02', 't03', 't04']).map((x) => x.trial)).toEqual(['t02', 't01', 't03', 't04']);
  });

  it('refuses a metric the task does not have', () => {
    usage(() => checkMetric('perplexity', 'classification'), /no perplexity \(it has eval-loss, accuracy, macro-f1\)/);
    expect(() => checkMetric('accuracy', 'classification')).not.toThrow();
  });
});

/**
 * A fake run: trial i's eval loss after s steps is floor_i + 1/(1 + s/10) (each trial improves,
 * the better floor stays better), its steps cost stepMs on a fake clock and each evaluation evalMs.
 * It continues from where the trial stopped, as a resumed run does, and counts what it trains.
 */
function fakeTrainer(floors: Record<string, number>, clock: { t: number }, o: { stepMs?: number; evalMs?: number; stopAt?: number } = {}) {
  const at: Record<string, number> = {};
  const log: { trial: string; rung: number; from: number; to: number }[] = [];
  let calls = 0;
  const trainer: Trainer = {
    async train(trial, rung, toStep) {
      if (o.stopAt !== undefined && ++calls > o.stopAt) return { step: at[trial.id] ?? 0, metrics: {} as Record<string, number>, status: 'interrupted' };
      const from = at[trial.id] ?? 0;
      clock.t += (toStep - from) * (o.stepMs ?? 100) + (o.evalMs ?? 20);
      at[trial.id] = toStep;
      log.push({ trial: trial.id, rung, from, to: toStep });
      return { step: toStep, metrics: { loss: floors[trial.id]! + 1 / (1 + toStep / 10) }, status: toStep === trial.totalSteps ? 'completed' : 'paused' };
    },
  };
  return { trainer, log, at };
}

const FLOORS = { t01: 0.9, t02: 0.35, t03: 0.6, t04: 0.2, t05: 0.8, t06: 0.45, t07: 0.7, t08: 0.3, t09: 0.5 };
const TRIALS: SweepTrial[] = Object.keys(FLOORS).map((id) => ({ id, totalSteps: 90 }));
const newState = (): HalvingState => ({ results: [], decisions: [] });

describe('successive halving', () => {
  it('picks the trial the grid of the same trials picks, for less than the grid spends', async () => {
    // the grid: every trial to the end, the best by the final eval loss
    const gclock = { t: 0 };
    const grid = fakeTrainer(FLOORS, gclock);
    const finals: Record<string, number> = {};
    for (const t of TRIALS) finals[t.id] = (await grid.trainer.train(t, 0, t.totalSteps)).metrics.loss!;
    const gridPick = Object.entries(finals).sort((a, b) => a[1] - b[1])[0]![0];

    const clock = { t: 0 };
    const fake = fakeTrainer(FLOORS, clock);
    const state = newState();
    let saves = 0;
    const out = await successiveHalving({ trials: TRIALS, fractions: rungFractions(3, 1 / 9), eta: 3, metric: 'eval-loss' }, fake.trainer, state, { now: () => clock.t } satisfies Clock, { save: () => saves++ });
    expect(out.status).toBe('done');
    expect(out.status === 'done' && out.winner).toBe(gridPick);
    expect(gridPick).toBe('t04');
    // rung 1: 9 trials to step 10; rung 2: the best 3 (t04, t08, t02) on to 30; rung 3: t04 to 90
    expect(state.decisions.map((d) => d.kept)).toEqual([['t02', 't04', 't08'].sort((a, b) => FLOORS[a as 't02'] - FLOORS[b as 't02']), ['t04']]);
    expect(fake.log.filter((s) => s.rung === 0)).toHaveLength(9);
    expect(fake.log.filter((s) => s.rung === 1).map((s) => [s.trial, s.from, s.to])).toEqual([['t02', 10, 30], ['t04', 10, 30], ['t08', 10, 30]]);
    expect(fake.log.filter((s) => s.rung === 2).map((s) => [s.trial, s.from, s.to])).toEqual([['t04', 30, 90]]);
    // steps: 9×10 + 3×20 + 60 = 210 of the grid's 810; the clock says the same
    expect(fake.log.reduce((a, s) => a + s.to - s.from, 0)).toBe(210);
    expect(clock.t).toBeLessThan(gclock.t);
    expect(clock.t).toBe(210 * 100 + 13 * 20);
    expect(gclock.t).toBe(810 * 100 + 9 * 20);
    expect(state.results.reduce((a, r) => a + r.seconds, 0)).toBeCloseTo(clock.t / 1000, 9);
    expect(saves).toBe(state.results.length + state.decisions.length);
  });

  it('a sweep stopped mid-rung and started again trains nothing twice and takes the same decisions', async () => {
    const whole = newState();
    const c0 = { t: 0 };
    const a = await successiveHalving({ trials: TRIALS, fractions: rungFractions(3, 1 / 9), eta: 3, metric: 'eval-loss' }, fakeTrainer(FLOORS, c0).trainer, whole, { now: () => c0.t }, { save: () => {} });
    for (const stopAt of [4, 10, 12]) {
      const clock = { t: 0 };
      const stored: HalvingState[] = [];
      const save = (s: HalvingState) => stored.push(structuredClone(s));
      const first = fakeTrainer(FLOORS, clock, { stopAt });
      const cfg = { trials: TRIALS, fractions: rungFractions(3, 1 / 9), eta: 3, metric: 'eval-loss' as const };
      const stopped = await successiveHalving(cfg, first.trainer, newState(), { now: () => clock.t }, { save });
      expect(stopped.status).toBe('stopped');
      // a new process: the state as last written, the trials' folders where the first one left them
      const again = fakeTrainer(FLOORS, clock);
      Object.assign(again.at, first.at);
      const state = structuredClone(stored[stored.length - 1]!);
      const b = await successiveHalving(cfg, again.trainer, state, { now: () => clock.t }, { save });
      expect(b).toEqual(a);
      expect(state.decisions).toEqual(whole.decisions);
      expect(first.log.length + again.log.length).toBe(13);
    }
  });
});

describe('the plan', () => {
  const input = (o: Partial<PlanInput> = {}): PlanInput => ({
    trials: TRIALS.map((t) => ({ id: t.id, totalSteps: 90, stepsPerEpoch: 30, costKey: 'b16x1' })),
    fractions: rungFractions(3, 1 / 9),
    eta: 3,
    evalSteps: 0,
    here: { b16x1: { trainSeconds: 0.1, evalSeconds: 0.02 } },
    startupSeconds: 0,
    pricePerHour: 3.6,
    instances: [],
    ...o,
  });

  it('counts the evaluations the run makes in a segment', () => {
    expect(evalPasses(0, 10, 30, 0)).toBe(1);
    expect(evalPasses(10, 30, 30, 0)).toBe(1);
    expect(evalPasses(30, 90, 30, 0)).toBe(2);
    expect(evalPasses(0, 90, 30, 0)).toBe(3);
    expect(evalPasses(0, 90, 30, 20)).toBe(7); // every 20: 20 40 60 80; epochs: 30 60 90 (60 twice, as the loop does)
    expect(evalPasses(0, 50, 30, 20)).toBe(4); // 20 40, 30, and the pause at 50
  });

  it('prices the rungs the fake run above trains, against the grid', () => {
    const p = planSweep(input());
    expect(p.rungs.map((r) => [r.trials, r.toStep[0], r.steps])).toEqual([[9, 10, 90], [3, 30, 60], [1, 90, 60]]);
    expect(p.total.steps).toBe(210);
    expect(p.grid.steps).toBe(810);
    expect(p.total.evals).toBe(9 + 3 + 2);
    expect(p.total.hours * 3600).toBeCloseTo(210 * 0.1 + 14 * 0.02, 9);
    expect(p.total.costUsd).toBeCloseTo(p.total.hours * 3.6, 12);
    expect(p.grid.hours * 3600).toBeCloseTo(810 * 0.1 + 27 * 0.02, 9);
    expect(p.savingPct).toBeCloseTo((1 - p.total.hours / p.grid.hours) * 100, 9);
    expect(p.instance).toBeNull();
  });

  it('takes the costliest trials as survivors when step costs differ, and the instance every trial fits that runs it cheapest', () => {
    const trials = TRIALS.map((t, i) => ({ id: t.id, totalSteps: 90, stepsPerEpoch: 30, costKey: i < 3 ? 'big' : 'small' }));
    const here = { big: { trainSeconds: 1, evalSeconds: 0 }, small: { trainSeconds: 0.1, evalSeconds: 0 } };
    const inst = (name: string, price: number, k: number) => ({ cloud: 'aws', instance: name, gpu: 'A10G', gpus: 1, region: 'us-east-1', pricePerHour: price, spot: false, source: 'test', setupHours: 0.1, costs: { big: { trainSeconds: k, evalSeconds: 0 }, small: { trainSeconds: k / 10, evalSeconds: 0 } } });
    const p = planSweep(input({ trials, here, instances: [inst('slow', 1, 0.2), inst('fast', 3, 0.05)] }));
    // rung 2: 3 survivors, all "big": 3 × 20 steps × 1 s
    expect(p.rungs[1]!.hours * 3600).toBeCloseTo(60, 9);
    expect(p.instance?.instance).toBe('fast');
    expect(p.notes.join()).toMatch(/upper bound/);
  });
});

/** `ftplan sweep <argv>` as the CLI parses it, read into a sweep (no data read, nothing measured). */
const setup = (argv: string[]) => sweepSetup(yargs(['--dataset', 'd.jsonl', ...argv]).options(toYargs(SWEEP_OPTIONS)).strict().parseSync() as Record<string, unknown>);

describe('ftplan sweep\'s flags', () => {
  it('make trials whose run flags are the run\'s, one value being a shared setting', () => {
    const s = setup(['--model', 'tiny', '--lr', '1e-4,1e-3', '-b', '8,16', '--epochs', '2', '--max-steps', '40']);
    expect(s.search).toBe('grid');
    expect(s.axes.map((a) => a.flag)).toEqual(['lr', 'batch-size']);
    expect(s.trials).toHaveLength(4);
    expect(s.trials[3]!.run).toMatchObject({ model: 'tiny', lr: 1e-3, batchSize: 16, epochs: 2, maxSteps: 40, scheduler: 'linear' });
    expect(s.fractions.map((f) => +f.toFixed(3))).toEqual([0.111, 0.333, 1]);
    expect(s.base.json).toBe(false); // the sweep's --json is not the run's
    // the same flags, the same fingerprint; threads do not change it, the space does
    expect(setup(['--model', 'tiny', '--lr', '1e-4,1e-3', '-b', '8,16', '--epochs', '2', '--max-steps', '40', '--threads', '1', '--json']).fingerprint).toBe(s.fingerprint);
    expect(setup(['--model', 'tiny', '--lr', '1e-4,3e-3', '-b', '8,16', '--epochs', '2', '--max-steps', '40']).fingerprint).not.toBe(s.fingerprint);
  });

  it('a range makes a random search of --trials draws', () => {
    const s = setup(['--lr', '1e-5:1e-3', '--trials', '5', '--eta', '2', '--min-fraction', '0.25']);
    expect(s.search).toBe('random');
    expect(s.trials).toHaveLength(5);
    expect(s.fractions).toEqual([0.25, 0.5, 1]);
  });

  it('refuses a bad space, eta, metric, budget or a flag the run does not have, naming it', () => {
    usage(() => setup(['--lr', '1e-4']), /the search space is empty/);
    usage(() => setup(['--lr', '1e-4,1e-4']), /0.0001 is listed twice/);
    usage(() => setup(['--lr', '0,1e-4']), /--lr 0: must be > 0/);
    usage(() => setup(['--lr', '1e-4,3e-4', '--trials', '2']), /--trials without a range/);
    usage(() => setup(['--lr', '1e-5:1e-3']), /needs --trials/);
    usage(() => setup(['--lr', '1e-4,3e-4', '--eta', '1']), /--eta 1: .*at least 2/);
    usage(() => setup(['--lr', '1e-4,3e-4', '--min-fraction', '1.5']), /--min-fraction 1.5: must be in \(0, 1\]/);
    usage(() => setup(['--lr', '1e-4,3e-4', '--metric', 'perplexity']), /--metric perplexity: a classification run's evaluation has no perplexity/);
    usage(() => setup(['--lr', '1e-4,3e-4', '--lora-r', '8,16', '--method', 'full']), /--lora-r is a LoRA adapter's rank, and --method is full/);
    usage(() => setup(['--lr', '1e-4,3e-4', '--budget', '5']), /--budget needs --price-per-hour or --instance/);
    usage(() => setup(['--lr', '1e-4,3e-4', '--output', 'x.yaml']), /--output names where --emit writes/);
    usage(() => setup(['--lr', '1e-4,3e-4', '--warmup-ratio', '0.1,1']), /--warmup-ratio 1: must be < 1/);
  });

  it('checks the plan against the budget: below one rung, over the whole search, or within it', () => {
    const plan = planSweep({ trials: TRIALS.map((t) => ({ id: t.id, totalSteps: 90, stepsPerEpoch: 30, costKey: 'k' })), fractions: rungFractions(3, 1 / 9), eta: 3, evalSteps: 0, here: { k: { trainSeconds: 36, evalSeconds: 0 } }, startupSeconds: 0, pricePerHour: 10, instances: [] });
    // rung 1: 90 steps × 36 s = 0.9 h ($9); the search 210 steps = 2.1 h ($21)
    usage(() => checkBudget(plan, { usd: 8 }), /--budget 8: below one rung: the first rung alone \(9 trials to 11% of their runs\) is planned at \$9\.00/);
    usage(() => checkBudget(plan, { usd: 20 }), /--budget 20: the search is planned at \$21\.00, over the budget/);
    usage(() => checkBudget(plan, { hours: 0.5 }), /--budget-hours 0.5: below one rung/);
    expect(() => checkBudget(plan, { usd: 21.5, hours: 2.2 })).not.toThrow();
  });

  it('tell the flags a command line gives from the defaults (aliases, =, --no-)', () => {
    expect([...explicitFlags(['--from-sweep', 'd', '-b', '8', '--lr=1e-3', '--no-json', '--maxSteps', '3', '--output-dir', 'o'], RUN_OPTIONS)].sort()).toEqual(['batch-size', 'from-sweep', 'json', 'lr', 'max-steps', 'output-dir']);
  });
});
