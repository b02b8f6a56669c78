// Disk full: a checkpoint write that fails (a file-size limit, EFBIG) stops the run with the file and
// the reason; the checkpoint before it stays intact, loadable, and resumable.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TWEETS } from '../corpus/cases.js';
import { tinyHfCheckpoint } from '../fixtures.js';
import { ftplan, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-disk-');

describe('disk full: a checkpoint write that fails', () => {
  const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
  const hashes = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((f) => [f, sha(join(dir, f))]));

  it('under a file-size limit: the run stops with the file and the reason, the previous checkpoint stays intact and loadable', () => {
    const out = tmp();
    const TINY = tinyHfCheckpoint(join(tmp(), 'tiny-gpt2'), { seed: 2 }).dir;
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
    const full = ftplan([...args, '--resume'], { shell: 'ulimit -f 200' });
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
