/** fs.ts — file helpers every writer shares. */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

/** Write a file atomically: a temp file in the same folder, fsync, rename over the target. */
export function writeFileAtomic(path: string, data: Buffer | string): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, buf.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    // Disk full, a file-size limit, no permission: no half-written file is left, and the error
    // names the file it was writing (writeSync's does not).
    rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException;
    err.path = path;
    throw err;
  }
}
