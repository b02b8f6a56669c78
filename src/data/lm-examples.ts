/**
 * lm-examples.ts — causal-LM rows in TRL's dataset conventions, tokenized into training examples
 * with Hugging Face's `labels` semantics (same positions as the input ids; -100 = not counted;
 * the model shifts, so the label at t is predicted from positions < t):
 *
 *   text                 {"text": …}: the whole sequence counts; EOS appended (TRL adds it when
 *                        the text does not already end with it).
 *   prompt/completion    {"prompt": …, "completion": …}: only the completion's tokens count; EOS
 *                        appended to the completion. Tokenized as TRL does: prompt alone and
 *                        prompt + completion, the first len(prompt) tokens masked (a prompt whose
 *                        tokens are not the start of the joint tokenization is counted, as TRL warns).
 *                        Lists of messages in both columns: the conversational form (chat template).
 *   messages             {"messages": [{role, content}, …]}: rendered with the model's chat
 *                        template, only the assistant turns counted (chat.ts finds them); no EOS
 *                        added (the template ends each turn).
 *
 * Text and prompt/completion are tokenized with the tokenizer's special tokens (Llama 3's BOS in
 * front), as transformers' tokenizer(text) does; a rendered chat is tokenized without them (its
 * template writes them), as apply_chat_template does.
 * Rows longer than the sequence length are cut at the end (TRL's keep-start truncation); a row
 * left with no counted token (a prompt that fills the sequence, an empty completion) is skipped and
 * counted, never fed as a row that teaches nothing.
 */
import { FtplanError } from '../errors.js';
import { chatSpans, type ChatSpecials, type CompiledChatTemplate } from './chat.js';
import type { LmTokenizer } from './lm-tokenizer.js';

export const IGNORE_INDEX = -100;

export const LM_FORMATS = ['text', 'prompt-completion', 'messages'] as const;
export type LmFormat = (typeof LM_FORMATS)[number];

export interface LmExample {
  inputIds: number[];
  /** HF labels: the id where the token counts, IGNORE_INDEX elsewhere */
  lmLabels: number[];
  /** = inputIds.length (real tokens; padding comes at batching) */
  length: number;
  /** tokens the loss counts (labels ≠ -100 at positions ≥ 1: position 0 has nothing before it) */
  targets: number;
  truncated: boolean;
}

export type LmSkipReason = 'noTarget' | 'empty';

export type LmRowResult = { ok: true; example: LmExample; boundaryMismatch: boolean } | { ok: false; reason: LmSkipReason };

/** The format of a data set from its columns (TRL's names); null when none fits. */
export function detectLmFormat(columns: string[]): LmFormat | null {
  const has = new Set(columns);
  if (has.has('messages')) return 'messages';
  if (has.has('prompt') && has.has('completion')) return 'prompt-completion';
  if (has.has('text')) return 'text';
  return null;
}

export interface LmTokenizeContext {
  tokenizer: LmTokenizer;
  seqLen: number;
  /** the compiled chat template (needed for messages and conversational prompt/completion) */
  chat?: CompiledChatTemplate | null;
}

function specialsOf(tok: LmTokenizer): ChatSpecials {
  return { bosToken: tok.bosToken, eosToken: tok.eosToken };
}

/** Cut to seqLen and count targets; null when nothing is left to learn. */
function finish(ids: number[], labels: number[], seqLen: number): LmExample | null {
  const truncated = ids.length > seqLen;
  const inputIds = truncated ? ids.slice(0, seqLen) : ids;
  const lmLabels = truncated ? labels.slice(0, seqLen) : labels;
  let targets = 0;
  for (let t = 1; t < lmLabels.length; t++) if (lmLabels[t] !== IGNORE_INDEX) targets++;
  if (targets === 0) return null;
  return { inputIds, lmLabels, length: inputIds.length, targets, truncated };
}

function asText(v: unknown, column: string, where: string): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  throw new FtplanError('ERR_INPUT', `${where}: column '${column}' is ${Array.isArray(v) ? 'a list' : typeof v}, not text`, { fix: `give '${column}' as a string (or, for prompt/completion, both as lists of messages)` });
}

function needChat(ctx: LmTokenizeContext, where: string): CompiledChatTemplate {
  if (!ctx.chat) {
    throw new FtplanError('ERR_INPUT', `${where}: the row is a conversation, and the tokenizer (${ctx.tokenizer.name}) has no chat template`, {
      fix: "use a model folder whose tokenizer_config.json (or chat_template.jinja) has a chat_template, or give the data as text or prompt/completion strings",
    });
  }
  return ctx.chat;
}

/** One row → an example, or why it is skipped. `where` names the file and row for messages. */
export function tokenizeLmRow(row: Record<string, unknown>, format: LmFormat, ctx: LmTokenizeContext, where: string): LmRowResult {
  const tok = ctx.tokenizer;
  if (format === 'text') {
    let text = asText(row.text, 'text', where);
    if (text.trim() === '') return { ok: false, reason: 'empty' };
    if (!text.endsWith(tok.eosToken)) text += tok.eosToken;
    const ids = tok.encode(text, { addSpecialTokens: true });
    const ex = finish(ids, [...ids], ctx.seqLen);
    return ex ? { ok: true, example: ex, boundaryMismatch: false } : { ok: false, reason: 'noTarget' };
  }
  if (format === 'prompt-completion' && !Array.isArray(row.prompt) && !Array.isArray(row.completion)) {
    const prompt = asText(row.prompt, 'prompt', where);
    let completion = asText(row.completion, 'completion', where);
    if (completion === '') return { ok: false, reason: 'empty' };
    if (!completion.endsWith(tok.eosToken)) completion += tok.eosToken;
    const promptIds = tok.encode(prompt, { addSpecialTokens: true });
    const ids = tok.encode(prompt + completion, { addSpecialTokens: true });
    let mismatch = false;
    for (let i = 0; i < promptIds.length; i++) if (promptIds[i] !== ids[i]) mismatch = true;
    const labels = ids.map((id, i) => (i < promptIds.length ? IGNORE_INDEX : id));
    const ex = finish(ids, labels, ctx.seqLen);
    return ex ? { ok: true, example: ex, boundaryMismatch: mismatch } : { ok: false, reason: 'noTarget' };
  }
  // conversations: messages, or prompt/completion as message lists
  const chat = needChat(ctx, where);
  const spans = format === 'messages' ? chatSpans(chat, row.messages, specialsOf(tok), where) : chatSpans(chat, row.completion, specialsOf(tok), where, row.prompt);
  if (spans.spans.length === 0) return { ok: false, reason: 'noTarget' };
  const ids: number[] = [];
  const labels: number[] = [];
  let at = 0;
  const push = (end: number, counted: boolean) => {
    if (end <= at) return;
    for (const id of tok.encode(spans.text.slice(at, end), { addSpecialTokens: false })) {
      ids.push(id);
      labels.push(counted ? id : IGNORE_INDEX);
    }
    at = end;
  };
  for (const [s, e] of spans.spans) {
    push(s, false);
    push(e, true);
  }
  push(spans.text.length, false);
  const ex = finish(ids, labels, ctx.seqLen);
  return ex ? { ok: true, example: ex, boundaryMismatch: false } : { ok: false, reason: 'noTarget' };
}

export interface LmBatch {
  batchSize: number;
  seqLen: number;
  /** [batchSize * seqLen], right padded with padTokenId */
  inputIds: Int32Array;
  /** [batchSize * seqLen], IGNORE_INDEX on padding */
  lmLabels: Int32Array;
  /** real tokens per row */
  lengths: Int32Array;
}

/** Rows → one right-padded micro-batch (seqLen: the longest row, or the given length). */
export function lmBatch(examples: LmExample[], padTokenId: number, seqLen?: number): LmBatch {
  if (examples.length === 0) throw new RangeError('lmBatch: no rows');
  const longest = Math.max(...examples.map((e) => e.length));
  const T = seqLen ?? longest;
  if (longest > T) throw new RangeError(`lmBatch: a row of ${longest} tokens does not fit seqLen ${T}`);
  const B = examples.length;
  const inputIds = new Int32Array(B * T).fill(padTokenId);
  const lmLabels = new Int32Array(B * T).fill(IGNORE_INDEX);
  const lengths = new Int32Array(B);
  examples.forEach((e, b) => {
    inputIds.set(e.inputIds, b * T);
    lmLabels.set(e.lmLabels, b * T);
    lengths[b] = e.length;
  });
  return { batchSize: B, seqLen: T, inputIds, lmLabels, lengths };
}
