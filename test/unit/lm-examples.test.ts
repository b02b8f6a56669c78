// Causal-LM rows in TRL's conventions, tokenized with the Qwen3 and Llama 3 tokenizers their npm
// packages ship: which tokens count (HF labels, -100 elsewhere), EOS where TRL adds it, truncation,
// the rows skipped and counted, the chat templates' assistant spans, and right-padded batches.
import { describe, expect, it } from 'vitest';
import { chatSpans, compileChatTemplate, renderChat } from '../../src/data/chat.js';
import { detectLmFormat, IGNORE_INDEX, lmBatch, tokenizeLmRow, type LmExample, type LmRowResult } from '../../src/data/lm-examples.js';
import { packagedTokenizer } from '../../src/data/lm-tokenizer.js';
import { FtplanError } from '../../src/errors.js';

const qwen = packagedTokenizer('qwen3');
const qwenChat = compileChatTemplate(qwen.chatTemplate as string, 'qwen3 tokenizer_config.json');
const ctx = (seqLen = 64) => ({ tokenizer: qwen, seqLen, chat: qwenChat });

function ok(r: LmRowResult): LmExample {
  if (!r.ok) throw new Error(`skipped: ${r.reason}`);
  return r.example;
}
/** The text of the counted tokens, and of the masked ones. */
const counted = (e: LmExample) => qwen.decode(e.inputIds.filter((_, i) => e.lmLabels[i] !== IGNORE_INDEX));
const CONV = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello!' },
  { role: 'user', content: 'Bye' },
  { role: 'assistant', content: 'Goodbye.' },
];

describe('formats from the columns (TRL names)', () => {
  it('messages, prompt + completion, text; none of them → null', () => {
    expect(detectLmFormat(['messages', 'id'])).toBe('messages');
    expect(detectLmFormat(['prompt', 'completion', 'text'])).toBe('prompt-completion');
    expect(detectLmFormat(['text', 'label'])).toBe('text');
    expect(detectLmFormat(['prompt', 'label'])).toBeNull();
  });
});

describe('text: the whole sequence counts, EOS appended', () => {
  it('labels equal the ids; <|im_end|> appended once', () => {
    const e = ok(tokenizeLmRow({ text: 'Hello world' }, 'text', ctx(), 'r1'));
    expect(e.inputIds).toEqual([9707, 1879, 151645]);
    expect(e.lmLabels).toEqual(e.inputIds);
    expect([e.length, e.targets, e.truncated]).toEqual([3, 2, false]); // position 0 has nothing before it
    expect(ok(tokenizeLmRow({ text: 'Hello world<|im_end|>' }, 'text', ctx(), 'r1')).inputIds).toEqual([9707, 1879, 151645]);
  });

  it('Llama 3: BOS in front, as tokenizer(text) adds it', () => {
    const llama = packagedTokenizer('llama3');
    const e = ok(tokenizeLmRow({ text: 'Hello world' }, 'text', { tokenizer: llama, seqLen: 16 }, 'r1'));
    expect(e.inputIds).toEqual([128000, 9906, 1917, 128009]);
  });

  it('cut to the sequence length (keep the start); an empty text is a counted skip', () => {
    const e = ok(tokenizeLmRow({ text: 'one two three four five six seven eight' }, 'text', ctx(4), 'r1'));
    expect([e.length, e.truncated, e.inputIds.length, e.lmLabels.length, e.targets]).toEqual([4, true, 4, 4, 3]);
    expect(tokenizeLmRow({ text: '  ' }, 'text', ctx(), 'r1')).toEqual({ ok: false, reason: 'empty' });
  });
});

describe('prompt/completion: only the completion counts', () => {
  it('prompt masked with -100; the completion and its EOS counted', () => {
    const r = tokenizeLmRow({ prompt: 'Tweet: I love it\nSentiment:', completion: ' positive' }, 'prompt-completion', ctx(), 'r1');
    const e = ok(r);
    expect(r.ok && r.boundaryMismatch).toBe(false);
    const promptIds = qwen.encode('Tweet: I love it\nSentiment:');
    expect(e.inputIds.slice(0, promptIds.length)).toEqual(promptIds);
    expect(e.lmLabels.slice(0, promptIds.length).every((l) => l === IGNORE_INDEX)).toBe(true);
    expect(e.lmLabels.slice(promptIds.length)).toEqual([6785, 151645]); // ' positive', <|im_end|>
    expect(e.targets).toBe(2);
    expect(counted(e)).toBe(' positive<|im_end|>');
  });

  it('a prompt that fills the sequence leaves nothing to learn: a counted skip, not a crash', () => {
    const prompt = 'word '.repeat(40);
    expect(tokenizeLmRow({ prompt, completion: ' yes' }, 'prompt-completion', ctx(16), 'r1')).toEqual({ ok: false, reason: 'noTarget' });
    expect(tokenizeLmRow({ prompt: 'p', completion: '' }, 'prompt-completion', ctx(16), 'r1')).toEqual({ ok: false, reason: 'empty' });
    // one token short of the sequence: the completion's first token still counts
    const p = qwen.encode(prompt).slice(0, 15);
    const e = ok(tokenizeLmRow({ prompt: qwen.decode(p), completion: ' yes' }, 'prompt-completion', ctx(16), 'r1'));
    expect([e.length, e.targets, e.truncated]).toEqual([16, 1, true]);
  });

  it('a prompt whose tokens merge with the completion\'s is counted as a boundary mismatch (TRL warns)', () => {
    const r = tokenizeLmRow({ prompt: 'Hello wor', completion: 'ld' }, 'prompt-completion', ctx(), 'r1');
    expect(r.ok && r.boundaryMismatch).toBe(true);
  });

  it('a column that is neither text nor messages names the row', () => {
    expect(() => tokenizeLmRow({ prompt: 3, completion: 'x' }, 'prompt-completion', ctx(), 'data.jsonl row 7')).toThrow(/data\.jsonl row 7: column 'prompt' is number, not text/);
  });
});

describe('messages: rendered with the chat template, only the assistant turns count', () => {
  it('Qwen3, one turn (the prefix method): the assistant turn with its empty think block and <|im_end|>', () => {
    const e = ok(tokenizeLmRow({ messages: CONV.slice(0, 3) }, 'messages', ctx(), 'r1'));
    expect(counted(e)).toBe('<think>\n\n</think>\n\nHello!<|im_end|>\n');
    expect(qwen.decode(e.inputIds)).toBe(renderChat(qwenChat, CONV.slice(0, 3), { bosToken: null, eosToken: '<|im_end|>' }, { where: 'r1' }));
  });

  it('Qwen3, two turns (the template drops earlier think blocks: content search): both answers and their <|im_end|>', () => {
    const s = chatSpans(qwenChat, CONV, { bosToken: null, eosToken: '<|im_end|>' }, 'r1');
    expect(s.method).toBe('content-search');
    expect(s.spans.map(([a, b]) => s.text.slice(a, b))).toEqual(['Hello!<|im_end|>', 'Goodbye.<|im_end|>']);
    const e = ok(tokenizeLmRow({ messages: CONV }, 'messages', ctx(), 'r1'));
    expect(counted(e)).toBe('Hello!<|im_end|>Goodbye.<|im_end|>');
  });

  it('Llama 3, two turns (the prefix method): each answer with <|eot_id|>; system and user turns masked', () => {
    const llama = packagedTokenizer('llama3');
    const chat = compileChatTemplate(llama.chatTemplate as string, 'llama3 tokenizer_config.json');
    const s = chatSpans(chat, CONV, { bosToken: llama.bosToken, eosToken: llama.eosToken }, 'r1');
    expect(s.method).toBe('prefix');
    expect(s.spans.map(([a, b]) => s.text.slice(a, b))).toEqual(['Hello!<|eot_id|>', 'Goodbye.<|eot_id|>']);
    const e = ok(tokenizeLmRow({ messages: CONV }, 'messages', { tokenizer: llama, seqLen: 128, chat }, 'r1'));
    expect(e.inputIds[0]).toBe(128000); // the template writes <|begin_of_text|>; not added twice
    expect(e.inputIds[1]).not.toBe(128000);
    expect(llama.decode(e.inputIds.filter((_, i) => e.lmLabels[i] !== IGNORE_INDEX))).toBe('Hello!<|eot_id|>Goodbye.<|eot_id|>');
  });

  it('{% generation %} tags mark the spans exactly (TRL\'s training templates)', () => {
    const t = compileChatTemplate("{% for m in messages %}{% if m.role == 'assistant' %}A: {%- generation %} {{ m.content }}</s>{% endgeneration %}\n{% else %}U: {{ m.content }}\n{% endif %}{% endfor %}", 'gen.jinja');
    const s = chatSpans(t, CONV.slice(1), { bosToken: null, eosToken: '</s>' }, 'r1');
    expect(s.method).toBe('generation-tags');
    expect(s.text).toBe('U: Hi\nA: Hello!</s>\nU: Bye\nA: Goodbye.</s>\n');
    expect(s.spans.map(([a, b]) => s.text.slice(a, b))).toEqual([' Hello!</s>', ' Goodbye.</s>']);
  });

  it('conversational prompt/completion: what the completion messages add after the generation prompt', () => {
    const e = ok(tokenizeLmRow({ prompt: CONV.slice(1, 2), completion: [CONV[2]] }, 'prompt-completion', ctx(), 'r1'));
    expect(counted(e)).toBe('<think>\n\n</think>\n\nHello!<|im_end|>\n');
  });

  it('a conversation without an assistant turn is a counted skip', () => {
    expect(tokenizeLmRow({ messages: CONV.slice(0, 2) }, 'messages', ctx(), 'r1')).toEqual({ ok: false, reason: 'noTarget' });
  });

  it('a template that fails to render, one that does not parse, bad messages, no template: errors naming the file and row', () => {
    const strict = compileChatTemplate("{% if messages[0].role != 'user' %}{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}", '/m/tokenizer_config.json');
    const err = (() => {
      try {
        tokenizeLmRow({ messages: CONV }, 'messages', { tokenizer: qwen, seqLen: 64, chat: strict }, 'chats.jsonl row 4');
      } catch (e) {
        return e as FtplanError;
      }
    })();
    expect(err).toBeInstanceOf(FtplanError);
    expect(err?.message).toMatch(/chats\.jsonl row 4: the chat template \(\/m\/tokenizer_config\.json\) fails to render this conversation: Conversation roles must alternate/);
    expect(err?.fix).toMatch(/prompt\/completion/);
    expect(() => compileChatTemplate('{% for m in messages %}', '/m/chat_template.jinja')).toThrow(/\/m\/chat_template\.jinja: the chat template does not parse/);
    expect(() => tokenizeLmRow({ messages: [{ role: 'user' }] }, 'messages', ctx(), 'row 2')).toThrow(/row 2: message 0 \(user\) has no text content/);
    expect(() => tokenizeLmRow({ messages: 'hi' }, 'messages', ctx(), 'row 3')).toThrow(/row 3: messages is not a non-empty list/);
    expect(() => tokenizeLmRow({ messages: CONV }, 'messages', { tokenizer: qwen, seqLen: 64, chat: null }, 'row 5')).toThrow(/row 5: the row is a conversation, and the tokenizer .* has no chat template/);
  });
});

describe('lmBatch: right padded, -100 on padding', () => {
  it('rows of 3 and 2 tokens in a batch of length 4', () => {
    const a = { inputIds: [1, 2, 3], lmLabels: [-100, 2, 3], length: 3, targets: 2, truncated: false };
    const b = { inputIds: [4, 5], lmLabels: [4, 5], length: 2, targets: 1, truncated: false };
    const batch = lmBatch([a, b], 0, 4);
    expect([batch.batchSize, batch.seqLen]).toEqual([2, 4]);
    expect([...batch.inputIds]).toEqual([1, 2, 3, 0, 4, 5, 0, 0]);
    expect([...batch.lmLabels]).toEqual([-100, 2, 3, -100, 4, 5, -100, -100]);
    expect([...batch.lengths]).toEqual([3, 2]);
    expect(lmBatch([a, b], 0).seqLen).toBe(3);
    expect(() => lmBatch([a], 0, 2)).toThrow(/does not fit/);
  });
});
