// CUDA tests of the native core, run by scripts/device/gpu-check.sh on a GPU machine with plain
// `node --test` (node:test, node:assert: no vitest there). Never part of `npm test` (vitest includes
// test/**/*.test.ts only); the CPU dry run of gpu-check.sh runs this same file with
// FTPLAN_TEST_DEVICE=cpu, so every device-agnostic assertion runs in CI too.
//   FTPLAN_CUDA_TESTS=1                   required, else every test is skipped (set by gpu-check.sh)
//   FTPLAN_TEST_DEVICE=cuda:0 | cpu       the device (default cuda:0); CUDA tests skip when CUDA is absent
//   FTPLAN_NATIVE=/path/to/ftplan.node    the addon (default build/Release/ftplan.node)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadAddon, SHAPES } from '../../scripts/device/bench-ftplan.mjs';

const DEVICE = process.env.FTPLAN_TEST_DEVICE || 'cuda:0';
const CUDA = DEVICE.startsWith('cuda');
const addon = process.env.FTPLAN_CUDA_TESTS === '1' ? loadAddon() : null;
const info = addon?.runtimeInfo();
const skip = !addon
  ? 'FTPLAN_CUDA_TESTS=1 not set (run by scripts/device/gpu-check.sh)'
  : CUDA && !info.cudaAvailable
    ? `CUDA not available to this addon (libtorch ${info.torchVersion}, CUDA compiled: ${info.cudaCompiled})`
    : false;
// Small enough for a CPU dry run; on CUDA the step is still real (SDPA, autocast, allocator).
const MODEL = CUDA ? SHAPES.mini : SHAPES.tiny;
const T = CUDA ? 128 : 32;

const bench = (o) => addon.benchmark({ model: MODEL, seqLen: T, steps: 1, warmupSteps: 0, device: DEVICE, seed: 7, ...o });

describe(`native core on ${DEVICE}`, { skip }, () => {
  test('runtime reports the device', () => {
    assert.match(info.torchVersion, /^(1\.13|2\.\d+)\.\d+/);
    if (CUDA) {
      assert.equal(info.cudaCompiled, true);
      assert.equal(info.cudaAvailable, true);
      assert.ok(info.cudaDeviceCount >= 1);
      assert.ok(info.devices.includes('cuda:0'), `devices: ${info.devices}`);
      if (info.torchVersionMajor >= 2) assert.equal(info.hasSdpa, true, 'libtorch 2.x has scaled_dot_product_attention');
    } else assert.ok(info.devices.includes('cpu'));
  });

  test('a bf16 autocast step runs, its loss is finite and within 0.05 of the fp32 step on the same seed', async () => {
    const fp32 = await bench({ batchSize: 4, dtype: 'fp32' });
    const bf16 = await bench({ batchSize: 4, dtype: 'bf16' });
    assert.ok(bf16.device.startsWith(CUDA ? 'cuda' : 'cpu'), `device ${bf16.device}`);
    assert.ok(Number.isFinite(bf16.losses[0]), `bf16 loss ${bf16.losses[0]}`);
    assert.ok(Number.isFinite(fp32.losses[0]), `fp32 loss ${fp32.losses[0]}`);
    // 3 labels, random init: the first loss is near ln 3 in both
    assert.ok(Math.abs(bf16.losses[0] - fp32.losses[0]) < 0.05, `bf16 ${bf16.losses[0]} vs fp32 ${fp32.losses[0]}`);
    assert.ok(Math.abs(fp32.losses[0] - Math.log(3)) < 0.5, `fp32 loss ${fp32.losses[0]} far from ln 3`);
  });

  test('peak memory is reported by the device allocator and grows with the batch', async () => {
    // batch 32 x 128 tokens: activations well above the optimizer step's parameter-sized peak
    const r = await bench({ batchSize: 2, dtype: 'bf16', probeBatchSizes: [2, 32], probeSeqLen: 128 });
    assert.equal(r.peakMemorySource, CUDA ? 'cuda-caching-allocator' : 'cpu-counting-allocator');
    assert.ok(r.peakMemoryBytes > 0, `peakMemoryBytes ${r.peakMemoryBytes}`);
    assert.ok(r.peakMemoryBytes >= r.staticMemoryBytes, `peak ${r.peakMemoryBytes} < static ${r.staticMemoryBytes}`);
    const [p2, p32] = r.probe;
    assert.equal(p2.outOfMemory, false);
    assert.equal(p32.outOfMemory, false);
    assert.ok(p2.activationBytes > 0, `activation bytes at batch 2: ${p2.activationBytes}`);
    assert.ok(p32.activationBytes > p2.activationBytes, `batch 32 ${p32.activationBytes} <= batch 2 ${p2.activationBytes}`);
    assert.ok(p32.peakBytes > p2.peakBytes);
  });

  test('the batch probe survives an out-of-memory batch, records it, and smaller batches still run', { skip: CUDA ? false : 'on CPU an OOM would take the shared machine\'s memory: only CUDA runs the OOM point' }, async () => {
    // gpt2 at T=128: ~0.4 MB of activations per token, so batch 4096 (0.5M tokens) needs well over
    // an H200's 141 GB; no single tensor of it exceeds 2^31 elements.
    const r = await addon.benchmark({
      model: SHAPES.gpt2,
      batchSize: 4,
      seqLen: 128,
      steps: 1,
      warmupSteps: 0,
      dtype: 'bf16',
      device: DEVICE,
      probeBatchSizes: [4096, 4],
      probeSeqLen: 128,
    });
    const [huge, small] = r.probe;
    assert.equal(huge.outOfMemory, true, `batch 4096 did not run out of memory: ${JSON.stringify(huge)}`);
    assert.equal(small.outOfMemory, false);
    assert.ok(small.peakBytes > 0);
    // the process and the GPU are still usable
    const again = await bench({ batchSize: 4, dtype: 'bf16' });
    assert.ok(Number.isFinite(again.losses[0]));
  });
});
