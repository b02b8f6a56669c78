// Faults a long run meets, each with a tested answer: the native boundary (arguments checked in TS,
// every kind of C++ exception a typed JS error), out of memory (a forced CPU allocation failure: the
// session survives, the batch-size probe steps down, estimate reports the largest batch that fits),
// and a checkpoint write that fails (a file-size limit: the previous checkpoint stays intact).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stepDownSizes } from '../src/measure/oom.js';
import { FtplanError, NativeCallError } from '../src/errors.js';
import { modelConfig } from '../src/model/presets.js';
import { checkedAddon, loadNative, loadRawNative, type NativeAddon } from '../src/native.js';
import { TWEETS } from './corpus/cases.js';
import { DATA } from './data.js';
import { makeBatch, randomRows, tempDir, tinyModel } from './helpers.js';

const tmp = () => tempDir('ftplan-rel-');
const addon = loadNative();

function ftplan(args: string[], env: Record<string, string> = {}, shell?: string) {
  const r = shell
    ? spawnSync('bash', ['-c', `${shell}; exec "$0" bin/ftplan.js "$@"`, process.execPath, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 })
    : spawnSync(process.execPath, ['bin/ftplan.js', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

async function caught(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('the native boundary: arguments are checked in TS before the call', () => {
  // A raw addon whose every function records that it was reached: the checks must stop bad
  // arguments before it.
  const reached: string[] = [];
  const spy = new Proxy({} as NativeAddon, {
    get: (_t, name: string) => {
      if (name === 'Session') {
        return class {
          constructor() {
            reached.push('Session');
          }
          step() {
            reached.push('Session.step');
            return Promise.resolve();
          }
          logits() {
            reached.push('Session.logits');
            return Promise.resolve();
          }
          setLr() {
            reached.push('Session.setLr');
          }
          loadState() {
            reached.push('Session.loadState');
            return Promise.resolve();
          }
          saveTrainingState() {
            reached.push('Session.saveTrainingState');
            return Promise.resolve();
          }
          loadTrainingState() {
            reached.push('Session.loadTrainingState');
            return Promise.resolve();
          }
        };
      }
      return () => {
        reached.push(name);
        return Promise.resolve();
      };
    },
  });
  const checked = checkedAddon(spy);
  const cfg = tinyModel();
  const good = makeBatch([[1, 2, 3]], 4, cfg.padTokenId, [1]);
  const session = () => new checked.Session({ model: cfg, threads: 1 });

  const bad: [string, () => unknown, RegExp][] = [
    ['flopsPerToken: seqLen over the positions', () => checked.flopsPerToken(cfg, cfg.nPositions + 1), /seqLen must be in \[1, 64\]/],
    ['parameterCounts: nEmbd not divisible by nHead', () => checked.parameterCounts({ ...cfg, nEmbd: 65 }), /model\.nHead: nEmbd must be divisible by nHead/],
    ['benchmark: batch 0', () => checked.benchmark({ model: cfg, batchSize: 0, seqLen: 8 }), /batchSize must be in \[1,/],
    ['benchmark: NaN lr', () => checked.benchmark({ model: cfg, batchSize: 1, seqLen: 8, lr: Number.NaN }), /lr must be a finite number/],
    ['benchmark: a device name', () => checked.benchmark({ model: cfg, batchSize: 1, seqLen: 8, device: 'tpu' }), /device must be cpu, cuda or cuda:N/],
    ['benchmark: probe sizes', () => checked.benchmark({ model: cfg, batchSize: 1, seqLen: 8, probeBatchSizes: [4, 0] }), /probeBatchSizes\[\] must be in \[1,/],
    ['probeActivations: seqLen 0', () => checked.probeActivations({ model: cfg, seqLen: 0 }), /seqLen must be in \[1, 64\]/],
    ['Session: threads 5000', () => new checked.Session({ model: cfg, threads: 5000 }), /threads must be in \[0, 1024\]/],
    ['Session.step: no micro-batch', () => session().step([]), /at least one micro-batch/],
    ['Session.step: a label out of range', () => session().step([makeBatch([[1, 2]], 4, cfg.padTokenId, [7])]), /label 7 is outside \[0, 3\)/],
    ['Session.step: a token id outside the vocab', () => session().step([makeBatch([[1, 9999]], 4, cfg.padTokenId, [1])]), /token id 9999 is outside the vocab/],
    ['Session.step: ids of the wrong length', () => session().step([{ ...good, inputIds: new Int32Array(3) }]), /Int32Array of batchSize × seqLen = 4 elements/],
    ['Session.logits: lengths 0', () => session().logits({ ...good, lengths: Int32Array.from([0]) }), /0 real tokens in a row of 4/],
    ['Session.setLr: Infinity', () => session().setLr(Number.POSITIVE_INFINITY), /lr must be a finite number > 0/],
    ['Session.loadState: data of the wrong size', () => session().loadState({ w: { shape: [2, 2], data: new Float32Array(3) } }), /has 3 values for shape \[2, 2\]/],
    ['Session.saveTrainingState: no path', () => session().saveTrainingState(''), /takes a file path/],
    ['Session.loadTrainingState: a missing file', () => session().loadTrainingState('/nonexistent/state.pt'), /no such file/],
    ['setCpuMemoryLimit: negative', () => checked.setCpuMemoryLimit(-1), /bytes must be in \[0,/],
  ];
  it.each(bad)('%s: ERR_INVALID_ARGUMENT, the C++ side never called', async (_name, f, message) => {
    reached.length = 0;
    const e = await caught(f);
    expect(e).toBeInstanceOf(NativeCallError);
    expect(e).toBeInstanceOf(FtplanError);
    expect((e as NativeCallError).code).toBe('ERR_INVALID_ARGUMENT');
    expect((e as Error).message).toMatch(message);
    expect(reached.filter((n) => n !== 'Session')).toEqual([]);
  });

  it('good arguments pass through to the C++ side', async () => {
    reached.length = 0;
    const s = session();
    await s.step([good]);
    await s.logits(good);
    s.setLr(1e-4);
    await checked.benchmark({ model: cfg, batchSize: 2, seqLen: 8, probeBatchSizes: [4, 2], probeStopAtFit: true });
    expect(reached).toEqual(['Session', 'Session.step', 'Session.logits', 'Session.setLr', 'benchmark']);
  });
});

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

describe('disk full: a checkpoint write that fails', () => {
  const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
  const hashes = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((f) => [f, sha(join(dir, f))]));

  it('under a file-size limit: the run stops with the file and the reason, the previous checkpoint stays intact and loadable', () => {
    const out = tmp();
    const TINY = join(DATA, 'tiny-gpt2');
    // 60 rows, batch 16: 4 steps an epoch, a checkpoint every 3; the same flags for every run, so
    // --resume accepts them
    const args = ['run', '--model', TINY, '--dataset', TWEETS, '--epochs', '2', '--batch-size', '16', '--save-steps', '3', '--eval-limit', '8', '--threads', '1', '--device', 'cpu', '--output-dir', out];
    const first = ftplan([...args, '--max-steps', '3']);
    expect(first.code, first.stderr).toBe(0);
    const kept = join(out, 'checkpoint-3');
    const before = hashes(kept);
    expect(Object.keys(before)).toContain('training_state.pt');

    // Files written from now on may not pass 200 KiB: model.safetensors (413 kB) of checkpoint-4 (the epoch's end) fails
    // with EFBIG (Node ignores SIGXFSZ, so the write returns the error instead of killing it).
    const full = ftplan([...args, '--resume'], {}, 'ulimit -f 200');
    expect(full.signal).toBeNull();
    expect(full.code, full.stderr).toBe(1);
    expect(full.stderr).toMatch(/ftplan: writing .*checkpoint-4 failed \(.*checkpoint-4\.partial-\d+\/model\.safetensors: EFBIG: file too large/);
    expect(full.stderr).toContain(`the previous checkpoint ${kept} is intact`);
    expect(full.stderr).toContain(`--resume ${kept}`);
    expect(full.stderr).not.toMatch(/^\s+at /m);
    // nothing half-written is left, and the previous checkpoint is byte for byte what it was
    expect(readdirSync(out).filter((d) => d.startsWith('checkpoint-'))).toEqual(['checkpoint-3']);
    expect(hashes(kept)).toEqual(before);

    // and it is usable: evaluated, and resumed to the end once there is room
    const ev = ftplan(['eval', '--model', kept, '--dataset', TWEETS, '--threads', '1', '--device', 'cpu', '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    expect(JSON.parse(ev.stdout).metrics.rows).toBe(30);
    const resumed = ftplan([...args, '--resume', kept, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const j = JSON.parse(resumed.stdout);
    expect(j).toMatchObject({ status: 'completed', steps: 8, resumedFrom: kept });
    expect(existsSync(join(out, 'checkpoint-8', 'training_state.pt'))).toBe(true);
  }, 600_000);
});
