// Causal-LM data sets from files (jsonl, csv, parquet), their format detected from the columns,
// skips and cuts counted per split; a labelled set written as "text → label word" pairs and read
// back as prompt/completion data.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/loaders.js';
import { IGNORE_INDEX } from '../../src/data/lm-examples.js';
import { labelWords, toPromptCompletion, TWEET_SENTIMENT_TEMPLATE, writePromptCompletionSplits } from '../../src/data/lm-from-labels.js';
import { lmFormatFor, loadLmDataset } from '../../src/data/lm-dataset.js';
import { packagedTokenizer } from '../../src/data/lm-tokenizer.js';
import { FtplanError } from '../../src/errors.js';
import { labelledDataset } from '../fixtures.js';
import { tempDir } from '../helpers.js';

const qwen = packagedTokenizer('qwen3');
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('loadLmDataset', () => {
  it('prompt/completion jsonl: format detected, the prompt that fills the sequence skipped and counted, long rows cut and counted', async () => {
    const dir = tempDir('lm-pc');
    const rows = [
      { prompt: 'Q: 2+2?\nA:', completion: ' 4' },
      { prompt: 'word '.repeat(100), completion: ' never seen' },
      { prompt: 'Q: capital of France?\nA:', completion: ' Paris, a city of '.concat('many '.repeat(50)) },
      { prompt: 'Q: empty?\nA:', completion: '' },
    ];
    writeFileSync(join(dir, 'train.jsonl'), jsonl(rows));
    writeFileSync(join(dir, 'test.jsonl'), jsonl(rows.slice(0, 1)));
    const ds = await loadLmDataset(dir, { tokenizer: qwen, seqLen: 32 });
    expect(ds.format).toBe('prompt-completion');
    expect(ds.formatSource).toMatch(/detected from the columns \(prompt, completion\)/);
    const train = ds.splits.train!;
    expect(train.rowsRead).toBe(4);
    expect(train.examples).toHaveLength(2);
    expect(train.skipped).toEqual({ noTarget: 1, empty: 1, limit: 0 });
    expect(train.truncated).toBe(1);
    expect(train.examples[1]!.length).toBe(32);
    expect(train.targets).toBe(train.examples.reduce((a, e) => a + e.targets, 0));
    expect(ds.splits.test!.examples).toHaveLength(1);
    expect(ds.chatTemplate).toBeNull();
  });

  it('text in csv, prompt/completion in parquet, messages in jsonl', async () => {
    const dir = tempDir('lm-text');
    writeFileSync(join(dir, 'train.csv'), 'text,source\n"Hello world",a\n"Second, with a comma",b\n');
    const ds = await loadLmDataset(join(dir, 'train.csv'), { tokenizer: qwen, seqLen: 16 });
    expect(ds.format).toBe('text');
    expect(ds.splits.train!.examples[0]!.inputIds).toEqual([9707, 1879, 151645]);

    const pq = join(tempDir('lm-pq'), 'train.parquet');
    writeFileSync(pq, Buffer.from(parquetWriteBuffer({ columnData: [{ name: 'prompt', data: ['a:', 'b:'], type: 'STRING' }, { name: 'completion', data: [' x', ' y'], type: 'STRING' }] })));
    const p = await loadLmDataset(pq, { tokenizer: qwen, seqLen: 16 });
    expect(p.format).toBe('prompt-completion');
    expect(p.splits.train!.examples).toHaveLength(2);

    const chats = join(tempDir('lm-chat'), 'train.jsonl');
    writeFileSync(chats, jsonl([{ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }] }]));
    const c = await loadLmDataset(chats, { tokenizer: qwen, seqLen: 64 });
    expect(c.format).toBe('messages');
    expect(c.chatTemplate).toMatch(/tokenizer_config\.json$/);
    const e = c.splits.train!.examples[0]!;
    expect(qwen.decode(e.inputIds.filter((_, i) => e.lmLabels[i] !== IGNORE_INDEX))).toBe('<think>\n\n</think>\n\nHello!<|im_end|>\n');
  });

  it('--limit samples training rows (seeded) and counts the rest; errors name the file and the row', async () => {
    const dir = tempDir('lm-limit');
    writeFileSync(join(dir, 'train.jsonl'), jsonl(Array.from({ length: 20 }, (_, i) => ({ text: `row ${i}` }))));
    const a = await loadLmDataset(join(dir, 'train.jsonl'), { tokenizer: qwen, seqLen: 16, limit: 5, seed: 3 });
    const b = await loadLmDataset(join(dir, 'train.jsonl'), { tokenizer: qwen, seqLen: 16, limit: 5, seed: 3 });
    expect(a.splits.train!.examples).toHaveLength(5);
    expect(a.splits.train!.skipped.limit).toBe(15);
    expect(a.splits.train!.examples.map((e) => e.inputIds)).toEqual(b.splits.train!.examples.map((e) => e.inputIds));

    const bad = join(tempDir('lm-bad'), 'train.jsonl');
    writeFileSync(bad, jsonl([{ messages: [{ role: 'user', content: 'Hi' }] }, { messages: [{ role: 'user' }] }]));
    await expect(loadLmDataset(bad, { tokenizer: qwen, seqLen: 16 })).rejects.toThrow(/train\.jsonl row 2: message 0 \(user\) has no text content/);
  });

  it('no causal-LM columns, or a format the columns lack: errors that say which columns to give', async () => {
    const file = join(tempDir('lm-cols'), 'train.csv');
    writeFileSync(file, 'sentence,label\nhello,1\n');
    const err = await loadLmDataset(file, { tokenizer: qwen, seqLen: 16 }).catch((e: unknown) => e as FtplanError);
    expect(err).toBeInstanceOf(FtplanError);
    expect((err as FtplanError).message).toMatch(/train\.csv: no causal-LM columns \(columns: sentence, label\)/);
    expect((err as FtplanError).fix).toMatch(/'text'.*'prompt' and 'completion'.*'messages'/);
    expect(() => lmFormatFor(['text'], 'messages', 'f.jsonl')).toThrow(/f\.jsonl: the messages format needs column 'messages'/);
    expect(lmFormatFor(['text', 'x'], 'text', 'f.jsonl')).toEqual({ format: 'text', source: 'given' });
  });
});

describe('a labelled set as prompt/completion pairs ("tweet → sentiment word")', () => {
  it('the class names become one-token completions, the texts the prompts', () => {
    const rows = toPromptCompletion([{ text: 'I love it', label: 2 }, { text: 'meh', label: 1 }], ['negative', 'neutral', 'positive']);
    expect(rows).toEqual([
      { prompt: 'Tweet: I love it\nSentiment:', completion: ' positive' },
      { prompt: 'Tweet: meh\nSentiment:', completion: ' neutral' },
    ]);
    for (const w of labelWords(['negative', 'neutral', 'positive'])) expect(qwen.encode(w)).toHaveLength(1);
    expect(TWEET_SENTIMENT_TEMPLATE.prompt).toContain('{text}');
  });

  it('numbered-only classes and duplicate names are refused', () => {
    expect(() => labelWords(['0', '1', '2'])).toThrow(/only numbered/);
    expect(() => labelWords(['good', ' good'])).toThrow(/same completion/);
  });

  it('written per split and read back as prompt/completion data, each row\'s completion the only counted tokens', async () => {
    const src = labelledDataset({ train: 9, test: 6 });
    const ds = await loadDataset(src.dir);
    const out = tempDir('lm-tweets');
    mkdirSync(out, { recursive: true });
    const written = writePromptCompletionSplits(ds, out);
    expect(written.train!.rows).toBe(9);
    expect(readFileSync(written.test!.file, 'utf8').trim().split('\n')).toHaveLength(6);
    const lm = await loadLmDataset(out, { tokenizer: qwen, seqLen: 256 });
    expect(lm.format).toBe('prompt-completion');
    const words = new Set([' negative', ' neutral', ' positive'].map((w) => `${w}<|im_end|>`));
    for (const e of lm.splits.train!.examples) {
      expect(e.targets).toBe(2); // the label word and EOS
      expect(words.has(qwen.decode(e.inputIds.filter((_, i) => e.lmLabels[i] !== IGNORE_INDEX)))).toBe(true);
    }
    expect(lm.splits.train!.examples.map((e) => qwen.decode(e.inputIds.slice(-2, -1)).trim())).toEqual(src.train.map((r) => r.label_text));
  });
});
