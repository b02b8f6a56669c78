/**
 * chat.ts — conversations rendered with a model's chat template (@huggingface/jinja, the Jinja
 * subset transformers.js runs), and where in the rendered text each assistant turn is, so that
 * supervised fine-tuning counts only the assistant's tokens (TRL's assistant_only_loss).
 *
 * Finding the assistant turns, in order of preference:
 *   1. `{% generation %}…{% endgeneration %}` in the template (transformers'
 *      return_assistant_tokens_mask, the templates TRL ships for training): the tags become
 *      markers in the output, so the spans are exactly what the template marks.
 *   2. The common-prefix method: for assistant turn i, render messages[:i] with the generation
 *      prompt (P) and messages[:i+1] without (Q); the turn is Q's text after P, provided P is a
 *      prefix of Q and Q of the whole conversation (templates that render turn by turn: Llama 3,
 *      Qwen2.5, Mistral, Qwen3 with one assistant turn).
 *   3. A template that rewrites earlier turns when later ones follow (Qwen3 drops <think> blocks
 *      of earlier turns): each assistant's content is found verbatim in the whole rendering, in
 *      order, and the turn is that content plus the end-of-turn token that follows it.
 * A conversation none of these locates is an error naming the row, never a silent mask.
 */
import { Template } from '@huggingface/jinja';
import { FtplanError } from '../errors.js';

export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatSpecials {
  bosToken: string | null;
  eosToken: string;
}

export interface CompiledChatTemplate {
  file: string;
  template: Template;
  /** the template marks assistant text with {% generation %} */
  generationTags: boolean;
}

export interface ChatSpans {
  text: string;
  /** [start, end) character offsets of the text the loss counts */
  spans: [number, number][];
  method: 'generation-tags' | 'prefix' | 'content-search';
}

const GEN_START = '\uE000';
const GEN_END = '\uE001';
const GENERATION_TAG = /{%(-?)\s*(end)?generation\s*(-?)%}/g;

/** The template parsed once; a syntax error names the file it came from. */
export function compileChatTemplate(source: string, file: string): CompiledChatTemplate {
  const generationTags = /{%-?\s*generation\s*-?%}/.test(source);
  const rewritten = generationTags ? source.replace(GENERATION_TAG, (_, l: string, end: string | undefined, r: string) => `{{${l} '${end ? GEN_END : GEN_START}' ${r}}}`) : source;
  try {
    return { file, template: new Template(rewritten), generationTags };
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${file}: the chat template does not parse (${(e as Error).message})`, { fix: "use the model's published tokenizer_config.json / chat_template.jinja, or give the data as text or prompt/completion columns" });
  }
}

function renderRaw(t: CompiledChatTemplate, messages: ChatMessage[], specials: ChatSpecials, addGenerationPrompt: boolean, where: string): string {
  try {
    // @huggingface/jinja provides raise_exception (Mistral's and Llama 2's templates refuse roles
    // that do not alternate with it) and strftime_now (Llama 3.1/3.2 write today's date into the
    // system turn, as they do under transformers).
    return t.template.render({ messages, add_generation_prompt: addGenerationPrompt, bos_token: specials.bosToken ?? '', eos_token: specials.eosToken });
  } catch (e) {
    throw new FtplanError('ERR_INPUT', `${where}: the chat template (${t.file}) fails to render this conversation: ${(e as Error).message}`, {
      fix: "check the row's messages (a list of {role, content}, in the order the model's template expects: e.g. user and assistant alternating), or give the data as prompt/completion columns",
    });
  }
}

/** The conversation as the model sees it (markers of {% generation %} removed). */
export function renderChat(t: CompiledChatTemplate, messages: ChatMessage[], specials: ChatSpecials, opts: { addGenerationPrompt?: boolean; where: string }): string {
  return stripMarkers(renderRaw(t, messages, specials, opts.addGenerationPrompt ?? false, opts.where));
}

function stripMarkers(s: string): string {
  return s.replaceAll(GEN_START, '').replaceAll(GEN_END, '');
}

function fromMarkers(raw: string, where: string, file: string): ChatSpans {
  const spans: [number, number][] = [];
  let text = '';
  let open = -1;
  for (const ch of raw) {
    if (ch === GEN_START) {
      if (open >= 0) throw notLocated(where, file, 'nested {% generation %} blocks');
      open = text.length;
    } else if (ch === GEN_END) {
      if (open < 0) throw notLocated(where, file, '{% endgeneration %} without {% generation %}');
      if (text.length > open) spans.push([open, text.length]);
      open = -1;
    } else text += ch;
  }
  if (open >= 0) throw notLocated(where, file, 'an unclosed {% generation %} block');
  return { text, spans, method: 'generation-tags' };
}

function notLocated(where: string, file: string, why: string): FtplanError {
  return new FtplanError('ERR_INPUT', `${where}: cannot tell which tokens are the assistant's: ${why} (chat template ${file})`, {
    fix: 'use a chat template that marks assistant turns with {% generation %} (as TRL\'s training templates do), or give the data as prompt/completion columns (only the completion counts)',
  });
}

function checkMessages(messages: unknown, where: string): ChatMessage[] {
  const fix = 'each row\'s messages must be a list of {"role": …, "content": …} objects';
  if (!Array.isArray(messages) || messages.length === 0) throw new FtplanError('ERR_INPUT', `${where}: messages is not a non-empty list`, { fix });
  for (const [i, m] of messages.entries()) {
    if (!m || typeof m !== 'object' || Array.isArray(m)) throw new FtplanError('ERR_INPUT', `${where}: message ${i} is not an object`, { fix });
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || role === '') throw new FtplanError('ERR_INPUT', `${where}: message ${i} has no role`, { fix });
    if (typeof content !== 'string') throw new FtplanError('ERR_INPUT', `${where}: message ${i} (${role}) has no text content`, { fix });
  }
  return messages as ChatMessage[];
}

/**
 * A conversation's text and the spans the loss counts: every assistant turn (`prompt` empty), or,
 * for TRL's conversational prompt/completion rows, everything the `completion` messages add after
 * the prompt rendered with its generation prompt.
 */
export function chatSpans(t: CompiledChatTemplate, messagesIn: unknown, specials: ChatSpecials, where: string, promptIn?: unknown): ChatSpans {
  const prompt = promptIn === undefined ? [] : checkMessages(promptIn, `${where} (prompt)`);
  const messages = [...prompt, ...checkMessages(messagesIn, where)];
  for (const m of messages) {
    if (m.content.includes(GEN_START) || m.content.includes(GEN_END)) throw new FtplanError('ERR_INPUT', `${where}: a message contains the private-use characters U+E000/U+E001`, { fix: 'remove them from the text' });
  }
  const full = renderRaw(t, messages, specials, false, where);
  if (t.generationTags) {
    const marked = fromMarkers(full, where, t.file);
    if (prompt.length === 0) return marked;
    // prompt/completion: only the marked text after the prompt
    const p = stripMarkers(renderRaw(t, prompt, specials, true, where)).length;
    return { ...marked, spans: marked.spans.filter(([, e]) => e > p).map(([s, e]) => [Math.max(s, p), e] as [number, number]) };
  }
  const text = full;
  if (prompt.length > 0) {
    const p = renderRaw(t, prompt, specials, true, where);
    if (!text.startsWith(p)) throw notLocated(where, t.file, 'the prompt rendered with its generation prompt is not the start of the whole conversation');
    return { text, spans: text.length > p.length ? [[p.length, text.length]] : [], method: 'prefix' };
  }
  const assistants = messages.flatMap((m, i) => (m.role === 'assistant' ? [i] : []));
  const spans: [number, number][] = [];
  let prefixOk = true;
  for (const i of assistants) {
    const p = i === 0 ? '' : renderRaw(t, messages.slice(0, i), specials, true, where);
    const q = renderRaw(t, messages.slice(0, i + 1), specials, false, where);
    if (!q.startsWith(p) || !text.startsWith(q)) {
      prefixOk = false;
      break;
    }
    if (q.length > p.length) spans.push([p.length, q.length]);
  }
  if (prefixOk) return { text, spans, method: 'prefix' };
  // content search: each assistant content, in order, plus the end-of-turn token right after it
  const found: [number, number][] = [];
  let from = 0;
  for (const i of assistants) {
    const content = (messages[i] as ChatMessage).content.trim();
    const at = content === '' ? -1 : text.indexOf(content, from);
    if (at < 0) throw notLocated(where, t.file, `the template renders assistant message ${i} differently from its content, and not turn by turn`);
    let end = at + content.length;
    const rest = text.slice(end);
    const eot = /^\s*(<\|im_end\|>|<\|eot_id\|>|<\/s>|<\|end\|>|<end_of_turn>)/.exec(rest) ?? (rest.startsWith(specials.eosToken) ? [specials.eosToken] : null);
    if (eot) end += eot[0].length;
    found.push([at, end]);
    from = end;
  }
  return { text, spans: found, method: 'content-search' };
}
