// Session.memory(): what one session's tensors hold, counted over its own jobs only (a proxy's
// depths are timed as sessions stepped in turn, each reporting its own peak), and Session.close().
// The benchmark meters the same training with its own scope: both must read the same bytes.
import { describe, expect, it } from 'vitest';
import { decoderPresetConfig } from '../../src/model/decoder-presets.js';
import { loadNative, type NativeBatch, type TrainOptions } from '../../src/native.js';

const addon = loadNative();
const cfg = { ...decoderPresetConfig('tiny-llama', 'causal-lm'), hiddenSize: 128, intermediateSize: 320 };
const B = 2;
const T = 24;

function lmBatch(seed: number): NativeBatch {
  let s = seed;
  const inputIds = Int32Array.from({ length: B * T }, () => (s = (s * 1103515245 + 12345) % 2147483648) % cfg.vocabSize);
  return { batchSize: B, seqLen: T, inputIds, lengths: new Int32Array(B).fill(T), lmLabels: inputIds.slice() };
}

async function stepped(o: TrainOptions, steps: number) {
  const s = new addon.Session({ model: cfg, seed: 3, threads: 1, syntheticWeights: true, ...o });
  await s.init();
  for (let i = 0; i < steps; i++) await s.step([lmBatch(i + 1)]);
  return s;
}

describe('Session.memory()', () => {
  it('reads what the benchmark reads for the same training: peak since the build, state between steps', async () => {
    for (const o of [{ dtype: 'fp32' as const }, { dtype: 'bf16' as const, method: 'qlora' as const, loraR: 4 }]) {
      const s = await stepped(o, 2);
      const m = await s.memory();
      const b = await addon.benchmark({ model: cfg, batchSize: B, seqLen: T, gradAccum: 1, warmupSteps: 1, steps: 1, evalBatchSize: 0, evalSteps: 0, seed: 3, threads: 1, syntheticWeights: true, ...o });
      expect(m).toMatchObject({ device: 'cpu', source: 'cpu-counting-allocator', threads: 1 });
      expect(m.peakBytes).toBeGreaterThan(m.currentBytes);
      expect(m.setupMs).toBeGreaterThan(0);
      // the same tensors on the same shapes: equal up to the batches' own few bytes (the session's
      // come from JS as int32, the benchmark draws its own)
      expect(Math.abs(m.peakBytes - b.peakMemoryBytes)).toBeLessThan(4096);
      expect(Math.abs(m.currentBytes - b.staticMemoryBytes)).toBeLessThan(4096);
      expect(m.trainableStateBytes).toBe(b.trainableStateBytes);
      await s.close();
    }
  });

  it('counts only its own tensors: a bigger session stepped in between does not move its peak', async () => {
    const a = await stepped({}, 2);
    const before = await a.memory();
    const big = new addon.Session({ model: { ...cfg, hiddenSize: 256, intermediateSize: 640 }, seed: 3, threads: 1, syntheticWeights: true });
    await big.init();
    await big.step([lmBatch(9)]);
    await big.step([lmBatch(10)]);
    expect((await big.memory()).peakBytes).toBeGreaterThan(2 * before.peakBytes);
    await a.step([lmBatch(3)]);
    // the same shapes again: the same peak, to the byte
    expect(await a.memory()).toMatchObject({ peakBytes: before.peakBytes, currentBytes: before.currentBytes });
    await a.close();
    await big.close();
  });

  it('QLoRA: the peak leaves out the float32 weights the build quantises', async () => {
    const s = await stepped({ dtype: 'bf16', method: 'qlora', loraR: 4 }, 1);
    const m = await s.memory();
    const info = await s.parameterInfo();
    // float32 copies of every weight would be 4 bytes a parameter; NF4 holds about half a byte
    expect(m.peakBytes).toBeLessThan(4 * info.total);
    expect(m.currentBytes).toBeGreaterThanOrEqual(info.frozenBytes + info.trainableBytes);
    await s.close();
  });

  it('close() lets the model go: its tensors are freed, calls then fail with the fix, init() builds it again', async () => {
    const s = await stepped({}, 1);
    expect((await s.memory()).currentBytes).toBeGreaterThan(0);
    const held = addon.cpuMemory().allocatedBytes;
    await s.close();
    expect(addon.cpuMemory().allocatedBytes).toBeLessThan(held);
    await expect(s.memory()).rejects.toThrow(/not initialised, or closed: await session.init\(\) first/);
    await expect(s.step([lmBatch(1)])).rejects.toThrow(/closed/);
    await s.init();
    expect(Number.isFinite((await s.step([lmBatch(1)])).loss)).toBe(true);
    await s.close();
  });
});
