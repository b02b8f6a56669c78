// Faults a long run meets, each with a tested answer, on the real addon: every kind of C++ exception
// a typed JS error, and out of memory (a forced CPU allocation failure: the session survives, the
// batch-size probe steps down, estimate reports the largest batch that fits). The TS checks before
// the call: test/unit/native-boundary.test.ts; a checkpoint write that fails: test/e2e/disk-full.test.ts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stepDownSizes } from '../../src/commands/estimate.js';
import { FtplanError, NativeCallError } from '../../src/errors.js';
import { modelConfig } from '../../src/model/presets.js';
import { loadNative, loadRawNative } from '../../src/native.js';
import { ftplan as cli, makeBatch, randomRows, tempDir, tinyModel } from '../helpers.js';

const tmp = () => tempDir('ftplan-rel-');
const addon = loadNative();
const ftplan = (args: string[], env: Record<string, string> = {}) => cli(args, { env });

async function caught(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('the native boundary: every C++ exception becomes a typed JS error', () => {
  const kinds: [string, string, RegExp][] = [
    ['bad_alloc', 'ERR_OUT_OF_MEMORY', /out of memory \(std::bad_alloc\)/],
    ['c10', 'ERR_TORCH', /a c10::Error raised for the test/],
    ['c10_oom', 'ERR_OUT_OF_MEMORY', /can't allocate memory/],
    ['invalid_argument', 'ERR_INVALID_ARGUMENT', /an invalid argument raised for the test/],
    ['runtime_error', 'ERR_NATIVE', /a runtime_error raised for the test/],
    ['unknown', 'ERR_NATIVE', /unknown native exception/],
  ];
  it.each(kinds)('%s, thrown on the JS thread and in a worker: %s', async (kind, code, message) => {
    for (const async of [false, true]) {
      const e = await caught(() => addon._raise(kind, async));
      expect(e).toBeInstanceOf(NativeCallError);
      expect(e).toMatchObject({ code, fn: '_raise' });
      expect((e as Error).message).toMatch(message);
    }
  });

  it('a real c10::Error (a training state that is not one): ERR_TORCH, and the session goes on', async () => {
    const s = new addon.Session({ model: tinyModel(), threads: 1 });
    await s.init();
    const file = join(tmp(), 'state.pt');
    writeFileSync(file, 'not a torch archive');
    const e = await caught(() => s.loadTrainingState(file));
    expect(e).toMatchObject({ code: 'ERR_TORCH', fn: 'Session.loadTrainingState' });
    const e2 = await caught(() => s.saveTrainingState(join(tmp(), 'no-such-folder', 'state.pt')));
    expect(e2).toMatchObject({ code: 'ERR_TORCH' });
    const cfg = tinyModel();
    const ok = await s.step([makeBatch([[1, 2, 3]], 4, cfg.padTokenId, [2])]);
    expect(Number.isFinite(ok.loss)).toBe(true);
  });

  it('two operations at once on a session: ERR_BUSY', async () => {
    const cfg = tinyModel();
    const s = new addon.Session({ model: cfg, threads: 1 });
    await s.init();
    const b = makeBatch([[1, 2, 3]], 4, cfg.padTokenId, [2]);
    const first = s.step([b]);
    const e = await caught(() => s.step([b]));
    expect(e).toMatchObject({ code: 'ERR_BUSY', fn: 'Session.step' });
    await first;
  });

  it('the C++ side still checks what it is given (the raw addon, TS checks bypassed)', () => {
    const raw = loadRawNative();
    let err: unknown;
    try {
      raw.benchmark({ model: { ...tinyModel(), nEmbd: 65 }, batchSize: 1, seqLen: 4 });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(err).not.toBeInstanceOf(FtplanError);
  });
});

describe('out of memory (a forced CPU allocation failure)', () => {
  afterEach(() => addon.setCpuMemoryLimit(0));

  it('a step past the limit rejects with ERR_OUT_OF_MEMORY; Node survives and the next step works', async () => {
    const cfg = tinyModel();
    const s = new addon.Session({ model: cfg, threads: 1 });
    await s.init();
    const big = makeBatch(randomRows(32, 60, 64, 500, 3), 64, cfg.padTokenId, Array.from({ length: 32 }, (_, i) => i % 3));
    const small = makeBatch([[1, 2, 3]], 4, cfg.padTokenId, [2]);
    await s.step([small]); // weights, gradients and AdamW moments exist now
    addon.setCpuMemoryLimit(addon.cpuMemory().allocatedBytes + 2 ** 20);
    expect(addon.cpuMemory().limitBytes).toBeGreaterThan(0);
    const e = await caught(() => s.step([big]));
    expect(e).toBeInstanceOf(NativeCallError);
    expect(e).toMatchObject({ code: 'ERR_OUT_OF_MEMORY', fn: 'Session.step' });
    expect((e as Error).message).toMatch(/DefaultCPUAllocator: can't allocate memory: you tried to allocate \d+ bytes .*the CPU memory limit is \d+ bytes/);
    addon.setCpuMemoryLimit(0);
    const ok = await s.step([big]);
    expect(Number.isFinite(ok.loss)).toBe(true);
  });

  it('the batch-size probe records out of memory, frees, steps down, and stops at the largest batch that fits', async () => {
    const cfg = tinyModel();
    const opts = { model: cfg, batchSize: 1, seqLen: 64, steps: 1, warmupSteps: 0, threads: 1 };
    // Unlimited, the peak of each size (bytes above the measurement's start)
    const free = await addon.benchmark({ ...opts, probeBatchSizes: [32, 16, 8, 4, 2] });
    const peak = new Map(free.probe.map((p) => [p.batchSize, p.peakBytes]));
    expect(free.probe.every((p) => !p.outOfMemory)).toBe(true);
    // A limit between the peaks at 8 and 16: 32 and 16 fail, 8 fits
    const held = addon.cpuMemory().allocatedBytes;
    const room = ((peak.get(8) as number) + (peak.get(16) as number)) / 2;
    addon.setCpuMemoryLimit(held + room);
    const r = await addon.benchmark({ ...opts, probeBatchSizes: [32, 16, 8, 4, 2], probeStopAtFit: true });
    const fits = [...peak].filter(([, p]) => p <= room).map(([b]) => b);
    expect(r.probe.map((p) => [p.batchSize, p.outOfMemory])).toEqual([
      ...[32, 16].map((b) => [b, true]),
      [Math.max(...fits), false],
    ]);
    // what the failed sizes held was let go: the fitting size measured the same peak as unlimited
    expect(r.probe[2]!.peakBytes).toBe(peak.get(8));
  });

  it('estimate: out of memory at --batch-size reports the largest batch that fits and the flags to use (exit 1)', async () => {
    // Measure this model's peaks in-process, then give the CLI a limit between batch 8 and 16.
    const cfg = modelConfig('tiny', { numLabels: 3 });
    const free = await addon.benchmark({ model: cfg, batchSize: 1, seqLen: 128, steps: 1, warmupSteps: 0, threads: 1, probeBatchSizes: [16, 8] });
    const [p16, p8] = free.probe.map((p) => p.peakBytes) as [number, number];
    const limit = Math.round((p8 + p16) / 2);
    expect(stepDownSizes(64)).toEqual([32, 16, 8, 4, 2, 1]);
    const r = ftplan(['estimate', '--model', 'tiny', '--batch-size', '64', '--seq-len', '128', '--steps', '1', '--warmup-steps', '0', '--eval-batch-size', '0', '--device', 'cpu', '--threads', '1'], { FTPLAN_CPU_MEMORY_LIMIT: String(limit) });
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('ran out of memory on cpu at batch 64, 32, 16; the largest batch that fits is 8');
    expect(r.stderr).toContain('fix: use --batch-size 8 --grad-accum 8 (the same effective batch of 64)');
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});
