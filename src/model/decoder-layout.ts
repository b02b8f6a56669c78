/**
 * decoder-layout.ts — how a Hugging Face Llama-family checkpoint's tensors map onto the native
 * decoder: one to one, by HF's own names (model.layers.{i}.self_attn.q_proj.weight, …) in torch
 * Linear layout [out, in], with the shapes config.json implies. Beside the parameters a file may
 * hold what the model does not use: lm_head.weight when tied (or for a classification head),
 * score.weight for causal-LM, rotary_emb.inv_freq buffers of older saves; a base-model save
 * (LlamaModel) has its keys without "model.". One mapping, used to check a checkpoint from its
 * headers (preflight.ts) and to load it (decoder-checkpoint.ts).
 */
import { FtplanError } from '../errors.js';
import type { DecoderConfig } from './decoder-config.js';
import type { FileTensor, TensorMatch } from './layout.js';

/** The native decoder's parameters and shapes, in the module's order. */
export function decoderShapes(cfg: DecoderConfig): Map<string, number[]> {
  const C = cfg.hiddenSize;
  const H = cfg.numAttentionHeads;
  const KV = cfg.numKeyValueHeads;
  const D = cfg.headDim;
  const F = cfg.intermediateSize;
  const m = new Map<string, number[]>([['model.embed_tokens.weight', [cfg.vocabSize, C]]]);
  const linear = (name: string, out: number, inp: number, bias: boolean) => {
    m.set(`${name}.weight`, [out, inp]);
    if (bias) m.set(`${name}.bias`, [out]);
  };
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    const l = `model.layers.${i}`;
    m.set(`${l}.input_layernorm.weight`, [C]);
    linear(`${l}.self_attn.q_proj`, H * D, C, cfg.qkvBias);
    linear(`${l}.self_attn.k_proj`, KV * D, C, cfg.qkvBias);
    linear(`${l}.self_attn.v_proj`, KV * D, C, cfg.qkvBias);
    linear(`${l}.self_attn.o_proj`, C, H * D, cfg.oBias);
    if (cfg.qkNorm) m.set(`${l}.self_attn.q_norm.weight`, [D]).set(`${l}.self_attn.k_norm.weight`, [D]);
    m.set(`${l}.post_attention_layernorm.weight`, [C]);
    linear(`${l}.mlp.gate_proj`, F, C, cfg.mlpBias);
    linear(`${l}.mlp.up_proj`, F, C, cfg.mlpBias);
    linear(`${l}.mlp.down_proj`, C, F, cfg.mlpBias);
  }
  m.set('model.norm.weight', [C]);
  if (cfg.task === 'classification') m.set('score.weight', [cfg.numLabels, C]);
  else if (!cfg.tieWordEmbeddings) m.set('lm_head.weight', [cfg.vocabSize, C]);
  return m;
}

/** What a file may hold that this model does not use. */
function unused(cfg: DecoderConfig, key: string): boolean {
  if (/\.rotary_emb\.inv_freq$/.test(key)) return true;
  if (key === 'lm_head.weight') return cfg.task === 'classification' || cfg.tieWordEmbeddings;
  return key === 'score.weight' && cfg.task === 'causal-lm';
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const MISMATCH_FIX = 'the checkpoint and its config.json do not match: use the pair transformers saved together';

/**
 * The checkpoint's tensors against the shapes config.json implies (decoderShapes): each key a
 * parameter (with or without "model."), each shape right, none twice, the trunk whole; a causal-LM
 * fine-tune needs lm_head.weight unless tied; a missing score head is initialised (reported).
 */
export function matchDecoderTensors(cfg: DecoderConfig, tensors: Iterable<FileTensor>, missingFile: string): TensorMatch {
  const expected = decoderShapes(cfg);
  const params: TensorMatch['params'] = new Map();
  const ignored: string[] = [];
  const err = (file: string, message: string, fix = MISMATCH_FIX) => new FtplanError('ERR_INPUT', `${file}: ${message}`, { fix });
  for (const t of tensors) {
    if (unused(cfg, t.key)) {
      ignored.push(t.key);
      continue;
    }
    const name = t.key === 'score.weight' || t.key === 'lm_head.weight' || t.key.startsWith('model.') ? t.key : `model.${t.key}`;
    const want = expected.get(name);
    if (!want) throw err(t.file, `tensor '${t.key}' is not part of ${cfg.modelType} as config.json describes it (num_hidden_layers ${cfg.numHiddenLayers}, biases q/k/v ${cfg.qkvBias}, o ${cfg.oBias}, mlp ${cfg.mlpBias}, q/k norm ${cfg.qkNorm})`);
    if (!sameShape(t.shape, want)) {
      if (name === 'score.weight' && t.shape.length === 2 && t.shape[1] === want[1]) {
        throw err(t.file, `score.weight has ${t.shape[0]} classes, the data set has ${want[0]}`, 'fine-tune from the base model (without its classification head), or use a data set with the same classes');
      }
      throw err(t.file, `tensor '${t.key}' has shape [${t.shape}], config.json implies [${want}]`);
    }
    const before = params.get(name);
    if (before) throw err(t.file, `tensor '${t.key}' is stored twice (also as '${before.key}'${before.file !== t.file ? ` in ${before.file}` : ''})`, 'the checkpoint is damaged: download or save it again');
    params.set(name, { key: t.key, file: t.file, conv1d: false });
  }
  const missing = [...expected.keys()].filter((n) => !params.has(n));
  if (missing.includes('lm_head.weight')) {
    throw err(missingFile, `has no lm_head.weight, and config.json does not tie it to the embeddings (tie_word_embeddings false)`, 'fine-tune from a checkpoint saved with its LM head (a *ForCausalLM save), or one whose config ties it');
  }
  const missingTrunk = missing.filter((n) => n !== 'score.weight');
  if (missingTrunk.length) {
    throw err(missingFile, `is missing ${missingTrunk.length} ${cfg.modelType} tensor(s): ${missingTrunk.slice(0, 4).join(', ')}${missingTrunk.length > 4 ? ', …' : ''}`, 'the file is incomplete: download or save it again');
  }
  return { params, ignored, missing };
}
