// bench/eager_decoder.py, the PyTorch eager baseline the native decoder step is benchmarked against:
// on tiny checkpoints it computes the same loss as the independent float64 reference (so the
// benchmark compares the same model), speaks the worker protocol bench scripts drive (ready, step,
// gemm, loss, quit), and its Qwen2.5-0.5B shape has the published parameter count. Tiny shapes
// only: the full-size step is a benchmark, not a test.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tinyDecoderCheckpoint, type DecoderFamily, type DecoderTask } from '../decoder-fixtures.js';
import { REFERENCE_PYTHON, ROOT, tempDir } from '../helpers.js';

const EAGER = join(ROOT, 'bench/eager_decoder.py');
const REFERENCE = join(ROOT, 'test/reference/decoder_reference.py');

/** Run a worker over `commands` (one JSON line each, then quit); its answers, the ready line first. */
function worker(args: string[], commands: object[]): Record<string, unknown>[] {
  const input = [...commands, { cmd: 'quit' }].map((c) => JSON.stringify(c)).join('\n') + '\n';
  const r = spawnSync(REFERENCE_PYTHON, [EAGER, '--worker', '--threads', '1', ...args], { input, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

// rows of the tiny vocabulary (96, pad 95) avoiding the pad id, right-padded, with HF labels
const input_ids = [
  [5, 17, 42, 8, 63, 21, 9, 77, 30, 12],
  [88, 3, 54, 19, 95, 95, 95, 95, 95, 95],
];
const lengths = [10, 4];
const lm_labels = [[-100, -100, 42, 8, 63, 21, 9, 77, 30, 12], [88, 3, 54, 19, -100, -100, -100, -100, -100, -100]];
const labels = [2, 0];

// every family once, causal-lm (the task the benchmark's LM head dominates) for three, classification for one
const cases: [DecoderFamily, DecoderTask][] = [['llama', 'causal-lm'], ['mistral', 'causal-lm'], ['qwen2', 'causal-lm'], ['qwen3', 'classification']];

describe('the eager baseline against the reference', () => {
  it.each(cases)('%s %s: the eager fp32 loss of a loaded checkpoint = the float64 reference\'s to 1e-5', (family, task) => {
    const ck = tinyDecoderCheckpoint(tempDir('ftplan-eager-'), { family, task, seed: 31 });
    const req = { task, input_ids, lengths, ...(task === 'causal-lm' ? { lm_labels } : { labels }) };
    const ref = JSON.parse(execFileSync(REFERENCE_PYTHON, [REFERENCE, ck.dir], { input: JSON.stringify(req), encoding: 'utf8' })) as { loss: number };
    const [ready, answer] = worker(['--weights', ck.dir, '--task', task, '--batch', '2', '--seq', '10'], [{ cmd: 'loss', ...req }]);
    expect(ready).toMatchObject({ ready: true });
    const loss = answer!.loss as number;
    expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    expect(ref.loss).toBeGreaterThan(0.1);
  }, 60_000);
});

describe('the worker protocol', () => {
  it('ready with the parameter count, steps whose loss falls, a gemm rate, then quits cleanly', () => {
    const out = worker(['--model', 'tiny-qwen2', '--task', 'causal-lm', '--batch', '2', '--seq', '16', '--dtype', 'bf16'], [{ cmd: 'step' }, { cmd: 'step' }, { cmd: 'step' }, { cmd: 'gemm', dtype: 'fp32' }]);
    expect(out).toHaveLength(5);
    expect(out[0]).toMatchObject({ ready: true, parameters: 107_072 });
    const steps = out.slice(1, 4) as { ms: number; loss: number; peakRssBytes: number }[];
    for (const s of steps) {
      expect(s.ms).toBeGreaterThan(0);
      expect(s.peakRssBytes).toBeGreaterThan(1 << 20);
    }
    expect(Math.abs(steps[0]!.loss - Math.log(512))).toBeLessThan(0.5); // a fresh model: about uniform over the vocabulary
    expect(steps[2]!.loss).toBeLessThan(steps[0]!.loss); // AdamW on the same batch
    expect(out[4]!.gflops as number).toBeGreaterThan(0);
  }, 60_000);

  it('Qwen2.5-0.5B: 494,032,768 parameters for causal-lm (tied embeddings; as published), + 896 × 3 for the classification head', () => {
    const count = (task: DecoderTask) => JSON.parse(execFileSync(REFERENCE_PYTHON, [EAGER, '--count', '--model', 'qwen2.5-0.5b', '--task', task], { encoding: 'utf8' })).parameters;
    expect(count('causal-lm')).toBe(494_032_768);
    expect(count('classification')).toBe(494_032_768 + 896 * 3);
  }, 60_000);
});
