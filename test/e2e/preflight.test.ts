// Pre-flight: a checkpoint checked from its headers alone (no weights read), single-file and sharded,
// as `ftplan estimate --model <folder>` does before measuring; and `ftplan eval` on a single file or
// on a folder with only a test/validation split. Fixtures are tiny random checkpoints written by
// ftplan's own writer, and synthetic labelled text.
import { closeSync, copyFileSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectedShapes, loadCheckpoint, readHfConfig, saveCheckpoint, type StateDict } from '../../src/model/hf.js';
import { findWeights, preflightCheckpoint } from '../../src/model/preflight.js';
import { modelConfig, type ModelConfig } from '../../src/model/presets.js';
import { encodeSafetensors, MAX_HEADER, readSafetensors, readSafetensorsHeader } from '../../src/model/safetensors.js';
import { ftplan as cli, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-preflight-');
const LABELS = ['negative', 'neutral', 'positive'];

const ftplan = (args: string[]) => cli(args);

/** Every parameter of `cfg`, small pseudo-random values (deterministic, not from LibTorch). */
function randomState(cfg: ModelConfig, seed = 7): StateDict {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296 - 0.5) * 0.1;
  const state: StateDict = {};
  for (const [name, shape] of expectedShapes(cfg)) state[name] = { shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, next) };
  return state;
}

/** A checkpoint folder as `ftplan run` writes it (transformers' layout), from a random state. */
function checkpoint(cfg: ModelConfig, labels = LABELS): string {
  const dir = tmp();
  saveCheckpoint(dir, cfg, randomState(cfg), { labels });
  return dir;
}

// small enough that a checkpoint is ~0.2 MB
const SMALL = modelConfig('tiny', { vocabSize: 512, padTokenId: 511, nPositions: 64 });
const st = (dir: string) => join(dir, 'model.safetensors');
const headerOf = (dir: string) => {
  const buf = readFileSync(st(dir));
  const n = Number(buf.readBigUInt64LE(0));
  return { buf, n, json: JSON.parse(buf.subarray(8, 8 + n).toString()) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> };
};
/** model.safetensors with this header JSON and these data bytes (the header's own by default). */
const rewrite = (dir: string, json: unknown, data?: Buffer) => {
  const { buf, n } = headerOf(dir);
  const h = Buffer.from(JSON.stringify(json));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(st(dir), Buffer.concat([len, h, data ?? buf.subarray(8 + n)]));
};
function thrown(f: () => unknown): Error & { code?: string; exitCode?: number; fix?: string } {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('pre-flight of a single-file checkpoint (headers only)', () => {
  it('a good checkpoint passes: every tensor, its bytes and dtypes counted, the missing head named', () => {
    const dir = checkpoint(SMALL);
    const c = preflightCheckpoint(dir, SMALL);
    const shapes = expectedShapes(SMALL);
    expect(c).toMatchObject({ layout: 'single', files: [st(dir)], index: null, tensors: shapes.size, dtypes: ['F32'] });
    const bytes = [...shapes.values()].reduce((a, s) => a + 4 * s.reduce((x, y) => x * y, 1), 0);
    expect(c.tensorBytes).toBe(bytes);
    expect(c.match.missing).toEqual([]);
    // a head for another number of classes: the file's head does not fit it
    expect(thrown(() => preflightCheckpoint(dir, { ...SMALL, numLabels: 2 })).message).toMatch(/score.weight has 3 classes, the data set has 2/);
  });

  it('reads only the headers: NaN weights pass the pre-flight, loading the weights finds them', () => {
    const dir = checkpoint(SMALL);
    const { buf, n, json } = headerOf(dir);
    buf.writeFloatLE(NaN, 8 + n + (json['transformer.ln_f.weight']!.data_offsets[0] as number));
    writeFileSync(st(dir), buf);
    expect(() => preflightCheckpoint(dir, SMALL)).not.toThrow();
    expect(() => loadCheckpoint(dir, { numLabels: 3 })).toThrow(/contains NaN or infinite values/);
  });

  it('a header length past 100 MB is refused without reading it (a sparse 200 MB file)', () => {
    const file = join(tmp(), 'model.safetensors');
    const fd = openSync(file, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(MAX_HEADER + 1));
    writeSync(fd, len, 0, 8, 0);
    ftruncateSync(fd, 200 * 2 ** 20);
    closeSync(fd);
    const e = thrown(() => readSafetensorsHeader(file));
    expect(e.message).toMatch(/header length 104857601 is implausibly large/);
    expect(e).toMatchObject({ code: 'ERR_INPUT', exitCode: 2 });
  });

  it('a truncated file: the bytes the header promises and the bytes there, and the fix', () => {
    const dir = checkpoint(SMALL);
    const full = readFileSync(st(dir));
    const { n } = headerOf(dir);
    const cut = 97_000;
    writeFileSync(st(dir), full.subarray(0, cut));
    const e = thrown(() => preflightCheckpoint(dir, SMALL));
    const promised = full.length - 8 - n;
    expect(e.message).toContain(`${st(dir)} is truncated: the header says ${promised.toLocaleString('en-US')} bytes of tensors, the file has ${(cut - 8 - n).toLocaleString('en-US')}`);
    expect(e.fix).toMatch(/download the checkpoint again/);
    expect(e.exitCode).toBe(2);
  });

  const cases: [string, (dir: string) => void, RegExp][] = [
    ['a header that is not JSON', (d) => { const b = readFileSync(st(d)); b.write('#', 8); writeFileSync(st(d), b); }, /header is not JSON/],
    ['a dtype safetensors does not define', (d) => { const { json } = headerOf(d); json['transformer.ln_f.bias']!.dtype = 'F12'; rewrite(d, json); }, /unknown dtype "F12"/],
    ['an integer dtype for a weight', (d) => { const { json } = headerOf(d); const t = json['transformer.ln_f.bias']!; t.dtype = 'I32'; rewrite(d, json); }, /is I32; GPT-2 weights are floating point/],
    ['a shape whose bytes are not the offsets\' span', (d) => { const { json } = headerOf(d); json['transformer.ln_f.bias']!.shape = [3]; rewrite(d, json); }, /needs 12 bytes, data_offsets give 256/],
    ['two tensors over the same bytes', (d) => { const { json } = headerOf(d); json['transformer.ln_f.bias']!.data_offsets = json['transformer.ln_f.weight']!.data_offsets; rewrite(d, json); }, /overlap in the data/],
    ['bytes that belong to no tensor (a gap)', (d) => {
      // ln_f.bias moved 4 bytes on, the data grown by 4: every offset inside the file, a gap before it
      const { json, buf, n } = headerOf(d);
      const t = json['transformer.ln_f.bias']!;
      const shifted = Object.fromEntries(Object.entries(json).map(([k, v]) => [k, k !== '__metadata__' && v.data_offsets[0] >= t.data_offsets[1] ? { ...v, data_offsets: [v.data_offsets[0] + 4, v.data_offsets[1] + 4] } : v]));
      shifted['transformer.ln_f.bias'] = { ...t, data_offsets: [t.data_offsets[0] + 4, t.data_offsets[1] + 4] };
      rewrite(d, shifted, Buffer.concat([buf.subarray(8 + n), Buffer.alloc(4)]));
    }, /bytes \d+–\d+ of the data belong to no tensor \(before 'transformer.ln_f.bias'\)/],
    ['bytes after the last tensor', (d) => writeFileSync(st(d), Buffer.concat([readFileSync(st(d)), Buffer.alloc(16)])), /has 16 bytes after the last tensor/],
    ['a tensor the header lost (its bytes still there)', (d) => { const { json } = headerOf(d); delete json['transformer.h.1.mlp.c_fc.bias']; rewrite(d, json); }, /is missing 1 GPT-2 tensor\(s\): transformer.h.1.mlp.c_fc.bias/],
    ['config.json wider than the weights', (d) => { const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')); c.n_embd = 128; writeFileSync(join(d, 'config.json'), JSON.stringify(c)); }, /config.json implies \[/],
    ['a Conv1D weight stored untransposed', (d) => {
      // c_fc is [in 64, out 256] in the file; [256, 64] (torch Linear's layout) is what a wrong writer leaves
      const { json } = headerOf(d);
      json['transformer.h.0.mlp.c_fc.weight']!.shape = [256, 64];
      rewrite(d, json);
    }, /tensor 'transformer.h.0.mlp.c_fc.weight' has shape \[256,64\], config.json implies \[64,256\]/],
  ];
  for (const [what, mutate, message] of cases) {
    it(`${what}: refused from the header, naming the file and the fix`, () => {
      const dir = checkpoint(SMALL);
      mutate(dir);
      const cfg = readHfConfig(dir, 3).model;
      const e = thrown(() => preflightCheckpoint(dir, cfg));
      expect(e).toMatchObject({ code: 'ERR_INPUT', exitCode: 2 });
      expect(e.message).toMatch(message);
      expect(e.message).toContain(dir);
      expect(e.fix).toBeTruthy();
      // loading refuses it the same way (one parser, one mapping)
      expect(() => loadCheckpoint(dir, { numLabels: 3 })).toThrow(message);
    });
  }

  it('readSafetensors and the header reader agree on a file written by encodeSafetensors', () => {
    const file = join(tmp(), 'x.safetensors');
    const tensors = new Map([
      ['a', { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
      ['b', { shape: [1], data: Float32Array.from([7]) }],
    ]);
    writeFileSync(file, encodeSafetensors(tensors));
    const h = readSafetensorsHeader(file);
    expect(h.tensors.map((t) => [t.name, t.shape, t.end - t.begin])).toEqual([['a', [2, 3], 24], ['b', [1], 4]]);
    expect(h.dataBytes).toBe(28);
    expect([...readSafetensors(file).tensors.get('a')!.data]).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('sharded checkpoints (model.safetensors.index.json)', () => {
  /** The single file split in two shards with an index, as save_pretrained(max_shard_size=…) writes. */
  function shard(dir: string): { names: [string[], string[]] } {
    const all = readSafetensors(st(dir)).tensors;
    const keys = [...all.keys()].sort();
    const names: [string[], string[]] = [keys.slice(0, 10), keys.slice(10)];
    const files = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const weightMap: Record<string, string> = {};
    names.forEach((group, i) => {
      writeFileSync(join(dir, files[i]!), encodeSafetensors(new Map(group.map((k) => [k, all.get(k)!]))));
      for (const k of group) weightMap[k] = files[i]!;
    });
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    rmSync(st(dir));
    return { names };
  }

  it('pre-flights every shard, and loads the same weights as the single file', () => {
    const dir = checkpoint(SMALL);
    const single = loadCheckpoint(dir, { numLabels: 3 });
    shard(dir);
    expect(findWeights(dir).kind).toBe('sharded');
    const c = preflightCheckpoint(dir, SMALL);
    expect(c).toMatchObject({ layout: 'sharded', index: join(dir, 'model.safetensors.index.json'), tensors: expectedShapes(SMALL).size });
    expect(c.files.map((f) => f.slice(dir.length + 1))).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    const sharded = loadCheckpoint(dir, { numLabels: 3 });
    expect(Object.keys(sharded.state).sort()).toEqual(Object.keys(single.state).sort());
    for (const [k, t] of Object.entries(single.state)) expect(Buffer.compare(Buffer.from(sharded.state[k]!.data.buffer), Buffer.from(t.data.buffer)), k).toBe(0);
  });

  it('a shard the index names but the folder lacks', () => {
    const dir = checkpoint(SMALL);
    shard(dir);
    rmSync(join(dir, 'model-00002-of-00002.safetensors'));
    const e = thrown(() => preflightCheckpoint(dir, SMALL));
    expect(e.message).toMatch(/model.safetensors.index.json: names 1 of its 2 shards that are not in .*: model-00002-of-00002.safetensors/);
    expect(e.fix).toMatch(/download the missing shard/);
  });

  it('a truncated shard, an index that puts a tensor in the wrong shard, a tensor in no shard', () => {
    const dir = checkpoint(SMALL);
    const { names } = shard(dir);
    const second = join(dir, 'model-00002-of-00002.safetensors');
    const bytes = readFileSync(second);
    writeFileSync(second, bytes.subarray(0, bytes.length - 1000));
    expect(thrown(() => preflightCheckpoint(dir, SMALL)).message).toContain(`${second} is truncated`);
    writeFileSync(second, bytes);

    const indexFile = join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(readFileSync(indexFile, 'utf8'));
    index.weight_map[names[0][0]!] = 'model-00002-of-00002.safetensors';
    writeFileSync(indexFile, JSON.stringify(index));
    expect(thrown(() => preflightCheckpoint(dir, SMALL)).message).toMatch(new RegExp(`has no tensor '${names[0][0]!.replace(/\./g, '\\.')}', which model.safetensors.index.json puts there \\(it is in model-00001-of-00002.safetensors\\)`));

    // both shards rewritten without one tensor: the index's promise and the trunk both fail
    const first = readSafetensors(join(dir, 'model-00001-of-00002.safetensors')).tensors;
    const lost = names[0][1]!;
    first.delete(lost);
    writeFileSync(join(dir, 'model-00001-of-00002.safetensors'), encodeSafetensors(first));
    index.weight_map[names[0][0]!] = 'model-00001-of-00002.safetensors';
    delete index.weight_map[lost];
    writeFileSync(indexFile, JSON.stringify(index));
    expect(thrown(() => preflightCheckpoint(dir, SMALL)).message).toMatch(new RegExp(`model.safetensors.index.json: is missing 1 GPT-2 tensor\\(s\\): ${lost.replace(/\./g, '\\.')}`));
  });

  it('an index that is not JSON, or whose weight_map points outside the folder', () => {
    const dir = checkpoint(SMALL);
    shard(dir);
    const indexFile = join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(readFileSync(indexFile, 'utf8'));
    writeFileSync(indexFile, '{"weight_map": ');
    expect(thrown(() => preflightCheckpoint(dir, SMALL)).message).toMatch(/index.json: is not valid JSON/);
    const key = Object.keys(index.weight_map)[0]!;
    writeFileSync(indexFile, JSON.stringify({ weight_map: { ...index.weight_map, [key]: '../elsewhere.safetensors' } }));
    expect(thrown(() => preflightCheckpoint(dir, SMALL)).message).toMatch(/not a file name in this folder/);
  });
});

describe('ftplan estimate --model <folder>: the weights are checked before anything is measured', () => {
  it('a truncated model.safetensors: exit 2 naming the file, nothing measured', () => {
    const dir = checkpoint(SMALL);
    const b = readFileSync(st(dir));
    writeFileSync(st(dir), b.subarray(0, Math.floor(b.length / 2)));
    const r = ftplan(['estimate', '--model', dir, '--steps', '1', '--min-time', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${st(dir)} is truncated: the header says`);
    expect(r.stderr).toMatch(/download the checkpoint again/);
    expect(r.stderr).not.toMatch(/measuring/);
    expect(r.stdout).toBe('');
  });

  it('a sharded folder with a shard missing: exit 2 naming the index and the shard', () => {
    const dir = checkpoint(SMALL);
    const all = readSafetensors(st(dir)).tensors;
    writeFileSync(join(dir, 'model-00001-of-00002.safetensors'), encodeSafetensors(all));
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: Object.fromEntries([...all.keys()].map((k, i) => [k, i % 2 ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors'])) }));
    rmSync(st(dir));
    const r = ftplan(['estimate', '--model', dir, '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model.safetensors.index.json: names 1 of its 2 shards that are not in .*model-00002-of-00002.safetensors/);
  });

  it('ftplan run checks the headers too, before its memory guard and short measurement: exit 2 naming the file', () => {
    const dir = checkpoint(SMALL);
    const b = readFileSync(st(dir));
    writeFileSync(st(dir), b.subarray(0, b.length - 4096));
    const data = join(tmp(), 'train.jsonl');
    writeFileSync(data, `${Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: `row ${i}`, label: LABELS[i % 3] })).join('\n')}\n`);
    // with (faked) no memory to spare, the memory guard before the measurement would stop the run
    // with exit 1: exit 2 and the file's name say the headers were checked first
    const r = cli(['run', '--model', dir, '--dataset', data, '--output-dir', join(tmp(), 'out'), '--device', 'cpu', '--threads', '1', '--json'], { env: { FTPLAN_TEST_AVAILABLE_MEMORY: '1' } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${st(dir)} is truncated`);
    expect(r.stdout).toBe('');
  });

  it('weights present: checked and reported; config.json alone: estimated from the shape, and said so', () => {
    const withWeights = checkpoint(SMALL);
    const shapeOnly = tmp();
    copyFileSync(join(withWeights, 'config.json'), join(shapeOnly, 'config.json'));
    const common = ['--steps', '2', '--warmup-steps', '1', '--min-time', '0', '--batch-size', '4', '--eval-batch-size', '0', '--threads', '1', '--device', 'cpu', '--json'];
    const a = ftplan(['estimate', '--model', withWeights, ...common]);
    expect(a.code, a.stderr).toBe(0);
    const ca = JSON.parse(a.stdout).checkpoint;
    expect(ca).toMatchObject({ dir: withWeights, weights: 'checked', layout: 'single', files: [st(withWeights)], tensors: expectedShapes(SMALL).size, dtypes: ['F32'], initialised: [] });
    expect(ca.note).toMatch(/headers and shapes match config.json \(weights not read\)/);
    const b = ftplan(['estimate', '--model', shapeOnly, ...common]);
    expect(b.code, b.stderr).toBe(0);
    const j = JSON.parse(b.stdout);
    expect(j.checkpoint).toMatchObject({ dir: shapeOnly, weights: 'absent', other: null });
    expect(j.checkpoint.note).toMatch(/no weights in .*: estimated from config.json's shape; `ftplan run` needs model.safetensors/);
    expect(j.measurement.parameters).toBe(JSON.parse(a.stdout).measurement.parameters);
    // the table says it too
    const t = ftplan(['estimate', '--model', shapeOnly, ...common.filter((x) => x !== '--json')]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/checkpoint\s+│ no weights in/);
  }, 300_000);
});

describe('ftplan eval on a single file, or on a folder with only a test/validation split', () => {
  // GPT-2's tokenizer (saveCheckpoint writes its files), so the full vocabulary; 2 layers of 64
  const TINY = modelConfig('tiny');
  const words = ['good', 'bad', 'fine', 'great', 'awful', 'okay', 'meh', 'superb', 'terrible', 'plain'];
  /** Labelled rows of pseudo-random words; `classes` picks which labels appear. */
  const rows = (n: number, classes: number[], seed: number) => {
    let s = seed;
    const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
    return Array.from({ length: n }, () => ({ text: Array.from({ length: 3 + Math.floor(next() * 8) }, () => words[Math.floor(next() * words.length)]).join(' '), label: LABELS[classes[Math.floor(next() * classes.length)]!]! }));
  };
  const jsonl = (r: object[]) => `${r.map((x) => JSON.stringify(x)).join('\n')}\n`;
  const evalJson = (model: string, dataset: string) => {
    const r = ftplan(['eval', '--model', model, '--dataset', dataset, '--device', 'cpu', '--threads', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };

  it('a file alone, a folder with only test.jsonl, one with only validation.csv: the same rows, the same metrics as a train+test folder', () => {
    const model = checkpoint(TINY);
    // the eval rows lack the middle class: ids must still be the model's (positive = 2)
    const test = rows(40, [0, 2], 3);
    const withTrain = tmp();
    writeFileSync(join(withTrain, 'train.jsonl'), jsonl(rows(30, [0, 1, 2], 5)));
    writeFileSync(join(withTrain, 'test.jsonl'), jsonl(test));
    const reference = evalJson(model, withTrain); // the existing path: classes from the train split
    expect(reference.labels).toEqual(LABELS);

    const file = join(tmp(), 'held-out.jsonl');
    writeFileSync(file, jsonl(test));
    const testOnly = tmp();
    writeFileSync(join(testOnly, 'test.jsonl'), jsonl(test));
    const validationOnly = tmp();
    writeFileSync(join(validationOnly, 'validation.csv'), `text,label\n${test.map((r) => `${r.text},${r.label}`).join('\n')}\n`);

    for (const [dataset, split] of [[file, 'test'], [testOnly, 'test'], [validationOnly, 'validation']] as const) {
      const j = evalJson(model, dataset);
      expect(j.split).toBe(split);
      expect(j.labels).toEqual(LABELS);
      expect(j.labelSource).toMatch(/matched to the model's classes \(id2label: 0=negative, 1=neutral, 2=positive\)/);
      expect(j.metrics).toEqual(reference.metrics);
    }
    expect(reference.metrics.rows).toBe(40);
    expect(reference.metrics.confusion).toHaveLength(3);
    expect(reference.metrics.perClass[1].support).toBe(0);
    expect(reference.metrics.perClass[0].support + reference.metrics.perClass[2].support).toBe(40);
  }, 300_000);

  it('class ids in the file are the model\'s ids; names the model does not have, or no eval file: exit 2 with the fix', () => {
    const model = checkpoint(TINY);
    const test = rows(20, [0, 1, 2], 9);
    const byName = join(tmp(), 'names.jsonl');
    writeFileSync(byName, jsonl(test));
    const byId = join(tmp(), 'ids.jsonl');
    writeFileSync(byId, jsonl(test.map((r) => ({ text: r.text, label: LABELS.indexOf(r.label) }))));
    expect(evalJson(model, byId).metrics).toEqual(evalJson(model, byName).metrics);

    const foreign = join(tmp(), 'foreign.jsonl');
    writeFileSync(foreign, jsonl(test.map((r) => ({ text: r.text, label: r.label === 'positive' ? 'pos' : 'neg' }))));
    const bad = ftplan(['eval', '--model', model, '--dataset', foreign, '--device', 'cpu']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/the class names in 'label' \(.*\) are none of the model's classes \(negative, neutral, positive\)/);

    const empty = tmp();
    mkdirSync(join(empty, 'sub'));
    writeFileSync(join(empty, 'notes.txt'), 'x');
    const none = ftplan(['eval', '--model', model, '--dataset', empty, '--device', 'cpu']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/has no test, validation or train file/);

    // the text output says what was evaluated
    const text = ftplan(['eval', '--model', model, '--dataset', byName, '--device', 'cpu', '--threads', '1']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^the whole file \\(${byName}\\): 20 rows; labels: class names`));
    expect(text.stdout).toMatch(/accuracy \d+\.\d\d% · macro-F1/);
  }, 300_000);
});
