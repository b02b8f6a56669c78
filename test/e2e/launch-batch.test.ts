// The batch a launched run trains is the batch its plan priced: `ftplan launch --emit skypilot --plan`
// emits the pick's micro-batch, accumulation and GPU count (each rank's share of the effective
// batch), and the planner only picks instances that can train that batch exactly.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseRunArgv } from '../../src/cli.js';
import { modelConfig } from '../../src/model/presets.js';
import { analyticActivationBytesPerRow, fitMicroBatch, parameterCount, trainingMemory, type ActivationModel } from '../../src/planner/memory.js';
import { plan, type Plan, type PlanInput } from '../../src/planner/recommend.js';
import { loadGpus, type PriceRow } from '../../src/pricing/catalog.js';
import { ftplan as cli, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-launch-');
const gpus = loadGpus();

const ftplan = (args: string[]) => cli(args);

/** A small labelled data set of synthetic text. */
function dataset(rows = 160): string {
  const file = join(tmp(), 'train.jsonl');
  const words = ['alpha', 'beta', 'gamma', 'delta', 'omega', 'kappa'];
  writeFileSync(file, Array.from({ length: rows }, (_, i) => JSON.stringify({ text: Array.from({ length: 3 + (i % 9) }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' '), label: i % 3 })).join('\n') + '\n');
  return file;
}

/**
 * The SkyPilot task as SkyPilot runs it: the run line expanded by bash with the values SkyPilot sets
 * (GPUs per node from `accelerators`, nodes from `num_nodes`), then parsed by ftplan run's own parser;
 * the effective batch is what that run trains per optimizer step.
 */
async function launched(yamlText: string) {
  const task = parse(yamlText);
  const [gpu, perNode] = String(task.resources.accelerators).split(':') as [string, string];
  const env = { SKYPILOT_NUM_GPUS_PER_NODE: perNode, SKYPILOT_NUM_NODES: String(task.num_nodes), SKYPILOT_NODE_RANK: '0', SKYPILOT_NODE_IPS: '10.0.0.5' };
  const lines = (task.run as string).split('\n');
  const line = lines.find((l) => l.startsWith('node bin/ftplan.js run '))!;
  const words = spawnSync('bash', ['-c', `set -- ${line.replace(/^node bin\/ftplan\.js run /, '')}; printf '%s\\0' "$@"`], { env: { ...process.env, ...env }, encoding: 'utf8' }).stdout.split('\0').slice(0, -1);
  const args = await parseRunArgv(words);
  return { task, gpu, perNode: Number(perNode), args, lines, effective: args.batchSize * args.gradAccum * args.nproc * args.nnodes };
}

/** A plan from the pure planner, written as `estimate --json` writes it (the fields launch reads). */
function planFile(model: string, p: Plan): string {
  const file = join(tmp(), 'plan.json');
  writeFileSync(file, JSON.stringify({ schema: 'ftplan.estimate/1', model, plan: p }));
  return file;
}

const row = (over: Partial<PriceRow>): PriceRow => ({ cloud: 'gcp', instanceType: 'x', gpu: 'T4', gpuCount: 1, vCPUs: null, memoryGiB: null, region: 'us-central1', price: 1, spotPrice: null, source: 'test', asOf: '2026-11-01', note: '', ...over });

/** The planner's input for a preset, with the activation memory from the shape (no probe). */
function planInput(name: string, batchSize: number, rows: PriceRow[]): PlanInput {
  const cfg = modelConfig(name);
  const seqLen = 128;
  const act: ActivationModel = { seqLen, perSamplePerLayer: analyticActivationBytesPerRow(cfg, seqLen, 'fp32') / cfg.nLayer, perSampleBase: 0, measuredOn: 'shape', dtype: 'fp32' };
  const P = parameterCount(cfg);
  return {
    measurement: { device: 'cpu', deviceName: 'cpu', dtype: 'fp32', stepMs: 1000, tokensPerStep: 16 * seqLen, flopsPerToken: 6 * P, achievedFlops: 1e11, parameters: P, nLayer: cfg.nLayer, evalTokensPerSec: null, tokensPerSec: 16 * seqLen },
    model: cfg,
    activation: act,
    rows,
    gpus,
    trainRows: 10_000,
    evalRows: 0,
    trainTokensPerEpoch: 10_000 * seqLen,
    evalTokensPerEpoch: 0,
    meanSeqLen: seqLen,
    batchSize,
    objective: 'cost',
    spot: false,
    maxAgeDays: 90,
    now: new Date('2026-11-28T00:00:00Z'),
  };
}

describe('the planner prices only a batch it can train', () => {
  it('micro-batch × accumulation is exactly the GPU\'s share, at a micro-batch that fits', () => {
    const p = planInput('gpt2-medium', 1, []);
    for (let share = 1; share <= 48; share++) {
      const fit = fitMicroBatch(p.model, p.activation, gpus.T4!.memoryGiB, share);
      expect(fit.fits).toBe(true);
      expect(fit.microBatch * fit.gradAccum, `share ${share}`).toBe(share);
      expect(trainingMemory(p.model, p.activation, fit.microBatch).peakBytes).toBeLessThanOrEqual(fit.usableBytes);
    }
    // a prime share larger than fits at once: 1 × 47, never rounded up (to 12 × 4 = 48, say)
    expect(trainingMemory(p.model, p.activation, 47).peakBytes).toBeGreaterThan(fitMicroBatch(p.model, p.activation, gpus.T4!.memoryGiB, 1).usableBytes);
    expect(fitMicroBatch(p.model, p.activation, gpus.T4!.memoryGiB, 47)).toMatchObject({ microBatch: 1, gradAccum: 47 });
  });

  it('a batch that does not split over an instance\'s GPUs makes it infeasible, saying why', () => {
    const p = plan(planInput('gpt2', 12, [row({ instanceType: 'eight', gpuCount: 8, price: 2 }), row({ instanceType: 'four', gpuCount: 4, price: 3 })]));
    const eight = p.rows.find((r) => r.instance === 'eight')!;
    expect(eight).toMatchObject({ fits: true, feasible: false });
    expect(eight.reason).toBe('a batch of 12 rows does not split over 8 GPUs: make --batch-size × --grad-accum a multiple of 8');
    expect(p.recommended!.instance).toBe('four');
    const r = p.recommended!;
    expect(r.microBatch * r.gradAccum * r.gpus).toBe(12);
  });
});

describe('ftplan launch --emit skypilot --plan: the launched run trains the plan\'s effective batch', () => {
  it('from a real `ftplan estimate --gpus 8 --json`: the pick\'s micro-batch, accumulation and 8 GPUs', async () => {
    const data = dataset();
    const est = ftplan(['estimate', '--model', 'tiny', '--dataset', data, '--batch-size', '16', '--grad-accum', '2', '--gpus', '8', '--steps', '2', '--warmup-steps', '1', '--min-time', '0', '--threads', '1', '--device', 'cpu', '--json']);
    expect(est.code, est.stderr).toBe(0);
    const j = JSON.parse(est.stdout);
    const rec = j.plan.recommended;
    expect(j.plan.batchSize).toBe(32);
    expect(rec).toMatchObject({ gpus: 8, microBatch: expect.any(Number), gradAccum: expect.any(Number) });
    const file = join(tmp(), 'plan.json');
    writeFileSync(file, est.stdout);
    const r = ftplan(['launch', '--emit', 'skypilot', '--plan', file, '--dataset', data]);
    expect(r.code, r.stderr).toBe(0);
    const t = await launched(r.stdout);
    expect(t.task.resources).toMatchObject({ accelerators: `${rec.gpu}:8`, instance_type: rec.instance });
    expect(t.args).toMatchObject({ model: 'tiny', batchSize: rec.microBatch, gradAccum: rec.gradAccum, nproc: 8, nnodes: 1 });
    expect(t.effective).toBe(j.plan.batchSize);
    // the flags --batch-size/--grad-accum of the estimate (16 × 2 per rank) would have trained 8× that
    expect(16 * 2 * 8).not.toBe(t.effective);
    expect(r.stderr).not.toMatch(/warning/);
  }, 300_000);

  it('a pick with accumulation (gpt2-medium on 4× T4): micro-batch, accumulation and GPUs as planned; over 2 nodes, the same batch', async () => {
    const p = plan(planInput('gpt2-medium', 256, [row({ instanceType: 'n1-standard-32', gpuCount: 4, price: 2 })]));
    const rec = p.recommended!;
    expect(rec.gradAccum).toBeGreaterThan(1); // the case this test is about
    expect(rec.microBatch * rec.gradAccum * rec.gpus).toBe(256);
    const file = planFile('gpt2-medium', p);
    const data = dataset();
    const one = await launched(ftplan(['launch', '--emit', 'skypilot', '--plan', file, '--dataset', data]).stdout);
    expect(one.perNode).toBe(4);
    expect(one.args).toMatchObject({ model: 'gpt2-medium', batchSize: rec.microBatch, gradAccum: rec.gradAccum, nproc: 4, nnodes: 1 });
    expect(one.effective).toBe(256);
    expect(one.lines).toContain(`# effective batch 256 rows per optimizer step = micro-batch ${rec.microBatch} × ${rec.gradAccum} accumulation × 4 GPU(s) × 1 node(s) (the plan's 256)`);

    const two = await launched(ftplan(['launch', '--emit', 'skypilot', '--plan', file, '--dataset', data, '--nnodes', '2']).stdout);
    expect(two.effective).toBe(256);
    expect(two.args.batchSize).toBeLessThanOrEqual(rec.microBatch); // a micro-batch whose fit the plan checked
    expect(two.args.gradAccum).toBe(rec.gradAccum / 2);
  });

  it('the run line refuses other GPU or node counts than the batch was split for', async () => {
    const file = planFile('gpt2-medium', plan(planInput('gpt2-medium', 64, [row({ gpuCount: 4, price: 2 })])));
    const { lines } = await launched(ftplan(['launch', '--emit', 'skypilot', '--plan', file, '--dataset', dataset()]).stdout);
    const guard = lines.find((l) => l.startsWith('if '))!;
    const sh = (gpusPerNode: string, nodes: string) => spawnSync('bash', ['-c', `${guard}\necho ok`], { env: { ...process.env, SKYPILOT_NUM_GPUS_PER_NODE: gpusPerNode, SKYPILOT_NUM_NODES: nodes }, encoding: 'utf8' });
    expect(sh('4', '1')).toMatchObject({ status: 0, stdout: 'ok\n' });
    const wrong = sh('8', '1');
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/this task splits 64 rows per step over 4 GPU\(s\) × 1 node\(s\), SkyPilot gave 8 × 1/);
    expect(sh('4', '2').status).toBe(2);
  });

  it('a batch that does not split over the ranks, or --batch-size against the plan: exit 2 with the fix', () => {
    const file = planFile('gpt2-medium', plan(planInput('gpt2-medium', 64, [row({ gpuCount: 4, price: 2 })])));
    const data = dataset();
    const three = ftplan(['launch', '--emit', 'skypilot', '--plan', file, '--dataset', data, '--nnodes', '3']);
    expect(three.code).toBe(2);
    expect(three.stderr).toMatch(/the plan's batch of 64 rows per step does not split over 12 GPUs \(4 per node × 3 nodes\)/);
    expect(three.stderr).toMatch(/fix: use an --nnodes whose GPU count divides 64/);
    const conflict = ftplan(['launch', '--emit', 'skypilot', '--plan', file, '--dataset', data, '--batch-size', '64']);
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toMatch(/--batch-size 64 \/ --grad-accum - conflict with the plan/);
    // a plan edited so that its pick no longer makes its batch
    const j = JSON.parse(readFileSync(file, 'utf8'));
    j.plan.recommended.gradAccum += 1;
    writeFileSync(file, JSON.stringify(j));
    const edited = ftplan(['launch', '--emit', 'skypilot', '--plan', file, '--dataset', data]);
    expect(edited.code).toBe(2);
    expect(edited.stderr).toMatch(/rows per step, not the 64 it was priced at/);
  });

  it('--model other than the plan\'s: a warning that the micro-batch fit is the plan model\'s', () => {
    const file = planFile('gpt2', plan(planInput('gpt2', 16, [row({ gpuCount: 1 })])));
    const r = ftplan(['launch', '--emit', 'skypilot', '--plan', file, '--dataset', dataset(), '--model', 'gpt2-large']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: the plan measured gpt2, this task runs gpt2-large/);
  });

  it('without a plan: --batch-size and --grad-accum per rank, as given, and the effective batch stated', async () => {
    const r = ftplan(['launch', '--emit', 'skypilot', '--gpu', 'H100', '--gpus', '4', '--dataset', dataset(), '--batch-size', '8', '--grad-accum', '2']);
    expect(r.code, r.stderr).toBe(0);
    const t = await launched(r.stdout);
    expect(t.args).toMatchObject({ batchSize: 8, gradAccum: 2, nproc: 4 });
    expect(t.effective).toBe(64);
    expect(t.lines).toContain('# effective batch 64 rows per optimizer step = micro-batch 8 × 2 accumulation × 4 GPU(s) × 1 node(s)');
  });
});
