/**
 * layout.ts — how a Hugging Face GPT-2 checkpoint's tensors map onto the native model: the shapes
 * config.json implies, the key names (with or without "transformer."), Conv1D weights stored
 * [in, out], and the tensors that are not parameters (a tied lm_head, attention-mask buffers).
 * One mapping, used both to check a checkpoint from its headers alone and to load it.
 */
import { FtplanError } from '../errors.js';
import type { ModelConfig } from './presets.js';

/** HF Conv1D layers: their weights are stored [in, out], the transpose of torch Linear's. */
export const CONV1D = /\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/;

/** The native model's parameter shapes (torch Linear layout: weight [out, in]). */
export function expectedShapes(cfg: ModelConfig): Map<string, number[]> {
  const C = cfg.nEmbd;
  const F = cfg.nInner || 4 * C;
  const m = new Map<string, number[]>([
    ['transformer.wte.weight', [cfg.vocabSize, C]],
    ['transformer.wpe.weight', [cfg.nPositions, C]],
  ]);
  for (let i = 0; i < cfg.nLayer; i++) {
    const h = `transformer.h.${i}`;
    m.set(`${h}.ln_1.weight`, [C]).set(`${h}.ln_1.bias`, [C]);
    m.set(`${h}.attn.c_attn.weight`, [3 * C, C]).set(`${h}.attn.c_attn.bias`, [3 * C]);
    m.set(`${h}.attn.c_proj.weight`, [C, C]).set(`${h}.attn.c_proj.bias`, [C]);
    m.set(`${h}.ln_2.weight`, [C]).set(`${h}.ln_2.bias`, [C]);
    m.set(`${h}.mlp.c_fc.weight`, [F, C]).set(`${h}.mlp.c_fc.bias`, [F]);
    m.set(`${h}.mlp.c_proj.weight`, [C, F]).set(`${h}.mlp.c_proj.bias`, [C]);
  }
  m.set('transformer.ln_f.weight', [C]).set('transformer.ln_f.bias', [C]);
  m.set('score.weight', [cfg.numLabels, C]);
  return m;
}

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

export function transpose2d(t: NamedTensor): NamedTensor {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(t.data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c] as number;
  return { shape: [cols, rows], data: out };
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

const MISMATCH_FIX = 'the checkpoint and its config.json do not match: use the pair transformers saved together';

/** One tensor of a checkpoint file (or shard) as its header lists it. */
export interface FileTensor {
  key: string;
  shape: number[];
  file: string;
}

export interface TensorMatch {
  /** native name -> the file's key, the file, and whether it is stored transposed (Conv1D) */
  params: Map<string, { key: string; file: string; conv1d: boolean }>;
  /** file tensors that are not parameters (tied lm_head, attention-mask buffers) */
  ignored: string[];
  /** native parameters no file has (initialised instead): only score.weight gets this far */
  missing: string[];
}

/**
 * The checkpoint's tensors against the shapes config.json implies: every key a GPT-2 parameter
 * (with or without "transformer."), each shape right (Conv1D transposed), none twice, the whole
 * trunk present. `missingFile` names what a missing tensor is reported against (the file, or a
 * sharded checkpoint's index). Errors name the file and the fix.
 */
export function matchTensors(cfg: ModelConfig, tensors: Iterable<FileTensor>, missingFile: string): TensorMatch {
  const expected = expectedShapes(cfg);
  const params: TensorMatch['params'] = new Map();
  const ignored: string[] = [];
  const err = (file: string, message: string, fix = MISMATCH_FIX) => new FtplanError('ERR_INPUT', `${file}: ${message}`, { fix });
  for (const t of tensors) {
    if (t.key === 'lm_head.weight' || /\.attn\.(bias|masked_bias)$/.test(t.key)) {
      ignored.push(t.key);
      continue;
    }
    const name = t.key === 'score.weight' || t.key.startsWith('transformer.') ? t.key : `transformer.${t.key}`;
    const want = expected.get(name);
    if (!want) throw err(t.file, `tensor '${t.key}' is not part of GPT-2 (n_layer ${cfg.nLayer} in config.json)`);
    const conv1d = CONV1D.test(name);
    const stored = conv1d ? [want[1] as number, want[0] as number] : want; // HF Conv1D stores [in, out]
    if (!sameShape(t.shape, stored)) {
      if (name === 'score.weight' && t.shape.length === 2 && t.shape[1] === want[1] && t.shape[0] !== want[0]) {
        throw err(t.file, `score.weight has ${t.shape[0]} classes, the data set has ${want[0]}`, 'fine-tune from the base model (without its classification head), or use a data set with the same classes');
      }
      throw err(t.file, `tensor '${t.key}' has shape [${t.shape}], config.json implies [${stored}]`);
    }
    const before = params.get(name);
    if (before) throw err(t.file, `tensor '${t.key}' is stored twice (also as '${before.key}'${before.file !== t.file ? ` in ${before.file}` : ''})`, 'the checkpoint is damaged: download or save it again');
    params.set(name, { key: t.key, file: t.file, conv1d });
  }
  const missing = [...expected.keys()].filter((n) => !params.has(n));
  const missingTrunk = missing.filter((n) => n !== 'score.weight');
  if (missingTrunk.length) {
    throw err(missingFile, `is missing ${missingTrunk.length} GPT-2 tensor(s): ${missingTrunk.slice(0, 4).join(', ')}${missingTrunk.length > 4 ? ', …' : ''}`, 'the file is incomplete: download or save it again');
  }
  return { params, ignored, missing };
}
