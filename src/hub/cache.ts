/**
 * cache.ts — the Hugging Face hub cache as huggingface_hub (Python) lays it out, so ftplan and the
 * Python tools share one cache: what one downloaded, the other finds.
 *
 *   <cache>/models--org--name/
 *     blobs/<etag>                      file contents, named by the hub's ETag (sha256 for LFS files,
 *                                       the git blob id for the others); <etag>.incomplete while downloading
 *     snapshots/<commit>/<path>         relative symlinks into blobs/ (copies where symlinks fail)
 *     refs/main                         the commit `main` pointed at when it was last resolved
 *     .no_exist/<commit>/<path>         empty files: "the repo has no such file at this commit"
 *   <cache>/datasets--org--name/…       the same for data sets
 *
 * The settings follow huggingface_hub's environment variables and their precedence exactly.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type RepoType = 'model' | 'dataset';

export interface HubSettings {
  /** the hub cache folder (HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > HF_HOME/hub > XDG_CACHE_HOME/huggingface/hub > ~/.cache/huggingface/hub) */
  cacheDir: string;
  /** HF_HOME (default XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface) */
  home: string;
  /** HF_ENDPOINT without a trailing slash (default https://huggingface.co) */
  endpoint: string;
  token?: string;
  /** where the token came from: 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN' or the token file's path */
  tokenSource?: string;
  /** HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is true: no network at all */
  offline: boolean;
  /** HF_HUB_DOWNLOAD_TIMEOUT: seconds a download may receive nothing before it counts as stalled */
  downloadTimeoutMs: number;
  /** HF_HUB_ETAG_TIMEOUT: seconds to wait for the hub's answer to a metadata request */
  metadataTimeoutMs: number;
}

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** os.getenv as huggingface_hub reads it; an empty value counts as unset. */
function envVar(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

function expandUser(p: string, env: NodeJS.ProcessEnv): string {
  return p === '~' || p.startsWith('~/') ? join(env.HOME ?? homedir(), p.slice(1)) : p;
}

/** huggingface_hub's _is_true: 1, ON, YES, TRUE (any case). */
export function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.trim().toUpperCase());
}

export function hubHome(env: NodeJS.ProcessEnv = process.env): string {
  const home = envVar(env, 'HF_HOME') ?? join(envVar(env, 'XDG_CACHE_HOME') ?? join(env.HOME ?? homedir(), '.cache'), 'huggingface');
  return expandUser(home, env);
}

/** The one cache folder huggingface_hub would use under this environment. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return expandUser(envVar(env, 'HF_HUB_CACHE') ?? envVar(env, 'HUGGINGFACE_HUB_CACHE') ?? join(hubHome(env), 'hub'), env);
}

function seconds(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = Number(envVar(env, name));
  return (Number.isFinite(v) && v > 0 ? v : dflt) * 1000;
}

export function hubSettings(env: NodeJS.ProcessEnv = process.env): HubSettings {
  const home = hubHome(env);
  let token = envVar(env, 'HF_TOKEN')?.trim();
  let tokenSource: string | undefined = token ? 'HF_TOKEN' : undefined;
  if (!token) {
    token = envVar(env, 'HUGGING_FACE_HUB_TOKEN')?.trim();
    if (token) tokenSource = 'HUGGING_FACE_HUB_TOKEN';
  }
  if (!token) {
    // the file `huggingface-cli login` / `hf auth login` writes
    const file = expandUser(envVar(env, 'HF_TOKEN_PATH') ?? join(home, 'token'), env);
    try {
      const t = readFileSync(file, 'utf8').trim();
      if (t) {
        token = t;
        tokenSource = file;
      }
    } catch {
      // no token file: anonymous
    }
  }
  return {
    cacheDir: hubCacheDir(env),
    home,
    endpoint: (envVar(env, 'HF_ENDPOINT') ?? DEFAULT_ENDPOINT).replace(/\/+$/, ''),
    token: token || undefined,
    tokenSource,
    offline: isTrue(envVar(env, 'HF_HUB_OFFLINE') ?? envVar(env, 'TRANSFORMERS_OFFLINE')),
    downloadTimeoutMs: seconds(env, 'HF_HUB_DOWNLOAD_TIMEOUT', 10),
    metadataTimeoutMs: seconds(env, 'HF_HUB_ETAG_TIMEOUT', 10),
  };
}

/** models--org--name / datasets--org--name */
export function repoFolderName(type: RepoType, id: string): string {
  return [`${type}s`, ...id.split('/')].join('--');
}

export function repoDir(cacheDir: string, type: RepoType, id: string): string {
  return join(cacheDir, repoFolderName(type, id));
}

/** The commit a ref (main) points at, as the cache recorded it. */
export function readRef(repo: string, ref = 'main'): string | null {
  try {
    const rev = readFileSync(join(repo, 'refs', ref), 'utf8').trim();
    return rev || null;
  } catch {
    return null;
  }
}

export type FileState = 'present' | 'absent' | 'unknown';

/** A cached snapshot and what the cache knows about its files. */
export interface CachedSnapshot {
  repo: string;
  commit: string;
  dir: string;
  /** present: in snapshots/<commit>; absent: recorded in .no_exist/<commit>; unknown: never asked */
  state(path: string): FileState;
}

export function snapshotAt(repo: string, commit: string): CachedSnapshot {
  const dir = join(repo, 'snapshots', commit);
  return {
    repo,
    commit,
    dir,
    state(path: string): FileState {
      if (existsSync(join(dir, path))) return 'present'; // follows the symlink: a dangling one is not there
      if (existsSync(join(repo, '.no_exist', commit, path))) return 'absent';
      return 'unknown';
    },
  };
}

/**
 * The snapshot `main` resolves to in the cache: refs/main's commit, as huggingface_hub resolves it;
 * without refs (a cache copied by hand) the newest snapshot folder.
 */
export function findSnapshot(cacheDir: string, type: RepoType, id: string, ref = 'main'): CachedSnapshot | null {
  const repo = repoDir(cacheDir, type, id);
  const snaps = join(repo, 'snapshots');
  if (!existsSync(snaps)) return null;
  const rev = readRef(repo, ref);
  if (rev && existsSync(join(snaps, rev))) return snapshotAt(repo, rev);
  if (rev) return null; // refs/main names a snapshot that is not there: not usable
  const revs = readdirSync(snaps)
    .filter((r) => statSync(join(snaps, r)).isDirectory())
    .sort((a, b) => statSync(join(snaps, b)).mtimeMs - statSync(join(snaps, a)).mtimeMs);
  return revs[0] ? snapshotAt(repo, revs[0]) : null;
}

/** org/name (or a single legacy name such as distilgpt2) as the hub accepts it. */
export function isRepoId(spec: string): boolean {
  return /^[\w.-]+(\/[\w.-]+)?$/.test(spec) && !spec.includes('..') && !spec.includes('--');
}
