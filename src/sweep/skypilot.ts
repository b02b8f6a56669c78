/**
 * skypilot.ts — `ftplan sweep --emit skypilot`: a SkyPilot task that runs the same sweep on the
 * instance the plan priced it on (one GPU's machine: the trials run one after another, as here).
 * The node measures again before training, so its plan is the GPU's own, and --budget there is
 * checked at the instance's price. Local data and model folders travel as file mounts; the sweep's
 * folder stays on the node (fetch it with rsync, see the YAML's comment).
 */
import { existsSync } from 'node:fs';
import { basename, isAbsolute, resolve } from 'node:path';
import { stringify } from 'yaml';
import { FtplanError } from '../errors.js';
import { SKYPILOT_SETUP, shellQuote, validateSkypilotTask } from '../commands/launch.js';
import { LAUNCH_ONLY_FLAGS } from '../flags/launch.js';
import { camel } from '../flags/registry.js';
import { SWEEP_OPTIONS } from '../flags/sweep.js';
import { PACKAGE_ROOT } from '../paths.js';
import { skypilotAccelerator, skypilotRegion } from '../pricing/skypilot.js';
import type { SweepPlan } from './plan.js';
import type { SweepSetup } from './setup.js';

/** Flags that do not travel: how this machine emits, prices and reads local price tables. */
const LOCAL_ONLY = ['emit', 'output', 'dry-run', 'dir', 'threads', 'device', 'price-per-hour', 'instance', 'catalog', 'json'];

export function sweepSkypilotTask(setup: SweepSetup, plan: SweepPlan): { yaml: string; task: Record<string, unknown>; source: string } {
  const inst = plan.instance;
  if (!inst) throw new FtplanError('ERR_USAGE', 'no instance in the price tables fits every trial: nothing to emit', { fix: 'widen --cloud/--gpu/--gpus, or import a SkyPilot catalog (ftplan pricing import)' });
  const { args } = setup;
  const mounts: Record<string, string> = {};
  const mount = (p: string, at: string) => {
    if (!existsSync(p)) return p; // a preset or a hub id
    const remote = `/ftplan/${at}/${basename(resolve(p))}`;
    mounts[remote] = resolve(p);
    return remote;
  };
  const argv: string[] = [];
  for (const [name, spec] of Object.entries(SWEEP_OPTIONS)) {
    if (LOCAL_ONLY.includes(name)) continue;
    let v = args[camel(name)];
    if (v === undefined || ('default' in spec && spec.default === v)) continue;
    if (name === 'dataset') v = mount(String(v), 'data');
    if (name === 'model') v = mount(String(v), 'model');
    if (typeof v === 'boolean') argv.push(v ? `--${name}` : `--no-${name}`);
    else if (Array.isArray(v)) for (const x of v) argv.push(`--${name}`, String(x));
    else argv.push(`--${name}`, String(v));
  }
  const dir = isAbsolute(args.dir) ? 'ftplan-sweep' : args.dir;
  // the budget there is the instance's dollars
  argv.push('--price-per-hour', String(inst.pricePerHour), '--dir', dir, '--report', `${dir}/report.md`);
  const run = ['node', 'bin/ftplan.js', 'sweep', ...argv];
  const source = `${inst.cloud} ${inst.instance} (${inst.gpus}× ${inst.gpu}, ${inst.region}, $${inst.pricePerHour}/h)`;
  const task: Record<string, unknown> = {
    name: 'ftplan-sweep',
    workdir: PACKAGE_ROOT,
    num_nodes: 1,
    resources: {
      accelerators: `${skypilotAccelerator(inst.gpu, inst.cloud)}:${inst.gpus}`,
      cloud: inst.cloud,
      region: skypilotRegion(inst.cloud, inst.region),
      instance_type: inst.instance,
      disk_size: LAUNCH_ONLY_FLAGS['disk-size'].spec.default,
      ...(inst.spot ? { use_spot: true } : {}),
    },
    envs: { LIBTORCH_USE_PYTORCH: '1', FTPLAN_TORCH_VERSION: LAUNCH_ONLY_FLAGS['torch-version'].spec.default },
    ...(Object.keys(mounts).length ? { file_mounts: mounts } : {}),
    setup: SKYPILOT_SETUP,
    run: [
      'set -euo pipefail',
      `# planned here: the search ${plan.total.instanceCostUsd?.toFixed(2)} USD on ${source}, the grid ${plan.grid.instanceCostUsd?.toFixed(2)} USD`,
      '# the sweep continues where it stopped if the job is started again (its state is in the sweep folder)',
      `# fetch the results: rsync -Pavz ftplan-sweep:sky_workdir/${dir} .`,
      run.map(shellQuote).join(' '),
    ].join('\n'),
  };
  const errors = validateSkypilotTask(task);
  if (errors.length) throw new FtplanError('ERR_NATIVE', `the SkyPilot task does not validate against schemas/skypilot-task.schema.json: ${errors.join('; ')}`, { exitCode: 1 });
  return { yaml: stringify(task, { lineWidth: 0 }), task, source };
}
