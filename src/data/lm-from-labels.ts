/**
 * lm-from-labels.ts — a labelled text set (classification data) as causal-LM prompt/completion
 * pairs, "text → label word": the same task trained through the LM head, scored by exact match
 * of the completion (lm-metrics.ts). With the default template a tweet becomes
 *   prompt "Tweet: <text>\nSentiment:"   completion " negative" | " neutral" | " positive"
 * using the data set's class names. The leading space keeps the word one byte-level BPE token in
 * the usual vocabularies (" negative" is a single token in GPT-2's, Llama 3's and Qwen's).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FtplanError } from '../errors.js';
import type { Dataset, Example, SplitName } from './dataset.js';

export interface PromptTemplate {
  /** the prompt, with {text} where the row's text goes */
  prompt: string;
  /** the completion, with {label} where the class name goes */
  completion: string;
}

export const TWEET_SENTIMENT_TEMPLATE: PromptTemplate = { prompt: 'Tweet: {text}\nSentiment:', completion: ' {label}' };

export interface PromptCompletionRow {
  prompt: string;
  completion: string;
}

/** The completion word of each class; names that are only ids (0, 1, …) are refused, since the model would learn digits, not words. */
export function labelWords(labels: string[], template: PromptTemplate = TWEET_SENTIMENT_TEMPLATE): string[] {
  if (labels.some((l) => /^\d+$/.test(l.trim()))) {
    throw new FtplanError('ERR_INPUT', `the classes are only numbered (${labels.join(', ')}), so the completions would be digits, not words`, {
      fix: 'give the data class names (a label_text column, or names in the label column)',
    });
  }
  const words = labels.map((l) => template.completion.replaceAll('{label}', l.trim()));
  const dup = words.find((w, i) => words.indexOf(w) !== i);
  if (dup !== undefined) throw new FtplanError('ERR_INPUT', `two classes give the same completion '${dup}'`, { fix: 'give every class a distinct name' });
  return words;
}

export function toPromptCompletion(examples: Example[], labels: string[], template: PromptTemplate = TWEET_SENTIMENT_TEMPLATE): PromptCompletionRow[] {
  if (!template.prompt.includes('{text}')) throw new RangeError('the prompt template needs {text}');
  const words = labelWords(labels, template);
  return examples.map((e) => {
    const word = words[e.label];
    if (word === undefined) throw new RangeError(`label id ${e.label} has no class name (${labels.length} classes)`);
    return { prompt: template.prompt.replaceAll('{text}', e.text), completion: word };
  });
}

/** Each split of a loaded classification data set as <split>.jsonl of {prompt, completion} in `dir` (a folder locate.ts reads back). */
export function writePromptCompletionSplits(dataset: Dataset, dir: string, template: PromptTemplate = TWEET_SENTIMENT_TEMPLATE): Partial<Record<SplitName, { file: string; rows: number }>> {
  const out: Partial<Record<SplitName, { file: string; rows: number }>> = {};
  for (const [name, split] of Object.entries(dataset.splits) as [SplitName, NonNullable<Dataset['splits'][SplitName]>][]) {
    const rows = toPromptCompletion(split.examples, dataset.labels, template);
    const file = join(dir, `${name}.jsonl`);
    writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    out[name] = { file, rows: rows.length };
  }
  return out;
}
