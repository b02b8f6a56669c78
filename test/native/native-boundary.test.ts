// The native boundary itself: each record declared once on each side (the C++ field lists that the
// addon reports, the zod schemas of src/native.ts) and the two in agreement; every result the real
// addon returns matching its schema exactly; calls run in the order they were made; and the
// argument bounds of TypeScript and of the C++ invariants the same.
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  ActivationProbeSchema,
  BenchResultSchema,
  CpuCacheStatsSchema,
  CpuMemoryUseSchema,
  DenormalStateSchema,
  DistInfoSchema,
  DropoutCheckSchema,
  FlopsEstimateSchema,
  FusedAttentionCheckSchema,
  FusedAttentionTimingSchema,
  LmEvalSchema,
  LmLossCheckSchema,
  LossGradientsSchema,
  NATIVE_RECORDS,
  Nf4CheckSchema,
  ParameterCountsSchema,
  ParameterInfoSchema,
  RuntimeInfoSchema,
  StateLoadReportSchema,
  StepResultSchema,
  loadNative,
  loadRawNative,
  recordMismatches,
} from '../../src/native.js';
import { parseDecoderConfig } from '../../src/model/families.js';
import { TINY_DECODERS } from '../decoder-fixtures.js';
import { makeBatch, randomRows, tempDir, tinyModel } from '../helpers.js';

const schemaFields = () => Object.fromEntries(Object.entries(NATIVE_RECORDS).map(([name, s]) => [name, Object.keys(s.shape)]));

describe('records: one field list in C++, one schema in TS, compared when the addon loads', () => {
  it('an addon that reports other records is refused at load, with the fix (a build from other sources)', async () => {
    // A fresh copy of src/native.ts: the one imported above keeps the first addon it accepted.
    vi.resetModules();
    const { loadRawNative: loadFresh } = await import('../../src/native.js');
    const { FtplanError: FreshError } = await import('../../src/errors.js');
    const fields = schemaFields();
    const stale = { ...fields, BenchResult: [...(fields.BenchResult as string[]), 'samplesPerStep'] };
    const file = join(tempDir('ftplan-stale-'), 'stale.cjs');
    writeFileSync(file, `module.exports = { runtimeInfo() {}, benchmark() {}, _records: () => (${JSON.stringify(stale)}) };\n`);
    const before = process.env.FTPLAN_NATIVE;
    process.env.FTPLAN_NATIVE = file;
    try {
      let err: unknown;
      try {
        loadFresh();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FreshError);
      expect(err).toMatchObject({ code: 'ERR_NATIVE_MISSING', fix: expect.stringMatching(/npm run build:native/) });
      expect((err as Error).message).toContain(`${file}: built from other sources than this ftplan: BenchResult: unknown samplesPerStep`);
    } finally {
      if (before === undefined) delete process.env.FTPLAN_NATIVE;
      else process.env.FTPLAN_NATIVE = before;
    }
  });

  it('the built addon reports exactly the records and fields the schemas hold', () => {
    const reported = loadRawNative()._records();
    expect(recordMismatches(reported)).toEqual([]);
    expect(Object.keys(reported).sort()).toEqual(Object.keys(NATIVE_RECORDS).sort());
  });

  it('recordMismatches names each difference: a field on either side, a record on either side, no list at all', () => {
    const fields = schemaFields();
    const { DistInfo: _dropped, ...withoutDistInfo } = fields;
    expect(recordMismatches({ ...fields, StepResult: ['loss', 'extra', ...(fields.StepResult as string[]).filter((f) => f !== 'gradNorm' && f !== 'loss')] })).toEqual([
      'StepResult: unknown extra; no gradNorm',
    ]);
    expect(recordMismatches({ ...withoutDistInfo, Later: ['x'] })).toEqual(['DistInfo: missing', 'Later: a record this ftplan does not know']);
    expect(recordMismatches(undefined)).toEqual(['it does not report its records (_records)']);
  });
});

describe('every result the addon returns matches its schema exactly (no field more or less, the types)', () => {
  const addon = loadNative();
  const cfg = tinyModel();

  it('measurement and memory exports', async () => {
    RuntimeInfoSchema.parse(addon.runtimeInfo());
    FlopsEstimateSchema.parse(addon.flopsPerToken(cfg, 32));
    ParameterCountsSchema.parse(await addon.parameterCounts(cfg));
    const r = BenchResultSchema.parse(
      await addon.benchmark({ model: cfg, batchSize: 2, seqLen: 16, seqLens: [8, 16], steps: 2, warmupSteps: 1, evalBatchSize: 2, evalSteps: 1, probeBatchSizes: [4, 2], probeSeqLen: 32, threads: 1 }),
    );
    expect(r.probe.map((p) => [p.batchSize, p.seqLen])).toEqual([[4, 32], [2, 32]]);
    const probe = ActivationProbeSchema.parse(await addon.probeActivations({ model: cfg, seqLen: 16, threads: 1 }));
    expect(probe.points).toHaveLength(4);
    CpuCacheStatsSchema.parse(addon.cpuAllocator());
    CpuMemoryUseSchema.parse(addon.cpuMemory());
  });

  it('a session: init, step, logits, state in and out', async () => {
    const s = new addon.Session({ model: cfg, seed: 1, threads: 1 });
    expect(await s.init()).toBe((await addon.parameterCounts(cfg)).total);
    const batch = makeBatch(randomRows(3, 2, 8, 500, 5), 8, cfg.padTokenId, [0, 1, 2]);
    const step = StepResultSchema.parse(await s.step([batch, batch], { seeds: [1, 2] }));
    expect(step).toMatchObject({ samples: 6, tokens: 48, targets: 6, buckets: 0, allreduceMs: 0 });
    expect(await s.logits(batch)).toBeInstanceOf(Float32Array);
    expect(LossGradientsSchema.parse(await s.gradients(batch)).gradients['score.weight']!.shape).toEqual([cfg.numLabels, cfg.nEmbd]);
    const state = await s.state();
    const w = state['score.weight']!;
    expect(w.shape).toEqual([cfg.numLabels, cfg.nEmbd]);
    expect(w.data).toBeInstanceOf(Float32Array);
    const report = StateLoadReportSchema.parse(await s.loadState({ 'score.weight': w, 'not.a.weight': { shape: [1], data: new Float32Array(1) } }));
    expect(report.loaded).toEqual(['score.weight']);
    expect(report.unexpected).toEqual(['not.a.weight']);
    expect(report.missing).toHaveLength(Object.keys(state).length - 1);
    const info = ParameterInfoSchema.parse(await s.parameterInfo());
    expect(info).toMatchObject({ total: info.trainable, frozenBytes: 0, loraModules: [] });
    expect(Object.keys(await s.trainableState())).toEqual(Object.keys(state));
    expect(Object.keys(await s.mergedState())).toEqual(Object.keys(state));
  });

  it('a causal-lm decoder session: step, lmEval, gradients', async () => {
    const lm = parseDecoderConfig({ ...TINY_DECODERS.llama }, { task: 'causal-lm', file: 'tiny llama' });
    const s = new addon.Session({ model: lm, seed: 1, threads: 1 });
    expect(await s.init()).toBe((await addon.parameterCounts(lm)).total);
    const b = { batchSize: 2, seqLen: 4, inputIds: Int32Array.from([1, 2, 3, 4, 5, 6, 0, 0]), lengths: Int32Array.from([4, 2]), lmLabels: Int32Array.from([-100, 2, 3, 4, -100, 6, -100, -100]) };
    expect(StepResultSchema.parse(await s.step([b]))).toMatchObject({ samples: 2, tokens: 8, targets: 4 });
    expect(LmEvalSchema.parse(await s.lmEval(b)).targets).toEqual([3, 1]);
    expect(Object.keys(LossGradientsSchema.parse(await s.gradients(b)).gradients)).toContain('lm_head.weight');
  });

  it('self-checks and switches', () => {
    LmLossCheckSchema.parse(addon.lmLossCheck(8, 4, 10, 3, false));
    DropoutCheckSchema.parse(addon.dropoutCheck(1001, 0.5));
    Nf4CheckSchema.parse(addon.nf4Check(Float32Array.from([0.5, -1, 0.25]), true));
    FusedAttentionCheckSchema.parse(addon.fusedAttentionCheck(2, 9, 0.1));
    FusedAttentionTimingSchema.parse(addon.fusedAttentionTiming(2, 9, 0.1, 1));
    DenormalStateSchema.parse(addon.flushDenormal());
    expect(typeof addon.cpuDropout()).toBe('boolean');
    expect(addon.fusedRmsNorm()).toBe(true);
  });

  it.runIf(addon.runtimeInfo().c10d)('a process group of one: initDistributed, allreduce, allreduceBenchmark', async () => {
    const port = await new Promise<number>((done) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => done(p));
      });
    });
    const s = new addon.Session({ model: cfg, threads: 1 });
    await s.init();
    const info = DistInfoSchema.parse(await s.initDistributed({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 20_000, bucketBytes: 1 }));
    expect(info).toEqual({ backend: 'gloo', rank: 0, worldSize: 1 });
    expect(Array.from(await s.allreduce(Float64Array.from([1.5, -2])))).toEqual([1.5, -2]);
    const ms = await s.allreduceBenchmark({ bytes: [64, 4096], iters: 2 });
    expect(ms).toHaveLength(2);
    // buckets of one byte: every gradient is its own bucket (the C++ side takes TS's bound, >= 1)
    const step = await s.step([makeBatch([[1, 2, 3]], 4, cfg.padTokenId, [1])]);
    expect(step.buckets).toBe(Object.keys(await s.state()).length);
  });
});

describe('calls run in the order they were made (one compute thread, a ticket per call)', () => {
  it('a long job queued first finishes before short ones queued after it, whatever the pool threads do', async () => {
    // The raw addon: its promises settle straight from each job, with no wrapper between.
    const addon = loadRawNative();
    const order: number[] = [];
    const settled = (i: number) => () => void order.push(i);
    const jobs: Promise<unknown>[] = [addon.benchmark({ model: tinyModel(), batchSize: 8, seqLen: 64, steps: 3, warmupSteps: 1, threads: 1 })];
    for (let i = 1; i <= 8; i++) jobs.push(i % 2 ? addon.parameterCounts(tinyModel({ nLayer: i })) : (addon._raise('invalid_argument', true) as Promise<void>));
    await Promise.all(jobs.map((job, i) => job.then(settled(i), settled(i))));
    // The compute thread runs the jobs in call order, so the long first job ends before any job queued
    // after it starts. Their promises settle as libuv's pool threads hand them back: two short jobs
    // that end microseconds apart can settle swapped on a busy host, so only the first place is fixed.
    expect(order[0]).toBe(0);
    expect([...order].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('TypeScript and the C++ invariants hold the same bounds', () => {
  const checked = loadNative();
  const raw = loadRawNative();
  const cfg = tinyModel();
  const codeOf = async (f: () => unknown) => {
    try {
      await f();
    } catch (e) {
      return { code: (e as { code?: string }).code, message: (e as Error).message };
    }
    return { code: 'none', message: '' };
  };

  it('lr 0, a beta of 1, eps 0: refused by both sides, TS first with the bound', async () => {
    for (const [opts, ts, cpp] of [
      [{ lr: 0 }, /lr must be a finite number > 0 \(got 0\)/, /lr must be positive/],
      [{ beta2: 1 }, /beta2 must be in \[0, 1\) \(got 1\)/, /betas must be in \[0, 1\)/],
      [{ eps: 0 }, /eps must be a finite number > 0/, /eps must be positive/],
    ] as const) {
      expect(await codeOf(() => new checked.Session({ model: cfg, ...opts }))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(ts) });
      expect(await codeOf(() => new raw.Session({ model: cfg, threads: 1, ...opts }).init())).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(cpp) });
    }
    const s = new checked.Session({ model: cfg, threads: 1 });
    await s.init();
    expect(await codeOf(() => s.setLr(0))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/lr must be a finite number > 0/) });
  });

  it('the fused-AdamW check takes the TS step bound (the C++ side no longer stops at 1000)', () => {
    expect(checked.fusedAdamwCheck(1001, 0, 1)).toBeLessThan(1e-5);
  });
});
