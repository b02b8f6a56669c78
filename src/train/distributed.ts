/**
 * distributed.ts — data-parallel `ftplan run`, the launcher half (like torchrun) and the helpers the
 * workers share. The gradients themselves go through libtorch's c10d (native/distributed.cpp).
 *
 * `ftplan run --nproc N [--nnodes M --node-rank K --master-addr A --master-port P]` on each machine:
 * the launcher spawns N workers (the same CLI and flags) with RANK = K·N + local rank, WORLD_SIZE =
 * M·N, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT and FTPLAN_WORKER=1 in their
 * environment; forwards SIGINT/SIGTERM to them; prints rank 0's stdout, every rank's stderr prefixed
 * with its rank; and when a worker fails, stops the others and exits non-zero naming the rank and why.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { FtplanError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { RUN_OPTIONS, type RunArgs } from '../flags/run.js';

export interface DistEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
}

/** This process's place in a data-parallel run, from the launcher's environment; null when not a worker. */
export function workerEnv(env: NodeJS.ProcessEnv = process.env): DistEnv | null {
  if (env.FTPLAN_WORKER !== '1') return null;
  const int = (k: string) => {
    const v = Number(env[k]);
    if (!Number.isInteger(v) || v < 0) throw new FtplanError('ERR_INPUT', `FTPLAN_WORKER=1 but ${k}=${JSON.stringify(env[k])} is not a whole number`, { fix: 'start workers through `ftplan run --nproc N`' });
    return v;
  };
  const d = { rank: int('RANK'), worldSize: int('WORLD_SIZE'), localRank: int('LOCAL_RANK'), localWorldSize: int('LOCAL_WORLD_SIZE'), masterAddr: env.MASTER_ADDR ?? '127.0.0.1', masterPort: int('MASTER_PORT') };
  if (d.worldSize < 1 || d.rank >= d.worldSize) throw new FtplanError('ERR_INPUT', `RANK ${d.rank} is not in [0, WORLD_SIZE ${d.worldSize})`);
  return d;
}

/**
 * The seed of one micro-batch's dropout: a function of (seed, optimizer step, index of the
 * micro-batch within the step across all ranks) only — so rank r's micro-batch gets the masks the
 * single process gives the same micro-batch (splitmix64, cut to 53 bits for a JS number).
 */
export function microSeed(seed: number, step: number, index: number): number {
  const M = (1n << 64n) - 1n;
  let z = (BigInt(seed) * 0x9e3779b97f4a7c15n + BigInt(step) * 0xbf58476d1ce4e5b9n + BigInt(index) * 0x94d049bb133111ebn + 0x2545f4914f6cdd1dn) & M;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
  z ^= z >> 31n;
  return Number(z & ((1n << 53n) - 1n));
}

/** RunArgs back to `ftplan run` flags (what the launcher gives its workers, and the SkyPilot run line). */
export function runFlags(args: Partial<RunArgs>, omit: readonly string[] = []): string[] {
  const out: string[] = [];
  const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  for (const [name, spec] of Object.entries(RUN_OPTIONS)) {
    if (omit.includes(name)) continue;
    const camel = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const v = (args as Record<string, unknown>)[camel];
    if (v === undefined) continue;
    if ('default' in spec && spec.default === v) continue; // the default: leave it implicit
    if (kebab(camel) !== name) continue;
    if (typeof v === 'boolean') out.push(v ? `--${name}` : `--no-${name}`);
    else if (Array.isArray(v)) for (const x of v) out.push(`--${name}`, String(x));
    else out.push(`--${name}`, String(v));
  }
  return out;
}

/** Threads per worker: the cores shared out (at least 1), unless --threads says. */
export function workerThreads(args: Pick<RunArgs, 'threads' | 'nproc'>, cores = availableParallelism()): number {
  return args.threads ?? Math.max(1, Math.floor(cores / args.nproc));
}

export interface LaunchResult {
  code: number;
  failed: { rank: number; code: number | null; signal: string | null; why: string } | null;
}

/** Start the workers of this node and wait for them. Resolves with the launcher's exit code. */
export async function launchWorkers(args: RunArgs, log: (s: string) => void = (s) => process.stderr.write(`${s}\n`), stdout: (s: string) => void = (s) => process.stdout.write(s)): Promise<LaunchResult> {
  const world = args.nproc * args.nnodes;
  const flags = runFlags(args, ['threads']);
  const bin = join(PACKAGE_ROOT, 'bin/ftplan.js');
  const children: { rank: number; child: ChildProcess; tail: string[]; exited: boolean }[] = [];
  let failed: LaunchResult['failed'] = null;
  let signalled = false;
  let killTimer: NodeJS.Timeout | undefined;
  const graceMs = (args.distTimeout + 10) * 1000;

  const stopOthers = () => {
    for (const c of children) if (!c.exited) c.child.kill('SIGTERM');
    // A worker that does not stop on SIGTERM (stuck outside a collective) is killed after the timeout.
    killTimer ??= setTimeout(() => {
      for (const c of children) if (!c.exited) c.child.kill('SIGKILL');
    }, graceMs);
    killTimer.unref();
  };

  const done = Promise.all(
    Array.from({ length: args.nproc }, (_, local) => {
      const rank = args.nodeRank * args.nproc + local;
      const child = spawn(process.execPath, [bin, 'run', ...flags, '--threads', String(workerThreads(args))], {
        env: {
          ...process.env,
          FTPLAN_WORKER: '1',
          RANK: String(rank),
          WORLD_SIZE: String(world),
          LOCAL_RANK: String(local),
          LOCAL_WORLD_SIZE: String(args.nproc),
          MASTER_ADDR: args.masterAddr,
          MASTER_PORT: String(args.masterPort),
          // NCCL: turn a stuck collective into an error after the timeout (1.13 and 2.x names)
          NCCL_ASYNC_ERROR_HANDLING: process.env.NCCL_ASYNC_ERROR_HANDLING ?? '1',
          TORCH_NCCL_ASYNC_ERROR_HANDLING: process.env.TORCH_NCCL_ASYNC_ERROR_HANDLING ?? '1',
          CUDA_VISIBLE_DEVICES: process.env.CUDA_VISIBLE_DEVICES,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const entry = { rank, child, tail: [] as string[], exited: false };
      children.push(entry);
      log(`[launcher] rank ${rank}/${world}: pid ${child.pid}`);
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        if (rank === 0) stdout(d.toString());
        else out += d.toString();
      });
      let partial = '';
      child.stderr!.on('data', (d: Buffer) => {
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) {
          log(`[rank ${rank}] ${l}`);
          entry.tail.push(l);
          if (entry.tail.length > 20) entry.tail.shift();
        }
      });
      return new Promise<void>((resolveExit) => {
        child.on('exit', (code, signal) => {
          entry.exited = true;
          if (partial) {
            log(`[rank ${rank}] ${partial}`);
            entry.tail.push(partial);
          }
          if ((code !== 0 || signal) && !failed && !(signalled && (code === 130 || code === 0))) {
            const why = signal
              ? `killed by ${signal}`
              : `exited with code ${code}: ${entry.tail.filter((l) => l.startsWith('ftplan:')).slice(-1)[0]?.replace(/^ftplan: /, '') ?? entry.tail.slice(-1)[0] ?? 'no message'}`;
            failed = { rank, code, signal, why };
            stopOthers();
          }
          resolveExit();
        });
      });
    }),
  );
  const forward = (sig: NodeJS.Signals) => () => {
    signalled = true;
    for (const c of children) if (!c.exited) c.child.kill(sig);
  };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    await done;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    if (killTimer) clearTimeout(killTimer);
  }
  const f = failed as LaunchResult['failed'];
  if (f) {
    log(`ftplan: data-parallel run failed: rank ${f.rank} ${f.why}; the other rank(s) were stopped`);
    return { code: f.code && f.code > 0 ? f.code : 1, failed: f };
  }
  const codes = children.map((c) => c.child.exitCode ?? 0);
  return { code: Math.max(0, ...codes), failed: null };
}
