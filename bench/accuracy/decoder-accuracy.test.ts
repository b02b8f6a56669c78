// A small Llama trained from scratch on the real tweets (FTPLAN_DATA), through the CLI as a user
// runs it: the classification head, and the causal-LM head on the tweets written as "tweet →
// sentiment word" pairs, each against the bar the GPT-2 reference run clears (55%). The model is a
// folder with a config.json of a small Llama shape and the Llama 3 tokenizer's files (the npm
// package's): no weights (--init random), nothing downloaded. The numbers: bench/RESULTS.md.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packagedTokenizerDir } from '../../src/data/lm-tokenizer.js';
import { ftplan as cli, tempDir } from '../../test/helpers.js';
import { TWEETS } from '../../test/real-data.js';

const tmp = () => tempDir('ftplan-dec-acc-');
// a hang guard only: the causal-LM run's 128k-vocabulary head makes its steps the slow ones
const ftplan = (args: string[]) => cli(args, { timeoutMs: 5_400_000 });

/** A 4-layer Llama (GQA, 128 wide) with Llama 3's vocabulary and tokenizer, tied embeddings. */
function smallLlama(task: 'classification' | 'causal-lm'): string {
  const dir = join(tmp(), `small-llama-${task}`);
  mkdirSync(dir, { recursive: true });
  const config = {
    architectures: [task === 'causal-lm' ? 'LlamaForCausalLM' : 'LlamaForSequenceClassification'],
    model_type: 'llama',
    vocab_size: 128_256,
    hidden_size: 128,
    intermediate_size: 344,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-5,
    rope_theta: 500_000,
    hidden_act: 'silu',
    tie_word_embeddings: true,
    bos_token_id: 128_000,
    eos_token_id: 128_009,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const tok = packagedTokenizerDir('llama3');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(tok, f), join(dir, f));
  return dir;
}

const COMMON = ['--init', 'random', '--dataset', TWEETS, '--limit', '5000', '--epochs', '3', '--lr', '1e-3', '--warmup-ratio', '0.1', '--json'];

describe('a small Llama from scratch on 5,000 tweets', () => {
  it('classification (score head at the last token, BOS in front): test accuracy on all 3,534 rows at least 55%', () => {
    const out = tmp();
    const r = ftplan(['run', '--model', smallLlama('classification'), ...COMMON, '--output-dir', out]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.status).toBe('completed');
    expect(j.steps).toBe(939);
    expect(j.finalEval.rows).toBe(3_534);
    console.log(`small llama, classification: accuracy ${(j.finalEval.accuracy * 100).toFixed(2)}%, ${j.tokensPerSec.toFixed(0)} tokens/s`);
    expect(j.finalEval.accuracy).toBeGreaterThanOrEqual(0.55);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).architectures).toEqual(['LlamaForSequenceClassification']);
  }, 5_400_000);

  it('causal-lm on "Tweet: … Sentiment: <word>" pairs: exact match of the label word on the test rows at least 55%', () => {
    const out = tmp();
    const r = ftplan(['run', '--model', smallLlama('causal-lm'), '--task', 'causal-lm', ...COMMON, '--output-dir', out]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.status).toBe('completed');
    expect(j.task).toBe('causal-lm');
    expect(j.finalEval.rows).toBe(3_534);
    expect(j.finalEval.exactMatchRows).toBe(3_534);
    console.log(`small llama, causal-lm: exact match ${(j.finalEval.exactMatch * 100).toFixed(2)}%, loss ${j.finalEval.loss.toFixed(4)}, ${j.tokensPerSec.toFixed(0)} tokens/s`);
    expect(j.finalEval.exactMatch).toBeGreaterThanOrEqual(0.55);
    const ev = ftplan(['eval', '--model', out, '--dataset', TWEETS, '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    expect(JSON.parse(ev.stdout).metrics).toEqual(j.finalEval);
  }, 5_400_000);
});
