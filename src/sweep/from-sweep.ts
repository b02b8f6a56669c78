/**
 * from-sweep.ts — `ftplan run --from-sweep <dir>`: the sweep's winner trained on its own: the
 * sweep's shared run flags (model, data set, limits, …) and the winner's settings become the run's,
 * except where a flag is given on the command line (it wins, and the run says so).
 */
import { resolve } from 'node:path';
import { FtplanError } from '../errors.js';
import { camel, kebab, type OptionSpec } from '../flags/registry.js';
import { NOT_SWEPT } from '../flags/sweep.js';
import { describeSettings } from './space.js';
import { readSweepState } from './state.js';

/** The flags a command line gives explicitly (kebab-case; aliases and --no-x resolved), so defaults can be told from choices. */
export function explicitFlags(argv: readonly string[], table: Record<string, OptionSpec>): Set<string> {
  const alias = new Map(Object.entries(table).flatMap(([k, s]) => (s.alias ? [[s.alias, k] as const] : [])));
  const out = new Set<string>();
  for (const a of argv) {
    if (a === '--') break;
    const m = /^--?([^=]+)/.exec(a);
    if (!m || /^-\d/.test(a)) continue;
    let name = m[1]!;
    if (!a.startsWith('--')) name = alias.get(name) ?? name;
    name = kebab(camel(name));
    if (!(name in table) && name.startsWith('no-') && name.slice(3) in table) name = name.slice(3);
    out.add(name);
  }
  return out;
}

/** The run's flags with the sweep's winner applied; notes say what came from the sweep and what the command line overrode. */
export function applySweep(raw: Record<string, unknown>, dir: string, given: Set<string>): { raw: Record<string, unknown>; notes: string[] } {
  const state = readSweepState(resolve(dir));
  if (!state) throw new FtplanError('ERR_INPUT', `--from-sweep ${dir}: no sweep there (no sweep.json)`, { fix: 'point --from-sweep at the --dir of an `ftplan sweep`' });
  if (!state.winner) throw new FtplanError('ERR_INPUT', `--from-sweep ${dir}: the sweep has not finished, so it has no winner`, { fix: 'finish it: run the same `ftplan sweep` command again (it continues where it stopped)' });
  const w = state.trials.find((t) => t.id === state.winner!.trial);
  if (!w) throw new FtplanError('ERR_INPUT', `--from-sweep ${dir}: its winner ${state.winner.trial} is not among its trials`, { fix: 'the state file was edited: run the sweep again in a new --dir' });
  const settings: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(state.base)) if (!(NOT_SWEPT as readonly string[]).includes(kebab(k)) && v !== undefined) settings[kebab(k)] = v;
  Object.assign(settings, w.settings);
  const out = { ...raw };
  const overridden: string[] = [];
  for (const [flag, v] of Object.entries(settings)) {
    if (given.has(flag)) {
      if (String(raw[camel(flag)]) !== String(v)) overridden.push(`--${flag} ${String(raw[camel(flag)])} (the sweep's: ${String(v)})`);
      continue;
    }
    out[camel(flag)] = v;
  }
  const notes = [`from the sweep in ${resolve(dir)}: the winner ${w.id} (${describeSettings(w.settings)}), with the sweep's model ${String(settings.model)} and data set ${String(settings.dataset)}`];
  if (overridden.length) notes.push(`given on the command line, these win over the sweep's: ${overridden.join(', ')}`);
  return { raw: out, notes };
}
