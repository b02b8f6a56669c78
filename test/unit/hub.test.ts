// The Hugging Face Hub client: huggingface_hub's cache layout and settings, downloads into that cache
// (cache first, resumable, checked), and the hub's refusals as errors with a fix — against a small
// hub served on 127.0.0.1 by the test (test/hub-server.ts). Nothing leaves this machine.
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/loaders.js';
import { FtplanError } from '../../src/errors.js';
import { findSnapshot, hubCacheDir, hubHome, hubSettings, isRepoId, repoFolderName } from '../../src/hub/cache.js';
import { withBlobLock } from '../../src/hub/blob-lock.js';
import { loadCheckpoint, obtainModel, resolveModel } from '../../src/model/hf.js';
import { tempDir } from '../helpers.js';
import { labelledDatasetFiles, labelledRows, LABELS, parquetOf, sha256, startHubServer, tinyModelFiles, type HubServer } from '../hub-server.js';
import { tinyDecoderCheckpoint } from '../decoder-fixtures.js';

const TOKEN = 'hf_test_granted_0123456789';
const OTHER_TOKEN = 'hf_test_not_granted_98765';
const modelFiles = tinyModelFiles(1);
const weights = modelFiles.find((f) => f.path === 'model.safetensors')!.content as Buffer;
const llamaConfig = JSON.stringify({ model_type: 'llama', vocab_size: 32000, hidden_size: 64 });
// a whole tiny Llama (config.json + model.safetensors, HF names): its weights download like GPT-2's
const tinyLlama = tinyDecoderCheckpoint(tempDir('ftplan-hub-llama-'), { family: 'llama', task: 'causal-lm', seed: 3 });
const tinyLlamaFiles = readdirSync(tinyLlama.dir).map((f) => ({ path: f, content: readFileSync(join(tinyLlama.dir, f)) }));
let hub: HubServer;

beforeAll(async () => {
  hub = await startHubServer(
    [
      { type: 'model', id: 'acme/tiny-gpt2', files: modelFiles },
      { type: 'model', id: 'acme/gated-gpt2', files: modelFiles, gated: true },
      { type: 'model', id: 'acme/private-gpt2', files: modelFiles, private: true },
      { type: 'model', id: 'acme/bin-only', files: [...modelFiles.filter((f) => f.path !== 'model.safetensors'), { path: 'pytorch_model.bin', content: Buffer.alloc(64, 1) }] },
      { type: 'model', id: 'acme/llama', files: [{ path: 'config.json', content: llamaConfig }, { path: 'model.safetensors', content: weights }] },
      { type: 'model', id: 'acme/tiny-llama', files: tinyLlamaFiles },
      {
        type: 'model',
        id: 'acme/sharded',
        files: [
          ...modelFiles.filter((f) => f.path !== 'model.safetensors'),
          { path: 'model.safetensors.index.json', content: JSON.stringify({ metadata: {}, weight_map: { 'transformer.wte.weight': 'model-00001-of-00002.safetensors', 'transformer.wpe.weight': 'model-00002-of-00002.safetensors' } }) },
          { path: 'model-00001-of-00002.safetensors', content: Buffer.alloc(1000, 2) },
          { path: 'model-00002-of-00002.safetensors', content: Buffer.alloc(700, 3) },
        ],
      },
      { type: 'dataset', id: 'acme/moods', files: [...labelledDatasetFiles(), { path: 'train.csv', content: 'text,label\nthis copy is not used,0\n' }] },
      { type: 'dataset', id: 'acme/one-config', files: [{ path: 'README.md', content: '# one configuration\n' }, { path: 'plain_text/train-00000-of-00001.parquet', content: parquetOf(labelledRows(12, 5)) }, { path: 'plain_text/test-00000-of-00001.parquet', content: parquetOf(labelledRows(6, 6)) }] },
      { type: 'dataset', id: 'acme/two-configs', files: ['en', 'fr'].map((c) => ({ path: `${c}/train-00000-of-00001.parquet`, content: parquetOf(labelledRows(9, 7)) })) },
      {
        type: 'dataset',
        id: 'acme/jsonl-only',
        files: [
          { path: 'train.jsonl', content: labelledRows(9, 8).text.map((text, i) => JSON.stringify({ text, label: LABELS[i % 3] })).join('\n') },
          { path: 'test.jsonl', content: labelledRows(3, 9).text.map((text, i) => JSON.stringify({ text, label: LABELS[i % 3] })).join('\n') },
          { path: 'loader.py', content: '# a loading script: not fetched\n' },
        ],
      },
      { type: 'dataset', id: 'acme/script-only', files: [{ path: 'script-only.py', content: 'import datasets\n' }] },
      {
        type: 'dataset',
        id: 'acme/unsplit',
        files: [{ path: 'README.md', content: '# one csv, no split names\n' }, { path: 'reviews.csv', content: 'text,label\ngood,1\n' }],
        branches: {
          'refs/convert/parquet': [
            { path: 'default/train/0000.parquet', content: parquetOf(labelledRows(15, 10)) },
            { path: 'default/train/0001.parquet', content: parquetOf(labelledRows(6, 11)) },
            { path: 'default/test/0000.parquet', content: parquetOf(labelledRows(9, 12)) },
          ],
        },
      },
    ],
    { tokens: [TOKEN, OTHER_TOKEN], granted: [TOKEN], lifetimeMs: 600_000 },
  );
});

afterAll(async () => {
  await hub?.close();
});

/** An empty HF_HOME pointed at the test hub; nothing inherited from the machine's environment. */
function hubEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const home = tempDir('ftplan-hfhome-');
  return { HOME: home, HF_HOME: join(home, 'hf'), HF_ENDPOINT: hub.url, HF_HUB_DOWNLOAD_TIMEOUT: '5', ...extra };
}

async function failure(p: Promise<unknown>): Promise<FtplanError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FtplanError);
  return e as FtplanError;
}

const newRequests = (from: number) => hub.requests.slice(from);

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('settings: huggingface_hub\'s environment variables and precedence', () => {
  it('the cache folder: HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > HF_HOME/hub > XDG_CACHE_HOME/huggingface/hub > ~/.cache/huggingface/hub', () => {
    const all = { HOME: '/home/u', XDG_CACHE_HOME: '/xdg', HF_HOME: '/hfhome', HUGGINGFACE_HUB_CACHE: '/legacy', HF_HUB_CACHE: '/hubcache' };
    expect(hubCacheDir(all)).toBe('/hubcache');
    expect(hubCacheDir({ ...all, HF_HUB_CACHE: undefined })).toBe('/legacy');
    expect(hubCacheDir({ ...all, HF_HUB_CACHE: undefined, HUGGINGFACE_HUB_CACHE: undefined })).toBe('/hfhome/hub');
    expect(hubCacheDir({ HOME: '/home/u', XDG_CACHE_HOME: '/xdg' })).toBe('/xdg/huggingface/hub');
    expect(hubCacheDir({ HOME: '/home/u' })).toBe('/home/u/.cache/huggingface/hub');
    expect(hubCacheDir({ HOME: '/home/u', HF_HOME: '~/hf' })).toBe('/home/u/hf/hub'); // expanduser, as Python does
    expect(hubCacheDir({ HOME: '/home/u', HF_HOME: '' })).toBe('/home/u/.cache/huggingface/hub'); // empty counts as unset
    expect(hubHome({ HOME: '/home/u', XDG_CACHE_HOME: '/xdg' })).toBe('/xdg/huggingface');
  });

  it('token: HF_TOKEN, else HUGGING_FACE_HUB_TOKEN, else the token file ($HF_TOKEN_PATH or $HF_HOME/token)', () => {
    const home = tempDir('ftplan-hftoken-');
    writeFileSync(join(home, 'token'), `${TOKEN}\n`);
    expect(hubSettings({ HOME: home, HF_HOME: home })).toMatchObject({ token: TOKEN, tokenSource: join(home, 'token') });
    expect(hubSettings({ HOME: home, HF_HOME: home, HUGGING_FACE_HUB_TOKEN: 'hf_legacy' })).toMatchObject({ token: 'hf_legacy', tokenSource: 'HUGGING_FACE_HUB_TOKEN' });
    expect(hubSettings({ HOME: home, HF_HOME: home, HF_TOKEN: 'hf_env', HUGGING_FACE_HUB_TOKEN: 'hf_legacy' })).toMatchObject({ token: 'hf_env', tokenSource: 'HF_TOKEN' });
    writeFileSync(join(home, 'other-token'), 'hf_from_path');
    expect(hubSettings({ HOME: home, HF_HOME: home, HF_TOKEN_PATH: join(home, 'other-token') }).token).toBe('hf_from_path');
    expect(hubSettings({ HOME: home, HF_HOME: join(home, 'none') }).token).toBeUndefined();
  });

  it('endpoint, offline and timeouts', () => {
    expect(hubSettings({ HOME: '/x' }).endpoint).toBe('https://huggingface.co');
    expect(hubSettings({ HOME: '/x', HF_ENDPOINT: 'https://hf-mirror.example/' }).endpoint).toBe('https://hf-mirror.example');
    for (const v of ['1', 'ON', 'yes', 'True']) expect(hubSettings({ HOME: '/x', HF_HUB_OFFLINE: v }).offline).toBe(true);
    for (const v of ['0', 'false', '']) expect(hubSettings({ HOME: '/x', HF_HUB_OFFLINE: v }).offline).toBe(false);
    expect(hubSettings({ HOME: '/x', TRANSFORMERS_OFFLINE: '1' }).offline).toBe(true);
    expect(hubSettings({ HOME: '/x', HF_HUB_DOWNLOAD_TIMEOUT: '2.5' }).downloadTimeoutMs).toBe(2500);
  });

  it('repo folders and ids', () => {
    expect(repoFolderName('model', 'openai-community/gpt2')).toBe('models--openai-community--gpt2');
    expect(repoFolderName('dataset', 'mteb/tweet_sentiment_extraction')).toBe('datasets--mteb--tweet_sentiment_extraction');
    expect(['org/name', 'distilgpt2', 'a.b/c_d-e'].every(isRepoId)).toBe(true);
    expect(['../x', 'a/b/c', 'a--b/c', 'a b/c', ''].some(isRepoId)).toBe(false);
  });

  it('a snapshot is found through refs/main, as huggingface_hub resolves it', () => {
    const cache = tempDir('ftplan-hfcache-');
    const repo = join(cache, 'models--org--m');
    mkdirSync(join(repo, 'snapshots', 'a'.repeat(40)), { recursive: true });
    mkdirSync(join(repo, 'snapshots', 'b'.repeat(40)), { recursive: true });
    mkdirSync(join(repo, 'refs'));
    writeFileSync(join(repo, 'refs', 'main'), 'a'.repeat(40));
    expect(findSnapshot(cache, 'model', 'org/m')?.commit).toBe('a'.repeat(40));
    writeFileSync(join(repo, 'refs', 'main'), 'c'.repeat(40)); // refs/main names a snapshot that is not there
    expect(findSnapshot(cache, 'model', 'org/m')).toBeNull();
    expect(findSnapshot(cache, 'model', 'org/other')).toBeNull();
  });
});

describe('a model from the hub', () => {
  it('for its shape: config.json and the tokenizer files into the cache layout, never the weights; then from the cache alone', async () => {
    const env = hubEnv();
    const from = hub.requests.length;
    const src = await obtainModel('acme/tiny-gpt2', 'shape', { env, log: () => {} });
    const cache = join(env.HF_HOME!, 'hub');
    const repo = join(cache, 'models--acme--tiny-gpt2');
    const commit = readFileSync(join(repo, 'refs', 'main'), 'utf8');
    expect(commit).toMatch(/^[0-9a-f]{40}$/);
    expect(src).toEqual({ kind: 'folder', dir: join(repo, 'snapshots', commit), name: 'acme/tiny-gpt2' });
    const got = readdirSync(src.kind === 'folder' ? src.dir : '').sort();
    expect(got).toEqual(['config.json', 'merges.txt', 'special_tokens_map.json', 'tokenizer_config.json', 'vocab.json']);
    for (const f of got) {
      const pointer = join(repo, 'snapshots', commit, f);
      expect(lstatSync(pointer).isSymbolicLink()).toBe(true); // relative links into blobs/, as huggingface_hub makes them
      expect(readlinkSync(pointer)).toMatch(/^\.\.\/\.\.\/blobs\/[0-9a-f]{40}$/); // regular files: named by their git blob id
      expect(sha256(readFileSync(pointer))).toBe(sha256(Buffer.from(modelFiles.find((m) => m.path === f)!.content)));
    }
    expect(existsSync(join(repo, '.no_exist', commit, 'tokenizer.json'))).toBe(true); // the repo has none: recorded
    expect(readdirSync(join(repo, 'blobs')).filter((b) => b.endsWith('.incomplete'))).toEqual([]);
    const seen = newRequests(from);
    expect(seen.some((r) => r.url.includes('model.safetensors') || r.url.includes('/lfs-cdn/'))).toBe(false);
    expect(seen.filter((r) => r.url.includes('/tree/')).length).toBeGreaterThan(1); // the listing's pages, followed by Link
    expect(seen.every((r) => r.authorization === undefined)).toBe(true);

    // again: everything is in the cache, the hub is not asked
    const again = hub.requests.length;
    expect(await obtainModel('acme/tiny-gpt2', 'shape', { env })).toEqual(src);
    expect(hub.requests.length).toBe(again);
    expect(resolveModel('acme/tiny-gpt2', env)).toEqual(src); // the synchronous cache lookup finds it too
    expect(await obtainModel('acme/tiny-gpt2', 'shape', { env: { ...env, HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' } })).toEqual(src);
  });

  it('for its weights: model.safetensors through the CDN redirect, named by its sha256, loadable; the shape files are not fetched twice', async () => {
    const env = hubEnv();
    await obtainModel('acme/tiny-gpt2', 'shape', { env, log: () => {} });
    const from = hub.requests.length;
    const lines: string[] = [];
    const src = await obtainModel('acme/tiny-gpt2', 'weights', { env, log: (l) => lines.push(l) });
    const seen = newRequests(from);
    expect(seen.filter((r) => r.method === 'GET' && r.url.includes('/resolve/')).map((r) => r.url)).toEqual([expect.stringMatching(/\/acme\/tiny-gpt2\/resolve\/[0-9a-f]{40}\/model\.safetensors$/)]);
    expect(seen.some((r) => r.url === `/lfs-cdn/${sha256(weights)}`)).toBe(true);
    expect(lines).toEqual([`downloading acme/tiny-gpt2/model.safetensors (${(weights.length / 1e6).toFixed(1)} MB) from ${hub.url}`]);
    const dir = src.kind === 'folder' ? src.dir : '';
    expect(readlinkSync(join(dir, 'model.safetensors'))).toBe(`../../blobs/${sha256(weights)}`);
    const ck = loadCheckpoint(dir, { numLabels: 3 });
    expect(ck.config.labels).toEqual(LABELS);
    expect(ck.missing).toEqual([]);
  });

  it('two downloads of the same model at once (a data-parallel run\'s workers) fetch each file once', async () => {
    const env = hubEnv();
    const from = hub.requests.length;
    const lines: string[] = [];
    const [a, b] = await Promise.all([obtainModel('acme/tiny-gpt2', 'weights', { env, log: (l) => lines.push(l) }), obtainModel('acme/tiny-gpt2', 'weights', { env, log: (l) => lines.push(l) })]);
    expect(a).toEqual(b);
    expect(newRequests(from).filter((r) => r.url.startsWith('/lfs-cdn/'))).toHaveLength(1);
    expect(newRequests(from).filter((r) => r.url.endsWith('/vocab.json'))).toHaveLength(1);
    expect(lines.some((l) => /^waiting for process \d+, which is downloading the same file/.test(l))).toBe(true);
    expect(sha256(readFileSync(join(a.kind === 'folder' ? a.dir : '', 'model.safetensors')))).toBe(sha256(weights));
    expect(readdirSync(join(env.HF_HOME!, 'hub', '.locks', 'models--acme--tiny-gpt2'))).toEqual([]); // released
  });

  it('sharded weights: the index, then every shard it names', async () => {
    const env = hubEnv();
    const src = await obtainModel('acme/sharded', 'weights', { env, log: () => {} });
    const dir = src.kind === 'folder' ? src.dir : '';
    expect(readdirSync(dir).filter((f) => f.startsWith('model')).sort()).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
    expect(statSync(join(dir, 'model-00002-of-00002.safetensors')).size).toBe(700);
    const before = hub.requests.length;
    await obtainModel('acme/sharded', 'weights', { env });
    expect(hub.requests.length).toBe(before);
  });

  it('a repo without safetensors, or a model that is not GPT-2, is refused before any weights are fetched', async () => {
    const env = hubEnv();
    const bin = await failure(obtainModel('acme/bin-only', 'weights', { env, log: () => {} }));
    expect(bin.message).toMatch(/--model acme\/bin-only: the repo has no model.safetensors \(it has pytorch_model.bin\)/);
    expect(bin.fix).toMatch(/safetensors/);
    expect(hub.contentGets('pytorch_model.bin')).toEqual([]);
    const from = hub.requests.length;
    const llama = await failure(obtainModel('acme/llama', 'weights', { env, log: () => {} }));
    expect(llama.message).toMatch(/config\.json: has no intermediate_size \(a llama config needs it\)/);
    expect(newRequests(from).some((r) => r.url.includes('model.safetensors') || r.url.includes('/lfs-cdn/'))).toBe(false);
  });
});

describe('a Llama-family model from the hub', () => {
  it('for its weights: config.json checked as a decoder\'s, then model.safetensors into the cache, byte for byte', async () => {
    const env = hubEnv();
    const src = await obtainModel('acme/tiny-llama', 'weights', { env, log: () => {} });
    const dir = src.kind === 'folder' ? src.dir : '';
    expect(readFileSync(join(dir, 'model.safetensors')).equals(readFileSync(join(tinyLlama.dir, 'model.safetensors')))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).model_type).toBe('llama');
  });
});

describe('resuming a download that was cut off', () => {
  it('keeps the partial blob, resumes with Range: bytes=N-, checks the sha256 and only then links it into the snapshot', async () => {
    const env = hubEnv();
    hub.cutOff.set('model.safetensors', 1);
    const lines: string[] = [];
    const e = await failure(obtainModel('acme/tiny-gpt2', 'weights', { env, log: (l) => lines.push(l) }));
    expect(e.exitCode).toBe(2);
    const m = /the download of model\.safetensors stopped at ([\d,]+) of ([\d,]+) bytes/.exec(e.message);
    expect(m).not.toBeNull();
    const got = Number(m![1]!.replace(/,/g, ''));
    expect(Number(m![2]!.replace(/,/g, ''))).toBe(weights.length);
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThan(weights.length);
    expect(e.fix).toBe('run the same command again to resume it where it stopped');
    const repo = join(env.HF_HOME!, 'hub', 'models--acme--tiny-gpt2');
    const part = join(repo, 'blobs', `${sha256(weights)}.incomplete`);
    expect(statSync(part).size).toBe(got);
    expect(readFileSync(part).equals(weights.subarray(0, got))).toBe(true);
    expect(existsSync(join(repo, 'blobs', sha256(weights)))).toBe(false);
    expect(existsSync(join(repo, 'refs', 'main'))).toBe(false); // main is recorded once the snapshot is complete
    expect(readdirSync(join(repo, 'snapshots', readdirSync(join(repo, 'snapshots'))[0]!))).not.toContain('model.safetensors');

    const from = hub.requests.length;
    const src = await obtainModel('acme/tiny-gpt2', 'weights', { env, log: (l) => lines.push(l) });
    const gets = newRequests(from).filter((r) => r.url.startsWith('/lfs-cdn/'));
    expect(gets.map((r) => r.range)).toEqual([`bytes=${got}-`]);
    expect(gets[0]!.status).toBe(206);
    expect(lines.at(-1)).toMatch(new RegExp(`^resuming acme/tiny-gpt2/model.safetensors at .* of ${(weights.length / 1e6).toFixed(1)} MB`));
    expect(sha256(readFileSync(join(src.kind === 'folder' ? src.dir : '', 'model.safetensors')))).toBe(sha256(weights));
    expect(existsSync(part)).toBe(false);
  });

  it('a partial blob with wrong bytes fails the sha256 check, is removed, and the next attempt downloads afresh', async () => {
    const env = hubEnv();
    await obtainModel('acme/tiny-gpt2', 'shape', { env, log: () => {} });
    const part = join(env.HF_HOME!, 'hub', 'models--acme--tiny-gpt2', 'blobs', `${sha256(weights)}.incomplete`);
    writeFileSync(part, Buffer.alloc(1000, 7)); // not the file's first 1000 bytes
    const e = await failure(obtainModel('acme/tiny-gpt2', 'weights', { env, log: () => {} }));
    expect(e.message).toMatch(/the download of model.safetensors is damaged \(sha256 [0-9a-f]{12}…, the hub lists [0-9a-f]{12}…\); the partial file was removed/);
    expect(existsSync(part)).toBe(false);
    const from = hub.requests.length;
    const src = await obtainModel('acme/tiny-gpt2', 'weights', { env, log: () => {} });
    expect(newRequests(from).filter((r) => r.url.startsWith('/lfs-cdn/')).map((r) => r.range)).toEqual([undefined]);
    expect(sha256(readFileSync(join(src.kind === 'folder' ? src.dir : '', 'model.safetensors')))).toBe(sha256(weights));
  });

  it('a download that stalls (the connection open, nothing arriving) ends after HF_HUB_DOWNLOAD_TIMEOUT and resumes next time', async () => {
    const env = hubEnv({ HF_HUB_DOWNLOAD_TIMEOUT: '1' });
    hub.stall.set('model.safetensors', 1);
    const e = await failure(obtainModel('acme/tiny-gpt2', 'weights', { env, log: () => {} }));
    expect(e.message).toMatch(/the download of model.safetensors stopped at [\d,]+ of [\d,]+ bytes \(the connection ended: nothing received for 1 s\)/);
    expect(e.fix).toBe('run the same command again to resume it where it stopped');
    const from = hub.requests.length;
    const src = await obtainModel('acme/tiny-gpt2', 'weights', { env, log: () => {} });
    expect(newRequests(from).filter((r) => r.url.startsWith('/lfs-cdn/')).map((r) => r.range)).toEqual([expect.stringMatching(/^bytes=\d+-$/)]);
    expect(sha256(readFileSync(join(src.kind === 'folder' ? src.dir : '', 'model.safetensors')))).toBe(sha256(weights));
  });

  it('a server that ignores the Range request (200, the whole file) is noticed: the file is written from its start', async () => {
    const env = hubEnv();
    await obtainModel('acme/tiny-gpt2', 'shape', { env, log: () => {} });
    const part = join(env.HF_HOME!, 'hub', 'models--acme--tiny-gpt2', 'blobs', `${sha256(weights)}.incomplete`);
    writeFileSync(part, weights.subarray(0, 1000));
    const from = hub.requests.length;
    hub.ignoreRange = true;
    try {
      const src = await obtainModel('acme/tiny-gpt2', 'weights', { env, log: () => {} });
      expect(newRequests(from).filter((r) => r.url.startsWith('/lfs-cdn/')).map((r) => [r.range, r.status])).toEqual([['bytes=1000-', 200]]);
      expect(sha256(readFileSync(join(src.kind === 'folder' ? src.dir : '', 'model.safetensors')))).toBe(sha256(weights));
    } finally {
      hub.ignoreRange = false;
    }
  });

  it('a partial blob longer than the file is dropped and the file downloaded whole', async () => {
    const env = hubEnv();
    await obtainModel('acme/tiny-gpt2', 'shape', { env, log: () => {} });
    const part = join(env.HF_HOME!, 'hub', 'models--acme--tiny-gpt2', 'blobs', `${sha256(weights)}.incomplete`);
    writeFileSync(part, Buffer.concat([weights, Buffer.alloc(10)]));
    const src = await obtainModel('acme/tiny-gpt2', 'weights', { env, log: () => {} });
    expect(sha256(readFileSync(join(src.kind === 'folder' ? src.dir : '', 'model.safetensors')))).toBe(sha256(weights));
    expect(existsSync(part)).toBe(false);
  });
});

describe('the hub\'s refusals and the network\'s failures: exit 2 and what to do', () => {
  it('a gated model without a token: 401, set HF_TOKEN to a token that accepted the licence', async () => {
    const e = await failure(obtainModel('acme/gated-gpt2', 'shape', { env: hubEnv(), log: () => {} }));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/--model acme\/gated-gpt2: the model is gated: the hub wants a token \(401\)/);
    expect(e.fix).toBe(`set HF_TOKEN to a token that has accepted the model's licence at ${hub.url}/acme/gated-gpt2 (create one at ${hub.url}/settings/tokens)`);
  });

  it('a gated model with a token that has no access yet: 403, accept the licence with that account', async () => {
    const e = await failure(obtainModel('acme/gated-gpt2', 'shape', { env: hubEnv({ HF_TOKEN: OTHER_TOKEN }), log: () => {} }));
    expect(e.message).toMatch(/the model is gated and HF_TOKEN has no access to it yet \(403\)/);
    expect(e.fix).toMatch(new RegExp(`accept the model's licence at ${hub.url}/acme/gated-gpt2`));
  });

  it('HF_TOKEN (or $HF_HOME/token) is sent as Authorization: Bearer, and opens the gated model', async () => {
    const env = hubEnv({ HF_TOKEN: TOKEN });
    const from = hub.requests.length;
    await obtainModel('acme/gated-gpt2', 'weights', { env, log: () => {} });
    const seen = newRequests(from);
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.filter((r) => !r.url.startsWith('/lfs-cdn/')).every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    const viaFile = hubEnv();
    mkdirSync(viaFile.HF_HOME!, { recursive: true });
    writeFileSync(join(viaFile.HF_HOME!, 'token'), `${TOKEN}\n`);
    const from2 = hub.requests.length;
    await obtainModel('acme/gated-gpt2', 'shape', { env: viaFile, log: () => {} });
    expect(newRequests(from2).every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('a token the hub does not know: 401, set a valid HF_TOKEN; one that is not a token at all is refused before sending', async () => {
    const bad = await failure(obtainModel('acme/tiny-gpt2', 'shape', { env: hubEnv({ HF_TOKEN: 'hf_revoked_token' }), log: () => {} }));
    expect(bad.message).toMatch(/refused HF_TOKEN \(401\)/);
    expect(bad.fix).toMatch(/set HF_TOKEN to a valid access token/);
    const from = hub.requests.length;
    const junk = await failure(obtainModel('acme/tiny-gpt2', 'shape', { env: hubEnv({ HF_TOKEN: 'not-a-token' }), log: () => {} }));
    expect(junk.message).toMatch(/the token from HF_TOKEN is not a Hugging Face access token/);
    expect(hub.requests.length).toBe(from);
  });

  it('no such repo: 404, check the id / repo type; a private one without a token: 401', async () => {
    const e = await failure(obtainModel('acme/nothing-here', 'shape', { env: hubEnv(), log: () => {} }));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(new RegExp(`--model acme/nothing-here: no such model repo on ${hub.url} \\(404\\)`));
    expect(e.fix).toMatch(/check the id \/ the repo type/);
    // a data set id given to --model: the same answer, and the fix names the flag
    const ds = await failure(obtainModel('acme/moods', 'shape', { env: hubEnv(), log: () => {} }));
    expect(ds.fix).toMatch(/--model takes a model repo/);
    const priv = await failure(obtainModel('acme/private-gpt2', 'shape', { env: hubEnv(), log: () => {} }));
    expect(priv.message).toMatch(/no such model on .* or it is private \(401\)/);
    expect(priv.fix).toMatch(/for a private repo set HF_TOKEN/);
  });

  it('HF_HUB_OFFLINE=1 with nothing cached: no request at all, and the fix', async () => {
    const from = hub.requests.length;
    const env = hubEnv({ HF_HUB_OFFLINE: '1' });
    const e = await failure(obtainModel('acme/tiny-gpt2', 'shape', { env }));
    expect(hub.requests.length).toBe(from);
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(`HF_HUB_OFFLINE=1 and --model acme/tiny-gpt2 is not in the cache at ${join(env.HF_HOME!, 'hub', 'models--acme--tiny-gpt2')}`);
    expect(e.fix).toMatch(/^unset HF_HUB_OFFLINE to download it, or download it first/);
    // offline with the shape cached but not the weights: names what is missing
    const env2 = hubEnv();
    await obtainModel('acme/tiny-gpt2', 'shape', { env: env2, log: () => {} });
    const w = await failure(obtainModel('acme/tiny-gpt2', 'weights', { env: { ...env2, HF_HUB_OFFLINE: '1' } }));
    expect(w.message).toMatch(/is in the cache at .* without model.safetensors$/);
  });

  it('an endpoint that cannot be reached', async () => {
    const port = await closedPort();
    const e = await failure(obtainModel('acme/tiny-gpt2', 'shape', { env: hubEnv({ HF_ENDPOINT: `http://127.0.0.1:${port}` }), log: () => {} }));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(new RegExp(`cannot reach http://127.0.0.1:${port} \\(ECONNREFUSED\\)`));
    expect(e.fix).toMatch(/check the network and HF_ENDPOINT/);
  });

  it('an endpoint that answers, but not as the Hub API does (a web page)', async () => {
    const page = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>welcome</html>'));
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
      const e = await failure(obtainModel('acme/tiny-gpt2', 'shape', { env: hubEnv({ HF_ENDPOINT: url }), log: () => {} }));
      expect(e.message).toMatch(new RegExp(`--model acme/tiny-gpt2: ${url} did not answer as the Hugging Face Hub API does`));
      expect(e.fix).toMatch(/check HF_ENDPOINT/);
    } finally {
      page.closeAllConnections();
      await new Promise((r) => page.close(r));
    }
  });

  it('a connection reset before any answer (a kept-alive socket the server had closed) is sent again', async () => {
    const env = hubEnv();
    const from = hub.requests.length;
    hub.dropConnections = 2;
    await obtainModel('acme/tiny-gpt2', 'shape', { env, log: () => {} });
    expect(hub.dropConnections).toBe(0);
    const seen = newRequests(from);
    expect(seen[0]!.url).toBe(seen[1]!.url);
    expect(seen[1]!.url).toBe(seen[2]!.url);
    expect(seen[2]!.status).toBe(200);
  });

  it('a single name (no org) is looked up in the cache only', async () => {
    const from = hub.requests.length;
    const e = await failure(obtainModel('distilgpt2-nowhere', 'shape', { env: hubEnv() }));
    expect(e.message).toMatch(/not in the local hub cache/);
    expect(hub.requests.length).toBe(from);
  });
});

describe('a data set from the hub', () => {
  it('comes as its parquet files (all shards of each split, not the csv copy or the README), then reads from the cache', async () => {
    const env = hubEnv();
    const from = hub.requests.length;
    const ds = await loadDataset('acme/moods', { env });
    const repo = join(env.HF_HOME!, 'hub', 'datasets--acme--moods');
    const commit = readFileSync(join(repo, 'refs', 'main'), 'utf8');
    const snap = join(repo, 'snapshots', commit);
    expect(ds.source).toBe(`hub cache (${snap})`);
    expect(ds.splits.train!.files).toEqual([join(snap, 'data', 'train-00000-of-00002.parquet'), join(snap, 'data', 'train-00001-of-00002.parquet')]);
    expect(ds.splits.train!.examples).toHaveLength(90);
    expect(ds.splits.test!.examples).toHaveLength(30);
    expect(ds.labels).toEqual(['0', '1', '2']);
    expect(readdirSync(snap).sort()).toEqual(['data']);
    expect(readlinkSync(join(snap, 'data', 'test-00000-of-00001.parquet'))).toMatch(/^\.\.\/\.\.\/\.\.\/blobs\/[0-9a-f]{64}$/);
    expect(newRequests(from).filter((r) => r.url.startsWith('/api/datasets/acme/moods/revision/main'))).toHaveLength(1);

    const again = hub.requests.length;
    expect((await loadDataset('acme/moods', { env: { ...env, HF_HUB_OFFLINE: '1' } })).splits.train!.examples).toHaveLength(90);
    expect(hub.requests.length).toBe(again);
  });

  it('a cached split with a shard missing is completed from the hub', async () => {
    const env = hubEnv();
    await loadDataset('acme/moods', { env });
    const repo = join(env.HF_HOME!, 'hub', 'datasets--acme--moods');
    const snap = join(repo, 'snapshots', readFileSync(join(repo, 'refs', 'main'), 'utf8'));
    rmSync(join(snap, 'data', 'train-00001-of-00002.parquet'));
    const offline = await failure(loadDataset('acme/moods', { env: { ...env, HF_HUB_OFFLINE: '1' } }));
    expect(offline.message).toMatch(/is in the cache at .* without train-00001-of-00002.parquet/);
    const from = hub.requests.length;
    expect((await loadDataset('acme/moods', { env })).splits.train!.examples).toHaveLength(90);
    // the blob was still in blobs/: linked again, not downloaded
    expect(newRequests(from).filter((r) => r.url.includes('/resolve/') || r.url.startsWith('/lfs-cdn/'))).toEqual([]);
  });

  it('a configuration\'s folder (plain_text/train-….parquet) when it is the only one; several: name them', async () => {
    const env = hubEnv();
    const ds = await loadDataset('acme/one-config', { env });
    expect(ds.source).toMatch(/^hub cache \(.*\/datasets--acme--one-config\/snapshots\/[0-9a-f]{40}\/plain_text\)$/);
    expect(ds.splits.train!.examples).toHaveLength(12);
    expect(ds.splits.test!.examples).toHaveLength(6);
    expect((await loadDataset('acme/one-config', { env: { ...env, HF_HUB_OFFLINE: '1' } })).splits.train!.examples).toHaveLength(12);
    const two = await failure(loadDataset('acme/two-configs', { env }));
    expect(two.message).toBe('--dataset acme/two-configs: the repo has 2 configurations (en, fr) and ftplan reads one');
    expect(two.fix).toMatch(/--include 'en\/\*'\) and pass its folder/);
  });

  it('without parquet, the jsonl split files; a repo with only a loading script is refused with its files', async () => {
    const env = hubEnv();
    const ds = await loadDataset('acme/jsonl-only', { env });
    expect(ds.labels).toEqual(LABELS);
    expect(ds.splits.train!.examples).toHaveLength(9);
    expect(readdirSync(ds.source.slice('hub cache ('.length, -1)).sort()).toEqual(['test.jsonl', 'train.jsonl']);
    const script = await failure(loadDataset('acme/script-only', { env }));
    expect(script.message).toMatch(/--dataset acme\/script-only: the repo has no training split file ftplan reads .*; it has script-only.py, and the hub has no parquet conversion of it$/);
  });

  it('a repo without split files is read from the hub\'s parquet conversion (refs/convert/parquet), cached under refs/ as huggingface_hub does', async () => {
    const env = hubEnv();
    const ds = await loadDataset('acme/unsplit', { env });
    const repo = join(env.HF_HOME!, 'hub', 'datasets--acme--unsplit');
    const commit = readFileSync(join(repo, 'refs', 'refs', 'convert', 'parquet'), 'utf8');
    expect(ds.source).toBe(`hub cache (${join(repo, 'snapshots', commit, 'default')}), the hub's parquet conversion (refs/convert/parquet)`);
    expect(ds.splits.train!.examples).toHaveLength(21); // both parts of the train split
    expect(ds.splits.test!.examples).toHaveLength(9);
    expect(existsSync(join(repo, 'refs', 'main'))).toBe(false); // main had nothing to read
    expect(readdirSync(join(repo, 'snapshots'))).toEqual([commit]);
    const from = hub.requests.length;
    expect((await loadDataset('acme/unsplit', { env: { ...env, HF_HUB_OFFLINE: '1' } })).splits.train!.examples).toHaveLength(21);
    expect((await loadDataset('acme/unsplit', { env })).splits.train!.examples).toHaveLength(21);
    expect(hub.requests.length).toBe(from);
  });

  it('a data set id that does not exist on the hub', async () => {
    const e = await failure(loadDataset('acme/no-such-data', { env: hubEnv() }));
    expect(e.message).toMatch(/--dataset acme\/no-such-data: no such data set repo/);
    expect(e.fix).toMatch(/--dataset takes a data set repo/);
  });
});

describe('the blob lock', () => {
  it('a lock whose holder has created it but not yet written its pid is waited for, not taken over', async () => {
    const dir = tempDir('ftplan-lock-');
    const lock = join(dir, 'blob.ftplan.lock');
    writeFileSync(lock, ''); // created with open(wx); the pid not written yet
    const order: string[] = [];
    const waiter = withBlobLock(lock, () => {}, async () => {
      order.push('waiter holds it');
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(order).toEqual([]);
    expect(readFileSync(lock, 'utf8')).toBe(''); // still the first holder's
    order.push('first holder releases');
    rmSync(lock);
    await waiter;
    expect(order).toEqual(['first holder releases', 'waiter holds it']);
    expect(existsSync(lock)).toBe(false);
  });

  it('a lock whose holder is gone (its pid not running) is taken over', async () => {
    const dir = tempDir('ftplan-lock-');
    const lock = join(dir, 'blob.ftplan.lock');
    writeFileSync(lock, '2147483646\n');
    let held = false;
    await withBlobLock(lock, () => {}, async () => {
      held = readFileSync(lock, 'utf8') === `${process.pid}\n`;
    });
    expect(held).toBe(true);
  });
});
