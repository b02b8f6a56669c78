// The Llama-family decoders through the whole tool, as a user runs it: estimate (family, task and
// FLOPs per token in the JSON), run → eval for both tasks (the saved folder reproduces the run's
// final metrics exactly), resume bit for bit, and bad input. Tiny random checkpoints with a byte
// tokenizer (decoder-cli-fixtures.ts) on a synthetic labelled set: small and fast, nothing
// downloaded. The accuracy runs on the real tweets are benchmarks (bench/accuracy/decoder-accuracy.test.ts, npm run bench:accuracy).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decoderFlopsPerToken } from '../../src/model/decoder-size.js';
import { parseDecoderConfig } from '../../src/model/families.js';
import { tinyDecoderFolder } from '../decoder-cli-fixtures.js';
import { labelledDataset } from '../fixtures.js';
import { ftplan as cli, tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-dec-');
const DATASET = labelledDataset({ dir: join(tmp(), 'tweets'), train: 240, test: 40, seed: 17 }).dir;
const ftplan = (args: string[]) => cli(args);
const QUICK = ['--threads', '1', '--seed', '3'];
const EVAL = ['--threads', '1'];

describe('ftplan estimate with a Llama-family decoder', () => {
  it('measures a causal-LM step here and plans; the JSON says the family, the task and the FLOPs per token (6N + attention, the LM head counted)', () => {
    const model = tinyDecoderFolder(join(tmp(), 'tiny-llama'), 'llama', 'causal-lm', { seed: 2 });
    const r = ftplan(['estimate', '--model', model.dir, '--task', 'causal-lm', '--dataset', DATASET, '--limit', '64', '--batch-size', '4', '--eval-batch-size', '8', '--steps', '2', '--min-time', '0', '--json', ...QUICK]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.family).toBe('llama');
    expect(j.task).toBe('causal-lm');
    const cfg = parseDecoderConfig(JSON.parse(readFileSync(join(model.dir, 'config.json'), 'utf8')), { task: 'causal-lm', file: 'config.json' });
    expect(j.flopsPerToken).toBe(decoderFlopsPerToken(cfg, j.measurement.seqLen).flopsPerToken);
    expect(j.flopsPerToken).toBe(j.measurement.flopsPerToken);
    expect(j.parameters).toBe(j.measurement.parameters);
    expect(j.dataset.format).toBe('prompt-completion');
    expect(j.dataset.targetsPerRow).toBeGreaterThan(1);
    expect(j.checkpoint.weights).toBe('checked');
    expect(j.plan.rows.length).toBeGreaterThan(0);
    expect(j.plan.rows.some((row: { fits: boolean }) => row.fits)).toBe(true);
    expect(j.projection.totalSteps).toBeGreaterThan(0);
    // re-planned from the saved JSON (no LibTorch), and launched with the task it measured
    const saved = join(tmp(), 'est.json');
    writeFileSync(saved, r.stdout);
    const re = ftplan(['estimate', '--measurement', saved, '--dataset', DATASET, '--limit', '64', '--gpu', 'A100', '--json']);
    expect(re.code, re.stderr).toBe(0);
    const rj = JSON.parse(re.stdout);
    expect([rj.family, rj.task, rj.flopsPerToken]).toEqual(['llama', 'causal-lm', j.flopsPerToken]);
    expect(rj.plan.rows.every((row: { gpu: string }) => row.gpu.startsWith('A100'))).toBe(true);
    const plan = join(tmp(), 'plan.json');
    writeFileSync(plan, re.stdout);
    const yaml = ftplan(['launch', '--emit', 'skypilot', '--plan', plan, '--dataset', DATASET]);
    expect(yaml.code, yaml.stderr).toBe(0);
    expect(yaml.stdout).toMatch(/ftplan\.js run .*--task causal-lm/);
  }, 300_000);

  it('GPT-2 with --task causal-lm is a usage error naming the families that do it', () => {
    const r = ftplan(['estimate', '--model', 'tiny', '--task', 'causal-lm', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/GPT-2, and ftplan fine-tunes GPT-2 with a classification head only/);
    expect(r.stderr).toMatch(/llama, mistral, qwen2, qwen3/);
  });

  it('an unknown model_type names the supported ones', () => {
    const dir = join(tmp(), 'neox');
    tinyDecoderFolder(dir, 'llama', 'causal-lm');
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'gpt_neox', architectures: ['GPTNeoXForCausalLM'] }));
    const r = ftplan(['estimate', '--model', dir, '--task', 'causal-lm', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/gpt_neox/);
    expect(r.stderr).toMatch(/gpt2, llama, mistral, qwen2, qwen3/);
  });
});

describe('ftplan run → ftplan eval with a Llama-family decoder', () => {
  it('classification: rows with the tokenizer\'s BOS, a score head trained, saved as an HF folder; eval reproduces the final metrics exactly', () => {
    const model = tinyDecoderFolder(join(tmp(), 'tiny-llama-cls'), 'llama', 'classification', { seed: 4 });
    const out = tmp();
    const r = ftplan(['run', '--model', model.dir, '--dataset', DATASET, '--epochs', '1', '--batch-size', '8', '--lr', '3e-3', '--output-dir', out, '--json', ...QUICK]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(run.status).toBe('completed');
    expect(run.init.init).toBe('pretrained');
    expect(run.finalEval.rows).toBe(40);
    expect(run.task).toBeUndefined(); // a classification run's JSON is as GPT-2's
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(saved.architectures).toEqual(['LlamaForSequenceClassification']);
    expect(saved.id2label).toEqual({ 0: 'negative', 1: 'neutral', 2: 'positive' });
    for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) expect(existsSync(join(out, f)), f).toBe(true);
    const ev = ftplan(['eval', '--model', out, '--dataset', DATASET, '--json', ...EVAL]);
    expect(ev.code, ev.stderr).toBe(0);
    expect(JSON.parse(ev.stdout).metrics).toEqual(run.finalEval);
  }, 600_000);

  it('causal-lm: the labelled set as "text → label word" pairs, loss / perplexity / exact match; the saved folder (tied qwen3) reproduces them exactly', () => {
    const model = tinyDecoderFolder(join(tmp(), 'tiny-qwen3-lm'), 'qwen3', 'causal-lm', { seed: 5 });
    const out = tmp();
    const r = ftplan(['run', '--model', model.dir, '--task', 'causal-lm', '--dataset', DATASET, '--epochs', '1', '--batch-size', '8', '--lr', '3e-3', '--output-dir', out, '--json', ...QUICK]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(run.task).toBe('causal-lm');
    const m = run.finalEval;
    expect(m.perplexity).toBeCloseTo(Math.exp(m.loss), 10);
    expect(m.rows).toBeGreaterThan(30); // rows whose prompt fills the 256 positions are skipped, and counted in the log
    expect(m.exactMatchRows).toBe(m.rows); // every completion is a short label word
    expect(m.exactMatch).toBeGreaterThanOrEqual(0);
    expect(run.lmData.format).toBe('prompt-completion');
    const test = run.lmData.splits.find((s: { name: string }) => s.name === 'test');
    expect(test.rows + test.skipped.noTarget).toBe(40); // every row kept or counted
    expect(test.rows).toBe(m.rows);
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(saved.architectures).toEqual(['Qwen3ForCausalLM']);
    expect(saved.tie_word_embeddings).toBe(true);
    const ev = ftplan(['eval', '--model', out, '--dataset', DATASET, '--json', ...EVAL]); // the task from the folder's architectures
    expect(ev.code, ev.stderr).toBe(0);
    const e = JSON.parse(ev.stdout);
    expect(e.task).toBe('causal-lm');
    expect(e.metrics).toEqual(run.finalEval);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.type === 'eval').at(-1).perplexity).toBe(m.perplexity);
  }, 600_000);

  it('resume: a run continued from a mid-run checkpoint ends bit for bit where the uninterrupted run ends', () => {
    const model = tinyDecoderFolder(join(tmp(), 'tiny-mistral-lm'), 'mistral', 'causal-lm', { seed: 6 });
    const args = ['run', '--model', model.dir, '--task', 'causal-lm', '--dataset', DATASET, '--limit', '96', '--eval-limit', '16', '--epochs', '2', '--batch-size', '8', '--lr', '2e-3', '--json', ...QUICK];
    const whole = tmp();
    const a = ftplan([...args, '--output-dir', whole, '--save-steps', '5']);
    expect(a.code, a.stderr).toBe(0);
    expect(existsSync(join(whole, 'checkpoint-5', 'training_state.pt'))).toBe(true);
    const again = tmp();
    const b = ftplan([...args, '--output-dir', again, '--resume', join(whole, 'checkpoint-5')]);
    expect(b.code, b.stderr).toBe(0);
    const resumed = JSON.parse(b.stdout);
    expect(resumed.resumedFrom).toBe(join(whole, 'checkpoint-5'));
    expect(resumed.steps).toBe(JSON.parse(a.stdout).steps);
    expect(readFileSync(join(again, 'model.safetensors')).equals(readFileSync(join(whole, 'model.safetensors')))).toBe(true);
    expect(resumed.finalEval).toEqual(JSON.parse(a.stdout).finalEval);
  }, 600_000);

  it('the budget guard stops a decoder run after its first step, leaving a resumable checkpoint in the HF layout', () => {
    const model = tinyDecoderFolder(join(tmp(), 'tiny-llama-budget'), 'llama', 'causal-lm', { seed: 8 });
    const out = tmp();
    const r = ftplan(['run', '--model', model.dir, '--task', 'causal-lm', '--dataset', DATASET, '--limit', '64', '--epochs', '1', '--batch-size', '8', '--price-per-hour', '3600', '--budget', '0.000001', '--output-dir', out, '--json', ...QUICK]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.status).toBe('budget');
    expect(j.steps).toBe(1);
    expect(j.checkpoint).toBe(join(out, 'checkpoint-1'));
    for (const f of ['model.safetensors', 'config.json', 'training_state.pt', 'tokenizer.json']) expect(existsSync(join(j.checkpoint, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(j.checkpoint, 'config.json'), 'utf8')).architectures).toEqual(['LlamaForCausalLM']);
  }, 120_000);

  it('a data set whose every prompt fills the sequence is refused with the counted skips', () => {
    const model = tinyDecoderFolder(join(tmp(), 'tiny-qwen2-lm'), 'qwen2', 'causal-lm', { seed: 7, config: { max_position_embeddings: 16 } });
    const file = join(tmp(), 'long.jsonl');
    writeFileSync(file, [{ prompt: 'a prompt much longer than sixteen bytes', completion: ' yes' }, { prompt: 'another prompt longer than the model', completion: ' no' }].map((x) => JSON.stringify(x)).join('\n'));
    const r = ftplan(['run', '--model', model.dir, '--task', 'causal-lm', '--dataset', file, '--output-dir', tmp(), ...QUICK]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no training rows left to learn from \(2 read: 2 with no counted token within 16 tokens/);
  }, 120_000);
});
