// The causal-LM view of a data set through the tool (lm-data.ts, profile --task causal-lm): the
// format picked from the columns (a labelled set becomes "text → label word" pairs), the counted
// skips, a chat template that fails, and the profile's JSON — with a byte-level tokenizer built in
// the test (decoder-cli-fixtures.ts), nothing downloaded.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runProfile } from '../../src/commands/profile.js';
import { loadLmData, resolveLmFormat } from '../../src/data/lm-data.js';
import { folderLmTokenizer } from '../../src/data/lm-tokenizer.js';
import { FtplanError } from '../../src/errors.js';
import { byteTokenizerFolder, SPECIALS } from '../decoder-cli-fixtures.js';
import { labelledDataset } from '../fixtures.js';
import { tempDir } from '../helpers.js';

const jsonl = (file: string, rows: object[]) => writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');

function tokenizer(chatTemplate?: string | null) {
  const dir = tempDir('lmdata-tok');
  byteTokenizerFolder(dir, { chatTemplate });
  return { dir, tok: folderLmTokenizer(dir) };
}

describe('the format a causal-LM run reads a data set in', () => {
  it('auto: messages, then prompt + completion, then a label column (labels), else text; a named format wins', () => {
    expect(resolveLmFormat(['messages', 'text', 'label'], 'auto')).toBe('messages');
    expect(resolveLmFormat(['prompt', 'completion', 'label'], 'auto')).toBe('prompt-completion');
    expect(resolveLmFormat(['text', 'label', 'label_text'], 'auto')).toBe('labels');
    expect(resolveLmFormat(['text', 'Sentiment'], 'auto')).toBe('labels');
    expect(resolveLmFormat(['text', 'stars'], 'auto', 'stars')).toBe('labels');
    expect(resolveLmFormat(['text', 'id'], 'auto')).toBe('text');
    expect(resolveLmFormat(['text', 'label'], 'text')).toBe('text');
  });

  it('a labelled set becomes prompt/completion pairs: only the label word and EOS count, per split', async () => {
    const ds = labelledDataset({ train: 12, test: 6, seed: 3 });
    const { tok } = tokenizer();
    const data = await loadLmData(ds.dir, { tokenizer: tok, seqLen: 2048, format: 'auto' });
    expect(data.format).toBe('prompt-completion');
    expect(data.labelled?.labels).toEqual(['negative', 'neutral', 'positive']);
    const train = data.splits.train!;
    expect(train.examples).toHaveLength(12);
    for (const e of train.examples) {
      expect(e.inputIds[0]).toBe(SPECIALS.bos);
      const counted = e.inputIds.filter((_, i) => e.lmLabels[i] !== -100);
      // " negative" | " neutral" | " positive" in bytes, then EOS: nothing of the prompt counts
      const word = Buffer.from(counted.slice(0, -1)).toString('utf8');
      expect([' negative', ' neutral', ' positive']).toContain(word);
      expect(counted[counted.length - 1]).toBe(SPECIALS.eos);
      expect(e.targets).toBe(counted.length);
    }
    expect(data.splits.test!.examples).toHaveLength(6);
  });

  it('a prompt that fills the sequence is a counted skip, not a row that teaches nothing', async () => {
    const dir = tempDir('lmdata-long');
    jsonl(join(dir, 'train.jsonl'), [
      { prompt: 'x'.repeat(40), completion: ' yes' },
      { prompt: 'short', completion: ' no' },
    ]);
    const { tok } = tokenizer();
    const data = await loadLmData(join(dir, 'train.jsonl'), { tokenizer: tok, seqLen: 24, format: 'auto' });
    const t = data.splits.train!;
    expect(t.examples).toHaveLength(1);
    expect(t.skipped.noTarget).toBe(1);
    expect(t.rowsRead).toBe(2);
  });

  it('a chat template that fails to render names the row and the template', async () => {
    const dir = tempDir('lmdata-chat');
    jsonl(join(dir, 'train.jsonl'), [{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }]);
    const { tok } = tokenizer("{{ raise_exception('roles must alternate user/assistant') }}");
    const err = await loadLmData(join(dir, 'train.jsonl'), { tokenizer: tok, seqLen: 64, format: 'auto' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FtplanError);
    expect((err as FtplanError).message).toMatch(/train\.jsonl row 1: the chat template .* fails to render this conversation: .*roles must alternate/);
    expect((err as FtplanError).exitCode).toBe(2);
  });
});

describe('ftplan profile --task causal-lm', () => {
  it('reports rows, token lengths, counted targets and skips per split, with the tokenizer named', async () => {
    const ds = labelledDataset({ train: 20, test: 8, seed: 5 });
    const { dir } = tokenizer();
    let printed = '';
    await runProfile({ dataset: ds.dir, task: 'causal-lm', lmFormat: 'auto', tokenizer: dir, batchSize: 4, maxLength: 2048, seed: 1, json: true, emptyText: 'keep', unknownLabels: 'drop' }, (s) => (printed += s));
    const p = JSON.parse(printed);
    expect(p.schema).toBe('ftplan.lm-profile/1');
    expect(p.format).toBe('prompt-completion');
    expect(p.tokenizer).toContain(join(dir, 'tokenizer.json'));
    expect(p.splits.train.rows).toBe(20);
    expect(p.splits.test.rows).toBe(8);
    // label word (7–9 bytes with its space) + EOS per row
    expect(p.splits.train.targets.mean).toBeGreaterThanOrEqual(8);
    expect(p.splits.train.targets.mean).toBeLessThanOrEqual(10);
    expect(p.labelled.labels).toEqual(['negative', 'neutral', 'positive']);
    expect(p.batching.batchSize).toBe(4);
    expect(p.batching.train.longest.tokens).toBeGreaterThanOrEqual(p.splits.train.tokens.total);
  });

  it('--lm-format without --task causal-lm is a usage error', async () => {
    const ds = labelledDataset({ train: 4, test: 2 });
    const err = await runProfile({ dataset: ds.dir, task: 'classification', lmFormat: 'text', batchSize: 4, maxLength: 64, seed: 1, json: true, emptyText: 'keep', unknownLabels: 'drop' }, () => {}).catch((e: unknown) => e);
    expect((err as FtplanError).exitCode).toBe(2);
    expect((err as FtplanError).message).toMatch(/--lm-format text is for --task causal-lm/);
  });
});
