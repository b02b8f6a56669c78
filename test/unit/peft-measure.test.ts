// The measurement with a method: the PEFT options reach every native call the estimate makes
// (benchmark, activation probe, the timed session), the core's memory parts are kept, and a core
// that does not report the method it was asked for is refused instead of timing full fine-tuning.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { estimate, parseEstimateArgs } from '../../src/commands/estimate.js';
import { ESTIMATE_OPTIONS } from '../../src/flags/estimate.js';
import { toYargs } from '../../src/flags/registry.js';
import { renderEstimate } from '../../src/report/table.js';
import { describePeft, peftRecord, peftSettings } from '../../src/train/peft.js';
import { StubSessionReports, tempDir } from '../helpers.js';
import { batchPlan } from '../../src/batch-plan.js';
import { FtplanError } from '../../src/errors.js';
import { measure, memoryBreakdown, type MeasureSpec } from '../../src/measure/measure.js';
import { modelConfig } from '../../src/model/presets.js';
import type { NativeAddon, PeftOptions } from '../../src/native/types.js';

const model = modelConfig('tiny', { numLabels: 3 });

/** A stub core: records the options of each call; `reports` says which PEFT fields its benchmark returns. */
function stubAddon(reports: (o: PeftOptions) => object) {
  const calls: { fn: string; opts: Record<string, unknown> }[] = [];
  class Session extends StubSessionReports {
    constructor(opts: Record<string, unknown>) {
      super();
      calls.push({ fn: 'Session', opts });
    }
    async init() {
      return 1;
    }
    setLr() {}
    async step() {
      return { loss: 1, gradNorm: 1, tokens: 8, nativeMs: 1 };
    }
  }
  const addon = {
    runtimeInfo: () => ({ torchVersion: '1.13.1', cudaCompiled: false, hasSdpa: false }),
    benchmark: async (opts: Record<string, unknown>) => {
      calls.push({ fn: 'benchmark', opts });
      return {
        stepMs: [1],
        stepSeqLens: [8],
        losses: [1, 1],
        evalMs: [],
        setupMs: 1,
        parameters: 1000,
        transformerParameters: 900,
        matmulParameters: 800,
        flopsPerToken: 6000,
        peakMemoryBytes: 5000,
        staticMemoryBytes: 2000,
        peakMemorySource: 'cpu-counting-allocator',
        rssPeakBytes: -1,
        rssBeforeBytes: -1,
        device: 'cpu',
        deviceName: 'stub',
        deviceMemoryBytes: -1,
        threads: 1,
        probe: [],
        ...reports(opts as PeftOptions),
      };
    },
    probeActivations: async (opts: Record<string, unknown>) => {
      calls.push({ fn: 'probeActivations', opts });
      return { points: [], perSamplePerLayer: 10, perSampleBase: 5 };
    },
    Session,
  } as unknown as NativeAddon;
  return { addon, calls };
}

const spec = (peft?: PeftOptions): MeasureSpec & { activationSeqLen: number } => ({
  name: 'tiny',
  model,
  batch: batchPlan(2, 1),
  dtype: 'fp32',
  device: 'cpu',
  threads: 1,
  seed: 1,
  seq: { seqLen: 8, meanLen: 8, sampleLens: [8] },
  memoryWarmupSteps: 1,
  warmupSteps: 0,
  steps: 2,
  minMs: 0,
  evalBatchSize: 0,
  evalSteps: 0,
  activationSeqLen: 8,
  peft,
});

const PARTS = (o: PeftOptions) => ({ method: o.method ?? 'full', trainableParameters: 42, weightBytes: 1500, trainableStateBytes: 300, activationBytes: 3200, gradientCheckpointing: o.gradientCheckpointing === true });

describe('measure with a method', () => {
  it('hands the PEFT options to the benchmark, the activation probe and the timed session, and keeps the memory parts', async () => {
    const peft: PeftOptions = { method: 'qlora', loraR: 4, loraAlpha: 8, loraDropout: 0.05, loraTargets: ['c_attn'], baseDtype: 'bf16', nf4DoubleQuant: true, gradientCheckpointing: true };
    const { addon, calls } = stubAddon(PARTS);
    const m = await measure(spec(peft), addon);
    expect(calls.map((c) => c.fn)).toEqual(['benchmark', 'probeActivations', 'Session']);
    for (const c of calls) expect(c.opts).toMatchObject(peft);
    expect(m.memoryBreakdown).toEqual({ method: 'qlora', trainableParameters: 42, weightBytes: 1500, trainableStateBytes: 300, activationBytes: 3200, gradientCheckpointing: true });
  });

  it('full fine-tuning passes no PEFT options at all (a core without them measures as before)', async () => {
    const { addon, calls } = stubAddon(() => ({}));
    const m = await measure(spec({}), addon);
    for (const c of calls) for (const k of ['method', 'loraR', 'gradientCheckpointing']) expect(c.opts).not.toHaveProperty(k);
    expect(m.memoryBreakdown).toBeUndefined();
  });

  it('refuses a core that ignores the method or checkpointing, naming the flag and the fix', async () => {
    for (const [peft, flag] of [
      [{ method: 'lora', loraR: 4 }, '--method lora'],
      [{ method: 'full', gradientCheckpointing: true }, '--gradient-checkpointing'],
    ] as const) {
      const { addon } = stubAddon(() => ({}));
      const err = await measure(spec(peft), addon).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FtplanError);
      expect((err as FtplanError).message).toMatch(new RegExp(`^${flag}: this build of ftplan's native core does not train parameter-efficient methods`));
      expect((err as FtplanError).fix).toMatch(/npm run build:native/);
    }
  });

  it('reads the memory parts loosely: absent on an old core, -1 for a part it did not measure', () => {
    expect(memoryBreakdown({ stepMs: [] })).toBeNull();
    expect(memoryBreakdown({ method: 'lora', weightBytes: 10 })).toEqual({ method: 'lora', trainableParameters: -1, weightBytes: 10, trainableStateBytes: -1, activationBytes: -1, gradientCheckpointing: false });
  });
});

describe('an estimate of a method', () => {
  it('re-planned from its saved measurement: the JSON, each plan row and the table say what trains and the memory parts', async () => {
    const peft = peftSettings({ method: 'lora', loraR: 4, loraTarget: 'c_attn', gradientCheckpointing: true }, model, 'tiny');
    const { addon } = stubAddon(PARTS);
    const m = await measure(spec({ method: 'lora', loraR: 4, loraTargets: ['c_attn'], gradientCheckpointing: true }), addon);
    const file = join(tempDir('ftplan-peft-est-'), 'measurement.json');
    writeFileSync(file, JSON.stringify({ measurement: { ...m, training: { ...peftRecord(peft, model), description: describePeft(peft, model) } } }));
    const argv = (extra: string[]) => parseEstimateArgs(yargs(['--measurement', file, '--json', ...extra]).options(toYargs(ESTIMATE_OPTIONS)).strict().parseSync() as Record<string, unknown>);
    const r = await estimate(argv(['--method', 'lora', '--lora-r', '4', '--lora-target', 'c_attn', '--gradient-checkpointing']));
    expect(r).toMatchObject({ method: 'lora', lora: { r: 4, alpha: 32, dropout: 0.05, targets: ['c_attn'] }, gradientCheckpointing: true, trainableParameters: 4 * (64 + 192) * 2 + 3 * 64 });
    expect(r.memoryBreakdown).toMatchObject({ method: 'lora', weightBytes: 1500, activationBytes: 3200 });
    expect(r.plan.rows.length).toBeGreaterThan(0);
    // the planner decides checkpointing per row (on where nothing fits without it); the LoRA settings ride along
    for (const row of r.plan.rows) expect(row).toMatchObject({ method: 'lora', lora: { r: 4 } });
    // another --method on a re-plan is priced from this measurement: the plan says so, and its rows keep their own method
    const full = await estimate(argv(['--method', 'full']));
    expect(full.plan.notes.join('\n')).toMatch(/method: --method full is priced from a measurement of lora/);
    expect(full.plan.rows.every((row) => !('lora' in row) || (row as { method: string }).method === 'lora')).toBe(true);
    const table = renderEstimate(r, 1);
    expect(table).toMatch(/training\s+│ LoRA r 4 \(alpha 32, dropout 0\.05\) on 1 module × 2 layers \(c_attn\)/);
    expect(table).toMatch(/memory parts\s+│ weights as held 1\.46 KiB/);
  });
});
