/**
 * launch.ts — `ftplan launch --emit skypilot`: a SkyPilot task YAML that runs `ftplan run`
 * data-parallel on the recommended instance (or the one named): resources, num_nodes, a setup that
 * installs Node 20, a libtorch (the PyTorch wheel's, for CUDA) and this ftplan checkout (SkyPilot
 * syncs `workdir` to every node), and a run line that starts ftplan's launcher on every node with
 * SkyPilot's node rank, node count, GPUs per node and the first node's IP as master. With a plan, the
 * run trains the batch the plan priced: its pick's micro-batch and accumulation on its GPUs (split
 * over every rank when there are more nodes), with a guard that stops the run if SkyPilot gives it
 * other GPU or node counts than the batch was split for.
 *
 * The YAML is validated against the vendored SkyPilot task schema (schemas/skypilot-task.schema.json)
 * before it is written; `sky launch task.yaml` takes it from there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { stringify } from 'yaml';
import { z } from 'zod';
import { batchPlan, effectiveBatch, type BatchPlan } from '../batch-plan.js';
import { TASKS, type Task } from '../model/decoder-config.js';
import { FtplanError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { PACKAGE_ROOT } from '../paths.js';
import { skypilotAccelerator, skypilotRegion } from '../pricing/skypilot.js';
import { runFlags } from '../train/distributed.js';
import { parseArgs, RUN_OPTIONS, RunArgsSchema, type RunArgs } from './options.js';
import { LAUNCH_OPTIONS, LaunchOnlyArgsSchema as LaunchOnly } from './launch-options.js';

export { LAUNCH_OPTIONS };


export const MASTER_PORT = 29500;
/** The SkyPilot-provided values the run line takes (https://docs.skypilot.co/en/latest/running-jobs/environment-variables.html). */
export const SKYPILOT_DIST_FLAGS = ['--nproc', '$SKYPILOT_NUM_GPUS_PER_NODE', '--nnodes', '$SKYPILOT_NUM_NODES', '--node-rank', '$SKYPILOT_NODE_RANK', '--master-addr', '"$(echo "$SKYPILOT_NODE_IPS" | head -n1)"', '--master-port', String(MASTER_PORT)];

interface Target {
  cloud?: string;
  region?: string;
  instanceType?: string;
  accelerator: string;
  gpusPerNode: number;
  source: string;
  /** from a plan: the pick's BatchPlan (micro-batch × accumulation × its GPUs), the effective batch priced, the model measured */
  plan?: { batch: BatchPlan; batchSize: number; model: string | null; task: Task | null; training: PlanTraining | null };
}

/** What the plan's measurement trained (estimate's `training`): the run trains the same, or its micro-batch may not fit. */
const PlanTrainingSchema = z.object({
  method: z.enum(['full', 'lora', 'qlora', 'head']),
  lora: z.object({ r: z.number(), alpha: z.number(), dropout: z.number(), targets: z.array(z.string()) }).nullable(),
  gradientCheckpointing: z.boolean(),
  baseDtype: z.enum(['bf16', 'fp32']).optional(),
  doubleQuant: z.boolean().optional(),
  unfreezeLast: z.number().optional(),
});
type PlanTraining = z.infer<typeof PlanTrainingSchema>;

/** The plan's method as run flags (camelCase), for those the command line leaves out. */
function trainingFlags(t: PlanTraining): Record<string, unknown> {
  return {
    ...(t.method !== 'full' ? { method: t.method } : {}),
    ...(t.lora ? { loraR: t.lora.r, loraAlpha: t.lora.alpha, loraDropout: t.lora.dropout, loraTarget: t.lora.targets.join(','), baseDtype: t.baseDtype } : {}),
    ...(t.method === 'qlora' && t.doubleQuant ? { doubleQuant: true } : {}),
    ...(t.method === 'head' && t.unfreezeLast ? { unfreezeLast: t.unfreezeLast } : {}),
    ...(t.gradientCheckpointing ? { gradientCheckpointing: true } : {}),
  };
}

const PlanFileSchema = z.object({
  model: z.string().optional(),
  /** what the plan measured: a causal-LM estimate launches a causal-LM run */
  task: z.enum(TASKS).optional(),
  training: PlanTrainingSchema.optional(),
  plan: z.object({
    batchSize: z.number().int().positive(),
    recommended: z
      .object({
        cloud: z.string(),
        region: z.string(),
        instance: z.string(),
        gpu: z.string(),
        gpus: z.number().int().positive(),
        microBatch: z.number().int().positive(),
        gradAccum: z.number().int().positive(),
        /** fsdp: the model fits the pick's GPUs only sharded (absent in older plans: replicas) */
        sharding: z.enum(['none', 'fsdp']).optional(),
        reason: z.string().optional(),
      })
      .nullable(),
    /** the pick's BatchPlan (absent in plans written before the plan carried it) */
    batch: z.object({ microBatch: z.number().int().positive(), gradAccum: z.number().int().positive(), ranks: z.number().int().positive() }).nullable().optional(),
  }),
});

function targetFromPlan(file: string): Target {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `--plan ${file}: not readable JSON (${(e as Error).message})`, { fix: 'pass a file written by `ftplan estimate --json > plan.json`' });
  }
  const parsed = PlanFileSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new FtplanError('ERR_INPUT', `--plan ${file}: not an estimate's plan (${i?.path.join('.')}: ${i?.message})`, { fix: 'pass a file written by `ftplan estimate --json > plan.json`, unedited' });
  }
  const { plan, model, task, training } = parsed.data;
  const r = plan.recommended;
  if (!r) throw new FtplanError('ERR_INPUT', `--plan ${file}: the estimate recommends no instance`, { fix: 'relax its constraints (--budget, --deadline, --gpus) and estimate again, or name --gpu/--gpus' });
  // ftplan run trains whole replicas on every GPU: a pick that fits only sharded cannot run as planned
  if (r.sharding === 'fsdp')
    throw new FtplanError('ERR_INPUT', `--plan ${file}: its pick (${r.gpus}× ${r.gpu}, ${r.cloud} ${r.instance}) ${r.reason ?? 'needs FSDP/ZeRO-3 sharding over its GPUs'}`, {
      fix: 'estimate again with --method lora or qlora (or a smaller model) so that a replica fits one GPU, or a GPU with more memory (--gpu)',
    });
  const batch = batchPlan(r.microBatch, r.gradAccum, r.gpus);
  const b = plan.batch;
  const agrees = !b || (b.microBatch === batch.microBatch && b.gradAccum === batch.gradAccum && b.ranks === batch.ranks);
  if (!agrees || effectiveBatch(batch) !== plan.batchSize) {
    const carried = agrees ? '' : ` (and its batch field says ${b!.microBatch} × ${b!.gradAccum} × ${b!.ranks})`;
    throw new FtplanError('ERR_INPUT', `--plan ${file}: its pick trains ${batch.microBatch} × ${batch.gradAccum} accumulation × ${batch.ranks} GPUs = ${effectiveBatch(batch)} rows per step, not the ${plan.batchSize} it was priced at${carried}`, {
      fix: `estimate again with this ftplan, with --batch-size × --grad-accum a multiple of ${r.gpus}`,
    });
  }
  return {
    cloud: r.cloud,
    region: r.region,
    instanceType: r.instance,
    accelerator: r.gpu,
    gpusPerNode: r.gpus,
    source: `${file}: recommended ${r.cloud} ${r.instance} (${r.gpus}× ${r.gpu}, ${r.region})`,
    plan: { batch, batchSize: plan.batchSize, model: model ?? null, task: task ?? null, training: training ?? null },
  };
}

/**
 * Each rank's micro-batch and accumulation for the plan's effective batch over `ranks` GPUs: the
 * plan's own on its GPU count; over more ranks (--nnodes), the rows per rank split at a micro-batch
 * no larger than the one whose memory fit the plan checked. Throws when the batch does not split.
 */
export function splitBatch(p: NonNullable<Target['plan']>, ranks: number): BatchPlan {
  if (p.batchSize % ranks !== 0) {
    throw new FtplanError('ERR_USAGE', `the plan's batch of ${p.batchSize} rows per step does not split over ${ranks} GPUs (${p.batch.ranks} per node × ${ranks / p.batch.ranks} nodes)`, {
      fix: `use an --nnodes whose GPU count divides ${p.batchSize}, or estimate again with --batch-size × --grad-accum a multiple of ${ranks}`,
    });
  }
  if (ranks === p.batch.ranks) return p.batch;
  const perRank = p.batchSize / ranks;
  let microBatch = Math.min(p.batch.microBatch, perRank);
  while (perRank % microBatch !== 0) microBatch--;
  return batchPlan(microBatch, perRank / microBatch, ranks);
}

/** The nodes' set-up: Node 20, the PyTorch wheel's libtorch, ftplan built against it (the task's envs give FTPLAN_TORCH_VERSION). */
export const SKYPILOT_SETUP = [
  'set -euo pipefail',
  '# Node.js >= 20.19 (NodeSource), unless the image has it',
  'if ! node -e \'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)\' 2>/dev/null; then',
  '  curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash - && sudo apt-get install -y nodejs',
  'fi',
  '# libtorch: the PyTorch wheel\'s (CUDA, NCCL); scripts/setup.sh builds ftplan against it (LIBTORCH_USE_PYTORCH=1)',
  'python3 -m pip install --quiet "torch==${FTPLAN_TORCH_VERSION}"',
  'bash scripts/setup.sh --no-run',
].join('\n');

export const shellQuote = (s: string) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(s) || s.startsWith('$') || s.startsWith('"$(') ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export interface SkyTask {
  yaml: string;
  task: Record<string, unknown>;
  runArgv: string[];
  source: string;
  /** each rank's micro-batch and accumulation, the ranks, and the rows per optimizer step they make */
  batch: BatchPlan & { effective: number };
  /** the model the plan measured (null: no plan, or a plan without it) */
  planModel: string | null;
}

/** The task, as an object and as YAML; throws when it does not validate against the vendored schema. */
export function skypilotTask(run: RunArgs, launch: z.infer<typeof LaunchOnly>): SkyTask {
  const target: Target = launch.plan
    ? targetFromPlan(launch.plan)
    : (() => {
        if (!launch.gpu) throw new FtplanError('ERR_USAGE', 'ftplan launch needs --plan (an estimate\'s recommendation) or --gpu', { fix: 'ftplan estimate --gpus 8 --json > plan.json; ftplan launch --emit skypilot --plan plan.json --dataset …' });
        return { cloud: launch.cloud, region: launch.region, accelerator: launch.gpu, gpusPerNode: launch.gpus, source: `--gpu ${launch.gpu} --gpus ${launch.gpus}` };
      })();
  if (launch.cloud) target.cloud = launch.cloud;
  if (launch.region) target.region = launch.region;
  // Local data and model folders travel as file mounts; the run reads them at fixed paths.
  const fileMounts: Record<string, string> = {};
  const mount = (p: string, at: string) => {
    if (!existsSync(p)) return p; // a preset name or a hub id: as it is
    const remote = `/ftplan/${at}/${basename(resolve(p))}`;
    fileMounts[remote] = resolve(p);
    return remote;
  };
  const remoteRun: RunArgs = { ...run, dataset: mount(run.dataset, 'data'), model: mount(run.model, 'model'), };
  // The batch: with a plan, its effective batch split over the ranks this task starts (every GPU of
  // every node), at a micro-batch whose fit the plan checked; the run line states both explicitly.
  const ranks = target.gpusPerNode * run.nnodes;
  const batch = target.plan ? splitBatch(target.plan, ranks) : batchPlan(run.batchSize, run.gradAccum, ranks);
  const effective = effectiveBatch(batch);
  const flags = runFlags(remoteRun, ['nproc', 'nnodes', 'node-rank', 'master-addr', 'master-port', 'instance', 'batch-size', 'grad-accum']);
  const runArgv = ['node', 'bin/ftplan.js', 'run', ...flags, '--batch-size', String(batch.microBatch), '--grad-accum', String(batch.gradAccum), ...SKYPILOT_DIST_FLAGS];
  // SkyPilot sets the GPUs and nodes; the batch split above holds only for these counts.
  const guard = `if [ "$SKYPILOT_NUM_GPUS_PER_NODE" != ${target.gpusPerNode} ] || [ "$SKYPILOT_NUM_NODES" != ${run.nnodes} ]; then echo "ftplan: this task splits ${effective} rows per step over ${target.gpusPerNode} GPU(s) × ${run.nnodes} node(s), SkyPilot gave $SKYPILOT_NUM_GPUS_PER_NODE × $SKYPILOT_NUM_NODES: write it again with ftplan launch" >&2; exit 2; fi`;
  const resources: Record<string, unknown> = { accelerators: `${skypilotAccelerator(target.accelerator, target.cloud)}:${target.gpusPerNode}`, disk_size: launch.diskSize };
  if (target.cloud) resources.cloud = target.cloud;
  if (target.region) resources.region = target.cloud ? skypilotRegion(target.cloud, target.region) : target.region;
  if (target.instanceType) resources.instance_type = target.instanceType;
  if (launch.spot) resources.use_spot = true;
  const task: Record<string, unknown> = {
    name: launch.name,
    workdir: PACKAGE_ROOT,
    num_nodes: run.nnodes,
    resources,
    envs: { LIBTORCH_USE_PYTORCH: '1', FTPLAN_TORCH_VERSION: launch.torchVersion },
    ...(Object.keys(fileMounts).length ? { file_mounts: fileMounts } : {}),
    setup: SKYPILOT_SETUP,
    run: [
      'set -euo pipefail',
      `# ${target.source}`,
      `# effective batch ${effective} rows per optimizer step = micro-batch ${batch.microBatch} × ${batch.gradAccum} accumulation × ${target.gpusPerNode} GPU(s) × ${run.nnodes} node(s)${target.plan ? ` (the plan's ${target.plan.batchSize})` : ''}`,
      guard,
      runArgv.map(shellQuote).join(' '),
    ].join('\n'),
  };
  const errors = validateSkypilotTask(task);
  if (errors.length) throw new FtplanError('ERR_NATIVE', `the SkyPilot task does not validate against schemas/skypilot-task.schema.json: ${errors.join('; ')}`, { exitCode: 1 });
  return { yaml: stringify(task, { lineWidth: 0 }), task, runArgv, source: target.source, batch: { ...batch, effective }, planModel: target.plan?.model ?? null };
}

let validator: ReturnType<Ajv['compile']> | undefined;
/** Problems of a task object against the vendored SkyPilot task schema ([] when valid). */
export function validateSkypilotTask(task: unknown): string[] {
  if (!validator) {
    const schema = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'schemas/skypilot-task.schema.json'), 'utf8'));
    validator = new Ajv({ allErrors: true, strict: false }).compile(schema);
  }
  return validator(task) ? [] : (validator.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

export async function runLaunch(raw: Record<string, unknown>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const launchTable = Object.fromEntries(Object.entries(LAUNCH_OPTIONS).filter(([k]) => !(k in RUN_OPTIONS)));
  const launch = parseArgs(LaunchOnly, launchTable, raw, 'launch');
  const fromPlan = launch.plan ? targetFromPlan(launch.plan).plan : undefined;
  const planModel = fromPlan?.model;
  const given = { batchSize: raw.batchSize as number | undefined, gradAccum: raw.gradAccum as number | undefined, model: raw.model as string | undefined };
  const runRaw = Object.fromEntries(Object.keys(RUN_OPTIONS).map((k) => [k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), raw[k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())]]));
  runRaw.model ??= planModel ?? RUN_OPTIONS.model.default;
  runRaw.task ??= fromPlan?.task ?? RUN_OPTIONS.task.default;
  // the method the plan measured (a LoRA plan's micro-batch fits LoRA's memory), unless --method says
  if (fromPlan?.training && runRaw.method === undefined) for (const [k, v] of Object.entries(trainingFlags(fromPlan.training))) runRaw[k] ??= v;
  runRaw.batchSize ??= RUN_OPTIONS['batch-size'].default;
  runRaw.gradAccum ??= RUN_OPTIONS['grad-accum'].default;
  const run = parseArgs(RunArgsSchema, RUN_OPTIONS, runRaw, 'launch');
  const t = skypilotTask(run, launch);
  if (launch.plan && ((given.batchSize !== undefined && given.batchSize !== t.batch.microBatch) || (given.gradAccum !== undefined && given.gradAccum !== t.batch.gradAccum))) {
    throw new FtplanError('ERR_USAGE', `--batch-size ${given.batchSize ?? '-'} / --grad-accum ${given.gradAccum ?? '-'} conflict with the plan: its ${t.batch.effective} rows per step over ${t.batch.ranks} GPU(s) are micro-batch ${t.batch.microBatch} × ${t.batch.gradAccum} accumulation`, {
      fix: 'leave --batch-size and --grad-accum out (launch takes them from the plan), or estimate again with the batch you want',
    });
  }
  if (t.planModel && given.model !== undefined && given.model !== t.planModel) {
    process.stderr.write(`warning: the plan measured ${t.planModel}, this task runs ${given.model}: the micro-batch ${t.batch.microBatch} fits ${t.planModel}'s memory, not necessarily ${given.model}'s (estimate ${given.model} for a plan of its own)\n`);
  }
  const header = `# SkyPilot task written by ftplan launch (${t.source}).\n# Start it with: sky launch -c ftplan ${launch.output ?? 'task.yaml'}\n`;
  if (launch.output) {
    writeFileAtomic(launch.output, header + t.yaml);
    process.stderr.write(`wrote ${launch.output}: ${(t.task.resources as { accelerators: string }).accelerators} × ${run.nnodes} node(s), micro-batch ${t.batch.microBatch} × ${t.batch.gradAccum} accumulation × ${t.batch.ranks} GPU(s) = ${t.batch.effective} rows per step; sky launch -c ftplan ${launch.output}\n`);
  } else out(header + t.yaml);
}
