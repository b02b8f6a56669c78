// Llama-family model folders as a user has them, for the CLI tests: a tiny random checkpoint
// (decoder-fixtures.ts) beside a real tokenizer — byte-level BPE over the 256 bytes (GPT-2's byte
// alphabet, no merges: every UTF-8 byte one token), Llama 3's special-token layout (a BOS the
// post-processor puts in front, an EOS, a pad token) and a ChatML chat template — so any text
// tokenizes, ids stay below a vocabulary of 264, and no tokenizer file is downloaded.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tokenizerJsonFromVocab } from '../src/data/tokenizer.js';
import { tinyDecoderCheckpoint, type DecoderFamily, type DecoderTask, type HfDecoderConfig, type TinyDecoder } from './decoder-fixtures.js';

export const BYTE_VOCAB = 264;
export const SPECIALS = { bos: 256, eos: 257, pad: 258, imStart: 259, imEnd: 260 } as const;
const SPECIAL_TOKENS: [string, number][] = [
  ['<|begin_of_text|>', SPECIALS.bos],
  ['<|end_of_text|>', SPECIALS.eos],
  ['<|pad|>', SPECIALS.pad],
  ['<|im_start|>', SPECIALS.imStart],
  ['<|im_end|>', SPECIALS.imEnd],
];

export const CHATML_TEMPLATE = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/** GPT-2's bytes_to_unicode: each byte as the printable character byte-level BPE writes it. */
function byteAlphabet(): string[] {
  const printable = [...range(0x21, 0x7e), ...range(0xa1, 0xac), ...range(0xae, 0xff)];
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + n++);
  return out;
}
function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/** tokenizer.json + tokenizer_config.json in `dir`: bytes 0..255, the specials 256..260. */
export function byteTokenizerFolder(dir: string, o: { bos?: boolean; chatTemplate?: string | null } = {}): void {
  const vocab: Record<string, number> = {};
  byteAlphabet().forEach((c, b) => (vocab[c] = b));
  for (const [t, id] of SPECIAL_TOKENS) vocab[t] = id;
  const spec = tokenizerJsonFromVocab(vocab, '') as Record<string, unknown>;
  spec.added_tokens = SPECIAL_TOKENS.map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  if (o.bos ?? true) {
    spec.post_processor = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [SPECIALS.bos], tokens: ['<|begin_of_text|>'] } },
    };
  }
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(spec));
  const config: Record<string, unknown> = { bos_token: '<|begin_of_text|>', eos_token: '<|end_of_text|>', pad_token: '<|pad|>', model_max_length: 256 };
  const chat = o.chatTemplate === undefined ? CHATML_TEMPLATE : o.chatTemplate;
  if (chat !== null) config.chat_template = chat;
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
}

/** A tiny random checkpoint of `family` for `task` with the byte tokenizer: what `--model <folder>` takes. */
export function tinyDecoderFolder(dir: string, family: DecoderFamily, task: DecoderTask, o: { seed?: number; config?: Partial<HfDecoderConfig>; labels?: readonly string[]; chatTemplate?: string | null; weightScale?: number } = {}): TinyDecoder {
  const ck = tinyDecoderCheckpoint(dir, {
    family,
    task,
    seed: o.seed,
    labels: o.labels,
    weightScale: o.weightScale ?? 0.05,
    config: { vocab_size: BYTE_VOCAB, max_position_embeddings: 256, pad_token_id: SPECIALS.pad, bos_token_id: SPECIALS.bos, eos_token_id: SPECIALS.eos, ...o.config },
  });
  byteTokenizerFolder(dir, { chatTemplate: o.chatTemplate });
  return ck;
}
