// `ftplan … --model org/name` and `--dataset org/name` as a user runs them, against a hub served on
// 127.0.0.1 by the test (test/hub-server.ts): downloads into an empty HF_HOME, the same commands
// again with HF_HUB_OFFLINE=1 and the hub gone, and each refusal as exit 2 with a fix.
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ftplanAsync, tempDir } from '../helpers.js';
import { labelledDatasetFiles, sha256, startHubServer, tinyModelFiles, type HubRepoSpec, type HubServer } from '../hub-server.js';

const TOKEN = 'hf_cli_test_token_4242';
const REPOS: HubRepoSpec[] = [
  { type: 'model', id: 'acme/tiny-gpt2', files: tinyModelFiles(2) },
  { type: 'model', id: 'acme/gated-gpt2', files: tinyModelFiles(3), gated: true },
  { type: 'dataset', id: 'acme/moods', files: labelledDatasetFiles() },
];
const ESTIMATE = ['--steps', '1', '--min-time', '0', '--warmup-steps', '0', '--batch-size', '2', '--seq-len', '16', '--eval-batch-size', '0', '--device', 'cpu'];

let hub: HubServer;
beforeAll(async () => {
  hub = await startHubServer(REPOS, { tokens: [TOKEN], lifetimeMs: 900_000 });
});
afterAll(async () => {
  await hub?.close();
});

/** The machine's environment without its Hugging Face settings, an empty HF_HOME, and `extra`. */
function hubEnv(endpoint: string, extra: Record<string, string> = {}): Record<string, string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !/^(HF_|HUGGING_?FACE|TRANSFORMERS_)/.test(k))) as Record<string, string>;
  const home = tempDir('ftplan-hubcli-');
  return { ...env, HF_HOME: join(home, 'hf'), HF_ENDPOINT: endpoint, HF_HUB_DOWNLOAD_TIMEOUT: '10', ...extra };
}

/** bin/ftplan.js, asynchronously (the hub in this process must keep answering while it runs), in exactly `env`. */
const ftplan = (args: string[], env: Record<string, string>) => ftplanAsync(args, { env, inheritEnv: false, timeoutMs: 240_000 });

function snapshotOf(env: Record<string, string>, folder: string): { repo: string; commit: string; dir: string } {
  const repo = join(env.HF_HOME!, 'hub', folder);
  const commit = readFileSync(join(repo, 'refs', 'main'), 'utf8');
  return { repo, commit, dir: join(repo, 'snapshots', commit) };
}

describe('into an empty HF_HOME, then again offline with the hub gone', () => {
  it('ftplan profile --dataset org/name: the parquet splits into the hub cache layout', async () => {
    const own = await startHubServer(REPOS, { lifetimeMs: 300_000 });
    const env = hubEnv(own.url);
    const first = await ftplan(['profile', '--dataset', 'acme/moods'], env);
    expect(first.stderr).toMatch(/downloading acme\/moods\/data\/train-00000-of-00002\.parquet \([\d.]+ kB\) from http:\/\/127\.0\.0\.1:\d+/);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/rows \(read\)\s+│\s+90 \(90\)\s+│\s+30 \(30\)/);
    expect(first.stdout).toMatch(/label 0\s+│\s+30 \(33\.3%\)/);
    const snap = snapshotOf(env, 'datasets--acme--moods');
    expect(snap.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(readdirSync(join(snap.dir, 'data')).sort()).toEqual(['test-00000-of-00001.parquet', 'train-00000-of-00002.parquet', 'train-00001-of-00002.parquet']);
    expect(lstatSync(join(snap.dir, 'data', 'test-00000-of-00001.parquet')).isSymbolicLink()).toBe(true);
    const blobs = readdirSync(join(snap.repo, 'blobs'));
    expect(blobs.sort()).toEqual(labelledDatasetFiles().filter((f) => f.path.endsWith('.parquet')).map((f) => sha256(f.content as Buffer)).sort());
    await own.close();

    const offline = await ftplan(['profile', '--dataset', 'acme/moods'], { ...env, HF_HUB_OFFLINE: '1' });
    expect(offline.code).toBe(0);
    expect(offline.stderr).toBe('');
    expect(offline.stdout).toBe(first.stdout);
  });

  it('ftplan estimate --model org/name: config.json and the tokenizer, never the weights', async () => {
    const own = await startHubServer(REPOS, { lifetimeMs: 300_000 });
    const env = hubEnv(own.url);
    const first = await ftplan(['estimate', '--model', 'acme/tiny-gpt2', ...ESTIMATE, '--json'], env);
    expect(first.stderr).toMatch(/downloading acme\/tiny-gpt2\/config\.json/);
    expect(first.code).toBe(0);
    const j = JSON.parse(first.stdout);
    expect(j.model).toBe('acme/tiny-gpt2');
    expect(j.measurement.modelConfig).toMatchObject({ nLayer: 1, nEmbd: 8, nHead: 2, vocabSize: 50257 }); // the repo's config.json, not a preset
    expect(own.requests.some((r) => r.url.includes('model.safetensors') || r.url.startsWith('/lfs-cdn/'))).toBe(false);
    const snap = snapshotOf(env, 'models--acme--tiny-gpt2');
    expect(readdirSync(snap.dir).sort()).toEqual(['config.json', 'merges.txt', 'special_tokens_map.json', 'tokenizer_config.json', 'vocab.json']);
    expect(existsSync(join(snap.repo, 'blobs'))).toBe(true);
    await own.close();

    const offline = await ftplan(['estimate', '--model', 'acme/tiny-gpt2', ...ESTIMATE, '--json'], { ...env, HF_HUB_OFFLINE: '1' });
    expect(offline.code).toBe(0);
    expect(JSON.parse(offline.stdout).measurement.modelConfig).toEqual(j.measurement.modelConfig);
  });

  it('ftplan eval --model org/name --dataset org/name: the weights too, then offline', async () => {
    const env = hubEnv(hub.url);
    const first = await ftplan(['eval', '--model', 'acme/tiny-gpt2', '--dataset', 'acme/moods', '--device', 'cpu', '--json'], env);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/downloading acme\/tiny-gpt2\/model\.safetensors/);
    const metrics = JSON.parse(first.stdout);
    expect(metrics).toMatchObject({ model: 'acme/tiny-gpt2', dataset: 'acme/moods', split: 'test' });
    expect(metrics.metrics.accuracy).toBeGreaterThanOrEqual(0);
    const snap = snapshotOf(env, 'models--acme--tiny-gpt2');
    expect(sha256(readFileSync(join(snap.dir, 'model.safetensors')))).toBe(sha256(REPOS[0]!.files.find((f) => f.path === 'model.safetensors')!.content as Buffer));
    const offline = await ftplan(['eval', '--model', 'acme/tiny-gpt2', '--dataset', 'acme/moods', '--device', 'cpu', '--json'], { ...env, HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:1' });
    expect(offline.code).toBe(0);
    expect(JSON.parse(offline.stdout)).toEqual(metrics); // the same weights, the same answer
  });
});

describe('run and launch', () => {
  it('ftplan run --model org/name: fine-tunes the downloaded weights and saves the hub model\'s tokenizer with its checkpoint', async () => {
    const env = hubEnv(hub.url);
    const out = join(tempDir('ftplan-hubrun-'), 'out');
    const from = hub.requests.length;
    const r = await ftplan(['run', '--model', 'acme/tiny-gpt2', '--dataset', 'acme/moods', '--max-steps', '2', '--epochs', '1', '--batch-size', '4', '--device', 'cpu', '--threads', '1', '--output-dir', out, '--json'], env);
    expect(r.code).toBe(0);
    const seen = hub.requests.slice(from);
    expect(seen.filter((q) => q.url.startsWith('/lfs-cdn/') && q.status === 200)).toHaveLength(4); // the weights and the three parquet files, once each
    const report = JSON.parse(r.stdout);
    expect(report.steps).toBe(2);
    const snap = snapshotOf(env, 'models--acme--tiny-gpt2');
    for (const f of ['vocab.json', 'merges.txt', 'tokenizer_config.json']) expect(readFileSync(join(out, f)).equals(readFileSync(join(snap.dir, f)))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))).toMatchObject({ n_embd: 8, n_layer: 1, num_labels: 3 });
  });

  it('ftplan launch passes a hub id through to the remote run and downloads nothing', async () => {
    const env = hubEnv(hub.url);
    const from = hub.requests.length;
    const r = await ftplan(['launch', '--emit', 'skypilot', '--gpu', 'A100', '--model', 'acme/tiny-gpt2', '--dataset', 'acme/moods'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/node bin\/ftplan\.js run --model acme\/tiny-gpt2 --dataset acme\/moods /);
    expect(hub.requests.length).toBe(from);
    expect(existsSync(join(env.HF_HOME!, 'hub'))).toBe(false);
  });
});

describe('refusals: exit 2 and a fix', () => {
  it('a gated model without a token (401)', async () => {
    const r = await ftplan(['estimate', '--model', 'acme/gated-gpt2', ...ESTIMATE], hubEnv(hub.url));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ftplan: --model acme/gated-gpt2: the model is gated: the hub wants a token (401)');
    expect(r.stderr).toContain(`fix: set HF_TOKEN to a token that has accepted the model's licence at ${hub.url}/acme/gated-gpt2`);
    expect(r.stdout).toBe('');
  });

  it('the same with HF_TOKEN: sent as Authorization: Bearer, and it works', async () => {
    const from = hub.requests.length;
    const r = await ftplan(['estimate', '--model', 'acme/gated-gpt2', ...ESTIMATE, '--json'], hubEnv(hub.url, { HF_TOKEN: TOKEN }));
    expect(r.code).toBe(0);
    const seen = hub.requests.slice(from);
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.every((q) => q.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('no such repo (404)', async () => {
    const r = await ftplan(['profile', '--dataset', 'acme/no-such-data'], hubEnv(hub.url));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`ftplan: --dataset acme/no-such-data: no such data set repo on ${hub.url} (404)`);
    expect(r.stderr).toMatch(/fix: check the id \/ the repo type/);
  });

  it('HF_HUB_OFFLINE=1 and nothing cached', async () => {
    const from = hub.requests.length;
    const env = hubEnv(hub.url, { HF_HUB_OFFLINE: '1' });
    const r = await ftplan(['estimate', '--model', 'acme/tiny-gpt2', ...ESTIMATE], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`ftplan: HF_HUB_OFFLINE=1 and --model acme/tiny-gpt2 is not in the cache at ${join(env.HF_HOME!, 'hub', 'models--acme--tiny-gpt2')}`);
    expect(r.stderr).toContain('fix: unset HF_HUB_OFFLINE to download it, or download it first');
    expect(hub.requests.length).toBe(from);
  });

  it('a download cut off half-way; the same command again resumes it with a Range request', async () => {
    const env = hubEnv(hub.url);
    const file = 'data/train-00001-of-00002.parquet';
    const content = REPOS[2]!.files.find((f) => f.path === file)!.content as Buffer;
    hub.cutOff.set(file, 1);
    const cut = await ftplan(['profile', '--dataset', 'acme/moods'], env);
    expect(cut.code).toBe(2);
    const m = /ftplan: --dataset acme\/moods: the download of data\/train-00001-of-00002\.parquet stopped at ([\d,]+) of ([\d,]+) bytes/.exec(cut.stderr);
    expect(m).not.toBeNull();
    const got = Number(m![1]!.replace(/,/g, ''));
    expect(Number(m![2]!.replace(/,/g, ''))).toBe(content.length);
    expect(got).toBeGreaterThan(0);
    expect(cut.stderr).toContain('fix: run the same command again to resume it where it stopped');
    expect(cut.stdout).toBe('');

    const from = hub.requests.length;
    const again = await ftplan(['profile', '--dataset', 'acme/moods'], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`resuming acme/moods/${file.replace(/\./g, '\\.')} at `));
    const cdn = hub.requests.slice(from).filter((q) => q.url === `/lfs-cdn/${sha256(content)}`);
    expect(cdn.map((q) => [q.range, q.status])).toEqual([[`bytes=${got}-`, 206]]);
    expect(again.stdout).toMatch(/rows \(read\)\s+│\s+90 \(90\)/);
    const snap = snapshotOf(env, 'datasets--acme--moods');
    expect(sha256(readFileSync(join(snap.dir, file)))).toBe(sha256(content));
  });
});
