// The native core, through the addon exactly as the CLI uses it. The addon must be built: in CI a
// missing addon fails this file (loadNative throws), it is never skipped.
import { describe, expect, it } from 'vitest';
import { modelConfig } from '../../src/model/presets.js';
import { timeRunSteps } from '../../src/commands/estimate.js';
import { loadNative, loadRawNative } from '../../src/native.js';
import { makeBatch, randomRows, tinyModel } from '../helpers.js';

const addon = loadNative();

describe('runtime', () => {
  it('reports the libtorch it was built against', () => {
    const info = addon.runtimeInfo();
    expect(info.torchVersion).toMatch(/^(1\.13|2\.\d+)\.\d+/);
    expect(info.devices).toContain('cpu');
    expect(info.cpuTrackingAllocator).toBe(true);
    expect(info.cudaAvailable).toBe(info.devices.some((d) => d.startsWith('cuda')));
  });
});

describe('GPT-2 shapes', () => {
  // Hugging Face GPT2Model parameter counts (openai-community/gpt2, sum of p.numel()); the larger
  // sizes build gigabytes of weights: test/slow/gpt2-sizes.test.ts
  const HF = { gpt2: 124_439_808 };
  for (const [name, count] of Object.entries(HF)) {
    it(`${name} transformer has HF's ${count.toLocaleString()} parameters; the score head adds n_embd x 3`, async () => {
      const cfg = modelConfig(name);
      const c = await addon.parameterCounts(cfg);
      expect(c.transformer).toBe(count);
      expect(c.head).toBe(cfg.nEmbd * 3);
      expect(c.total).toBe(count + cfg.nEmbd * 3);
    }, 300_000);
  }

  it('model FLOPs per token follow 6N + 12·L·C·T with N the matmul weights (hand-computed for gpt2, T=128)', () => {
    // N = 12 layers × (3·768² + 768² + 2·768·3072) + 768·3 = 84,936,960
    const f = addon.flopsPerToken(modelConfig('gpt2'), 128);
    expect(f.matmulParameters).toBe(84_936_960);
    expect(f.flopsPerToken).toBe(6 * 84_936_960 + 12 * 12 * 768 * 128);
  });
});

describe('training', () => {
  it('learns: loss on one fixed batch falls by at least 90% within a few hundred steps', async () => {
    const cfg = tinyModel({ embdPdrop: 0, attnPdrop: 0, residPdrop: 0 });
    const s = new addon.Session({ model: cfg, lr: 1e-3, seed: 3, threads: 2 });
    await s.init();
    const rows = randomRows(8, 4, 16, 500, 7);
    const batch = makeBatch(rows, 16, cfg.padTokenId, [0, 1, 2, 0, 1, 2, 1, 0]);
    const first = (await s.step([batch])).loss;
    let last = first;
    let steps = 1;
    while (steps < 300 && last > first * 0.1) {
      last = (await s.step([batch])).loss;
      steps++;
    }
    expect(first).toBeGreaterThan(0.5);
    expect(last).toBeLessThanOrEqual(first * 0.1);
  });

  it('is deterministic: the same seed gives identical losses (dropout on)', async () => {
    const cfg = tinyModel();
    const rows = randomRows(4, 3, 12, 500, 11);
    const batch = makeBatch(rows, 12, cfg.padTokenId, [2, 0, 1, 1]);
    const run = async (seed: number) => {
      const s = new addon.Session({ model: cfg, seed, threads: 1 });
      await s.init();
      const losses: number[] = [];
      for (let i = 0; i < 4; i++) losses.push((await s.step([batch])).loss);
      return losses;
    };
    const a = await run(5);
    const b = await run(5);
    const c = await run(6);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('gradient accumulation over two halves equals one step on the whole batch (no dropout)', async () => {
    const cfg = tinyModel({ embdPdrop: 0, attnPdrop: 0, residPdrop: 0 });
    const rows = randomRows(8, 10, 10, 500, 13);
    const labels = [0, 1, 2, 0, 1, 2, 0, 1];
    const whole = makeBatch(rows, 10, cfg.padTokenId, labels);
    const half1 = makeBatch(rows.slice(0, 4), 10, cfg.padTokenId, labels.slice(0, 4));
    const half2 = makeBatch(rows.slice(4), 10, cfg.padTokenId, labels.slice(4));
    const probe = makeBatch(rows.slice(0, 2), 10, cfg.padTokenId);
    const a = new addon.Session({ model: cfg, seed: 1, lr: 1e-3, threads: 1 });
    const b = new addon.Session({ model: cfg, seed: 1, lr: 1e-3, threads: 1 });
    await a.init();
    await b.init();
    const ra = await a.step([whole]);
    const rb = await b.step([half1, half2]);
    expect(rb.loss).toBeCloseTo(ra.loss, 5);
    expect(rb.gradNorm).toBeCloseTo(ra.gradNorm, 4);
    const la = await a.logits(probe);
    const lb = await b.logits(probe);
    for (let i = 0; i < la.length; i++) expect(lb[i]).toBeCloseTo(la[i] as number, 4);
  });
});

describe('padding', () => {
  it('a row padded to 16 or to 32 tokens gives the same logits, whatever the padding ids', async () => {
    const cfg = tinyModel();
    const s = new addon.Session({ model: cfg, seed: 2, threads: 1 });
    await s.init();
    const rows = randomRows(3, 5, 14, 500, 17);
    const l16 = await s.logits(makeBatch(rows, 16, cfg.padTokenId));
    const l32 = await s.logits(makeBatch(rows, 32, cfg.padTokenId));
    const junk = makeBatch(rows, 32, cfg.padTokenId);
    rows.forEach((r, i) => junk.inputIds.fill(7, i * 32 + r.length, (i + 1) * 32)); // other ids in the padding
    const lJunk = await s.logits(junk);
    expect(l16.length).toBe(3 * cfg.numLabels);
    for (let i = 0; i < l16.length; i++) {
      expect(l32[i]).toBeCloseTo(l16[i] as number, 5);
      expect(lJunk[i]).toBeCloseTo(l16[i] as number, 5);
    }
    // and the logits depend on the real tokens: changing one changes them
    const changed = rows.map((r) => [...r]);
    (changed[0] as number[])[0] = ((changed[0] as number[])[0]! + 1) % 500;
    const lChanged = await s.logits(makeBatch(changed, 16, cfg.padTokenId));
    expect(Math.abs(lChanged[0]! - l16[0]!) + Math.abs(lChanged[1]! - l16[1]!)).toBeGreaterThan(1e-6);
  });
});

describe('bf16 autocast', () => {
  it('trains with fp32 master weights and stays finite', async () => {
    const cfg = tinyModel();
    const s = new addon.Session({ model: cfg, dtype: 'bf16', seed: 4, lr: 1e-3, threads: 2 });
    await s.init();
    const batch = makeBatch(randomRows(8, 4, 24, 500, 19), 24, cfg.padTokenId, [0, 1, 2, 0, 1, 2, 1, 0]);
    const losses: number[] = [];
    for (let i = 0; i < 20; i++) losses.push((await s.step([batch])).loss);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    const logits = await s.logits(batch);
    expect(Array.from(logits).every(Number.isFinite)).toBe(true);
  });

  it('the benchmark runs in bf16', async () => {
    const r = await addon.benchmark({ model: tinyModel(), batchSize: 4, seqLen: 32, steps: 2, warmupSteps: 1, dtype: 'bf16', threads: 2 });
    expect(r.stepMs).toHaveLength(2);
    expect(r.losses.every(Number.isFinite)).toBe(true);
  });
});

describe('CPU fast paths', () => {
  it('the fused AdamW (clip coefficient folded in) matches LibTorch\'s AdamW to float rounding', () => {
    for (const [wd, scale] of [[0, 1], [0.01, 1], [0.1, 0.25]] as const) {
      const diff = addon.fusedAdamwCheck(20, wd, scale);
      expect(diff).toBeLessThan(1e-5);
      expect(Number.isFinite(diff)).toBe(true);
    }
    expect(() => addon.fusedAdamwCheck(0, 0, 1)).toThrow(/steps/);
  });

  it('the CPU dropout kernel keeps 1-p of the elements scaled by 1/(1-p), and backward regenerates the same mask', () => {
    for (const p of [0.1, 0.5]) {
      const n = 200_001; // odd: the last element takes the low half of its pair's hash
      const c = addon.dropoutCheck(n, p);
      const sd = Math.sqrt((p * (1 - p)) / n);
      expect(Math.abs(c.keptFraction - (1 - p))).toBeLessThan(5 * sd);
      expect(c.maxForwardError).toBeLessThan(1e-12);
      expect(c.maxBackwardError).toBeLessThan(1e-12);
      expect(c.sameWithSameSeed).toBe(true); // torch::manual_seed governs it, as it governs torch's dropout
      expect(c.differsWithOtherSeed).toBe(true);
      expect(c.sameAcrossThreads).toBe(true);
      expect(c.bf16MatchesFp32Mask).toBe(true);
    }
    expect(() => addon.dropoutCheck(10, 1)).toThrow(/p must/);
  });

  it('the fused causal softmax + dropout matches scale, mask, softmax and ftplan dropout composed from torch ops', () => {
    const c = addon.fusedAttentionCheck(6, 37, 0.1); // T odd: dropout pairs straddle rows
    expect(c.maxForwardError).toBeLessThan(1e-6);
    expect(c.maxBackwardError).toBeLessThan(1e-5);
    expect(c.maxDropoutForwardError).toBeLessThan(2e-6); // the same elements kept, scaled by 1/(1-p)
    expect(c.maxDropoutBackwardError).toBeLessThan(2e-5);
    expect(c.upperTriangleZero).toBe(true);
    expect(c.maxBf16Error).toBeLessThan(1e-2); // bf16 output rounding only
    expect(c.maxBf16Error).toBeGreaterThanOrEqual(0);
    expect(() => addon.fusedAttentionCheck(6, 37, 1)).toThrow(/p must/);
    const t = addon.fusedAttentionTiming(4, 16, 0.1, 3); // the benchmark's op timing runs and reports both sides
    expect(t.fusedMs).toBeGreaterThan(0);
    expect(t.composedMs).toBeGreaterThan(0);
    expect(() => addon.fusedAttentionTiming(4, 16, 0.1, 0)).toThrow(/reps/);
  });

  it('denormals are flushed to zero on the compute thread and every intra-op thread (FTZ/DAZ), and can be kept', async () => {
    const s = new addon.Session({ model: tinyModel(), threads: 2, seed: 1 });
    await s.init();
    expect(addon.flushDenormal()).toMatchObject({ enabled: true, computeThread: true, intraOpThreads: true });
    try {
      expect(addon.flushDenormal(false)).toMatchObject({ enabled: false, computeThread: false, intraOpThreads: false });
    } finally {
      expect(addon.flushDenormal(true)).toMatchObject({ enabled: true, computeThread: true, intraOpThreads: true });
    }
    expect(() => addon.flushDenormal('yes' as unknown as boolean)).toThrow(/boolean/);
  });

  it('training with the fused attention matches the torch-op attention (padded rows, dropout on, same seed)', async () => {
    const cfg = tinyModel({ nEmbd: 64, nHead: 4, vocabSize: 512, padTokenId: 511 });
    const batch = makeBatch(randomRows(8, 5, 31, 500, 21), 31, cfg.padTokenId, [0, 1, 2, 0, 1, 2, 1, 0]);
    const train = async (fused: boolean) => {
      addon.fusedAttention(fused);
      try {
        const s = new addon.Session({ model: cfg, lr: 1e-3, seed: 9, threads: 2 });
        await s.init();
        const losses = [];
        for (let i = 0; i < 4; i++) losses.push((await s.step([batch], { seeds: [100 + i] })).loss);
        return { losses, logits: await s.logits(batch) };
      } finally {
        addon.fusedAttention(true);
      }
    };
    const fused = await train(true);
    const plain = await train(false);
    for (let i = 0; i < 4; i++) expect(fused.losses[i]).toBeCloseTo(plain.losses[i]!, 4);
    expect(Math.max(...fused.logits.map((v, i) => Math.abs(v - plain.logits[i]!)))).toBeLessThan(1e-3);
    expect(fused.losses[3]).not.toBe(fused.losses[0]); // it trained
    expect(addon.fusedAttention()).toBe(true);
    expect(() => addon.fusedAttention(1 as unknown as boolean)).toThrow(/boolean/);
  });

  it('the last block pruned to each row\'s last real token trains exactly as the full block (padded rows, dropout off)', async () => {
    // Nothing of the last block but its output at each row's last real token reaches the head, so the
    // pruned block must give the same logits, losses and updated weights as running every position.
    const cfg = tinyModel({ nEmbd: 64, nHead: 4, nLayer: 3, vocabSize: 512, padTokenId: 511, embdPdrop: 0, attnPdrop: 0, residPdrop: 0 });
    const batch = makeBatch(randomRows(8, 1, 29, 500, 23), 29, cfg.padTokenId, [0, 1, 2, 0, 1, 2, 1, 0]);
    const probe = makeBatch(randomRows(5, 1, 17, 500, 41), 17, cfg.padTokenId);
    const train = async (pruned: boolean, fused: boolean) => {
      addon.lastBlockPruned(pruned);
      addon.fusedAttention(fused);
      try {
        const s = new addon.Session({ model: cfg, lr: 1e-3, seed: 4, threads: 2 });
        await s.init();
        const before = Array.from(await s.logits(probe));
        const losses = [];
        for (let i = 0; i < 5; i++) losses.push((await s.step([batch])).loss);
        return { before, losses, after: Array.from(await s.logits(probe)) };
      } finally {
        addon.lastBlockPruned(true);
        addon.fusedAttention(true);
      }
    };
    const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    for (const fused of [true, false]) {
      const pruned = await train(true, fused);
      const full = await train(false, fused);
      expect(maxDiff(pruned.before, full.before)).toBeLessThan(1e-5);
      expect(maxDiff(pruned.losses, full.losses)).toBeLessThan(1e-5);
      expect(maxDiff(pruned.after, full.after)).toBeLessThan(1e-4);
      expect(maxDiff(pruned.after, pruned.before)).toBeGreaterThan(1e-3); // it trained
    }
    expect(addon.lastBlockPruned()).toBe(true);
    expect(() => addon.lastBlockPruned('no' as unknown as boolean)).toThrow(/boolean/);
  });

  it('training with the dropout kernel stores no masks: lower peak memory than torch\'s dropout, same seed reproduces', async () => {
    const cfg = tinyModel({ nEmbd: 128, nHead: 4, vocabSize: 512, padTokenId: 511 });
    const run = async (ours: boolean) => {
      addon.cpuDropout(ours);
      try {
        return await addon.benchmark({ model: cfg, batchSize: 8, seqLen: 64, steps: 2, warmupSteps: 1, threads: 1, seed: 5 });
      } finally {
        addon.cpuDropout(true);
      }
    };
    const ours = await run(true);
    const again = await run(true);
    const torchs = await run(false);
    expect(again.losses).toEqual(ours.losses);
    expect(ours.losses.every(Number.isFinite) && torchs.losses.every(Number.isFinite)).toBe(true);
    expect(torchs.losses).not.toEqual(ours.losses); // a different random stream, the same distribution
    expect(ours.peakMemoryBytes).toBeLessThan(torchs.peakMemoryBytes);
    expect(addon.cpuDropout()).toBe(true);
    expect(() => addon.cpuDropout('no' as unknown as boolean)).toThrow(/boolean/);
  });

  it('the CPU block cache serves repeated steps from freed blocks, and can be turned off and on', async () => {
    const cfg = tinyModel({ nEmbd: 256, nHead: 4, vocabSize: 4096, padTokenId: 4095 });
    const s = new addon.Session({ model: cfg, threads: 1, seed: 3 });
    await s.init();
    const batch = makeBatch(randomRows(16, 64, 64, 4000, 5), 64, cfg.padTokenId, Array(16).fill(1));
    expect(addon.cpuAllocator({ cache: true }).cache).toBe(true);
    await s.step([batch]);
    const before = addon.cpuAllocator();
    await s.step([batch]);
    const after = addon.cpuAllocator();
    expect(after.hits - before.hits).toBeGreaterThan(0); // the second step reused the first one's blocks
    expect(after.cachedBytes).toBeLessThanOrEqual(after.capBytes);
    const off = addon.cpuAllocator({ cache: false });
    expect(off).toMatchObject({ cache: false, cachedBytes: 0 });
    const r = await s.step([batch]);
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(addon.cpuAllocator().hits).toBe(off.hits); // off: nothing served from the cache (the default)
  });
});

describe('benchmark', () => {
  it('times steps and measures memory: peak covers weights + grads + AdamW moments', async () => {
    const cfg = tinyModel();
    const r = await addon.benchmark({ model: cfg, batchSize: 8, seqLen: 32, steps: 3, warmupSteps: 1, evalBatchSize: 16, evalSteps: 2, threads: 2 });
    expect(r.stepMs).toHaveLength(3);
    expect(r.stepMs.every((ms) => ms > 0)).toBe(true);
    expect(r.evalMs).toHaveLength(2);
    expect(r.losses).toHaveLength(4);
    expect(r.stepSeqLens).toEqual([32, 32, 32]);
    // weights, grads, exp_avg, exp_avg_sq: 4 fp32 copies of every parameter
    expect(r.staticMemoryBytes).toBeGreaterThanOrEqual(r.parameters * 4 * 4);
    expect(r.staticMemoryBytes).toBeLessThan(r.parameters * 4 * 4 * 1.5);
    expect(r.peakMemoryBytes).toBeGreaterThan(r.staticMemoryBytes);
    expect(r.peakMemorySource).toBe('cpu-counting-allocator');
    expect(r.device).toBe('cpu');
    expect(r.threads).toBe(2);
  });

  it('memory is the benchmark\'s own: allocations elsewhere in the process at the same time do not count', async () => {
    const cfg = tinyModel();
    const opts = { model: cfg, batchSize: 8, seqLen: 32, steps: 2, warmupSteps: 1, threads: 1 };
    const alone = await addon.benchmark(opts);
    // While the benchmark runs, the JS thread allocates tensors: each step() call copies its batch
    // into LibTorch tensors at once (64 KiB of ids each here, far over the 1% allowed below),
    // held until that queued step has run.
    const others = Array.from({ length: 4 }, () => new addon.Session({ model: cfg, threads: 1 }));
    await Promise.all(others.map((o) => o.init()));
    const big = makeBatch(randomRows(256, 64, 64, 500, 23), 64, cfg.padTokenId, Array(256).fill(1));
    const running = addon.benchmark(opts);
    const noise = others.map((o) => o.step([big]));
    const together = await running;
    await Promise.all(noise);
    expect(together.staticMemoryBytes).toBe(alone.staticMemoryBytes);
    expect(Math.abs(together.peakMemoryBytes - alone.peakMemoryBytes)).toBeLessThan(alone.peakMemoryBytes * 0.01);
    expect(4 * big.inputIds.byteLength).toBeGreaterThan(alone.peakMemoryBytes * 0.05); // had they counted, they would show
  });

  it('timeRunSteps (the estimate\'s timing) steps a Session from JS as the run does: the lengths in turn, until min time', async () => {
    const cfg = tinyModel();
    const o = { model: cfg, batchSize: 4, gradAccum: 2, dtype: 'fp32' as const, device: 'cpu', threads: 1, seed: 3, warmupSteps: 1, steps: 4, minMs: 0, lens: [8, 16, 12] };
    const r = await timeRunSteps(addon, o);
    expect(r.stepSeqLens).toEqual([8, 16, 12, 8]);
    expect(r.stepMs).toHaveLength(4);
    expect(r.losses).toHaveLength(5); // the warm-up step's loss first
    expect(r.losses.every(Number.isFinite) && r.stepMs.every((ms) => ms > 0)).toBe(true);
    expect(await timeRunSteps(addon, o)).toMatchObject({ losses: r.losses }); // seeded: the same batches and dropout
    // with a minimum time: at least `steps` steps, then steps until they add up to it (the rule on a
    // fake clock: test/unit/estimate-timing.test.ts)
    const more = await timeRunSteps(addon, { ...o, gradAccum: 1, steps: 2, minMs: 150, warmupSteps: 0 });
    const total = more.stepMs.reduce((a, b) => a + b, 0);
    expect(more.stepMs.length).toBeGreaterThanOrEqual(2);
    if (more.stepMs.length > 2) expect(total - (more.stepMs.at(-1) as number)).toBeLessThan(150); // stopped at the first step past it
    expect(total >= 150 || more.stepMs.length === 5000).toBe(true);
  });

  it('cycles through the given padded lengths, one per timed step, and times more steps until min time (or maxSteps)', async () => {
    const cfg = tinyModel();
    const r = await addon.benchmark({ model: cfg, batchSize: 4, seqLen: 12, seqLens: [8, 16, 12], steps: 4, warmupSteps: 1, threads: 1 });
    expect(r.stepSeqLens).toEqual([8, 16, 12, 8]);
    const more = await addon.benchmark({ model: cfg, batchSize: 4, seqLen: 12, seqLens: [8, 16], steps: 2, minTimedMs: 150, maxSteps: 40, warmupSteps: 0, threads: 1 });
    const total = more.stepMs.reduce((a, b) => a + b, 0);
    // at least `steps` steps; then more until the timed steps reach 150 ms, or maxSteps: whichever
    // comes first, however long a step takes here
    expect(more.stepMs.length).toBeGreaterThanOrEqual(2);
    expect(more.stepMs.length).toBeLessThanOrEqual(40);
    expect(total >= 150 || more.stepMs.length === 40).toBe(true);
    if (more.stepMs.length > 2) expect(total - (more.stepMs.at(-1) as number)).toBeLessThan(150);
    expect(more.stepSeqLens).toEqual(more.stepMs.map((_, i) => [8, 16][i % 2]));
    // checked in TS before the call (src/native.ts), and again by the C++ side
    expect(() => addon.benchmark({ model: cfg, batchSize: 4, seqLen: 12, seqLens: [8, 65], steps: 1, threads: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/seqLens\[\] must be in \[1, 64\]/) }));
    await expect(loadRawNative().benchmark({ model: cfg, batchSize: 4, seqLen: 12, seqLens: [8, 65], steps: 1, threads: 1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/seq_lens/) });
  });

  it('peak memory grows with the batch (activations)', async () => {
    const cfg = tinyModel();
    const small = await addon.benchmark({ model: cfg, batchSize: 2, seqLen: 64, steps: 1, warmupSteps: 0, threads: 1 });
    const big = await addon.benchmark({ model: cfg, batchSize: 16, seqLen: 64, steps: 1, warmupSteps: 0, threads: 1 });
    expect(big.peakMemoryBytes - big.staticMemoryBytes).toBeGreaterThan(4 * (small.peakMemoryBytes - small.staticMemoryBytes));
  });
});

describe('bad input is a clean JS error with a code, never a crash', () => {
  // The C++ side's own checks, behind the TS ones (test/reliability.test.ts covers those).
  const addon = loadRawNative();
  const expectCode = async (p: Promise<unknown> | (() => unknown), code: string, message: RegExp) => {
    if (typeof p === 'function') {
      let err: unknown;
      try {
        p();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(Error);
      expect((err as { code?: string }).code).toBe(code);
      expect((err as Error).message).toMatch(message);
      return;
    }
    await expect(p).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
  };

  it('n_embd not divisible by n_head', async () => {
    const bad = { ...tinyModel(), nEmbd: 65 };
    await expectCode(() => addon.benchmark({ model: bad, batchSize: 2, seqLen: 8 }), 'ERR_INVALID_ARGUMENT', /divisible by n_head/);
    await expectCode(() => new addon.Session({ model: bad }), 'ERR_INVALID_ARGUMENT', /divisible by n_head/);
    await expectCode(() => addon.parameterCounts(bad), 'ERR_INVALID_ARGUMENT', /divisible by n_head/);
  });

  it('batch 0, seq over the positions, zero steps', async () => {
    const cfg = tinyModel();
    await expectCode(() => addon.benchmark({ model: cfg, batchSize: 0, seqLen: 8 }), 'ERR_INVALID_ARGUMENT', /batch size/);
    await expectCode(addon.benchmark({ model: cfg, batchSize: 2, seqLen: 65 }), 'ERR_INVALID_ARGUMENT', /n_positions/);
    await expectCode(addon.benchmark({ model: cfg, batchSize: 2, seqLen: 8, steps: 0 }), 'ERR_INVALID_ARGUMENT', /steps/);
  });

  it('bad batches to a session: labels out of range, ids out of vocab, wrong lengths, no batch', async () => {
    const cfg = tinyModel();
    const s = new addon.Session({ model: cfg, threads: 1 });
    await s.init();
    await expectCode(s.step([makeBatch([[1, 2, 3]], 4, cfg.padTokenId, [3])]), 'ERR_INVALID_ARGUMENT', /labels/);
    await expectCode(s.step([makeBatch([[1, 2, 9999]], 4, cfg.padTokenId, [1])]), 'ERR_INVALID_ARGUMENT', /vocab/);
    const b = makeBatch([[1, 2]], 4, cfg.padTokenId, [1]);
    b.lengths[0] = 0;
    await expectCode(s.step([b]), 'ERR_INVALID_ARGUMENT', /real tokens/);
    await expectCode(() => s.step([]), 'ERR_INVALID_ARGUMENT', /at least one/);
    await expectCode(() => s.step([{ ...b, inputIds: new Int32Array(3) }]), 'ERR_INVALID_ARGUMENT', /elements/);
    // and the session still works afterwards
    const ok = await s.step([makeBatch([[1, 2, 3]], 4, cfg.padTokenId, [2])]);
    expect(Number.isFinite(ok.loss)).toBe(true);
  });

  it('one operation at a time per session', async () => {
    const cfg = tinyModel();
    const s = new addon.Session({ model: cfg, threads: 1 });
    await s.init();
    const batch = makeBatch([[1, 2, 3]], 4, cfg.padTokenId, [2]);
    const first = s.step([batch]);
    await expectCode(() => s.step([batch]), 'ERR_BUSY', /already running/);
    await first;
  });

  it('a session used before init()', async () => {
    const s = new addon.Session({ model: tinyModel(), threads: 1 });
    await expectCode(s.logits(makeBatch([[1]], 1, 511)), 'ERR_INVALID_ARGUMENT', /init/);
  });

  it('an unavailable device', async () => {
    const missing = addon.runtimeInfo().cudaAvailable ? 'cuda:99' : 'cuda';
    await expectCode(addon.benchmark({ model: tinyModel(), batchSize: 1, seqLen: 4, device: missing }), 'ERR_INVALID_ARGUMENT', /cuda/i);
    await expectCode(addon.benchmark({ model: tinyModel(), batchSize: 1, seqLen: 4, device: 'tpu' }), 'ERR_INVALID_ARGUMENT', /not one of/);
  });
});
