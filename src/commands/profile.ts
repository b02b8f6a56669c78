/**
 * profile.ts — `ftplan profile --dataset …`: rows per split, labels, token lengths, and the tokens
 * one epoch costs under each batching policy. No LibTorch needed.
 */
import Table from 'cli-table3';
import { loadDataset } from '../data/loaders.js';
import { BATCHING_POLICIES } from '../data/batching.js';
import { batchingCosts, profileDataset, type DatasetProfile } from '../data/profile.js';
import { embeddedTokenizer, folderTokenizer } from '../data/tokenizer.js';
import { loadLmData, type LmData } from '../data/lm-data.js';
import { lmBatchingCosts, profileLmDataset, type LmProfile } from '../data/lm-profile.js';
import type { LmTokenizer } from '../data/lm-tokenizer.js';
import { lmTokenizerFor } from '../model/resolve.js';
import { usageError } from '../errors.js';
import { parseArgs, PROFILE_OPTIONS, ProfileArgsSchema, type ProfileArgs } from './options.js';

export async function buildProfile(args: Pick<ProfileArgs, 'dataset' | 'textColumn' | 'labelColumn' | 'limit' | 'emptyText' | 'unknownLabels' | 'tokenizer' | 'seed'>): Promise<DatasetProfile> {
  const ds = await loadDataset(args.dataset, {
    textColumn: args.textColumn,
    labelColumn: args.labelColumn,
    limit: args.limit,
    seed: args.seed,
    emptyText: args.emptyText,
    unknownLabels: args.unknownLabels,
  });
  const tokenizer = args.tokenizer ? folderTokenizer(args.tokenizer) : embeddedTokenizer();
  return profileDataset(ds, tokenizer);
}

const num = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

export function renderProfile(p: DatasetProfile, costs: Record<string, ReturnType<typeof batchingCosts>>, batchSize: number): string {
  const t = new Table({ head: [p.name, ...Object.keys(p.splits)], style: { head: [], border: [] } });
  const splits = Object.values(p.splits);
  t.push(
    ['rows (read)', ...splits.map((s) => `${num(s.rows)} (${num(s.rowsRead)})`)],
    ['dropped', ...splits.map((s) => Object.entries(s.dropped).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${num(n)}`).join(', ') || 'none')],
    ['empty texts kept', ...splits.map((s) => num(s.emptyTexts))],
    ...p.labels.map((l) => [`label ${l}`, ...splits.map((s) => `${num(s.labelCounts[l] ?? 0)} (${(((s.labelCounts[l] ?? 0) / s.rows) * 100).toFixed(1)}%)`)]),
    ['tokens p50 / p90 / p99 / max', ...splits.map((s) => `${s.tokens.p50} / ${s.tokens.p90} / ${s.tokens.p99} / ${s.tokens.max}`)],
    ['tokens (mean per row)', ...splits.map((s) => `${num(s.tokens.total)} (${num(s.tokens.mean, 1)})`)],
    ...BATCHING_POLICIES.map((policy) => [
      `epoch tokens, batch ${batchSize}, ${policy}`,
      ...Object.keys(p.splits).map((name) => {
        const c = costs[name]?.[policy];
        return c ? `${num(c.tokens)} (${(c.efficiency * 100).toFixed(0)}% real)` : '';
      }),
    ]),
  );
  return [t.toString(), `labels: ${p.labelSource}; text column '${p.textColumn}'; tokenizer: ${p.tokenizer}`].join('\n');
}

/** The causal-LM view of a data set: every row tokenized as a causal-LM run tokenizes it. */
export async function buildLmProfile(
  args: Pick<ProfileArgs, 'dataset' | 'textColumn' | 'labelColumn' | 'limit' | 'emptyText' | 'unknownLabels' | 'seed' | 'lmFormat'> & { tokenizer: LmTokenizer; seqLen: number },
): Promise<{ profile: LmProfile; data: LmData }> {
  const data = await loadLmData(args.dataset, { tokenizer: args.tokenizer, seqLen: args.seqLen, format: args.lmFormat, textColumn: args.textColumn, labelColumn: args.labelColumn, limit: args.limit, seed: args.seed, emptyText: args.emptyText, unknownLabels: args.unknownLabels });
  return { profile: profileLmDataset(data), data };
}

export function renderLmProfile(p: LmProfile, data: LmData, costs: Record<string, ReturnType<typeof lmBatchingCosts>>, batchSize: number): string {
  const t = new Table({ head: [p.name, ...Object.keys(p.splits)], style: { head: [], border: [] } });
  const splits = Object.values(p.splits);
  const names = Object.keys(p.splits);
  const dropped = (name: string) => {
    const d = data.labelled?.dropped[name as keyof LmData['splits']];
    return d ? Object.entries(d).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${num(n)}`) : [];
  };
  t.push(
    ['rows (read)', ...splits.map((s) => `${num(s.rows)} (${num(s.rowsRead)})`)],
    ['skipped', ...names.map((n, i) => {
      const s = splits[i]!;
      const parts = [...(s.skipped.noTarget ? [`no counted token within ${p.seqLen} tokens ${num(s.skipped.noTarget)}`] : []), ...(s.skipped.empty ? [`empty ${num(s.skipped.empty)}`] : []), ...(s.skipped.limit ? [`--limit ${num(s.skipped.limit)}`] : []), ...dropped(n)];
      return parts.join(', ') || 'none';
    })],
    [`cut to ${p.seqLen} tokens`, ...splits.map((s) => num(s.truncated))],
    ...(p.format === 'prompt-completion' ? [['prompt/completion boundary mismatches', ...splits.map((s) => num(s.boundaryMismatch))]] : []),
    ['tokens p50 / p90 / p99 / max', ...splits.map((s) => `${s.tokens.p50} / ${s.tokens.p90} / ${s.tokens.p99} / ${s.tokens.max}`)],
    ['tokens (mean per row)', ...splits.map((s) => `${num(s.tokens.total)} (${num(s.tokens.mean, 1)})`)],
    ['counted targets (mean per row)', ...splits.map((s) => `${num(s.targets.total)} (${num(s.targets.mean, 1)})`)],
    ...BATCHING_POLICIES.map((policy) => [
      `epoch tokens, batch ${batchSize}, ${policy}`,
      ...names.map((name) => {
        const c = costs[name]?.[policy];
        return c ? `${num(c.tokens)} (${(c.efficiency * 100).toFixed(0)}% real)` : '';
      }),
    ]),
  );
  const labels = data.labelled ? `; classes: ${data.labelled.labels.join(', ')} (${data.labelled.labelSource})` : '';
  return [t.toString(), `causal-lm, format ${p.format}: ${data.formatSource}${labels}; tokenizer: ${p.tokenizer}${p.chatTemplate ? `; chat template ${p.chatTemplate}` : ''}`].join('\n');
}

async function runLmProfile(args: ProfileArgs, out: (s: string) => void): Promise<void> {
  const tokenizer = lmTokenizerFor(args.tokenizer ?? 'llama3');
  const { profile, data } = await buildLmProfile({ ...args, tokenizer, seqLen: args.maxLength });
  const costs = Object.fromEntries(Object.entries(profile.splits).map(([name, split]) => [name, lmBatchingCosts(split, args.batchSize, { maxLen: args.maxLength, seed: args.seed })]));
  if (args.json) out(`${JSON.stringify({ ...profile, formatSource: data.formatSource, labelled: data.labelled, batching: { batchSize: args.batchSize, maxLength: args.maxLength, ...costs } }, null, 1)}\n`);
  else out(`${renderLmProfile(profile, data, costs, args.batchSize)}\n`);
}

export async function runProfile(raw: Record<string, unknown>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const args = parseArgs(ProfileArgsSchema, PROFILE_OPTIONS, raw, 'profile');
  if (args.task === 'causal-lm') return runLmProfile(args, out);
  if (args.lmFormat !== 'auto') throw usageError(`--lm-format ${args.lmFormat} is for --task causal-lm`, 'add --task causal-lm, or leave --lm-format out');
  const profile = await buildProfile(args);
  const costs = Object.fromEntries(
    Object.entries(profile.splits).map(([name, split]) => [name, batchingCosts(split, args.batchSize, { maxLen: args.maxLength, seed: args.seed })]),
  );
  if (args.json) out(`${JSON.stringify({ ...profile, batching: { batchSize: args.batchSize, maxLength: args.maxLength, ...costs } }, null, 1)}\n`);
  else out(`${renderProfile(profile, costs, args.batchSize)}\n`);
}
