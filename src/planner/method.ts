/**
 * method.ts — what a fine-tuning method trains and holds, from the model's shape alone: the block
 * linears LoRA can target, the trainable parameters of each method, the weights an NF4 base
 * quantises, and how each kind of parameter is stored (the precision). Pure; the memory and time
 * models (method-memory.ts, method-time.ts) read these counts.
 *
 * LoRA on a linear of `in` → `out` adds A [r, in] and B [out, r]: r·(in + out) trainable
 * parameters (PEFT's LoraLayer). QLoRA keeps the targeted linears' weights in NF4: half a byte a
 * weight plus one fp32 absmax per block of 64 (0.5 bit a weight), or with double quantisation an
 * 8-bit absmax per block and one fp32 scale per 256 blocks (8/64 + 32/(64·256) = 0.127 bit a weight:
 * Dettmers et al. 2023, §2). Everything the adapters do not target stays in the base dtype.
 */
import { decoderParameterBreakdown } from '../model/decoder-size.js';
import { isDecoderShape, layersOf, parameterTotal, widthOf, type PlannedModel } from './model-shape.js';

export const PLAN_METHODS = ['full', 'lora', 'qlora', 'head'] as const;
export type PlanMethod = (typeof PLAN_METHODS)[number];

/** The method and its adapter settings, as the flags give them (PeftOptions' planning half). */
export interface MethodSpec {
  method: PlanMethod;
  /** lora/qlora: adapter rank */
  loraR: number;
  /** lora/qlora: leaf module names; null = every linear of the blocks (PEFT's "all-linear") */
  loraTargets: string[] | null;
  /** lora: the frozen base's dtype; qlora: the untargeted weights' dtype */
  baseDtype: 'bf16' | 'fp32';
  /** qlora: bitsandbytes' double quantisation of the absmax scales */
  doubleQuant: boolean;
  /** head: also train the last N blocks */
  unfreezeLast: number;
  /**
   * qlora: NF4 for every linear of the blocks, not only the targeted ones — what bitsandbytes'
   * 4-bit loading (PEFT, LitGPT, torchtune) does; ftplan's core quantises the targeted ones.
   * Set only to predict other frameworks' runs (the published comparison).
   */
  quantizeAll?: boolean;
}

export const DEFAULT_METHOD: MethodSpec = { method: 'full', loraR: 16, loraTargets: null, baseDtype: 'bf16', doubleQuant: false, unfreezeLast: 0 };

export function methodSpec(partial: Partial<MethodSpec> & { method: PlanMethod }): MethodSpec {
  return { ...DEFAULT_METHOD, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as MethodSpec;
}

/**
 * How the trainable parameters, their gradients and AdamW's moments are stored, and the dtype the
 * matmuls run in. ftplan trains fp32 master weights (bf16 autocast keeps a bf16 copy of each fp32
 * weight for the matmuls); "bf16-true" frameworks (torchtune, LitGPT, HF with torch_dtype=bfloat16)
 * hold all of it in bf16; 8-bit optimizers hold a byte a moment.
 */
export interface Precision {
  /** the matmuls' dtype (fp16: mixed precision on GPUs without bf16) */
  compute: 'fp32' | 'bf16' | 'fp16';
  masterBytes: 2 | 4;
  gradBytes: 2 | 4;
  momentBytes: 1 | 2 | 4;
}

/** ftplan's own: fp32 weights, gradients and moments; --dtype bf16 is autocast over them. */
export function ftplanPrecision(dtype: 'fp32' | 'bf16'): Precision {
  return { compute: dtype, masterBytes: 4, gradBytes: 4, momentBytes: 4 };
}

export interface LinearShape {
  /** the leaf module name a LoRA target names (q_proj, c_attn, …) */
  name: string;
  in: number;
  out: number;
}

/** The linears of one block, as LoRA targets name them (GPT-2's two c_proj are both "c_proj"). */
export function blockLinears(cfg: PlannedModel): LinearShape[] {
  if (isDecoderShape(cfg)) {
    const C = cfg.hiddenSize;
    const q = cfg.numAttentionHeads * cfg.headDim;
    const kv = cfg.numKeyValueHeads * cfg.headDim;
    const F = cfg.intermediateSize;
    return [
      { name: 'q_proj', in: C, out: q },
      { name: 'k_proj', in: C, out: kv },
      { name: 'v_proj', in: C, out: kv },
      { name: 'o_proj', in: q, out: C },
      { name: 'gate_proj', in: C, out: F },
      { name: 'up_proj', in: C, out: F },
      { name: 'down_proj', in: F, out: C },
    ];
  }
  const C = cfg.nEmbd;
  const F = cfg.nInner || 4 * C;
  return [
    { name: 'c_attn', in: C, out: 3 * C },
    { name: 'c_proj', in: C, out: C },
    { name: 'c_fc', in: C, out: F },
    { name: 'c_proj', in: F, out: C },
  ];
}

export function linearNames(cfg: PlannedModel): string[] {
  return [...new Set(blockLinears(cfg).map((l) => l.name))];
}

/** The block linears a spec's targets select; an unknown name is an error naming the valid ones. */
export function targetedLinears(cfg: PlannedModel, targets: string[] | null): LinearShape[] {
  const all = blockLinears(cfg);
  if (!targets || targets.length === 0 || (targets.length === 1 && targets[0] === 'all-linear')) return all;
  const names = linearNames(cfg);
  const unknown = targets.filter((t) => !names.includes(t));
  if (unknown.length) throw new RangeError(`LoRA target ${unknown.join(', ')} is not a linear of this model's blocks (${names.join(', ')})`);
  return all.filter((l) => targets.includes(l.name));
}

/** Parameters of one block (its linears with biases, norms): what --unfreeze-last trains per block. */
export function blockParameters(cfg: PlannedModel): number {
  if (isDecoderShape(cfg)) {
    const b = decoderParameterBreakdown(cfg).perLayer;
    return b.attention + b.mlp + b.norms;
  }
  const C = cfg.nEmbd;
  const F = cfg.nInner || 4 * C;
  return 4 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * F + F) + (F * C + C);
}

/** The task head's parameters: a classifier's score, or a causal LM's lm_head (vocab × width, tied or not). */
export function headParameters(cfg: PlannedModel): number {
  if (isDecoderShape(cfg)) return cfg.task === 'classification' ? cfg.numLabels * cfg.hiddenSize : cfg.vocabSize * cfg.hiddenSize;
  return cfg.numLabels * cfg.nEmbd;
}

/** A classification head trains under every method (PEFT's modules_to_save); a causal LM's lm_head stays frozen under LoRA (PEFT's default). */
function headTrains(cfg: PlannedModel): boolean {
  return !isDecoderShape(cfg) || cfg.task === 'classification';
}

export interface MethodCounts {
  method: PlanMethod;
  /** the model's own parameters (a tied head once) */
  total: number;
  /** parameters that train: all of them (full), the adapters (+ a classifier's head), the head (+ unfrozen blocks) */
  trainable: number;
  /** of `trainable`, the LoRA A and B matrices */
  adapter: number;
  /** the model's parameters that stay frozen */
  frozen: number;
  /** of `frozen`, the weights held in NF4 (qlora's targeted linears) */
  quantized: number;
  /** trainable parameter tensors (gradient clipping and AdamW launch kernels per tensor) */
  trainableTensors: number;
  /** targeted linears per block (LoRA's extra kernels) */
  targetedPerBlock: number;
  /** the largest trainable tensor's parameters (AdamW's temporaries on a GPU) */
  largestTrainable: number;
}

export function methodCounts(cfg: PlannedModel, spec: MethodSpec, parameterTensors: number): MethodCounts {
  const total = parameterTotal(cfg);
  const L = layersOf(cfg);
  const C = widthOf(cfg);
  const head = headParameters(cfg);
  if (spec.method === 'full') {
    return { method: 'full', total, trainable: total, adapter: 0, frozen: 0, quantized: 0, trainableTensors: parameterTensors, targetedPerBlock: 0, largestTrainable: cfg.vocabSize * C };
  }
  if (spec.method === 'head') {
    const blocks = Math.min(L, spec.unfreezeLast);
    const trainable = head + blocks * blockParameters(cfg);
    const perBlockTensors = Math.max(1, Math.round((parameterTensors - 3) / L));
    const largest = blocks > 0 ? Math.max(head, ...blockLinears(cfg).map((l) => l.in * l.out)) : head;
    return { method: 'head', total, trainable, adapter: 0, frozen: total - trainable, quantized: 0, trainableTensors: 1 + blocks * perBlockTensors, targetedPerBlock: 0, largestTrainable: largest };
  }
  const targeted = targetedLinears(cfg, spec.loraTargets);
  const adapter = L * targeted.reduce((s, l) => s + spec.loraR * (l.in + l.out), 0);
  const trainedHead = headTrains(cfg) ? head : 0;
  const quantized = spec.method === 'qlora' ? L * (spec.quantizeAll ? blockLinears(cfg) : targeted).reduce((s, l) => s + l.in * l.out, 0) : 0;
  const largestAdapter = Math.max(...targeted.map((l) => spec.loraR * Math.max(l.in, l.out)));
  return {
    method: spec.method,
    total,
    trainable: adapter + trainedHead,
    adapter,
    frozen: total - trainedHead,
    quantized,
    trainableTensors: 2 * L * targeted.length + (trainedHead ? 1 : 0),
    targetedPerBlock: targeted.length,
    largestTrainable: Math.max(largestAdapter, trainedHead),
  };
}

/** NF4 bytes per quantised weight: 4-bit codes and the block scales (see the header). */
export function nf4BytesPerParam(doubleQuant: boolean): number {
  const scaleBits = doubleQuant ? 8 / 64 + 32 / (64 * 256) : 32 / 64;
  return 0.5 + scaleBits / 8;
}

/** One line for the table: "LoRA r 16 on 7 linears × 32 blocks: 42.0 M of 8.03 B parameters trainable". */
export function describeMethod(spec: MethodSpec, c: MethodCounts, L: number): string {
  const m = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : `${(n / 1e6).toFixed(1)} M`);
  if (spec.method === 'full') return `full fine-tuning: all ${m(c.total)} parameters trainable`;
  if (spec.method === 'head') return `head only${spec.unfreezeLast ? ` + the last ${spec.unfreezeLast} blocks` : ''}: ${m(c.trainable)} of ${m(c.total)} parameters trainable`;
  const q = spec.method === 'qlora' ? `, base NF4${spec.doubleQuant ? ' + double quantisation' : ''}` : `, base ${spec.baseDtype}`;
  return `${spec.method === 'qlora' ? 'QLoRA' : 'LoRA'} r ${spec.loraR} on ${c.targetedPerBlock} linears × ${L} blocks${q}: ${m(c.trainable)} of ${m(c.total)} parameters trainable`;
}
