/**
 * native/checked.ts — the addon behind one layer of argument checks (loadNative in src/native.ts).
 * Every argument is checked here, once, before the call: the bounds a caller can hit, each with a
 * message naming the argument (ERR_INVALID_ARGUMENT). The C++ side keeps only its invariants
 * (impossible states: a typed array shorter than its shape, a zero learning rate), with the same
 * bounds. What the C++ side throws or rejects with (its code: ERR_INVALID_ARGUMENT,
 * ERR_OUT_OF_MEMORY, ERR_TORCH, ERR_NATIVE, ERR_BUSY) becomes a NativeCallError with that code.
 */
import { existsSync } from 'node:fs';
import { DEVICE_NAME } from '../device.js';
import { NATIVE_CODES, NativeCallError, type ErrorCode } from '../errors.js';
import { isDecoderConfig, maxPositions, modelConfigSchema, modelLayers, modelTask, type AnyModelConfig } from '../model/model-config.js';
import type { DistributedOptions, NamedTensors, NativeAddon, NativeBatch, NativeSession, TrainOptions } from './types.js';

class ArgError extends Error {}
const bad = (msg: string): never => {
  throw new ArgError(msg);
};
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
function int(v: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) bad(`${what} must be a whole number (got ${String(v)})`);
  if ((v as number) < min || (v as number) > max) bad(`${what} must be in [${min}, ${max}] (got ${v})`);
  return v as number;
}
function optInt(o: Record<string, unknown>, key: string, min: number, max?: number): void {
  if (o[key] !== undefined) int(o[key], key, min, max);
}
/** A finite number in [min, max], or in [min, max) when maxOpen. */
function optNum(o: Record<string, unknown>, key: string, min: number, max = Number.MAX_VALUE, maxOpen = false): void {
  const v = o[key];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${key} must be a finite number (got ${String(v)})`);
  if ((v as number) < min || (v as number) > max || (maxOpen && v === max)) bad(`${key} must be in [${min}, ${max}${maxOpen ? ')' : ']'} (got ${v})`);
}
function positive(v: unknown, key: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(`${key} must be a finite number > 0 (got ${String(v)})`);
}
/** GPT-2's record or a decoder's (modelType), each against its own schema. */
function model(v: unknown): AnyModelConfig {
  if (!isObj(v)) bad('model must be an object (a GPT-2 or decoder config)');
  const r = modelConfigSchema(v).safeParse(v);
  if (!r.success) {
    const i = r.error.issues[0];
    bad(`model.${i?.path.join('.')}: ${i?.message}`);
  }
  return (r as { data: AnyModelConfig }).data;
}
function train(o: unknown, what: string): Record<string, unknown> {
  if (!isObj(o)) bad(`${what} must be an object`);
  const t = o as Record<string, unknown>;
  // The bounds the native trainer holds as invariants (native/trainer.cpp): a zero learning rate
  // trains nothing, a beta of 1 never forgets, a zero eps divides by zero.
  if (t.lr !== undefined) positive(t.lr, 'lr');
  optNum(t, 'beta1', 0, 1, true);
  optNum(t, 'beta2', 0, 1, true);
  if (t.eps !== undefined) positive(t.eps, 'eps');
  optNum(t, 'weightDecay', 0);
  optNum(t, 'maxGradNorm', 0);
  if (t.dtype !== undefined && t.dtype !== 'fp32' && t.dtype !== 'bf16') bad(`dtype must be fp32 or bf16 (got ${String(t.dtype)})`);
  if (t.device !== undefined && (typeof t.device !== 'string' || !DEVICE_NAME.test(t.device))) bad(`device must be cpu, cuda or cuda:N (got ${String(t.device)})`);
  optInt(t, 'seed', 0);
  optInt(t, 'threads', 0, 1024);
  if (t.syntheticWeights !== undefined && typeof t.syntheticWeights !== 'boolean') bad(`syntheticWeights must be a boolean (got ${String(t.syntheticWeights)})`);
  return t;
}
/** The linear layers of each family's blocks: what --lora-target may name (native/peft.h). */
export const LORA_TARGETS = {
  gpt2: ['c_attn', 'c_proj', 'c_fc'],
  decoder: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
} as const;
/** Parameter-efficient fine-tuning options (PeftOptions), each message naming its CLI flag; the model decides targets, depth and head. */
function peft(t: Record<string, unknown>, cfg: AnyModelConfig): void {
  const { method } = t;
  if (method !== undefined && !['full', 'lora', 'qlora', 'head'].includes(method as string))
    bad(`method (--method) must be full, lora, qlora or head (got ${String(method)})`);
  if (t.loraR !== undefined) int(t.loraR, 'loraR (--lora-r)', 1, 1 << 16);
  if (t.loraAlpha !== undefined) positive(t.loraAlpha, 'loraAlpha (--lora-alpha)');
  const p = t.loraDropout;
  if (p !== undefined && (typeof p !== 'number' || !(p >= 0 && p < 1))) bad(`loraDropout (--lora-dropout) must be a number in [0, 1) (got ${String(p)})`);
  if (t.baseDtype !== undefined && t.baseDtype !== 'bf16' && t.baseDtype !== 'fp32') bad(`baseDtype must be bf16 or fp32 (got ${String(t.baseDtype)})`);
  for (const k of ['nf4DoubleQuant', 'gradientCheckpointing'] as const)
    if (t[k] !== undefined && typeof t[k] !== 'boolean') bad(`${k} must be a boolean (got ${String(t[k])})`);
  const known: readonly string[] = LORA_TARGETS[isDecoderConfig(cfg) ? 'decoder' : 'gpt2'];
  if (t.loraTargets !== undefined) {
    if (!Array.isArray(t.loraTargets) || t.loraTargets.some((x) => typeof x !== 'string')) bad('loraTargets (--lora-target) must be an array of module names');
    for (const name of t.loraTargets as string[])
      if (name !== 'all-linear' && !known.includes(name))
        bad(`loraTargets (--lora-target): '${name}' is not a linear module of this model; its linear modules: ${known.join(', ')} (or all-linear)`);
  }
  if (t.unfreezeLast !== undefined) int(t.unfreezeLast, 'unfreezeLast (--unfreeze-last)', 0, modelLayers(cfg));
  if (method === 'head' && modelTask(cfg) === 'causal-lm' && isDecoderConfig(cfg) && cfg.tieWordEmbeddings)
    bad('method head (--method head) on a causal-lm model whose lm_head is tied to its embeddings would train the embeddings; use lora or full');
}
/** causal-lm targets (HF `labels`): -100 or a token id, -100 at padding, one counted target at least. */
function lmLabels(x: NativeBatch, vocab: number, what: string): void {
  const { batchSize: B, seqLen: T } = x;
  if (!(x.lmLabels instanceof Int32Array) || x.lmLabels.length !== B * T) bad(`${what}.lmLabels must be an Int32Array of batchSize × seqLen = ${B * T} elements (-100 where a token does not count)`);
  let counted = 0;
  for (let b = 0; b < B; b++) {
    const len = x.lengths[b] as number;
    for (let t = 0; t < T; t++) {
      const y = x.lmLabels![b * T + t] as number;
      if (y === -100) continue;
      if (y < 0 || y >= vocab) bad(`${what}.lmLabels: ${y} is neither -100 nor a token id in [0, ${vocab})`);
      if (t >= len) bad(`${what}.lmLabels: row ${b} has a target at padding position ${t} (length ${len}); padding must be -100`);
      if (t > 0) counted++;
    }
  }
  if (counted === 0) bad(`${what}.lmLabels: no counted target (every entry after the first position is -100)`);
}
function batch(b: unknown, cfg: AnyModelConfig, needTargets: boolean, what: string): void {
  if (!isObj(b)) bad(`${what} must be an object`);
  const x = b as unknown as NativeBatch;
  const B = int(x.batchSize, `${what}.batchSize`, 1);
  const T = int(x.seqLen, `${what}.seqLen`, 1, maxPositions(cfg));
  if (!(x.inputIds instanceof Int32Array) || x.inputIds.length !== B * T) bad(`${what}.inputIds must be an Int32Array of batchSize × seqLen = ${B * T} elements`);
  if (!(x.lengths instanceof Int32Array) || x.lengths.length !== B) bad(`${what}.lengths must be an Int32Array of ${B} elements`);
  for (const id of x.inputIds) if (id < 0 || id >= cfg.vocabSize) bad(`${what}.inputIds: token id ${id} is outside the vocab [0, ${cfg.vocabSize})`);
  for (const n of x.lengths) if (n < 1 || n > T) bad(`${what}.lengths: ${n} real tokens in a row of ${T}`);
  if (!needTargets) return;
  if (modelTask(cfg) === 'causal-lm') return lmLabels(x, cfg.vocabSize, what);
  if (!(x.labels instanceof Int32Array) || x.labels.length !== B) bad(`${what}.labels must be an Int32Array of ${B} elements`);
  for (const y of x.labels as Int32Array) if (y < 0 || y >= cfg.numLabels) bad(`${what}.labels: label ${y} is outside [0, ${cfg.numLabels})`);
}
function state(v: unknown): void {
  if (!isObj(v)) bad('state must be an object of {shape, data} entries');
  for (const [name, t] of Object.entries(v as Record<string, unknown>)) {
    if (!isObj(t) || !Array.isArray(t.shape) || !(t.data instanceof Float32Array)) bad(`state['${name}'] must be {shape: number[], data: Float32Array}`);
    const e = t as { shape: unknown[]; data: Float32Array };
    let n = 1;
    for (const d of e.shape) n *= int(d, `state['${name}'].shape`, 0);
    if (n !== e.data.length) bad(`state['${name}'] has ${e.data.length} values for shape [${e.shape.join(', ')}]`);
  }
}
function path(v: unknown, fn: string): void {
  if (typeof v !== 'string' || v === '' || v.includes('\0')) bad(`${fn}() takes a file path`);
}

function typed(fn: string, err: unknown): NativeCallError {
  if (err instanceof NativeCallError) return err;
  if (err instanceof ArgError) return new NativeCallError('ERR_INVALID_ARGUMENT', fn, `${fn}: ${err.message}`);
  const e = err as { code?: unknown; message?: unknown };
  const code = (typeof e?.code === 'string' && NATIVE_CODES.has(e.code) ? e.code : 'ERR_NATIVE') as ErrorCode;
  return new NativeCallError(code, fn, `${fn}: ${typeof e?.message === 'string' ? e.message : String(err)}`, { cause: err });
}
/** Check, then call; a synchronous throw or a rejection becomes a NativeCallError. */
function call<T>(fn: string, check: () => void, run: () => T): T {
  try {
    check();
    const r = run();
    if (r instanceof Promise) return r.catch((e: unknown) => Promise.reject(typed(fn, e))) as T;
    return r;
  } catch (e) {
    throw typed(fn, e);
  }
}

/** A fast-path switch export, `name(enabled?)`: enabled must be a boolean when given. */
function switchCall<T>(fn: string, enabled: unknown, run: () => T): T {
  return call(fn, () => {
    if (enabled !== undefined && typeof enabled !== 'boolean') bad(`${fn}(enabled) takes a boolean`);
  }, run);
}

export function checkedAddon(raw: NativeAddon): NativeAddon {
  class CheckedSession implements NativeSession {
    readonly #s: NativeSession;
    readonly #cfg: AnyModelConfig;
    constructor(opts: TrainOptions & { model: AnyModelConfig }) {
      let cfg!: AnyModelConfig;
      this.#s = call('Session', () => {
        const t = train(opts, 'session options');
        cfg = model(opts.model);
        peft(t, cfg);
      }, () => new raw.Session(opts));
      this.#cfg = cfg;
    }
    init() {
      return call('Session.init', () => {}, () => this.#s.init());
    }
    loadState(st: NamedTensors) {
      return call('Session.loadState', () => state(st), () => this.#s.loadState(st));
    }
    state() {
      return call('Session.state', () => {}, () => this.#s.state());
    }
    trainableState() {
      return call('Session.trainableState', () => {}, () => this.#s.trainableState());
    }
    mergedState() {
      return call('Session.mergedState', () => {}, () => this.#s.mergedState());
    }
    parameterInfo() {
      return call('Session.parameterInfo', () => {}, () => this.#s.parameterInfo());
    }
    saveTrainingState(p: string) {
      return call('Session.saveTrainingState', () => path(p, 'saveTrainingState'), () => this.#s.saveTrainingState(p));
    }
    loadTrainingState(p: string) {
      return call('Session.loadTrainingState', () => {
        path(p, 'loadTrainingState');
        if (!existsSync(p)) bad(`${p}: no such file`);
      }, () => this.#s.loadTrainingState(p));
    }
    step(micro: NativeBatch[], opts?: { seeds?: number[] }) {
      return call('Session.step', () => {
        if (!Array.isArray(micro) || micro.length === 0) bad('step() needs at least one micro-batch');
        micro.forEach((b, i) => batch(b, this.#cfg, true, `microBatches[${i}]`));
        if (opts !== undefined) {
          if (!isObj(opts)) bad('step() options must be an object {seeds?}');
          if (opts.seeds !== undefined) {
            if (!Array.isArray(opts.seeds) || opts.seeds.length !== micro.length) bad('seeds must hold one number per micro-batch');
            opts.seeds.forEach((x, i) => int(x, `seeds[${i}]`, 0));
          }
        }
      }, () => this.#s.step(micro, opts));
    }
    initDistributed(o: DistributedOptions) {
      return call('Session.initDistributed', () => {
        if (!isObj(o)) bad('initDistributed() takes {rank, worldSize, masterAddr, masterPort, timeoutMs, bucketBytes?}');
        int(o.worldSize, 'worldSize', 1);
        int(o.rank, 'rank', 0, o.worldSize - 1);
        if (typeof o.masterAddr !== 'string' || o.masterAddr.length === 0) bad('masterAddr must be a host name or address');
        int(o.masterPort, 'masterPort', 1, 65535);
        int(o.timeoutMs, 'timeoutMs', 1);
        optInt(o as unknown as Record<string, unknown>, 'bucketBytes', 1);
      }, () => this.#s.initDistributed(o));
    }
    allreduce(values: Float64Array) {
      return call('Session.allreduce', () => {
        if (!(values instanceof Float64Array)) bad('allreduce() takes a Float64Array');
      }, () => this.#s.allreduce(values));
    }
    allreduceBenchmark(o: { bytes: number[]; iters?: number }) {
      return call('Session.allreduceBenchmark', () => {
        if (!isObj(o) || !Array.isArray(o.bytes)) bad('allreduceBenchmark() takes {bytes: number[], iters?}');
        o.bytes.forEach((b, i) => int(b, `bytes[${i}]`, 4));
        optInt(o as unknown as Record<string, unknown>, 'iters', 1);
      }, () => this.#s.allreduceBenchmark(o));
    }
    logits(b: NativeBatch) {
      return call('Session.logits', () => batch(b, this.#cfg, false, 'batch'), () => this.#s.logits(b));
    }
    lmEval(b: NativeBatch) {
      return call('Session.lmEval', () => {
        if (modelTask(this.#cfg) !== 'causal-lm') bad('lmEval() is for causal-lm models (task causal-lm)');
        batch(b, this.#cfg, true, 'batch');
      }, () => this.#s.lmEval(b));
    }
    gradients(b: NativeBatch, opts?: { training?: boolean; seed?: number }) {
      return call('Session.gradients', () => {
        batch(b, this.#cfg, true, 'batch');
        if (opts !== undefined) {
          if (!isObj(opts)) bad('gradients() options must be an object {training?, seed?}');
          if (opts.training !== undefined && typeof opts.training !== 'boolean') bad('training must be a boolean');
          optInt(opts as Record<string, unknown>, 'seed', 0);
        }
      }, () => this.#s.gradients(b, opts));
    }
    setLr(lr: number) {
      return call('Session.setLr', () => {
        positive(lr, 'lr');
      }, () => this.#s.setLr(lr));
    }
    memory() {
      return call('Session.memory', () => {}, () => this.#s.memory());
    }
    close() {
      return call('Session.close', () => {}, () => this.#s.close());
    }
  }
  const seqLen = (v: unknown, cfg: AnyModelConfig, what: string) => int(v, what, 1, maxPositions(cfg));
  return {
    runtimeInfo: () => call('runtimeInfo', () => {}, () => raw.runtimeInfo()),
    flopsPerToken: (m, T) => call('flopsPerToken', () => seqLen(T, model(m), 'seqLen'), () => raw.flopsPerToken(m, T)),
    parameterCounts: (m) => call('parameterCounts', () => model(m), () => raw.parameterCounts(m)),
    benchmark: (o) =>
      call('benchmark', () => {
        const t = train(o, 'benchmark options');
        const cfg = model(o.model);
        peft(t, cfg);
        int(o.batchSize, 'batchSize', 1);
        seqLen(o.seqLen, cfg, 'seqLen');
        const r = o as unknown as Record<string, unknown>;
        optInt(r, 'gradAccum', 1);
        optInt(r, 'warmupSteps', 0);
        optInt(r, 'steps', 1);
        optInt(r, 'evalBatchSize', 0);
        optInt(r, 'evalSteps', 0);
        optInt(r, 'probeSeqLen', 0, maxPositions(cfg));
        optInt(r, 'maxSteps', 0);
        optNum(r, 'minTimedMs', 0);
        if (o.seqLens !== undefined) {
          if (!Array.isArray(o.seqLens)) bad('seqLens must be an array');
          for (const T of o.seqLens) seqLen(T, cfg, 'seqLens[]');
        }
        if (o.probeBatchSizes !== undefined) {
          if (!Array.isArray(o.probeBatchSizes)) bad('probeBatchSizes must be an array');
          for (const b of o.probeBatchSizes) int(b, 'probeBatchSizes[]', 1);
        }
        if (o.probeStopAtFit !== undefined && typeof o.probeStopAtFit !== 'boolean') bad('probeStopAtFit must be a boolean');
      }, () => raw.benchmark(o)),
    probeActivations: (o) =>
      call('probeActivations', () => {
        const t = train(o, 'probe options');
        const cfg = model(o.model);
        peft(t, cfg);
        seqLen(o.seqLen, cfg, 'seqLen');
      }, () => raw.probeActivations(o)),
    fusedAdamwCheck: (steps, weightDecay, gradScale) =>
      call('fusedAdamwCheck', () => {
        int(steps, 'steps', 1, 1_000_000);
        optNum({ weightDecay, gradScale }, 'weightDecay', 0);
        optNum({ weightDecay, gradScale }, 'gradScale', 0);
      }, () => raw.fusedAdamwCheck(steps, weightDecay, gradScale)),
    nf4Check: (values, doubleQuant) =>
      call('nf4Check', () => {
        if (!(values instanceof Float32Array) || values.length === 0 || values.length > 1 << 24) bad('values must be a non-empty Float32Array');
        if (typeof doubleQuant !== 'boolean') bad('doubleQuant must be a boolean');
      }, () => raw.nf4Check(values, doubleQuant)),
    dropoutCheck: (n, p) =>
      call('dropoutCheck', () => {
        int(n, 'n', 1, 2 ** 26);
        if (typeof p !== 'number' || !(p > 0 && p < 1)) bad('p must be a number in (0, 1)');
      }, () => raw.dropoutCheck(n, p)),
    lmLossCheck: (n, c, v, chunkRows, bf16) =>
      call('lmLossCheck', () => {
        int(n, 'n', 1, 1 << 16);
        int(c, 'c', 1, 1 << 14);
        int(v, 'v', 2, 1 << 18);
        int(chunkRows, 'chunkRows', 1);
        if (typeof bf16 !== 'boolean') bad('bf16 must be a boolean');
      }, () => raw.lmLossCheck(n, c, v, chunkRows, bf16)),
    lmChunkRows: (rows) =>
      call('lmChunkRows', () => {
        if (rows !== undefined) int(rows, 'rows', 0);
      }, () => raw.lmChunkRows(rows)),
    cpuDropout: (enabled) => switchCall('cpuDropout', enabled, () => raw.cpuDropout(enabled)),
    fusedAttentionCheck: (n, t, p) =>
      call('fusedAttentionCheck', () => {
        int(n, 'n', 1, 4096);
        int(t, 't', 1, 1024);
        if (typeof p !== 'number' || !(p > 0 && p < 1)) bad('p must be a number in (0, 1)');
      }, () => raw.fusedAttentionCheck(n, t, p)),
    fusedAttentionTiming: (n, t, p, reps) =>
      call('fusedAttentionTiming', () => {
        int(n, 'n', 1, 4096);
        int(t, 't', 1, 1024);
        int(reps, 'reps', 1, 10000);
        if (typeof p !== 'number' || !(p >= 0 && p < 1)) bad('p must be a number in [0, 1)');
      }, () => raw.fusedAttentionTiming(n, t, p, reps)),
    flushDenormal: (enabled) => switchCall('flushDenormal', enabled, () => raw.flushDenormal(enabled)),
    fusedAttention: (enabled) => switchCall('fusedAttention', enabled, () => raw.fusedAttention(enabled)),
    lastBlockPruned: (enabled) => switchCall('lastBlockPruned', enabled, () => raw.lastBlockPruned(enabled)),
    fusedRmsNorm: (enabled) => switchCall('fusedRmsNorm', enabled, () => raw.fusedRmsNorm(enabled)),
    cpuAllocator: (opts) =>
      call('cpuAllocator', () => {
        if (opts === undefined) return;
        if (!isObj(opts)) bad('cpuAllocator() takes {cache?: boolean, release?: boolean}');
        for (const k of ['cache', 'release'] as const) if (opts[k] !== undefined && typeof opts[k] !== 'boolean') bad(`${k} must be a boolean`);
      }, () => raw.cpuAllocator(opts)),
    Session: CheckedSession,
    setCpuMemoryLimit: (bytes) => call('setCpuMemoryLimit', () => int(bytes, 'bytes', 0, 9e15), () => raw.setCpuMemoryLimit(bytes)),
    cpuMemory: () => call('cpuMemory', () => {}, () => raw.cpuMemory()),
    _raise: (kind, async) => call('_raise', () => {
      if (typeof kind !== 'string') bad('_raise() takes a kind');
    }, () => raw._raise(kind, async)),
    _records: () => call('_records', () => {}, () => raw._records()),
  };
}
