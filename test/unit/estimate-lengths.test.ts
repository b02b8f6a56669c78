// The token lengths an estimate plans with, per family and task (src/estimate/lengths.ts): a
// preset's causal-LM estimate reads the shipped profile of the tweets in its own packaged
// tokenizer (nothing downloaded), others say which stands in; --dataset is profiled with the
// model's tokenizer; GPT-2 keeps its shipped profile.
import { describe, expect, it } from 'vitest';
import { estimateLengths, type LengthOptions } from '../../src/estimate/lengths.js';
import { resolveDecoder } from '../../src/model/decoder-source.js';
import { resolveAnyModel } from '../../src/model/resolve.js';
import { savedTask } from '../../src/commands/eval.js';
import { FtplanError } from '../../src/errors.js';
import { tinyDecoderFolder } from '../decoder-cli-fixtures.js';
import { labelledDataset } from '../fixtures.js';
import { tempDir } from '../helpers.js';

const opts: LengthOptions = { seed: 1, emptyText: 'keep', unknownLabels: 'drop', lmFormat: 'auto', seqLen: 4096 };

describe('estimate lengths', () => {
  it('a causal-LM preset plans with the shipped profile in its own tokenizer; a family without a packaged tokenizer says which stands in', async () => {
    const qwen = await estimateLengths('causal-lm', resolveDecoder('qwen2.5-0.5b', 'causal-lm'), opts);
    expect(qwen.tokenizer).toMatch(/^qwen3/);
    expect(qwen.splits.train.rows).toBe(27_481);
    expect(qwen.splits.train.targets?.mean).toBe(2);
    expect(qwen.note).toBeNull();
    const llama = await estimateLengths('causal-lm', resolveDecoder('llama-3.2-1b', 'causal-lm'), opts);
    expect(llama.tokenizer).toMatch(/^llama3/);
    const mistral = await estimateLengths('causal-lm', resolveDecoder('mistral-7b', 'causal-lm'), opts);
    expect(mistral.note).toMatch(/token lengths of the llama3 tokenizer/);
    const gpt2 = await estimateLengths('classification', null, opts);
    expect(gpt2.labels).toEqual(['negative', 'neutral', 'positive']);
    expect(gpt2.note).toBeNull();
  });

  it('--dataset with a decoder folder: classification rows with its BOS, causal-lm rows as label-word pairs', async () => {
    const ds = labelledDataset({ train: 30, test: 9, seed: 8 });
    const model = tinyDecoderFolder(tempDir('len-model'), 'llama', 'causal-lm');
    const d = resolveDecoder(model.dir, 'causal-lm');
    const lm = await estimateLengths('causal-lm', d, { ...opts, dataset: ds.dir });
    expect(lm.format).toBe('prompt-completion');
    expect(lm.splits.train.rows).toBe(30);
    const cls = await estimateLengths('classification', resolveDecoder(model.dir, 'classification'), { ...opts, dataset: ds.dir });
    // bytes + BOS: one more token than the bytes of the text (an empty text is the BOS alone)
    const lengths = Object.entries(cls.splits.train.tokens.histogram).flatMap(([n, c]) => Array(c).fill(Number(n)));
    const bytes = ds.train.map((r) => Buffer.byteLength(r.text) + 1).sort((a, b) => a - b);
    expect(lengths.sort((a, b) => a - b)).toEqual(bytes);
  });

  it('GPT-2 with --task causal-lm is a usage error; a saved checkpoint says its task in architectures', async () => {
    const err = await resolveAnyModel('tiny', { task: 'causal-lm', need: 'shape' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FtplanError);
    expect((err as FtplanError).exitCode).toBe(2);
    expect(savedTask({ architectures: ['Qwen3ForCausalLM'] })).toBe('causal-lm');
    expect(savedTask({ architectures: ['LlamaForSequenceClassification'] })).toBe('classification');
    expect(savedTask({})).toBeNull();
  });
});
