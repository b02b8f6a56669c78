// Re-planning from a saved measurement takes that measurement's batch (its throughput was measured
// at it) and says so; launch refuses a plan whose batch disagrees with its pick.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ftplan as cli, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-batch-');
const ftplan = (args: string[]) => cli(args, { env: { FTPLAN_HOME: tmp() } });

describe('re-planning from a saved measurement', () => {
  it("takes the measurement's batch for the sequence, the projection and the plan, and says the flags' do not apply", () => {
    const fast = ['--model', 'tiny', '--steps', '2', '--warmup-steps', '1', '--min-time', '0', '--threads', '1', '--device', 'cpu'];
    const measured = ftplan(['estimate', ...fast, '--batch-size', '8', '--grad-accum', '2', '--json']);
    expect(measured.code, measured.stderr).toBe(0);
    const file = join(tmp(), 'm.json');
    writeFileSync(file, measured.stdout);
    const first = JSON.parse(measured.stdout);
    expect(first.plan.batchSize).toBe(16);
    expect(first.plan.notes.join('\n')).not.toMatch(/do not apply to a re-plan/);

    const again = ftplan(['estimate', '--measurement', file, '--batch-size', '32', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const r = JSON.parse(again.stdout);
    expect([r.batchSize, r.gradAccum, r.plan.batchSize, r.projection.samplesPerStep]).toEqual([8, 2, 16, 16]);
    expect(r.seqLenBasis).toMatch(/mean per batch of 8\b/);
    expect(r.plan.notes.join('\n')).toMatch(/batch: the measurement's \(micro-batch 8 × 2 accumulation × 1 process = 16 rows per step\).*--batch-size 32 --grad-accum 1 do not apply to a re-plan/);
    // the same figures as the estimate that measured it: nothing of the flags' batch leaks in
    expect(r.projection.stepsPerEpoch).toBe(first.projection.stepsPerEpoch);
    expect(r.plan.stepsPerEpoch).toBe(first.plan.stepsPerEpoch);

    const text = ftplan(['estimate', '--measurement', file, '--batch-size', '32']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/note: batch: the measurement's/);
    expect(text.stderr).toMatch(/re-planning from .*m\.json .* at its batch: micro-batch 8 × 2 accumulation × 1 process = 16 rows per step/);
  });

  it("launch refuses a plan whose batch field disagrees with its pick's micro-batch fields (an edited file)", () => {
    const measured = ftplan(['estimate', '--model', 'tiny', '--steps', '1', '--warmup-steps', '1', '--min-time', '0', '--threads', '1', '--device', 'cpu', '--json']);
    expect(measured.code, measured.stderr).toBe(0);
    const j = JSON.parse(measured.stdout);
    expect(j.plan.batch).toEqual({ microBatch: j.plan.recommended.microBatch, gradAccum: j.plan.recommended.gradAccum, ranks: j.plan.recommended.gpus });
    j.plan.batch.microBatch += 1;
    const file = join(tmp(), 'plan.json');
    writeFileSync(file, JSON.stringify(j));
    const data = join(tmp(), 'train.jsonl');
    writeFileSync(data, Array.from({ length: 20 }, (_, i) => JSON.stringify({ text: `row ${i}`, label: i % 2 })).join('\n') + '\n');
    const r = ftplan(['launch', '--emit', 'skypilot', '--plan', file, '--dataset', data]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/its batch field says/);
    expect(readFileSync(file, 'utf8')).toContain('"batch"');
  });
});
