#!/usr/bin/env node
// The planner against published fine-tuning runs: for every row of bench/published.json, the
// planner's --exact prediction (src/planner/method-plan.ts predictExact: the row's GPU, count,
// precision, micro-batch, sequence length, checkpointing, method and LoRA settings, kept as given)
// from the model's shape alone — analytic activations (method-memory.ts analyticActivations, the
// tensors autograd keeps; calibrated on nothing) and the analytic GPU efficiency (performance.ts),
// since nothing is measured on these GPUs. Constants are the planner's own, global: no row tunes
// anything. Writes the predictions and errors into bench/published.json and bench/published.md, the
// medians and misses into bench/published.md, and the error bands into pricing/error-bands.json.
//
//   npx tsc -p tsconfig.json && node bench/published-compare.mjs [--check]
//
// --check: print, write nothing. Runs in a second: no model is built, nothing is downloaded.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (p) => import(new URL(`../dist/${p}`, import.meta.url).href);
const { decoderPresetConfig } = await dist('model/decoder-presets.js');
const { parseDecoderConfigDetailed } = await dist('model/families.js');
const { modelConfig } = await dist('model/presets.js');
const { loadGpus } = await dist('pricing/catalog.js');
const { predictExact } = await dist('planner/method-plan.js');
const { analyticActivations } = await dist('planner/method-memory.js');
const { methodSpec } = await dist('planner/method.js');
const { kernelsPerLayerOf, parameterTensorsOf } = await dist('planner/model-shape.js');
const { peakFlops } = await dist('planner/performance.js');
const { percentile, BAND_PERCENTILE } = await dist('planner/error-band.js');
const { median } = await dist('measurement.js');

const check = process.argv.includes('--check');
const gpus = loadGpus();
const jsonPath = `${root}bench/published.json`;
const mdPath = `${root}bench/published.md`;
const published = JSON.parse(readFileSync(jsonPath, 'utf8'));

// Shapes not among ftplan's presets: their config.json fields as published on the Hugging Face Hub.
const LLAMA2 = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'silu', rms_norm_eps: 1e-5, rope_scaling: null, tie_word_embeddings: false, vocab_size: 32000, max_position_embeddings: 4096, bos_token_id: 1, eos_token_id: 2 };
const EXTRA = {
  // huggingface.co/meta-llama/Llama-2-13b-hf/blob/main/config.json
  'Llama-2-13B': { ...LLAMA2, hidden_size: 5120, intermediate_size: 13824, num_attention_heads: 40, num_hidden_layers: 40, num_key_value_heads: 40 },
  // huggingface.co/meta-llama/Llama-2-70b-hf/blob/main/config.json
  'Llama-2-70B': { ...LLAMA2, hidden_size: 8192, intermediate_size: 28672, num_attention_heads: 64, num_hidden_layers: 80, num_key_value_heads: 8 },
  // Qwen (v1): huggingface.co/Qwen/Qwen-7B and Qwen-1_8B config.json; its MLP's w1/w2 are
  // intermediate_size / 2 wide (modeling_qwen.py), qkv biased, lm_head untied: a qwen2-shaped decoder
  // (eos: the tokenizer's <|endoftext|>, 151643; the shape does not depend on it).
  'Qwen-7B': { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', eos_token_id: 151643, hidden_act: 'silu', rms_norm_eps: 1e-6, tie_word_embeddings: false, vocab_size: 151936, max_position_embeddings: 8192, hidden_size: 4096, intermediate_size: 11008, num_attention_heads: 32, num_hidden_layers: 32, num_key_value_heads: 32 },
  'Qwen-1.8B': { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', eos_token_id: 151643, hidden_act: 'silu', rms_norm_eps: 1e-6, tie_word_embeddings: false, vocab_size: 151936, max_position_embeddings: 8192, hidden_size: 2048, intermediate_size: 5504, num_attention_heads: 16, num_hidden_layers: 24, num_key_value_heads: 16 },
};
const PRESET = { 'Llama-2-7B': 'llama-2-7b', 'Llama-3-8B': 'llama-3.1-8b', 'Llama-3.1-8B': 'llama-3.1-8b', 'Llama-3.1-70B': 'llama-3.1-70b', 'Llama-3.2-3B': 'llama-3.2-3b', 'Mistral-7B-v0.1': 'mistral-7b-v0.1' };

/** GPT-2's record in ftplan is a classifier; a causal LM's head is priced as a vocabulary-wide head (its FLOPs exact; its weights counted once more than the tied model holds; its logits not counted). */
function shapeOf(row) {
  if (row.model.startsWith('gpt2')) return { cfg: modelConfig(row.model, { numLabels: 50257 }), note: 'GPT-2 causal LM priced as a 50,257-way head' };
  if (PRESET[row.model]) return { cfg: decoderPresetConfig(PRESET[row.model], 'causal-lm'), note: row.model === 'Llama-3-8B' ? "Llama-3.1-8B's shape (the same but for RoPE scaling)" : null };
  if (EXTRA[row.model]) return { cfg: parseDecoderConfigDetailed(EXTRA[row.model], { task: 'causal-lm', file: `config.json of ${row.model}` }).config, note: null };
  throw new Error(`${row.id}: no shape for ${row.model}`);
}

/** The row's adapters: rank and targets from its "lora" text (PEFT/torchtune/LitGPT names → ftplan's leaf names). */
function loraOf(row) {
  const t = row.lora ?? '';
  if (row.id.startsWith('qwen1-')) return { r: 64, targets: null, note: "Qwen finetune.py's defaults: r 64 on c_attn, c_proj, w1, w2 (every linear)" };
  if (row.id.startsWith('nemo-')) return { r: 32, targets: ['q_proj', 'k_proj', 'v_proj'], note: "NeMo's default LoRA: r 32 on the fused qkv" };
  const r = Number(/r\s*=\s*(\d+)/.exec(t)?.[1] ?? 8);
  if (/all linear/i.test(t)) return { r, targets: null, note: null };
  const on = /on ([^(]+)/.exec(t)?.[1] ?? '';
  const targets = [];
  if (/\bq\b/.test(on)) targets.push('q_proj');
  if (/\bk\b/.test(on)) targets.push('k_proj');
  if (/\bv\b/.test(on)) targets.push('v_proj');
  if (/\bo\b|output_proj/.test(on)) targets.push('o_proj');
  if (/MLP/.test(on)) targets.push('gate_proj', 'up_proj', 'down_proj');
  return { r, targets: targets.length ? targets : null, note: null };
}

/** How the row holds its weights, gradients and moments (its "precision" and "optimizer" as run). */
function precisionOf(row) {
  const p = row.precision;
  const o = row.optimizer ?? '';
  if (/AMP/.test(p) && /fp16/.test(p)) return { compute: 'fp16', masterBytes: 4, gradBytes: 4, momentBytes: 4 };
  const compute = /^fp16/.test(p) ? 'fp16' : 'bf16';
  const moment = /8bit/i.test(o) ? 1 : /32-bit states/.test(o) ? 4 : 2;
  return { compute, masterBytes: 2, gradBytes: 2, momentBytes: moment };
}

const fused = (row) => /flash|sdpa|torchtune|litgpt|nemo|xtuner/i.test(`${row.framework} ${row.id}`);
const chunkedLoss = (row) => /chunked cross-entropy|torchtune \(Sep 2024\)/i.test(row.framework);

function predict(row) {
  const { cfg, note: shapeNote } = shapeOf(row);
  const lora = loraOf(row);
  const precision = precisionOf(row);
  const quant = row.quantization ?? '';
  // bitsandbytes' and GPTQ's 4-bit loading quantise every linear of the blocks, whatever LoRA targets
  const spec = methodSpec({ method: row.method, loraR: lora.r, loraTargets: row.method === 'full' ? null : lora.targets, baseDtype: 'bf16', doubleQuant: /\+ double quantization|nf4-dq|torchao/i.test(quant), quantizeAll: row.method === 'qlora' });
  const sharded = row.count > 1 && /FSDP|ZeRO-3/.test(`${row.optimizer} ${row.framework}`);
  const checkpointing = row.gradientCheckpointing === true;
  const mi = {
    spec,
    precision,
    loss: chunkedLoss(row) ? 'chunked' : 'full-logits',
    activation: analyticActivations(cfg, row.seqLen, precision.compute, fused(row) ? 'fused' : 'materialized'),
    exact: { microBatch: row.microBatch, gradAccum: 1, checkpointing },
    shards: sharded ? row.count : 1,
    optimizerInBackward: /in backward|into backward/.test(row.optimizer ?? ''),
    // PyTorch's AdamW on CUDA: foreach by default (one temporary copy of the parameters), fused when
    // asked; bitsandbytes' paged optimizers and fused framework optimizers keep none
    optimizerTemporaries: /fused|Paged|bitsandbytes/i.test(row.optimizer ?? '') ? 'fused' : /AdamW|Adam \(torch\)/.test(row.optimizer ?? '') ? 'foreach' : 'per-tensor',
    bands: null,
    kernelsPerLayer: kernelsPerLayerOf(cfg),
    parameterTensors: parameterTensorsOf(cfg),
  };
  const { fit, step } = predictExact({ model: cfg, measurement: null, gpus, gpu: row.gpu, count: row.count, seqLen: row.seqLen }, mi);
  const notes = [shapeNote, row.method !== 'full' ? lora.note : null, row.gradientCheckpointing === null ? 'checkpointing not stated: predicted without' : null, fit.fits ? null : `predicted not to fit (${fit.reason})`].filter(Boolean);
  // the fraction of the GPUs' dense peak the published throughput implies at the model's FLOPs per token (recomputation counted)
  const impliedMfu = row.tokensPerSec !== null ? (row.tokensPerSec * step.flopsPerToken) / (row.count * peakFlops(gpus[row.gpu], precision.compute)) : null;
  return { tokensPerSec: step.tokensPerSec, peakGiB: fit.memory.peakBytes / 2 ** 30, fits: fit.fits, basis: step.basis, notes, sharded, loss: mi.loss, attention: fused(row) ? 'fused' : 'materialized', impliedMfu, efficiency: step.efficiency };
}

const pct = (pred, pub) => Math.round(((pred - pub) / pub) * 1000) / 10;
const rows = published.rows;
const out = [];
for (const row of rows) {
  const p = predict(row);
  const tokens = row.tokensPerSec !== null ? Math.round(p.tokensPerSec) : null;
  const mem = row.peakMemoryGiB !== null ? Math.round(p.peakGiB * 100) / 100 : null;
  row.ftplanPredicted = tokens === null && mem === null ? null : { tokensPerSec: tokens, peakMemoryGiB: mem, fits: p.fits, basis: p.basis, loss: p.loss, attention: p.attention, sharding: p.sharded ? 'fsdp' : 'none', efficiency: Math.round(p.efficiency * 1000) / 1000, publishedMfu: p.impliedMfu === null ? null : Math.round(p.impliedMfu * 1000) / 1000, notes: p.notes };
  row.error = { tokensPerSecPct: tokens === null ? null : pct(tokens, row.tokensPerSec), memoryPct: mem === null ? null : pct(mem, row.peakMemoryGiB) };
  out.push(row);
}

const abs = (xs) => xs.map(Math.abs);
const eagerTokens = out.filter((r) => r.execution === 'eager' && r.error.tokensPerSecPct !== null).map((r) => r.error.tokensPerSecPct);
const otherTokens = out.filter((r) => r.execution !== 'eager' && r.error.tokensPerSecPct !== null).map((r) => r.error.tokensPerSecPct);
const memory = out.filter((r) => r.error.memoryPct !== null).map((r) => r.error.memoryPct);
const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
const date = new Date().toISOString().slice(0, 10);
const fig = (xs) => ({ pct: Math.round(percentile(abs(xs), BAND_PERCENTILE) * 10) / 10, medianPct: Math.round(median(abs(xs)) * 10) / 10, rows: xs.length });
const bands = {
  schema: 'ftplan.error-bands/1',
  percentile: BAND_PERCENTILE,
  source: 'bench/published-compare.mjs over bench/published.json',
  commit,
  date,
  tokensPerSec: { analytic: fig(eagerTokens) },
  memory: fig(memory),
};
const signed = (xs) => `median ${median(xs) >= 0 ? '+' : ''}${median(xs).toFixed(1)}%`;
const summary = [
  `Computed ${date} at commit ${commit.slice(0, 8)} by \`node bench/published-compare.mjs\` (the planner's \`--exact\` path, analytic basis: shapes and published GPU peaks only).`,
  '',
  `- tokens/s, eager rows: median |error| ${bands.tokensPerSec.analytic.medianPct}% over ${eagerTokens.length} rows (${signed(eagerTokens)}); ${BAND_PERCENTILE}th percentile ${bands.tokensPerSec.analytic.pct}%.`,
  `- tokens/s, compiled and fused rows (not in the goal): median |error| ${(median(abs(otherTokens)) || 0).toFixed(1)}% over ${otherTokens.length} rows (${signed(otherTokens)}).`,
  `- peak memory, every row with a figure: median |error| ${bands.memory.medianPct}% over ${memory.length} rows (${signed(memory)}); ${BAND_PERCENTILE}th percentile ${bands.memory.pct}%.`,
  `- error bands (pricing/error-bands.json): tokens/s ±${bands.tokensPerSec.analytic.pct}% (analytic basis), memory ±${bands.memory.pct}%.`,
].join('\n');

const cellPred = (r) => (r.ftplanPredicted === null ? '' : [r.ftplanPredicted.tokensPerSec !== null ? `${r.ftplanPredicted.tokensPerSec} tok/s` : null, r.ftplanPredicted.peakMemoryGiB !== null ? `${r.ftplanPredicted.peakMemoryGiB} GiB${r.ftplanPredicted.fits ? '' : ' (no fit)'}` : null].filter(Boolean).join('; '));
const cellErr = (r) => [r.error.tokensPerSecPct !== null ? `${r.error.tokensPerSecPct >= 0 ? '+' : ''}${r.error.tokensPerSecPct}%` : null, r.error.memoryPct !== null ? `${r.error.memoryPct >= 0 ? '+' : ''}${r.error.memoryPct}% mem` : null].filter(Boolean).join('; ');

for (const r of out) console.log(`${r.id.padEnd(42)} ${cellPred(r).padEnd(34)} ${cellErr(r).padEnd(20)} ${r.ftplanPredicted?.publishedMfu != null ? `MFU published ${(100 * r.ftplanPredicted.publishedMfu).toFixed(0)}% vs assumed ${(100 * r.ftplanPredicted.efficiency).toFixed(0)}%` : ''}${r.ftplanPredicted?.notes.length ? `  [${r.ftplanPredicted.notes.join('; ')}]` : ''}`);
console.log(`\n${summary}`);

if (!check) {
  published.note = "Published fine-tuning measurements, one object per row of bench/published.md's table. tokensPerSec is all `count` GPUs together; tokensPerSecPerGpu per GPU; peakMemoryGiB per GPU (memoryKind says what was measured). ftplanPredicted (tokens/s of the run, peak GiB per GPU, whether it fits, the basis, how the row was read, the efficiency assumed and the MFU the published throughput implies) and error (percent, (predicted − published) ÷ published) are written by bench/published-compare.mjs from the planner's --exact prediction.";
  writeFileSync(jsonPath, `${JSON.stringify(published, null, 2)}\n`);
  let md = readFileSync(mdPath, 'utf8');
  const byId = new Map(out.map((r) => [r.id, r]));
  md = md
    .split('\n')
    .map((line) => {
      const m = /^\| ([a-z0-9.-]+) \|/.exec(line);
      const r = m && byId.get(m[1]);
      if (!r) return line;
      const cells = line.slice(1, line.lastIndexOf('|')).split('|');
      cells[cells.length - 2] = ` ${cellPred(r)} `;
      cells[cells.length - 1] = ` ${cellErr(r)} `;
      return `|${cells.join('|')}|`;
    })
    .join('\n');
  const start = '<!-- published-compare: start -->';
  const end = '<!-- published-compare: end -->';
  if (md.includes(start)) md = `${md.slice(0, md.indexOf(start) + start.length)}\n${summary}\n${md.slice(md.indexOf(end))}`;
  writeFileSync(mdPath, md);
  writeFileSync(`${root}pricing/error-bands.json`, `${JSON.stringify(bands, null, 2)}\n`);
  console.log('\nwrote bench/published.json, bench/published.md, pricing/error-bands.json');
}
