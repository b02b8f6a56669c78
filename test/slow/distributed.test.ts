// Data-parallel `ftplan run` over c10d Gloo on loopback, its failure handling, and the SkyPilot task
// `ftplan launch --emit skypilot` writes.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { parseRunArgv } from '../../src/cli.js';
import { readSafetensors } from '../../src/model/safetensors.js';
import { loadNative } from '../../src/native.js';
import { labelledDataset } from '../fixtures.js';
import { ftplan as cli, ROOT, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-dist-');
// a labelled data set (synthetic, 3 classes) in a folder named as a user's would be
const DATASET = labelledDataset({ dir: join(tmp(), 'reviews'), train: 2000, test: 60, seed: 31 }).dir;
const HOME = tmp();
const c10d = loadNative().runtimeInfo().c10d;

const ftplan = (args: string[], env: Record<string, string> = {}) => cli(args, { env: { FTPLAN_HOME: HOME, ...env } });

/** A free TCP port on the loopback (the TCPStore's). */
async function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolvePort(port));
    });
  });
}

// A small preset from scratch, dropout on (GPT-2's 0.1): 6 optimizer steps of 2 × 8 rows.
const small = (limit: number) => ['--model', 'tiny', '--init', 'random', '--dataset', DATASET, '--limit', String(limit), '--eval-limit', '24', '--epochs', '1', '--batch-size', '8', '--lr', '1e-3', '--threads', '1', '--json'];
const SMALL = small(96);

/** Wait until rank 0 logged `n` training steps; throws when a process exited first. */
async function trainedSteps(metrics: string, n: number, exited: () => boolean): Promise<void> {
  for (;;) {
    if (existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').filter((l) => l.includes('"train"')).length >= n) return;
    if (exited()) throw new Error('a worker exited before training');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function weights(dir: string): Map<string, Float32Array> {
  const st = readSafetensors(join(dir, 'model.safetensors'));
  return new Map([...st.tensors].map(([k, v]) => [k, v.data]));
}

describe('data-parallel ftplan run (Gloo on 127.0.0.1)', () => {
  it('the addon was built with c10d (scripts/setup.sh installs libgloo-dev for it)', () => {
    expect(c10d).toBe(true);
  });

  it('2 processes end with the weights of 1 process with --grad-accum 2 (≤ 1e-6 relative), the same metrics, and only rank 0 writes', async () => {
    const one = join(tmp(), 'one');
    const two = join(tmp(), 'two');
    const a = ftplan(['run', ...SMALL, '--grad-accum', '2', '--output-dir', one]);
    expect(a.code, a.stderr).toBe(0);
    const b = ftplan(['run', ...SMALL, '--nproc', '2', '--master-port', String(await freePort()), '--dist-timeout', '30', '--output-dir', two]);
    expect(b.code, b.stderr).toBe(0);
    const ra = JSON.parse(a.stdout);
    const rb = JSON.parse(b.stdout); // rank 0's report, passed through by the launcher
    expect(rb.distributed).toMatchObject({ backend: 'gloo', worldSize: 2, nproc: 2, threadsPerRank: 1, globalMicroBatchesPerStep: 2 });
    expect(rb.distributed.buckets).toBeGreaterThanOrEqual(1);
    expect(ra.distributed).toBeNull();
    expect(rb.steps).toBe(ra.steps);
    expect(rb.steps).toBe(6);
    const wa = weights(one);
    const wb = weights(two);
    expect([...wb.keys()].sort()).toEqual([...wa.keys()].sort());
    let maxRel = 0;
    for (const [k, x] of wa) {
      const y = wb.get(k)!;
      let num = 0;
      let den = 0;
      for (let i = 0; i < x.length; i++) {
        num = Math.max(num, Math.abs(x[i]! - y[i]!));
        den = Math.max(den, Math.abs(x[i]!));
      }
      maxRel = Math.max(maxRel, num / Math.max(den, 1e-12));
    }
    expect(maxRel).toBeLessThanOrEqual(1e-6);
    // train losses logged by rank 0 are the group's, equal to the single process's
    const losses = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'train').map((l) => l.loss as number);
    const la = losses(one);
    const lb = losses(two);
    expect(lb).toHaveLength(6); // rank 1 appended nothing
    expect(new Set(la).size).toBeGreaterThan(1); // it trained
    lb.forEach((l, i) => expect(Math.abs(l - la[i]!)).toBeLessThanOrEqual(1e-6 * Math.abs(la[i]!)));
    expect(rb.finalEval.accuracy).toBe(ra.finalEval.accuracy);
    expect(Math.abs(rb.finalEval.loss - ra.finalEval.loss)).toBeLessThanOrEqual(1e-6);
    // and the launcher prefixed every rank's log lines
    expect(b.stderr).toMatch(/\[launcher\] rank 1\/2: pid \d+/);
  }, 300_000);

  it('a rank killed mid-run: the survivor fails with a message naming the lost peer, within --dist-timeout', async () => {
    const out = join(tmp(), 'k');
    const port = await freePort();
    const args = ['bin/ftplan.js', 'run', ...small(2000), '--nproc', '2', '--master-port', String(port), '--dist-timeout', '5', '--output-dir', out];
    const procs = [0, 1].map((rank) => {
      const child = spawn(process.execPath, args, { env: { ...process.env, FTPLAN_HOME: HOME, FTPLAN_WORKER: '1', RANK: String(rank), WORLD_SIZE: '2', LOCAL_RANK: String(rank), LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exit = new Promise<{ code: number | null; signal: string | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
      return { child, exit, stderr: () => stderr };
    });
    // wait until rank 0 logged two steps, then kill rank 1
    const metrics = join(out, 'metrics.jsonl');
    await trainedSteps(metrics, 2, () => procs.some((p) => p.child.exitCode !== null));
    procs[1]!.child.kill('SIGKILL');
    const killed = await procs[1]!.exit;
    expect(killed.signal).toBe('SIGKILL');
    const survivor = await procs[0]!.exit; // bounded by the test's timeout, far above --dist-timeout
    expect(survivor.code).toBe(1);
    expect(procs[0]!.stderr()).toMatch(/all-reduce failed on rank 0 of 2 \(master 127\.0\.0\.1:\d+, timeout 5 s\): a peer process exited or did not answer in time/);
    // a stopped (not dead) peer: the survivor's collective times out instead of hanging
  }, 120_000);

  it('a rank that stops answering (SIGSTOP): the other fails after the timeout; the launcher names the failed rank', async () => {
    const out = join(tmp(), 's');
    const port = await freePort();
    const child = spawn(process.execPath, ['bin/ftplan.js', 'run', ...small(2000), '--nproc', '2', '--master-port', String(port), '--dist-timeout', '3', '--output-dir', out], { env: { ...process.env, FTPLAN_HOME: HOME }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exit = new Promise<{ code: number | null }>((r) => child.on('exit', (code) => r({ code })));
    const metrics = join(out, 'metrics.jsonl');
    await trainedSteps(metrics, 2, () => child.exitCode !== null);
    const pid = Number(/\[launcher\] rank 1\/2: pid (\d+)/.exec(stderr)?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGSTOP');
    // Once rank 0 has failed and exited, the stopped rank is killed here rather than after the
    // launcher's grace period (--dist-timeout + 10 s: its SIGTERM cannot reach a stopped process).
    const pid0 = Number(/\[launcher\] rank 0\/2: pid (\d+)/.exec(stderr)?.[1]);
    const alive = (p: number) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    };
    while (alive(pid0) && child.exitCode === null) await new Promise((res) => setTimeout(res, 100));
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    const r = await exit;
    expect(r.code).not.toBe(0);
    expect(stderr).toMatch(/\[rank 0\] ftplan: .*Timed out waiting 3000ms/);
    expect(stderr).toMatch(/ftplan: data-parallel run failed: rank 0 exited with code 1: .*all-reduce failed on rank 0 of 2/);
  }, 120_000);
});

describe('ftplan launch --emit skypilot', () => {
  const schema = JSON.parse(readFileSync(join(ROOT, 'schemas/skypilot-task.schema.json'), 'utf8'));
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

  it('for `ftplan estimate --gpus 8`: validates against the SkyPilot task schema, and its run line is exactly what ftplan run accepts', async () => {
    const dir = tmp();
    const est = ftplan(['estimate', '--model', 'tiny', '--dataset', DATASET, '--limit', '200', '--steps', '2', '--warmup-steps', '1', '--min-time', '0', '--threads', '1', '--gpus', '8', '--json']);
    expect(est.code, est.stderr).toBe(0);
    const planFile = join(dir, 'plan.json');
    writeFileSync(planFile, est.stdout);
    const rec = JSON.parse(est.stdout).plan.recommended;
    expect(rec.gpus).toBe(8);
    const yamlFile = join(dir, 'task.yaml');
    const r = ftplan(['launch', '--emit', 'skypilot', '--plan', planFile, '--model', 'gpt2', '--dataset', DATASET, '--epochs', '1', '--dtype', 'bf16', '--nnodes', '2', '--output', yamlFile]);
    expect(r.code, r.stderr).toBe(0);
    const task = parse(readFileSync(yamlFile, 'utf8'));
    expect(validate(task), JSON.stringify(validate.errors)).toBe(true);
    expect(task.num_nodes).toBe(2);
    expect(task.resources).toMatchObject({ accelerators: `${rec.gpu}:8`, instance_type: rec.instance, cloud: rec.cloud });
    expect(task.file_mounts).toEqual({ '/ftplan/data/reviews': DATASET });
    expect(task.setup).toMatch(/scripts\/setup\.sh/);
    const line = (task.run as string).split('\n').find((l) => l.startsWith('node bin/ftplan.js run '))!;
    expect(line).toContain('--nproc $SKYPILOT_NUM_GPUS_PER_NODE --nnodes $SKYPILOT_NUM_NODES --node-rank $SKYPILOT_NODE_RANK --master-addr "$(echo "$SKYPILOT_NODE_IPS" | head -n1)" --master-port 29500');
    // the shell's expansion of the line on node 1 of 2, then ftplan run's own parser
    const env = { SKYPILOT_NUM_GPUS_PER_NODE: '8', SKYPILOT_NUM_NODES: '2', SKYPILOT_NODE_RANK: '1', SKYPILOT_NODE_IPS: '10.0.0.5\n10.0.0.6' };
    const words = spawnSync('bash', ['-c', `set -- ${line.replace(/^node bin\/ftplan\.js run /, '')}; printf '%s\\0' "$@"`], { env: { ...process.env, ...env }, encoding: 'utf8' }).stdout.split('\0').slice(0, -1);
    const args = await parseRunArgv(words);
    expect(args).toMatchObject({ model: 'gpt2', dataset: '/ftplan/data/reviews', epochs: 1, dtype: 'bf16', nproc: 8, nnodes: 2, nodeRank: 1, masterAddr: '10.0.0.5', masterPort: 29500 });
  }, 300_000);

  it('without --plan or --gpu: a usage error', () => {
    const r = ftplan(['launch', '--emit', 'skypilot', '--dataset', DATASET]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs --plan .* or --gpu/);
  });
});
