// A small Hugging Face Hub on 127.0.0.1 for the tests: the endpoints ftplan's hub client calls, with
// the hub's headers and refusals, backed by files the test gives it. It counts every request and
// can cut a download off half-way, so resuming can be shown without the real hub.
//
//   GET  /api/{models,datasets}/<id>/revision/<rev>         repo info with `sha` (and gated/private)
//   GET  /api/{models,datasets}/<id>/tree/<rev>?recursive=…  the file listing, paginated with Link
//   HEAD/GET /[datasets/]<id>/resolve/<rev>/<path>          a file: regular files served with their
//        git blob id as ETag; LFS files redirected (302) to /lfs-cdn/<sha256> with X-Linked-Etag and
//        X-Linked-Size, as the hub redirects to its CDN; X-Repo-Commit on both
//   HEAD/GET /lfs-cdn/<sha256>                                 the LFS content, with Range support
//
// Refusals as the hub answers them: 404 RepoNotFound / EntryNotFound / RevisionNotFound; a private
// repo is 401 RepoNotFound to anonymous requests; a gated repo's files are 401 GatedRepo without a
// token and 403 GatedRepo with a token that has not been granted access.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { expectedShapes, saveCheckpoint, type StateDict } from '../src/model/hf.js';
import { modelConfig, type ModelConfig } from '../src/model/presets.js';
import { tempDir } from './helpers.js';

export interface HubFileSpec {
  path: string;
  content: Buffer | string;
  /** stored in LFS (default: .safetensors, .parquet, .bin) */
  lfs?: boolean;
}

export interface HubRepoSpec {
  type: 'model' | 'dataset';
  id: string;
  files: HubFileSpec[];
  gated?: boolean;
  private?: boolean;
  /** the commit main points at (default: derived from the files) */
  sha?: string;
  /** other branches (e.g. the hub's parquet conversion, refs/convert/parquet) and their files */
  branches?: Record<string, HubFileSpec[]>;
}

export interface SeenRequest {
  method: string;
  url: string;
  range?: string;
  authorization?: string;
  status: number;
}

export interface HubServer {
  url: string;
  requests: SeenRequest[];
  /** path -> how many more GETs of that file's content to cut off after half of the bytes */
  cutOff: Map<string, number>;
  /** path -> how many more GETs of that file's content send half of the bytes and then nothing, the connection left open */
  stall: Map<string, number>;
  /** how many of the next requests get their connection dropped before any answer */
  dropConnections: number;
  /** answer Range requests with the whole file (200), as some proxies and mirrors do */
  ignoreRange: boolean;
  /** tokens the server accepts */
  tokens: Set<string>;
  /** accepted tokens whose account has been granted access to the gated repos */
  granted: Set<string>;
  /** requests for file content (resolve or CDN, not HEAD) per file path */
  contentGets(path: string): SeenRequest[];
  close(): Promise<void>;
}

interface StoredFile {
  path: string;
  content: Buffer;
  lfs: boolean;
  sha256: string;
  gitOid: string;
}

interface StoredRevision {
  sha: string;
  files: Map<string, StoredFile>;
}

interface StoredRepo {
  spec: HubRepoSpec;
  main: StoredRevision;
  /** by branch name and by commit */
  revisions: Map<string, StoredRevision>;
}

export const gitBlobId = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function storeFiles(id: string, branch: string, specs: HubFileSpec[]): StoredRevision {
  const files = new Map<string, StoredFile>();
  for (const f of specs) {
    const content = Buffer.isBuffer(f.content) ? f.content : Buffer.from(f.content);
    files.set(f.path, { path: f.path, content, lfs: f.lfs ?? /\.(safetensors|parquet|bin)$/.test(f.path), sha256: sha256(content), gitOid: gitBlobId(content) });
  }
  const sha = createHash('sha1').update(`${id}@${branch}`).update([...files.values()].map((f) => f.gitOid).join()).digest('hex');
  return { sha, files };
}

function store(spec: HubRepoSpec): StoredRepo {
  const main = storeFiles(spec.id, 'main', spec.files);
  if (spec.sha) main.sha = spec.sha;
  const revisions = new Map<string, StoredRevision>([['main', main], ['HEAD', main], [main.sha, main]]);
  for (const [branch, files] of Object.entries(spec.branches ?? {})) {
    const rev = storeFiles(spec.id, branch, files);
    revisions.set(branch, rev).set(rev.sha, rev);
  }
  return { spec, main, revisions };
}

/** Starts the server on 127.0.0.1 (a free port); it closes itself after `lifetimeMs`. */
export async function startHubServer(repos: HubRepoSpec[], opts: { tokens?: string[]; granted?: string[]; lifetimeMs?: number; pageSize?: number } = {}): Promise<HubServer> {
  const stored = new Map(repos.map((r) => [`${r.type}:${r.id}`, store(r)]));
  const requests: SeenRequest[] = [];
  const cutOff = new Map<string, number>();
  const tokens = new Set(opts.tokens ?? []);
  const granted = new Set(opts.granted ?? opts.tokens ?? []);
  const pageSize = opts.pageSize ?? 3;
  const blobs = new Map<string, StoredFile>();
  for (const r of stored.values()) for (const rev of r.revisions.values()) for (const f of rev.files.values()) if (f.lfs) blobs.set(f.sha256, f);
  let base = '';
  const handle = { dropConnections: 0, ignoreRange: false, stall: new Map<string, number>() } as HubServer;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const seen: SeenRequest = { method: req.method ?? 'GET', url: req.url ?? '/', range: req.headers.range, authorization: req.headers.authorization, status: 0 };
    requests.push(seen);
    if (handle.dropConnections > 0) {
      handle.dropConnections--;
      req.socket.resetAndDestroy(); // a connection reset, as from a server that closed a kept-alive socket
      return;
    }
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      seen.status = status;
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json', 'Content-Length': String(Buffer.byteLength(text)), ...headers });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    const refuse = (status: number, code: string, message: string) => send(status, { error: message }, { 'X-Error-Code': code });
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const url = new URL(req.url ?? '/', base);

    // the repo and the access rules shared by every repo endpoint
    const access = (type: string, id: string, forFiles: boolean): StoredRepo | null => {
      const repo = stored.get(`${type}:${id}`);
      if (!repo || (repo.spec.private && !(token && tokens.has(token)))) {
        refuse(token || !repo ? 404 : 401, 'RepoNotFound', 'Repository not found');
        return null;
      }
      if (token && !tokens.has(token)) {
        refuse(401, 'InvalidCredentials', 'Invalid credentials in Authorization header');
        return null;
      }
      if (forFiles && repo.spec.gated && !(token && granted.has(token))) {
        refuse(token ? 403 : 401, 'GatedRepo', `Access to ${type} ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
        return null;
      }
      return repo;
    };

    const sendContent = (f: StoredFile, headers: Record<string, string>) => {
      const total = f.content.length;
      let start = 0;
      let end = total - 1;
      let status = 200;
      const range = handle.ignoreRange ? null : /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (range) {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), total - 1) : total - 1;
        if (start >= total) {
          seen.status = 416;
          res.writeHead(416, { 'Content-Range': `bytes */${total}` });
          res.end();
          return;
        }
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${total}`;
      }
      const body = f.content.subarray(start, end + 1);
      seen.status = status;
      res.writeHead(status, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length), 'Accept-Ranges': 'bytes', ...headers });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const stalls = handle.stall.get(f.path) ?? 0;
      if (stalls > 0) {
        handle.stall.set(f.path, stalls - 1);
        res.write(body.subarray(0, Math.floor(body.length / 2))); // and then silence
        return;
      }
      const cuts = cutOff.get(f.path) ?? 0;
      if (cuts > 0) {
        cutOff.set(f.path, cuts - 1);
        // half of what was asked for, then the connection dies (a dropped network, a killed proxy)
        res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      res.end(body);
    };

    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    // /api/{models,datasets}/<org>/<name>/{revision,tree}/<rev>[/<path>]
    if (parts[0] === 'api' && (parts[1] === 'models' || parts[1] === 'datasets') && parts.length >= 6) {
      const type = parts[1] === 'models' ? 'model' : 'dataset';
      const id = `${parts[2]}/${parts[3]}`;
      const repo = access(type, id, false);
      if (!repo) return;
      const rev = repo.revisions.get(parts[5] as string);
      if (!rev) return refuse(404, 'RevisionNotFound', `Invalid rev id: ${parts[5]}`);
      if (parts[4] === 'revision') {
        return send(200, {
          _id: repo.main.sha.slice(0, 24),
          id,
          sha: rev.sha,
          private: Boolean(repo.spec.private),
          gated: repo.spec.gated ? 'manual' : false,
          downloads: 0,
          likes: 0,
          lastModified: '2025-01-01T00:00:00.000Z',
          siblings: [...rev.files.keys()].map((rfilename) => ({ rfilename })),
        });
      }
      if (parts[4] === 'tree') {
        const prefix = parts.slice(6).join('/');
        const recursive = url.searchParams.get('recursive') === 'true';
        const entries: object[] = [];
        const dirs = new Set<string>();
        for (const f of rev.files.values()) {
          if (prefix && !f.path.startsWith(`${prefix}/`)) continue;
          const rest = prefix ? f.path.slice(prefix.length + 1) : f.path;
          const segs = rest.split('/');
          for (let i = 1; i < segs.length; i++) dirs.add([prefix, ...segs.slice(0, i)].filter(Boolean).join('/'));
          if (!recursive && segs.length > 1) continue;
          entries.push({ type: 'file', oid: f.lfs ? gitBlobId(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${f.sha256}\nsize ${f.content.length}\n`)) : f.gitOid, size: f.content.length, path: f.path, ...(f.lfs ? { lfs: { oid: f.sha256, size: f.content.length, pointerSize: 134 } } : {}) });
        }
        for (const d of dirs) if (recursive || !d.slice(prefix ? prefix.length + 1 : 0).includes('/')) entries.push({ type: 'directory', oid: gitBlobId(Buffer.from(d)), size: 0, path: d });
        const cursor = Number(url.searchParams.get('cursor') ?? 0);
        const page = entries.slice(cursor, cursor + pageSize);
        const headers: Record<string, string> = {};
        if (cursor + pageSize < entries.length) {
          const next = new URL(url);
          next.searchParams.set('cursor', String(cursor + pageSize));
          headers.Link = `<${next.href}>; rel="next"`;
        }
        return send(200, page, headers);
      }
      return refuse(404, 'NotFound', 'no such endpoint');
    }
    // /lfs-cdn/<sha256>: the CDN a resolve of an LFS file redirects to
    if (parts[0] === 'lfs-cdn' && parts[1]) {
      const f = blobs.get(parts[1]);
      if (!f) return send(404, 'no such object');
      return sendContent(f, { ETag: `"${f.sha256}"` });
    }
    // /[datasets/]<org>/<name>/resolve/<rev>/<path>
    const isDataset = parts[0] === 'datasets';
    const p = isDataset ? parts.slice(1) : parts;
    if (p.length >= 5 && p[2] === 'resolve') {
      const type = isDataset ? 'dataset' : 'model';
      const repo = access(type, `${p[0]}/${p[1]}`, true);
      if (!repo) return;
      const rev = repo.revisions.get(p[3] as string);
      if (!rev) return refuse(404, 'RevisionNotFound', `Invalid rev id: ${p[3]}`);
      const f = rev.files.get(p.slice(4).join('/'));
      if (!f) return refuse(404, 'EntryNotFound', 'Entry not found');
      if (f.lfs) {
        seen.status = 302;
        res.writeHead(302, { Location: `${base}/lfs-cdn/${f.sha256}`, 'X-Repo-Commit': rev.sha, 'X-Linked-Etag': `"${f.sha256}"`, 'X-Linked-Size': String(f.content.length), ETag: `"${f.gitOid}"`, 'Content-Length': '0' });
        res.end();
        return;
      }
      return sendContent(f, { ETag: `"${f.gitOid}"`, 'X-Repo-Commit': rev.sha });
    }
    send(404, 'not found');
  });
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // long enough that kept-alive connections do not race their reuse on a loaded machine
  server.keepAliveTimeout = 60_000;
  let closed: Promise<void> | null = null;
  const close = () => {
    closed ??= new Promise<void>((done) => {
      server.close(() => done());
      server.closeAllConnections();
    });
    return closed;
  };
  // bounded: a test that forgets it, or dies, does not leave it listening
  setTimeout(() => void close(), opts.lifetimeMs ?? 300_000).unref();
  Object.assign(handle, {
    url: base,
    requests,
    cutOff,
    tokens,
    granted,
    contentGets: (path: string) =>
      requests.filter((r) => {
        if (r.method !== 'GET') return false;
        const u = new URL(r.url, base).pathname;
        if (u.startsWith('/lfs-cdn/')) return [...stored.values()].some((repo) => [...repo.revisions.values()].some((rev) => rev.files.get(path)?.sha256 === u.slice(9)));
        return u.includes('/resolve/') && decodeURIComponent(u).endsWith(`/${path}`) && r.status !== 302;
      }),
    close,
  });
  return handle;
}

// ---------------------------------------------------------------------------------------------
// What the fake hub serves: a tiny GPT-2 written by ftplan's own checkpoint writer, and a small
// labelled data set as parquet, both made here.


export const LABELS = ['negative', 'neutral', 'positive'];

/** GPT-2's vocabulary (so its tokenizer fits), 1 layer of 8 channels: 1.6 MB of weights. */
export function tinyHubConfig(): ModelConfig {
  return modelConfig('tiny', { nLayer: 1, nHead: 2, nEmbd: 8, nPositions: 64, numLabels: LABELS.length });
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** The files of a GPT2ForSequenceClassification checkpoint with random weights, as saved by ftplan. */
export function tinyModelFiles(seed = 1): HubFileSpec[] {
  const cfg = tinyHubConfig();
  const next = seeded(seed);
  const state: StateDict = {};
  for (const [name, shape] of expectedShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isNormWeight = /\.ln_(1|2|f)\.weight$|ln_f\.weight$/.test(name);
    for (let i = 0; i < n; i++) data[i] = isNormWeight ? 1 : name.endsWith('.bias') ? 0 : (next() - 0.5) * 0.04;
    state[name] = { shape, data };
  }
  const dir = tempDir('ftplan-hubmodel-');
  saveCheckpoint(dir, cfg, state, { labels: LABELS });
  return readdirSync(dir).map((f) => ({ path: f, content: readFileSync(join(dir, f)) }));
}

/** A labelled text-classification split: text + label (class ids 0..2), words that carry the class. */
export function labelledRows(n: number, seed: number): { text: string[]; label: number[] } {
  const next = seeded(seed);
  const words = [
    ['awful', 'bad', 'broken', 'sad'],
    ['okay', 'fine', 'plain', 'usual'],
    ['great', 'good', 'lovely', 'happy'],
  ];
  const text: string[] = [];
  const label: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = i % 3;
    const len = 3 + Math.floor(next() * 8);
    text.push(Array.from({ length: len }, () => (next() < 0.5 ? (words[y] as string[])[Math.floor(next() * 4)] : 'the day was')).join(' '));
    label.push(y);
  }
  return { text, label };
}

export function parquetOf(rows: { text: string[]; label: number[] }): Buffer {
  return Buffer.from(
    parquetWriteBuffer({
      columnData: [
        { name: 'text', data: rows.text, type: 'STRING' },
        { name: 'label', data: rows.label, type: 'INT32' },
      ],
    }),
  );
}

/** A data set repo as the datasets library uploads one: data/<split>-0000N-of-0000M.parquet. */
export function labelledDatasetFiles(): HubFileSpec[] {
  const train = labelledRows(90, 3);
  const half = (r: { text: string[]; label: number[] }, from: number, to: number) => ({ text: r.text.slice(from, to), label: r.label.slice(from, to) });
  return [
    { path: 'README.md', content: '---\nlicense: mit\n---\n# a labelled test set\n' },
    { path: '.gitattributes', content: '*.parquet filter=lfs diff=lfs merge=lfs -text\n' },
    { path: 'data/train-00000-of-00002.parquet', content: parquetOf(half(train, 0, 45)) },
    { path: 'data/train-00001-of-00002.parquet', content: parquetOf(half(train, 45, 90)) },
    { path: 'data/test-00000-of-00001.parquet', content: parquetOf(labelledRows(30, 4)) },
  ];
}
