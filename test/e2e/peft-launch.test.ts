// `ftplan launch --plan` of a LoRA estimate launches a LoRA run: the plan's micro-batch was fitted to
// the method's memory, so the run line carries the method and its settings unless --method says
// otherwise. No LibTorch needed: the plan comes from the pure planner, written as estimate writes it.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseRunArgv } from '../../src/cli.js';
import { modelConfig } from '../../src/model/presets.js';
import { analyticActivationBytesPerRow, parameterCount, type ActivationModel } from '../../src/planner/memory.js';
import { plan } from '../../src/planner/recommend.js';
import { loadGpus } from '../../src/pricing/catalog.js';
import { ftplan, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-peft-launch-');

function planFile(training: object | undefined): string {
  const cfg = modelConfig('gpt2');
  const seqLen = 128;
  const act: ActivationModel = { seqLen, perSamplePerLayer: analyticActivationBytesPerRow(cfg, seqLen, 'fp32') / cfg.nLayer, perSampleBase: 0, measuredOn: 'shape', dtype: 'fp32' };
  const P = parameterCount(cfg);
  const p = plan({
    measurement: { device: 'cpu', deviceName: 'cpu', dtype: 'fp32', stepMs: 1000, tokensPerStep: 16 * seqLen, flopsPerToken: 6 * P, achievedFlops: 1e11, parameters: P, nLayer: cfg.nLayer, evalTokensPerSec: null, tokensPerSec: 16 * seqLen },
    model: cfg,
    activation: act,
    rows: [{ cloud: 'gcp', instanceType: 'g2-standard-8', gpu: 'L4', gpuCount: 1, vCPUs: null, memoryGiB: null, region: 'us-central1', price: 1, spotPrice: null, source: 'test', asOf: '2026-11-01', note: '' }],
    gpus: loadGpus(),
    trainRows: 10_000,
    evalRows: 0,
    trainTokensPerEpoch: 10_000 * seqLen,
    evalTokensPerEpoch: 0,
    meanSeqLen: seqLen,
    batchSize: 16,
    objective: 'cost',
    spot: false,
    maxAgeDays: 90,
    now: new Date('2026-11-28T00:00:00Z'),
  });
  const file = join(tmp(), 'plan.json');
  writeFileSync(file, JSON.stringify({ schema: 'ftplan.estimate/1', model: 'gpt2', plan: p, ...(training ? { training } : {}) }));
  return file;
}

/** The run line of the task, parsed by ftplan run's own parser. */
async function runArgs(yamlText: string) {
  const task = parse(yamlText);
  const line = (task.run as string).split('\n').find((l) => l.startsWith('node bin/ftplan.js run '))!;
  const env = { SKYPILOT_NUM_GPUS_PER_NODE: '1', SKYPILOT_NUM_NODES: '1', SKYPILOT_NODE_RANK: '0', SKYPILOT_NODE_IPS: '10.0.0.5' };
  const words = spawnSync('bash', ['-c', `set -- ${line.replace(/^node bin\/ftplan\.js run /, '')}; printf '%s\\0' "$@"`], { env: { ...process.env, ...env }, encoding: 'utf8' }).stdout.split('\0').slice(0, -1);
  return parseRunArgv(words);
}

const LORA = { method: 'lora', lora: { r: 8, alpha: 16, dropout: 0.1, targets: ['c_attn', 'c_proj'] }, baseDtype: 'bf16', gradientCheckpointing: true, trainableParameters: 1000, description: 'x' };

describe('ftplan launch --plan of a LoRA estimate', () => {
  it('runs the method the plan measured, with its settings', async () => {
    const r = ftplan(['launch', '--emit', 'skypilot', '--plan', planFile(LORA), '--dataset', 'data.jsonl']);
    expect(r.code, r.stderr).toBe(0);
    const a = await runArgs(r.stdout);
    expect(a).toMatchObject({ method: 'lora', loraR: 8, loraAlpha: 16, loraDropout: 0.1, loraTarget: 'c_attn,c_proj', baseDtype: 'bf16', gradientCheckpointing: true });
  });

  it('leaves a full plan, and a --method given on the command line, as they are', async () => {
    const full = await runArgs(ftplan(['launch', '--emit', 'skypilot', '--plan', planFile({ method: 'full', lora: null, gradientCheckpointing: false }), '--dataset', 'data.jsonl']).stdout);
    expect(full.method).toBeUndefined();
    expect(full.loraR).toBeUndefined();
    const old = await runArgs(ftplan(['launch', '--emit', 'skypilot', '--plan', planFile(undefined), '--dataset', 'data.jsonl']).stdout);
    expect(old.method).toBeUndefined();
    const own = ftplan(['launch', '--emit', 'skypilot', '--plan', planFile(LORA), '--dataset', 'data.jsonl', '--method', 'full']);
    expect(own.code, own.stderr).toBe(0);
    const a = await runArgs(own.stdout);
    expect(a.method).toBe('full');
    expect(a.loraR).toBeUndefined();
  });
});
