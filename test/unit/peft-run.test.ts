// `ftplan run --method lora` and `ftplan eval --adapter` as TypeScript drives them, on a stand-in
// core: a session that keeps LoRA matrices beside a frozen base (in the contract's names), updates
// only its trainable parameters from the step's seeds with a moment it saves in its training state,
// and computes logits from the effective weights W + alpha/r · B·A. What is under test is ftplan's
// side: the base opened from --model and never rewritten, checkpoints and the output folder holding
// the adapter in PEFT's layout, --resume putting the checkpoint's adapter and training state back,
// --merge writing the merged model, eval --adapter loading base + adapter as the run held them.
// The real core's numbers are the e2e tests' (test/e2e/peft-cli.*).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import yargs from 'yargs';
import type { RunArgs } from '../../src/flags/run.js';
import { loadCheckpoint } from '../../src/model/hf.js';
import { decoderShapes } from '../../src/model/decoder-layout.js';
import { expectedShapes } from '../../src/model/layout.js';
import { linearLeaves, linearModules, targetedModules } from '../../src/model/lora-modules.js';
import { isDecoderConfig, modelWidth, type AnyModelConfig } from '../../src/model/model-config.js';
import { readAdapter } from '../../src/model/peft-adapter.js';
import type { ModelConfig } from '../../src/model/presets.js';
import { readSafetensors } from '../../src/model/safetensors.js';
import type { NamedTensors, NativeBatch, PeftOptions } from '../../src/native/types.js';
import { tinyDecoderFolder } from '../decoder-cli-fixtures.js';
import { labelledDataset, tinyHfCheckpoint } from '../fixtures.js';
import { tempDir } from '../helpers.js';

type T = { shape: number[]; data: Float32Array };
const sum = (a: Float32Array) => a.reduce((x, y) => x + y, 0);
const det = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => 0.05 * Math.sin(seed * 12.9898 + i * 78.233));

/** B·A for an [out, r] B and an [r, in] A, as [out, in]. */
function matmul(b: T, a: T): Float32Array {
  const [out, r] = b.shape as [number, number];
  const inp = a.shape[1] as number;
  const o = new Float32Array(out * inp);
  for (let i = 0; i < out; i++) for (let k = 0; k < r; k++) for (let j = 0; j < inp; j++) o[i * inp + j]! += b.data[i * r + k]! * a.data[k * inp + j]!;
  return o;
}

const state = { sessions: 0, peft: [] as PeftOptions[], oldCore: false };

class FakeSession {
  readonly params = new Map<string, T>();
  readonly trainable = new Set<string>();
  moment = new Map<string, Float32Array>();
  lr = 1e-3;
  readonly cfg: AnyModelConfig;
  readonly peft: PeftOptions;
  constructor(opts: PeftOptions & { model: AnyModelConfig; seed?: number }) {
    this.cfg = opts.model;
    this.peft = opts;
    state.sessions++;
    state.peft.push(opts);
    if (state.oldCore) Object.assign(this, { trainableState: undefined, mergedState: undefined, parameterInfo: undefined });
  }
  get scale() {
    return (this.peft.loraAlpha ?? 8) / (this.peft.loraR ?? 8);
  }
  async init() {
    let seed = 1;
    for (const [name, shape] of isDecoderConfig(this.cfg) ? decoderShapes(this.cfg) : expectedShapes(this.cfg)) this.params.set(name, { shape: [...shape], data: det(shape.reduce((a, b) => a * b, 1), seed++) });
    const lora = this.peft.method === 'lora' || this.peft.method === 'qlora';
    if (lora) {
      const r = this.peft.loraR ?? 8;
      for (const [mod, [out, inp]] of targetedModules(this.cfg, this.peft.loraTargets ?? linearLeaves(this.cfg))) {
        this.params.set(`${mod}.lora_A.weight`, { shape: [r, inp], data: det(r * inp, 1000 + (this.peft as { seed?: number }).seed!) });
        this.params.set(`${mod}.lora_B.weight`, { shape: [out, r], data: new Float32Array(out * r) });
      }
    }
    for (const n of this.params.keys()) if (!lora || /lora_|^score\./.test(n)) this.trainable.add(n);
    return this.params.size;
  }
  async loadState(st: NamedTensors) {
    const loaded: string[] = [];
    const unexpected: string[] = [];
    for (const [n, t] of Object.entries(st)) {
      const p = this.params.get(n);
      if (!p) unexpected.push(n);
      else (p.data.set(t.data), loaded.push(n));
    }
    return { loaded, missing: [...this.params.keys()].filter((n) => !loaded.includes(n)), unexpected };
  }
  async state() {
    return Object.fromEntries(this.params);
  }
  async trainableState() {
    return Object.fromEntries([...this.params].filter(([n]) => this.trainable.has(n)));
  }
  async mergedState() {
    const out: NamedTensors = {};
    for (const [n, t] of this.params) {
      if (/lora_/.test(n)) continue;
      out[n] = { shape: t.shape, data: this.effective(n.replace(/\.weight$/, ''), t) };
    }
    return out;
  }
  async parameterInfo() {
    const count = (names: Iterable<string>) => [...names].reduce((a, n) => a + this.params.get(n)!.data.length, 0);
    return { total: count([...this.params.keys()].filter((n) => !/lora_/.test(n))), trainable: count(this.trainable), frozenBytes: 0, trainableBytes: 4 * count(this.trainable), loraModules: [...new Set([...this.params.keys()].filter((n) => /lora_A/.test(n)).map((n) => n.replace(/\.lora_A\.weight$/, '')))] };
  }
  /** W + alpha/r · B·A where the module has adapters, else W. */
  effective(mod: string, w: T): Float32Array {
    const a = this.params.get(`${mod}.lora_A.weight`);
    const b = this.params.get(`${mod}.lora_B.weight`);
    if (!a || !b) return w.data;
    const d = matmul(b, a);
    return w.data.map((x, i) => x + this.scale * d[i]!);
  }
  setLr(lr: number) {
    this.lr = lr;
  }
  async step(micro: NativeBatch[], opts: { seeds: number[] }) {
    let tokens = 0;
    for (const [k, b] of micro.entries()) {
      tokens += b.batchSize * b.seqLen;
      const ids = sum(Float32Array.from(b.inputIds)) % 997;
      for (const n of this.trainable) {
        const p = this.params.get(n)!;
        const m = this.moment.get(n) ?? new Float32Array(p.data.length);
        for (let i = 0; i < p.data.length; i++) {
          m[i] = 0.9 * m[i]! + Math.sin(opts.seeds[k]! * 1e-6 + ids + i) * 0.1 + p.data[i]! * 0.01;
          p.data[i]! -= this.lr * m[i]!;
        }
        this.moment.set(n, m);
      }
    }
    const loss = [...this.trainable].reduce((a, n) => a + Math.abs(sum(this.params.get(n)!.data)), 0);
    return { loss, gradNorm: 1, tokens, nativeMs: 0.1 };
  }
  async saveTrainingState(path: string) {
    writeFileSync(path, JSON.stringify(Object.fromEntries([...this.moment].map(([n, m]) => [n, Array.from(m)]))));
  }
  async loadTrainingState(path: string) {
    this.moment = new Map(Object.entries(JSON.parse(readFileSync(path, 'utf8')) as Record<string, number[]>).map(([n, m]) => [n, Float32Array.from(m)]));
  }
  async logits(b: NativeBatch) {
    const K = this.cfg.numLabels;
    let f = 0;
    for (const mod of linearModules(this.cfg).keys()) f += sum(this.effective(mod, this.params.get(`${mod}.weight`)!));
    const score = this.params.get('score.weight')!;
    const C = modelWidth(this.cfg);
    const out = new Float32Array(b.batchSize * K);
    for (let r = 0; r < b.batchSize; r++) {
      const ids = sum(Float32Array.from(b.inputIds.subarray(r * b.seqLen, r * b.seqLen + b.lengths[r]!)));
      for (let k = 0; k < K; k++) {
        let z = f * (k + 1) * 1e-3;
        for (let j = 0; j < C; j++) z += score.data[k * C + j]! * Math.sin((ids + 1) * (j + 1));
        out[r * K + k] = z;
      }
    }
    return out;
  }
}

const fakeAddon = {
  runtimeInfo: () => ({ torchVersion: 'fake', cudaCompiled: false, cudaAvailable: false, devices: ['cpu'], hasSdpa: false, c10d: false }),
  benchmark: async (o: PeftOptions) => ({ stepMs: [1], stepSeqLens: [8], losses: [1], evalMs: [1], setupMs: 1, parameters: 1, transformerParameters: 1, matmulParameters: 1, flopsPerToken: 6, peakMemoryBytes: 1, staticMemoryBytes: 1, peakMemorySource: 'cpu-counting-allocator', rssPeakBytes: -1, rssBeforeBytes: -1, device: 'cpu', deviceName: 'fake', deviceMemoryBytes: -1, threads: 1, probe: [], ...(state.oldCore ? {} : { method: o.method ?? 'full', trainableParameters: 1, weightBytes: 1, trainableStateBytes: 1, activationBytes: 1, gradientCheckpointing: o.gradientCheckpointing === true }) }),
  Session: FakeSession,
};

vi.mock('../../src/native.js', async (original) => ({ ...(await original<typeof import('../../src/native.js')>()), loadNative: () => fakeAddon }));
// the short measurement before a run is measure()'s (test/unit/peft-measure.test.ts): not timed here
vi.mock('../../src/train/predict.js', async (original) => ({
  ...(await original<typeof import('../../src/train/predict.js')>()),
  predictThroughput: async () => ({ tokensPerSec: 1000, measuredTokensPerSec: 1000, calibration: null, evalTokensPerSec: null, deviceName: 'fake', source: 'a stand-in' }),
}));

const { runTraining } = await import('../../src/train/fine-tune.js');
const { runEval } = await import('../../src/commands/eval.js');
const { parseRunArgv } = await import('../../src/cli.js');
const { EVAL_OPTIONS } = await import('../../src/flags/eval.js');
const { toYargs } = await import('../../src/flags/registry.js');

const tmp = () => tempDir('ftplan-peft-run-');
const SHAPE = { nEmbd: 8, nHead: 2, nLayer: 2 };
const DATA = labelledDataset({ dir: join(tmp(), 'data'), train: 24, test: 12, seed: 5 }).dir;
const quiet = () => {};
const run = async (argv: string[]) => runTraining(await parseRunArgv(['--dataset', DATA, '--batch-size', '4', '--threads', '1', ...argv]), quiet);
const evalJson = async (argv: string[]) => {
  let text = '';
  await runEval(yargs(['--dataset', DATA, '--threads', '1', '--json', ...argv]).options(toYargs(EVAL_OPTIONS)).strict().parseSync() as Record<string, unknown>, (s) => (text += s));
  return JSON.parse(text);
};

let base: { dir: string; config: ModelConfig };
beforeEach(() => {
  state.sessions = 0;
  state.peft = [];
  state.oldCore = false;
  base = tinyHfCheckpoint(join(tmp(), 'base'), { seed: 2, config: SHAPE });
});

describe('run --method lora (TypeScript\'s side, on a stand-in core)', () => {
  it('writes the adapter in PEFT\'s layout to the checkpoints and the output folder, never the base, and eval --adapter reproduces the metrics', async () => {
    const before = readFileSync(join(base.dir, 'model.safetensors'));
    const out = tmp();
    const r = await run(['--model', base.dir, '--epochs', '2', '--method', 'lora', '--lora-r', '2', '--lora-alpha', '4', '--lora-target', 'c_attn,c_fc', '--output-dir', out, '--merge']);
    expect(r.status).toBe('completed');
    expect(state.peft.at(-1)).toMatchObject({ method: 'lora', loraR: 2, loraAlpha: 4, loraDropout: 0.05, loraTargets: ['c_attn', 'c_fc'], baseDtype: 'bf16', gradientCheckpointing: false });
    expect(r.init.initialised).toEqual(['score.weight']); // the adapters are the method's, not missing weights
    expect(r.peft).toMatchObject({ method: 'lora', adapter: out, merged: join(out, 'merged'), lora: { r: 2, alpha: 4, targets: ['c_attn', 'c_fc'] } });
    expect(readFileSync(join(base.dir, 'model.safetensors')).equals(before)).toBe(true);
    for (const dir of [out, join(out, 'checkpoint-6'), join(out, 'checkpoint-12')]) {
      expect(existsSync(join(dir, 'adapter_model.safetensors')), dir).toBe(true);
      expect(existsSync(join(dir, 'model.safetensors')), dir).toBe(false);
    }
    expect(existsSync(join(out, 'checkpoint-6', 'training_state.pt'))).toBe(true);
    const keys = [...readSafetensors(join(out, 'adapter_model.safetensors')).tensors.keys()];
    expect(keys).toContain('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight');
    expect(keys).toContain('base_model.model.score.weight');
    expect(keys.some((k) => k.includes('c_proj'))).toBe(false);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', task_type: 'SEQ_CLS', r: 2, lora_alpha: 4, target_modules: ['c_attn', 'c_fc'], base_model_name_or_path: base.dir, fan_in_fan_out: true, ftplan: { method: 'lora', labels: ['negative', 'neutral', 'positive'] } });

    // eval: base + adapter, built as the run built it, gives the run's final metrics
    const ev = await evalJson(['--model', base.dir, '--adapter', out]);
    expect(state.peft.at(-1)).toMatchObject({ method: 'lora', loraR: 2, loraAlpha: 4, loraTargets: ['c_attn', 'c_fc'], baseDtype: 'bf16' });
    expect(ev.metrics).toEqual(r.finalEval);
    expect(ev.adapter).toMatchObject({ method: 'lora', r: 2, head: true });

    // the merged folder: a GPT-2 folder whose c_attn is W + alpha/r · B·A (Conv1D layout handled by the writer)
    const merged = loadCheckpoint(join(out, 'merged'), { numLabels: 3 });
    const adapter = readAdapter(out, { ...base.config, numLabels: 3 }, { model: base.dir });
    const m = 'transformer.h.1.attn.c_attn';
    const w = loadCheckpoint(base.dir, { numLabels: 3 }).state[`${m}.weight`]!.data;
    const ba = matmul(adapter.state[`${m}.lora_B.weight`]!, adapter.state[`${m}.lora_A.weight`]!);
    expect(Array.from(merged.state[`${m}.weight`]!.data)).toEqual(Array.from(w.map((x, i) => x + (4 / 2) * ba[i]!)));
    expect(merged.state[`${m}.weight`]!.data).not.toEqual(w); // the adapter moved it
    const mev = await evalJson(['--model', join(out, 'merged')]);
    expect(mev.metrics.accuracy).toBe((r.finalEval as { accuracy: number }).accuracy);
    expect(Math.abs(mev.metrics.loss - r.finalEval!.loss)).toBeLessThan(1e-5);
  });

  it('resumes from an adapter checkpoint: the base from --model, the adapter and training state from the checkpoint, the same final adapter', async () => {
    const flags = ['--model', base.dir, '--epochs', '2', '--method', 'lora', '--lora-r', '2', '--scheduler', 'constant'];
    const whole = tmp();
    await run([...flags, '--output-dir', whole]);
    const cut = tmp();
    await run([...flags, '--output-dir', cut, '--max-steps', '4', '--save-steps', '3']);
    const r = await run([...flags, '--output-dir', cut, '--resume', join(cut, 'checkpoint-3')]);
    expect(r.resumedFrom).toBe(join(cut, 'checkpoint-3'));
    const a = readSafetensors(join(cut, 'adapter_model.safetensors')).tensors;
    const b = readSafetensors(join(whole, 'adapter_model.safetensors')).tensors;
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [k, t] of a) expect(Array.from(t.data), k).toEqual(Array.from(b.get(k)!.data));
    // a whole-model checkpoint is not an adapter's, and the other way round
    await expect(run(['--model', base.dir, '--epochs', '2', '--output-dir', tmp(), '--resume', join(cut, 'checkpoint-3'), '--scheduler', 'constant'])).rejects.toThrow(/holds a LoRA adapter, and this run trains --method full/);
    await expect(run([...flags.slice(0, -4), '--lora-r', '4', '--scheduler', 'constant', '--output-dir', tmp(), '--resume', join(cut, 'checkpoint-3')])).rejects.toThrow(/holds an adapter of a run with other settings \(r 2\)/);
  });

  it('--adapter starts from an adapter with its settings; a core without the PEFT calls is refused', async () => {
    const first = tmp();
    await run(['--model', base.dir, '--epochs', '1', '--method', 'lora', '--lora-r', '2', '--lora-target', 'c_fc', '--output-dir', first]);
    const next = await run(['--model', base.dir, '--epochs', '1', '--adapter', first, '--output-dir', tmp()]);
    expect(state.peft.at(-1)).toMatchObject({ method: 'lora', loraR: 2, loraTargets: ['c_fc'] });
    expect(next.peft).toMatchObject({ startedFrom: first, lora: { r: 2, targets: ['c_fc'] } });
    await expect(run(['--model', base.dir, '--adapter', first, '--lora-r', '8', '--output-dir', tmp()])).rejects.toThrow(/--lora-r 8: .* was trained with r 2/);
    state.oldCore = true;
    await expect(run(['--model', base.dir, '--method', 'lora', '--output-dir', tmp()])).rejects.toThrow(/--method lora: this build of ftplan's native core does not train/);
  });
});

describe('run --method qlora on a Llama-family decoder (stand-in core)', () => {
  it('trains adapters on the decoder\'s projections, and eval --adapter builds the base as QLoRA held it', async () => {
    const model = tinyDecoderFolder(join(tmp(), 'qwen'), 'qwen2', 'classification', { seed: 4 });
    const out = tmp();
    const r = await run(['--model', model.dir, '--epochs', '1', '--method', 'qlora', '--lora-r', '2', '--lora-target', 'v_proj,q_proj', '--double-quant', '--output-dir', out]);
    expect(state.peft.at(-1)).toMatchObject({ method: 'qlora', loraR: 2, loraTargets: ['q_proj', 'v_proj'], nf4DoubleQuant: true, baseDtype: 'bf16' });
    expect(r.peft?.description).toMatch(/^QLoRA r 2 \(alpha 32, dropout 0\.05\) on 2 modules × \d+ layers \(q_proj, v_proj\), NF4 base \(double-quantised scales\), bf16 compute: /);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ task_type: 'SEQ_CLS', fan_in_fan_out: false, modules_to_save: ['score'], target_modules: ['q_proj', 'v_proj'], ftplan: { method: 'qlora', doubleQuant: true, family: 'qwen2' } });
    const keys = [...readSafetensors(join(out, 'adapter_model.safetensors')).tensors.keys()];
    expect(keys).toContain('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight');
    state.peft = [];
    const ev = await evalJson(['--model', model.dir, '--adapter', out]);
    expect(state.peft).toHaveLength(1);
    expect(state.peft[0]).toMatchObject({ method: 'qlora', loraR: 2, nf4DoubleQuant: true, loraTargets: ['q_proj', 'v_proj'] });
    expect(ev.metrics).toEqual(r.finalEval);
    // a decoder adapter on GPT-2 is refused by its keys' modules, naming the valid layers
    await expect(evalJson(['--model', base.dir, '--adapter', out, '--force-base'])).rejects.toThrow(/has no linear layer model\.layers\.0\.self_attn\.q_proj \(its adaptable layers are the blocks' c_attn, c_proj, c_fc\)/);
  });
});
