/**
 * space.ts — a sweep's search space: which `ftplan run` flags may vary (one row each in DIMENSIONS),
 * the values a flag gives them (a comma list, or a `lo:hi` range sampled log-uniformly with
 * --trials), and the trials: every combination (grid) or a seeded sample (random). Pure.
 *
 * A dimension is the name of a run flag and how its values read. A flag the run does not have is
 * refused by name, never ignored: the row is checked against the run's flag table when the sweep
 * starts. --lora-r's trials train LoRA adapters (setup.ts: a rank implies --method lora).
 */
import { FtplanError } from '../errors.js';

export type Value = number | string;

export interface Dimension {
  /** the `ftplan run` flag it sets (kebab-case), and the sweep flag that lists its values */
  flag: string;
  kind: 'float' | 'int' | 'choice';
  /** choice: the values the run accepts */
  choices?: readonly string[];
  /** `lo:hi` allowed (floats): sampled log-uniformly when lo > 0 */
  range: boolean;
  /** the smallest allowed value and whether it is allowed itself (lr: > 0; weight decay: ≥ 0) */
  min?: { value: number; inclusive: boolean };
  max?: { value: number; inclusive: boolean };
  /** whether the value changes the time of a step (then the plan measures each value's step) */
  stepTime: boolean;
  /** how a value shows in tables */
  show?: (v: Value) => string;
}

const sci = (v: Value) => (typeof v === 'number' ? (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) ? v.toExponential(1).replace('.0e', 'e') : String(Number(v.toPrecision(3)))) : v);

/** The dimensions a sweep can vary, in the order they show. A new one (LoRA's rank, a training method) is one row here. */
export const DIMENSIONS: readonly Dimension[] = [
  { flag: 'lr', kind: 'float', range: true, min: { value: 0, inclusive: false }, stepTime: false, show: sci },
  { flag: 'batch-size', kind: 'int', range: false, min: { value: 1, inclusive: true }, stepTime: true },
  { flag: 'grad-accum', kind: 'int', range: false, min: { value: 1, inclusive: true }, stepTime: true },
  { flag: 'epochs', kind: 'int', range: false, min: { value: 1, inclusive: true }, max: { value: 1000, inclusive: true }, stepTime: false },
  { flag: 'weight-decay', kind: 'float', range: true, min: { value: 0, inclusive: true }, stepTime: false, show: sci },
  { flag: 'warmup-ratio', kind: 'float', range: true, min: { value: 0, inclusive: true }, max: { value: 1, inclusive: false }, stepTime: false },
  { flag: 'max-grad-norm', kind: 'float', range: true, min: { value: 0, inclusive: true }, stepTime: false },
  { flag: 'scheduler', kind: 'choice', choices: ['linear', 'cosine', 'constant'], range: false, stepTime: false },
  // The adapter's rank: a trial with one trains --method lora (setup.ts), and each rank's step is measured.
  { flag: 'lora-r', kind: 'int', range: false, min: { value: 1, inclusive: true }, stepTime: true },
];

export const dimension = (flag: string): Dimension => {
  const d = DIMENSIONS.find((x) => x.flag === flag);
  if (!d) throw new Error(`no sweep dimension ${flag}`);
  return d;
};

/** One dimension's values as given: a list, or a range sampled with --trials. */
export type Axis = { flag: string; list: Value[] } | { flag: string; range: { lo: number; hi: number; log: boolean } };

const bad = (message: string, fix: string) => new FtplanError('ERR_USAGE', message, { fix });

function checkBound(d: Dimension, v: number, what: string): void {
  const name = `--${d.flag}`;
  if (!Number.isFinite(v)) throw bad(`${name} ${what}: not a finite number`, `give ${name} numbers, e.g. --${d.flag} 1e-4,3e-4`);
  if (d.kind === 'int' && !Number.isInteger(v)) throw bad(`${name} ${what}: not a whole number`, `give ${name} whole numbers, e.g. --${d.flag} 8,16`);
  if (d.min && (d.min.inclusive ? v < d.min.value : v <= d.min.value)) throw bad(`${name} ${what}: must be ${d.min.inclusive ? '≥' : '>'} ${d.min.value}`, `give ${name} values ${d.min.inclusive ? '≥' : 'above'} ${d.min.value}`);
  if (d.max && (d.max.inclusive ? v > d.max.value : v >= d.max.value)) throw bad(`${name} ${what}: must be ${d.max.inclusive ? '≤' : '<'} ${d.max.value}`, `give ${name} values ${d.max.inclusive ? 'up to' : 'below'} ${d.max.value}`);
}

/** A flag's text (`1e-5,3e-5` or `1e-5:1e-3`) as an axis; every problem an error naming the flag. */
export function parseAxis(d: Dimension, text: string): Axis {
  const name = `--${d.flag}`;
  const s = text.trim();
  if (!s) throw bad(`${name} is empty`, `give it one or more values, e.g. ${name} ${d.kind === 'choice' ? d.choices!.join(',') : d.kind === 'int' ? '8,16' : '1e-4,3e-4'}`);
  if (s.includes(':')) {
    const parts = s.split(':');
    if (!d.range) throw bad(`${name} ${s}: a range is not allowed here (${d.kind === 'choice' ? 'a choice' : 'whole numbers'} are listed)`, `list the values: ${name} ${d.kind === 'int' ? '8,16,32' : 'a,b'}`);
    if (parts.length !== 2) throw bad(`${name} ${s}: a range is lo:hi`, `e.g. ${name} 1e-5:1e-3 --trials 6`);
    const [lo, hi] = parts.map((p) => (p.trim() === '' ? NaN : Number(p)));
    checkBound(d, lo!, `${s} (its low end)`);
    checkBound(d, hi!, `${s} (its high end)`);
    if (!(hi! > lo!)) throw bad(`${name} ${s}: the range is empty (the high end must be above the low end)`, `e.g. ${name} 1e-5:1e-3`);
    return { flag: d.flag, range: { lo: lo!, hi: hi!, log: lo! > 0 } };
  }
  const items = s.split(',').map((x) => x.trim());
  if (items.some((x) => x === '')) throw bad(`${name} ${s}: an empty item in the list`, `separate values by single commas: ${name} a,b,c`);
  const list: Value[] = items.map((x) => {
    if (d.kind === 'choice') {
      if (!d.choices!.includes(x)) throw bad(`${name} ${x}: not one of ${d.choices!.join(', ')}`, `list some of ${d.choices!.join(', ')}`);
      return x;
    }
    const v = Number(x);
    checkBound(d, v, x);
    return v;
  });
  const seen = new Set<string>();
  for (const v of list) {
    const key = String(v);
    if (seen.has(key)) throw bad(`${name} ${s}: ${v} is listed twice (two trials would be the same)`, 'list each value once');
    seen.add(key);
  }
  return { flag: d.flag, list };
}

export type Search = 'grid' | 'random';

export interface Trial {
  /** t01, t02, … in the order the space lists them */
  id: string;
  /** the run flags it sets (kebab-case flag → value) */
  settings: Record<string, Value>;
}

/** Every combination of the listed values, the first axis slowest. */
function product(axes: { flag: string; list: Value[] }[]): Record<string, Value>[] {
  let out: Record<string, Value>[] = [{}];
  for (const a of axes) out = out.flatMap((o) => a.list.map((v) => ({ ...o, [a.flag]: v })));
  return out;
}

/** A seeded generator (mulberry32): the same seed draws the same trials on every machine. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Three significant digits: a sampled value reads as the flag that sets it. */
const round3 = (v: number) => Number(v.toPrecision(3));

/**
 * The trials of a space. grid: every combination (no ranges, no --trials). random: --trials draws,
 * lists picked uniformly, ranges log-uniformly (uniformly when the low end is 0); a combination of
 * lists alone is drawn without repeats.
 */
export function trialsOf(axes: Axis[], search: Search, trials: number | undefined, seed: number): Trial[] {
  if (!axes.length) throw bad('the search space is empty: no flag lists more than one value or a range', 'list values to try, e.g. --lr 1e-4,3e-4,1e-3 (or --lr 1e-5:1e-3 --trials 6)');
  const ranges = axes.filter((a): a is Extract<Axis, { range: unknown }> => 'range' in a);
  const lists = axes.filter((a): a is Extract<Axis, { list: Value[] }> => 'list' in a);
  if (search === 'grid') {
    if (ranges.length) throw bad(`--${ranges[0]!.flag} ${ranges[0]!.range.lo}:${ranges[0]!.range.hi} is a range: a grid cannot list it`, `use --search random --trials N (a range implies it), or list values: --${ranges[0]!.flag} a,b,c`);
    if (trials !== undefined) throw bad('--trials without a range: a grid runs every combination of the lists', 'leave --trials out, or give a range (e.g. --lr 1e-5:1e-3) or --search random to draw N trials');
    const all = product(lists);
    if (all.length < 2) throw bad('the search space has one trial: nothing to compare', 'list two or more values for a flag, e.g. --lr 1e-4,1e-3');
    return all.map((settings, i) => ({ id: trialId(i, all.length), settings }));
  }
  if (trials === undefined) throw bad('--search random needs --trials N (how many to draw)', 'e.g. --trials 6');
  if (trials < 2) throw bad(`--trials ${trials}: one trial has nothing to compare`, 'give --trials 2 or more');
  const rand = prng(seed);
  const out: Record<string, Value>[] = [];
  if (!ranges.length) {
    // lists only: a sample of the grid without repeats
    const all = product(lists);
    if (trials > all.length) throw bad(`--trials ${trials}: the lists make only ${all.length} different trials`, `give --trials ${all.length} or fewer (or --search grid), or add a range`);
    const idx = all.map((_, i) => i);
    for (let i = 0; i < trials; i++) {
      const j = i + Math.floor(rand() * (idx.length - i));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
      out.push(all[idx[i]!]!);
    }
  } else {
    const seen = new Set<string>();
    for (let tries = 0; out.length < trials && tries < trials * 100; tries++) {
      const s: Record<string, Value> = {};
      for (const a of axes) {
        if ('list' in a) s[a.flag] = a.list[Math.floor(rand() * a.list.length)]!;
        else {
          const { lo, hi, log } = a.range;
          const u = rand();
          s[a.flag] = round3(log ? Math.exp(Math.log(lo) + u * (Math.log(hi) - Math.log(lo))) : lo + u * (hi - lo));
        }
      }
      const key = JSON.stringify(s);
      if (!seen.has(key)) (seen.add(key), out.push(s));
    }
    if (out.length < trials) throw bad(`--trials ${trials}: the space has too few different values at three significant digits`, 'widen the range or ask for fewer trials');
  }
  return out.map((settings, i) => ({ id: trialId(i, out.length), settings }));
}

const trialId = (i: number, n: number) => `t${String(i + 1).padStart(Math.max(2, String(n).length), '0')}`;

/** `lr 1e-4 · batch-size 16` */
export function describeSettings(settings: Record<string, Value>): string {
  return Object.entries(settings)
    .map(([k, v]) => {
      const d = DIMENSIONS.find((x) => x.flag === k);
      return `${k} ${d?.show ? d.show(v) : v}`;
    })
    .join(' · ');
}
