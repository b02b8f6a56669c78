/**
 * download.ts — a repo's files from the hub into the shared cache (cache.ts), cache first.
 *
 * The repo's commit and file listing come from @huggingface/hub (modelInfo / datasetInfo with `sha`,
 * listFiles over the tree at that commit, both honouring HF_ENDPOINT and the token). The file
 * transfer itself is done here: the library's downloadFileToCacheDir starts every download from
 * byte 0 (a cut-off 5 GB checkpoint would start over), names the snapshot after each file's last
 * commit instead of the repo's (Python's tools would not find it), writes no refs/main and checks
 * nothing; and its WebBlob hides the response status, so a server that ignores a Range request
 * (200 instead of 206) could not be told from one that honours it. So each file is fetched from
 * `resolve/<commit>/<path>` into blobs/<etag>.incomplete, resumed with `Range: bytes=N-`, checked
 * (size, then sha256 for LFS files or the git blob id for the others) and only then renamed into
 * blobs/ and linked from snapshots/<commit>/, as huggingface_hub does.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync, symlinkSync, copyFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { FtplanError } from '../errors.js';
import { fmtBytes, Progress } from './progress.js';
import { findSnapshot, hubSettings, repoDir, repoFolderName, snapshotAt, type CachedSnapshot, type HubSettings, type RepoType } from './cache.js';
import { withBlobLock } from './blob-lock.js';
import { corruptError, cutOffError, fromFetchFailure, httpError, offlineError, type HubContext } from './errors.js';

/** One file of the repo at a commit, as the hub lists it. */
export interface RepoFile {
  path: string;
  size: number;
  /** the blob's name in the cache: the LFS sha256, else the git blob id (the hub's ETag) */
  etag: string;
  lfs: boolean;
}

export interface SnapshotRequest {
  type: RepoType;
  id: string;
  /** a branch (default main), e.g. the hub's parquet conversion refs/convert/parquet */
  revision?: string;
  /**
   * The files a cached snapshot still lacks for the caller ([]: it is enough, no network). With
   * `offline` (HF_HUB_OFFLINE=1) the caller may settle for less, e.g. without optional files the
   * cache never recorded either way.
   */
  missing(snap: CachedSnapshot, offline: boolean): string[];
  /**
   * The files to fetch, chosen from the repo's listing (throw an FtplanError when the repo cannot
   * serve the caller); `get` fetches one file first when the choice depends on it (a shard index).
   * `absent`: names the caller looked for that the repo does not have, recorded in .no_exist/ so
   * that the next run knows without asking.
   */
  select(files: RepoFile[], get: (path: string) => Promise<string>): Promise<{ fetch: string[]; absent?: string[] }>;
  env?: NodeJS.ProcessEnv;
  /** progress lines when stderr is not a terminal; default: stderr */
  log?: (line: string) => void;
}

export interface SnapshotResult {
  dir: string;
  commit: string;
  /** files transferred now (not already in the cache) */
  fetched: string[];
  from: 'cache' | 'hub';
}

const COMMIT = /^[0-9a-f]{40}$/;

/**
 * fetch, sent again (twice at most) when the connection dies before any answer: a kept-alive
 * connection the server closed just as it was reused answers ECONNRESET, and every request here is
 * a GET that may safely be repeated.
 */
async function fetchRetrying(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch(input, init);
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const reset = ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(cause?.code ?? '') || /other side closed/.test(cause?.message ?? '');
      if (attempt >= 2 || !reset || init?.signal?.aborted) throw e;
    }
  }
}

/** snapshots/<commit>/<path> -> ../../blobs/<etag>, a copy where the file system has no symlinks. */
function linkIntoSnapshot(blob: string, pointer: string): void {
  mkdirSync(dirname(pointer), { recursive: true });
  rmSync(pointer, { force: true });
  try {
    symlinkSync(relative(dirname(pointer), blob), pointer);
  } catch {
    copyFileSync(blob, pointer);
  }
}

function hasherFor(file: RepoFile): Hash {
  if (file.lfs) return createHash('sha256');
  const h = createHash('sha1'); // git's blob id: sha1("blob <size>\0" + content)
  h.update(`blob ${file.size}\0`);
  return h;
}

async function hashExisting(h: Hash, path: string): Promise<void> {
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
}

interface Session {
  ctx: HubContext;
  settings: HubSettings;
  repo: string;
  commit: string;
  progress: Progress;
  log: (line: string) => void;
}

function resolveUrl(s: Session, path: string): string {
  const { type, id } = s.ctx;
  return `${s.settings.endpoint}/${type === 'dataset' ? 'datasets/' : ''}${id}/resolve/${s.commit}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** Transfers one blob into blobs/<etag>, resuming an .incomplete file left by a cut-off attempt. */
async function downloadBlob(s: Session, file: RepoFile, blob: string, touch: () => void, restarted = false): Promise<void> {
  const ctx = { ...s.ctx, path: file.path };
  const part = `${blob}.incomplete`;
  let offset = existsSync(part) ? statSync(part).size : 0;
  if (offset > file.size) {
    rmSync(part, { force: true });
    offset = 0;
  }
  let hash = hasherFor(file);
  if (offset > 0) await hashExisting(hash, part);
  const headers: Record<string, string> = { 'Accept-Encoding': 'identity', 'User-Agent': 'ftplan' };
  if (s.settings.token) headers.Authorization = `Bearer ${s.settings.token}`;
  if (offset > 0 && offset < file.size) headers.Range = `bytes=${offset}-`;
  const abort = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => abort.abort(new Error(`nothing received for ${s.settings.downloadTimeoutMs / 1000} s`)), s.settings.downloadTimeoutMs);
  };
  let got = offset;
  if (offset < file.size) {
    arm();
    let res: Response;
    try {
      res = await fetchRetrying(resolveUrl(s, file.path), { headers, redirect: 'follow', signal: abort.signal });
    } catch (e) {
      clearTimeout(idle);
      if (abort.signal.aborted) throw cutOffError(ctx, file.path, got, file.size, (abort.signal.reason as Error).message, e);
      throw fromFetchFailure(ctx, e, new Map());
    }
    if (res.status === 416 && !restarted) {
      // the server has fewer bytes than the partial file claims: start over
      clearTimeout(idle);
      await res.body?.cancel();
      rmSync(part, { force: true });
      return downloadBlob(s, file, blob, touch, true);
    }
    if (!res.ok) {
      clearTimeout(idle);
      let message: string | undefined;
      try {
        const body = await res.text();
        message = (JSON.parse(body) as { error?: string }).error ?? body;
      } catch {
        message = undefined;
      }
      throw httpError(ctx, res.status, res.headers.get('x-error-code'), message);
    }
    const start = res.status === 206 ? Number(/^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1]) : 0;
    if (start !== offset) {
      if (start !== 0) {
        clearTimeout(idle);
        await res.body?.cancel();
        throw corruptError(ctx, file.path, `asked for bytes from ${offset}, the server sent from ${start}`);
      }
      // the server ignored the Range request and sends the whole file: start over
      offset = 0;
      got = 0;
      hash = hasherFor(file);
    }
    s.progress.file(file.path, file.size, offset, s.settings.endpoint);
    s.progress.add(offset);
    const fh = await open(part, offset === 0 ? 'w' : 'a');
    try {
      if (!res.body) throw new Error('the response has no body');
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        arm();
        if (got + chunk.length > file.size) {
          await fh.close().catch(() => {});
          rmSync(part, { force: true });
          abort.abort();
          throw corruptError(ctx, file.path, `more than the ${file.size} bytes the hub listed`);
        }
        await fh.write(chunk);
        hash.update(chunk);
        got += chunk.length;
        s.progress.add(chunk.length);
        touch();
      }
    } catch (e) {
      if (e instanceof FtplanError) throw e;
      const why = abort.signal.aborted ? (abort.signal.reason as Error).message : ((e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message);
      throw cutOffError(ctx, file.path, got, file.size, `the connection ended: ${why}`, e);
    } finally {
      clearTimeout(idle);
      await fh.close().catch(() => {});
    }
    if (got < file.size) throw cutOffError(ctx, file.path, got, file.size, 'the server closed the connection early');
  }
  const digest = hash.digest('hex');
  if (digest !== file.etag) {
    rmSync(part, { force: true });
    throw corruptError(ctx, file.path, `${file.lfs ? 'sha256' : 'git blob id'} ${digest.slice(0, 12)}…, the hub lists ${file.etag.slice(0, 12)}…`);
  }
  renameSync(part, blob);
}

/** snapshots/<commit>/<path>, from the blob when the cache has it, else downloaded. */
async function ensureFile(s: Session, file: RepoFile): Promise<boolean> {
  const pointer = join(s.repo, 'snapshots', s.commit, file.path);
  if (existsSync(pointer)) return false;
  const blob = join(s.repo, 'blobs', file.etag);
  let fetched = false;
  if (!existsSync(blob)) {
    mkdirSync(dirname(blob), { recursive: true });
    const lock = join(s.settings.cacheDir, '.locks', repoFolderName(s.ctx.type, s.ctx.id), `${file.etag}.ftplan.lock`);
    await withBlobLock(lock, s.log, async (touch) => {
      if (existsSync(blob)) return; // another process finished it while this one waited
      await downloadBlob(s, file, blob, touch);
      fetched = true;
    });
  }
  linkIntoSnapshot(blob, pointer);
  return fetched;
}

function writeNoExist(s: Session, path: string): void {
  const marker = join(s.repo, '.no_exist', s.commit, path);
  mkdirSync(dirname(marker), { recursive: true });
  writeFileSync(marker, '');
}

/**
 * The snapshot of `main` (or req.revision) that has what the request needs: from the cache when it
 * is complete (no network), else fetched from the hub into the same cache. HF_HUB_OFFLINE=1: the
 * cache only.
 */
export async function hubSnapshot(req: SnapshotRequest): Promise<SnapshotResult> {
  const env = req.env ?? process.env;
  const revision = req.revision ?? 'main';
  const settings = hubSettings(env);
  const log = req.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const ctx: HubContext = { type: req.type, id: req.id, settings };
  const cached = findSnapshot(settings.cacheDir, req.type, req.id, revision);
  const missing = cached ? req.missing(cached, settings.offline) : null;
  if (cached && missing?.length === 0) return { dir: cached.dir, commit: cached.commit, fetched: [], from: 'cache' };
  const repo = repoDir(settings.cacheDir, req.type, req.id);
  if (settings.offline) throw offlineError(ctx, repo, missing);

  const hub = await import('@huggingface/hub');
  // The hub's X-Error-Code is not kept by the library's errors: note it per URL on the way through.
  const errorCodes = new Map<string, string>();
  const hubFetch: typeof fetch = async (input, init) => {
    const abort = AbortSignal.timeout(settings.metadataTimeoutMs);
    const res = await fetchRetrying(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, abort]) : abort });
    const code = res.headers.get('x-error-code');
    if (!res.ok && code) errorCodes.set(res.url || String(input), code);
    return res;
  };
  const common = { hubUrl: settings.endpoint, accessToken: settings.token, fetch: hubFetch };
  let commit: string;
  let files: RepoFile[];
  try {
    const info = (req.type === 'model'
      ? await hub.modelInfo({ ...common, name: req.id, revision, additionalFields: ['sha'] })
      : await hub.datasetInfo({ ...common, name: req.id, revision, additionalFields: ['sha'] })) as { sha?: unknown; gated?: unknown };
    ctx.gated = info.gated === 'auto' || info.gated === 'manual' || info.gated === true;
    if (typeof info.sha !== 'string' || !COMMIT.test(info.sha)) {
      throw new FtplanError('ERR_INPUT', `${req.type === 'dataset' ? '--dataset' : '--model'} ${req.id}: ${settings.endpoint} did not say which commit ${revision} is (no sha in the repo's info)`, { fix: `check HF_ENDPOINT (${settings.endpoint}): it must serve the Hugging Face Hub API` });
    }
    commit = info.sha;
    files = [];
    for await (const f of hub.listFiles({ ...common, repo: { type: req.type, name: req.id }, revision: commit, recursive: true })) {
      if (f.type !== 'file') continue;
      const etag = f.lfs?.oid ?? f.oid;
      if (!etag) continue;
      files.push({ path: f.path, size: f.lfs?.size ?? f.size, etag, lfs: Boolean(f.lfs) });
    }
  } catch (e) {
    throw fromFetchFailure(ctx, e, errorCodes);
  }

  const byPath = new Map(files.map((f) => [f.path, f]));
  const progress = new Progress(req.id, 0, log, false);
  const session: Session = { ctx, settings, repo, commit, progress, log };
  const fetched: string[] = [];
  const get = async (path: string): Promise<string> => {
    const f = byPath.get(path);
    if (!f) throw httpError({ ...ctx, path }, 404, 'EntryNotFound', undefined);
    if (await ensureFile(session, f)) fetched.push(path);
    return join(repo, 'snapshots', commit, path);
  };
  const selection = await req.select(files, get);
  const todo = selection.fetch.map((p) => byPath.get(p)).filter((f): f is RepoFile => f !== undefined && !existsSync(join(repo, 'snapshots', commit, f.path)));
  const total = todo.reduce((n, f) => n + f.size, 0);
  const tty = Boolean(process.stderr.isTTY);
  session.progress = new Progress(req.id, total, log, tty);
  try {
    for (const f of todo) if (await ensureFile(session, f)) fetched.push(f.path);
  } finally {
    session.progress.stop();
  }
  // the bar clears itself: leave one line saying what arrived and where
  if (tty && fetched.length) log(`${req.id}: ${fetched.length} file(s), ${fmtBytes(total)}, into ${join(repo, 'snapshots', commit)}`);
  for (const p of selection.absent ?? []) if (!byPath.has(p)) writeNoExist(session, p);
  // refs/<branch>, nested for refs/convert/parquet as huggingface_hub writes it
  mkdirSync(dirname(join(repo, 'refs', revision)), { recursive: true });
  writeFileSync(join(repo, 'refs', revision), commit);
  return { dir: snapshotAt(repo, commit).dir, commit, fetched, from: 'hub' };
}
