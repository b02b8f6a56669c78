/**
 * errors.ts — the hub's refusals and the network's failures as FtplanErrors that say what to do.
 * The hub tells its cases apart with the X-Error-Code header (RepoNotFound, GatedRepo,
 * EntryNotFound, RevisionNotFound) and the status; anonymous requests for a private repo get 401
 * RepoNotFound, the same answer as a repo that does not exist.
 */
import { FtplanError } from '../errors.js';
import type { HubSettings, RepoType } from './cache.js';

export interface HubContext {
  type: RepoType;
  id: string;
  settings: HubSettings;
  /** the file being fetched, when the failure is about one */
  path?: string;
  /** the repo is gated (from its info), when known */
  gated?: boolean;
}

export function repoUrl(ctx: Pick<HubContext, 'type' | 'id' | 'settings'>): string {
  return `${ctx.settings.endpoint}/${ctx.type === 'dataset' ? 'datasets/' : ''}${ctx.id}`;
}

const noun = (t: RepoType) => (t === 'dataset' ? 'data set' : 'model');
const flag = (t: RepoType) => (t === 'dataset' ? '--dataset' : '--model');

function input(message: string, fix: string, cause?: unknown): FtplanError {
  return new FtplanError('ERR_INPUT', message, { fix, cause });
}

/** A refusal by the hub, with its status and X-Error-Code for callers that act on them. */
export class HubRequestError extends FtplanError {
  constructor(
    message: string,
    fix: string,
    readonly status: number,
    readonly errorCode: string | null,
    cause?: unknown,
  ) {
    super('ERR_INPUT', message, { fix, cause });
  }
}

/** An HTTP refusal: status, the hub's X-Error-Code and its message. */
export function httpError(ctx: HubContext, status: number, errorCode: string | null, hubMessage: string | undefined, cause?: unknown): HubRequestError {
  const e = describeRefusal(ctx, status, errorCode, hubMessage, cause);
  return new HubRequestError(e.message, e.fix ?? '', status, errorCode, cause);
}

function describeRefusal(ctx: HubContext, status: number, errorCode: string | null, hubMessage: string | undefined, cause?: unknown): FtplanError {
  const { type, id, settings } = ctx;
  const what = `${flag(type)} ${id}`;
  const url = repoUrl(ctx);
  const said = hubMessage ? ` (the hub said: ${hubMessage.replace(/\s*URL: .*$/s, '').slice(0, 200)})` : '';
  const tokenFrom = settings.tokenSource === 'HF_TOKEN' ? 'HF_TOKEN' : settings.tokenSource ? `the token in ${settings.tokenSource}` : 'HF_TOKEN';
  if (errorCode === 'GatedRepo' || (ctx.gated && (status === 401 || status === 403))) {
    return settings.token
      ? input(`${what}: the ${noun(type)} is gated and ${tokenFrom} has no access to it yet (${status})${said}`, `accept the ${noun(type)}'s licence at ${url} with the account of that token (access may take a while to be granted), or set HF_TOKEN to a token that has`, cause)
      : input(`${what}: the ${noun(type)} is gated: the hub wants a token (${status})${said}`, `set HF_TOKEN to a token that has accepted the ${noun(type)}'s licence at ${url} (create one at ${settings.endpoint}/settings/tokens)`, cause);
  }
  if (errorCode === 'EntryNotFound') {
    return input(`${what}: the repo has no file ${ctx.path ?? ''} (404)${said}`, `check the file name; the repo's files are listed at ${url}/tree/main`, cause);
  }
  if (errorCode === 'RevisionNotFound') {
    return input(`${what}: no such revision on ${settings.endpoint} (404)${said}`, 'check the revision (branch, tag or commit)', cause);
  }
  if (status === 404 || errorCode === 'RepoNotFound') {
    if (status === 401 && !settings.token) {
      return input(`${what}: no such ${noun(type)} on ${settings.endpoint}, or it is private (401)${said}`, `check the id (${flag(type)} org/name; a ${type === 'dataset' ? 'model goes to --model' : 'data set goes to --dataset'}); for a private repo set HF_TOKEN to a token that can read it`, cause);
    }
    return input(`${what}: no such ${noun(type)} repo on ${settings.endpoint} (${status})${said}`, `check the id / the repo type (${flag(type)} takes a ${noun(type)} repo: ${url}); for a private repo set HF_TOKEN to a token that can read it`, cause);
  }
  if (status === 401) {
    return settings.token
      ? input(`${what}: ${settings.endpoint} refused ${tokenFrom} (401)${said}`, `set HF_TOKEN to a valid access token (${settings.endpoint}/settings/tokens)`, cause)
      : input(`${what}: ${settings.endpoint} wants a token (401)${said}`, `set HF_TOKEN to a token that can read ${url}`, cause);
  }
  if (status === 403) {
    return input(`${what}: ${tokenFrom} may not read this ${noun(type)} (403)${said}`, `set HF_TOKEN to a token with read access; for a gated ${noun(type)}, accept its licence at ${url}`, cause);
  }
  if (status === 429) {
    return input(`${what}: ${settings.endpoint} is rate-limiting the requests (429)${said}`, `wait a minute and run the same command again${settings.token ? '' : '; with HF_TOKEN set the limits are higher'}`, cause);
  }
  return input(`${what}: ${settings.endpoint} answered ${status}${ctx.path ? ` for ${ctx.path}` : ''}${said}`, status >= 500 ? 'the hub is having trouble: run the same command again later' : `check HF_ENDPOINT (${settings.endpoint}) and the id`, cause);
}

/** fetch's own failures: the endpoint cannot be reached (DNS, refused, timed out). */
export function networkError(ctx: HubContext, e: unknown): FtplanError {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const reason = err?.name === 'TimeoutError' || err?.name === 'AbortError' ? `no answer within ${ctx.settings.metadataTimeoutMs / 1000} s` : (err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e));
  return input(
    `${flag(ctx.type)} ${ctx.id}: cannot reach ${ctx.settings.endpoint} (${reason}), and the cache at ${ctx.settings.cacheDir} does not have what is needed`,
    `check the network and HF_ENDPOINT; or download it where the hub can be reached and copy ${ctx.settings.cacheDir} here (then HF_HUB_OFFLINE=1 uses only the cache)`,
    e,
  );
}

/** A token the client refuses before sending it (it must look like hf_…). */
export function tokenError(ctx: HubContext, e: Error): FtplanError {
  return input(`${flag(ctx.type)} ${ctx.id}: the token from ${ctx.settings.tokenSource ?? 'HF_TOKEN'} is not a Hugging Face access token (${e.message})`, `set HF_TOKEN to an access token from ${ctx.settings.endpoint}/settings/tokens (they start with hf_), or unset it for public repos`, e);
}

/** HF_HUB_OFFLINE=1 and the cache cannot serve the request. */
export function offlineError(ctx: HubContext, repoPath: string, missing: string[] | null): FtplanError {
  const what = `${flag(ctx.type)} ${ctx.id}`;
  const lacking = missing === null ? `is not in the cache at ${repoPath}` : `is in the cache at ${repoPath} without ${missing.join(', ')}`;
  return input(`HF_HUB_OFFLINE=1 and ${what} ${lacking}`, `unset HF_HUB_OFFLINE to download it, or download it first (on a machine with the network, then copy ${ctx.settings.cacheDir}); HF_HUB_CACHE / HF_HOME say where the cache is`);
}

/** A download that ended before its last byte: what is there stays for the next attempt. */
export function cutOffError(ctx: HubContext, path: string, got: number, size: number, reason: string, cause?: unknown): FtplanError {
  return input(`${flag(ctx.type)} ${ctx.id}: the download of ${path} stopped at ${got.toLocaleString('en-US')} of ${size.toLocaleString('en-US')} bytes (${reason})`, 'run the same command again to resume it where it stopped', cause);
}

/** The bytes arrived but are not the file the hub listed. */
export function corruptError(ctx: HubContext, path: string, detail: string): FtplanError {
  return input(`${flag(ctx.type)} ${ctx.id}: the download of ${path} is damaged (${detail}); the partial file was removed`, `run the same command again to download it afresh${ctx.settings.endpoint !== 'https://huggingface.co' ? `; if it happens again, check the mirror at HF_ENDPOINT (${ctx.settings.endpoint})` : ''}`);
}

/** A fetch failure, mapped: an HTTP refusal from the client library, a token check, or the network. */
export function fromFetchFailure(ctx: HubContext, e: unknown, errorCodes: Map<string, string>): FtplanError {
  if (e instanceof FtplanError) return e;
  const err = e as { name?: string; statusCode?: number; url?: string; message?: string };
  if (typeof err?.statusCode === 'number') return httpError(ctx, err.statusCode, (err.url && errorCodes.get(err.url)) ?? null, err.message, e);
  if (e instanceof TypeError && /access token/i.test(e.message)) return tokenError(ctx, e);
  if (e instanceof SyntaxError || err?.name === 'InvalidApiResponseFormatError') {
    // an answer, but not the Hub API's: a web page, a proxy's login, a wrong HF_ENDPOINT
    return input(`${flag(ctx.type)} ${ctx.id}: ${ctx.settings.endpoint} did not answer as the Hugging Face Hub API does (${err?.message ?? String(e)})`, `check HF_ENDPOINT (${ctx.settings.endpoint}): it must serve the Hub API (/api/models/…), like https://huggingface.co or a mirror of it`, e);
  }
  return networkError(ctx, e);
}
