/** blob-lock.ts — one writer per cache blob across processes. */
import { mkdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A lock per blob, so two ftplan processes (the workers of a data-parallel run, two commands at
 * once) never append to the same .incomplete file. The holder's pid is in the file and its mtime
 * is refreshed while it works; a lock whose holder is gone or silent for 30 s is taken over.
 */
export async function withBlobLock<T>(lock: string, log: (l: string) => void, fn: (touch: () => void) => Promise<T>): Promise<T> {
  mkdirSync(dirname(lock), { recursive: true });
  let told = false;
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.write(`${process.pid}\n`);
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let pid = NaN;
      let age = 0;
      try {
        pid = Number(readFileSync(lock, 'utf8').trim());
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      // no pid yet: its holder created it and is writing it (a holder that died there goes stale)
      const written = Number.isInteger(pid) && pid > 0;
      const dead = written && (() => {
        try {
          process.kill(pid, 0);
          return false;
        } catch (err) {
          return (err as NodeJS.ErrnoException).code !== 'EPERM';
        }
      })();
      if (dead || age > 30_000) {
        rmSync(lock, { force: true });
        continue;
      }
      if (!written) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      if (!told) log(`waiting for process ${pid}, which is downloading the same file (${lock})`);
      told = true;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  let last = Date.now();
  const touch = () => {
    if (Date.now() - last < 5_000) return;
    last = Date.now();
    try {
      utimesSync(lock, new Date(), new Date());
    } catch {
      // removed by someone who took it over; the blob's checks still hold
    }
  };
  try {
    return await fn(touch);
  } finally {
    rmSync(lock, { force: true });
  }
}
