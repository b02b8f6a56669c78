/**
 * eval.ts — `ftplan eval`: a saved checkpoint's metrics on a data set's eval split (or on one file):
 * accuracy for a classification head; for a causal-LM decoder, the loss per counted token,
 * perplexity, token accuracy and exact match of short completions.
 */
import { availableParallelism } from 'node:os';
import { classificationTokenizer, lmEvalSplit, loadLmData } from '../data/lm-data.js';
import { loadDataset, type Dataset } from '../data/loaders.js';
import { tokenizerFor } from '../data/tokenizer.js';
import { FtplanError } from '../errors.js';
import { resolveDevice } from '../measure/host.js';
import type { Task } from '../model/decoder-config.js';
import { decoderTokenizer, type ResolvedDecoder } from '../model/decoder-source.js';
import { obtainModel, readHfConfig } from '../model/hf.js';
import { modelShape, openModel } from '../model/open.js';
import type { AnyModelConfig } from '../model/model-config.js';
import { readAdapter, readAdapterConfig, type LoadedAdapter } from '../model/peft-adapter.js';
import { openDecoder } from '../model/open-decoder.js';
import { gpt2CausalLmError } from '../model/resolve.js';
import { loadNative, type NativeSession } from '../native.js';
import { renderMetrics } from '../report/run.js';
import { encodeExamples, encodeLmExamples, type Encoded } from '../train/data.js';
import { evalSplit, evaluate, evaluateLm } from '../train/evaluate.js';
import { runDecoder } from '../train/inputs.js';
import { argsWithAdapter, loadAdapter } from '../train/adapter.js';
import { describePeft, nativePeft, peftSettings, requirePeftSession, type PeftSettings } from '../train/peft.js';
import type { RunMetrics } from '../train/metrics.js';
import { EVAL_OPTIONS, EvalArgsSchema, parseArgs, type EvalArgs } from './options.js';
import { defaultThreads } from '../util/host.js';

/** The task a checkpoint was saved for: config.json's architectures (…ForCausalLM, …ForSequenceClassification). */
export function savedTask(raw: Record<string, unknown>): Task | null {
  const arch = Array.isArray(raw.architectures) ? String(raw.architectures[0] ?? '') : '';
  return arch.endsWith('ForCausalLM') ? 'causal-lm' : arch.endsWith('ForSequenceClassification') ? 'classification' : null;
}

function noRows(split: { files: string[]; rowsRead: number }, detail: string, fix: string): FtplanError {
  return new FtplanError('ERR_INPUT', `${split.files.join(', ')}: no rows left to evaluate (${split.rowsRead} read; ${detail})`, { fix });
}

function noEvalSplit(args: EvalArgs): FtplanError {
  return new FtplanError('ERR_INPUT', `${args.dataset} has no eval split (test or validation)`, { fix: 'pass a data set with a test.* file or validation.* file, or the file to evaluate on itself' });
}

/**
 * --adapter on the base model `cfg` (its classes set from the data): the adapter read and checked,
 * and the settings it trained with (qlora: the base held in NF4 again, so the run's metrics come back).
 */
function adapterFor(args: EvalArgs, cfg: AnyModelConfig): { adapter: LoadedAdapter; peft: PeftSettings } | null {
  if (!args.adapter) return null;
  const adapter = readAdapter(args.adapter, cfg, { model: args.model, forceBase: args.forceBase });
  const peft = peftSettings(argsWithAdapter({ method: args.method, baseDtype: args.baseDtype, doubleQuant: args.doubleQuant }, adapter.info, args.adapter), cfg, args.model);
  return { adapter, peft };
}

/** The adapter's weights into the session built with its settings. */
async function withAdapter(session: NativeSession, a: { adapter: LoadedAdapter; peft: PeftSettings } | null): Promise<void> {
  if (!a) return;
  requirePeftSession(session, a.peft);
  await loadAdapter(session, a.adapter);
}

/** What the JSON says of the adapter evaluated. */
const adapterJson = (a: { adapter: LoadedAdapter; peft: PeftSettings } | null, cfg: AnyModelConfig) =>
  a ? { adapter: { dir: a.adapter.dir, baseModel: a.adapter.info.baseModel, method: a.peft.method, r: a.peft.lora!.r, alpha: a.peft.lora!.alpha, targets: a.peft.lora!.targets, head: a.adapter.head, description: describePeft(a.peft, cfg) } } : {};

async function openForEval(args: EvalArgs, d: ResolvedDecoder, task: Task, numLabels: number | undefined): Promise<{ session: NativeSession; padId: number; adapter: ReturnType<typeof adapterFor> }> {
  if (!d.dir) throw new FtplanError('ERR_INPUT', `--model ${args.model} is a shape (${d.source}), without weights to evaluate`, { fix: 'evaluate a folder that ftplan run wrote, or a downloaded model folder' });
  const addon = loadNative();
  const a = adapterFor(args, { ...d.config, task, ...(numLabels !== undefined ? { numLabels } : {}) });
  const opened = await openDecoder({ kind: 'folder', dir: d.dir }, { task, numLabels, dtype: args.dtype, device: resolveDevice(args.device, addon), threads: args.threads ?? defaultThreads(availableParallelism()), ...(a ? nativePeft(a.peft) : {}) });
  await withAdapter(opened.session, a);
  if (task === 'classification' && opened.report.initialised.includes('score.weight') && !a?.adapter.head) {
    throw new FtplanError('ERR_INPUT', `${args.model} has no classification head (score.weight) to evaluate`, { fix: 'evaluate a folder that ftplan run wrote for --task classification (it saves the head), or pass --task causal-lm' });
  }
  return { session: opened.session, padId: opened.config.padTokenId, adapter: a };
}

/** A decoder checkpoint on either task. */
async function evalDecoder(args: EvalArgs, d: ResolvedDecoder, task: Task): Promise<{ json: object; text: string }> {
  const tokenizer = decoderTokenizer(d);
  const positions = d.config.maxPositionEmbeddings;
  if (task === 'causal-lm') {
    const data = await loadLmData(args.dataset, { tokenizer, seqLen: positions, format: args.lmFormat, textColumn: args.textColumn, labelColumn: args.labelColumn, emptyText: args.emptyText, unknownLabels: args.unknownLabels, evalOnly: true });
    const split = lmEvalSplit(data);
    if (!split) throw noEvalSplit(args);
    if (split.examples.length === 0) throw noRows(split, `skipped: ${split.skipped.noTarget} with no counted token within ${positions} tokens, ${split.skipped.empty} empty`, 'check the columns and that the prompts leave room for the completion');
    const rows = encodeLmExamples(split.examples, data.format);
    const { session, padId, adapter } = await openForEval(args, d, task, undefined);
    const m = await evaluateLm(session, rows, args.evalBatchSize, padId);
    const which = data.source === 'file' ? 'the whole file' : `the ${split.name} split`;
    return {
      json: { schema: 'ftplan.eval/1', model: args.model, dataset: args.dataset, task, split: split.name, files: split.files, rowsRead: split.rowsRead, skipped: split.skipped, truncated: split.truncated, format: data.format, formatSource: data.formatSource, ...adapterJson(adapter, d.config), metrics: m },
      text: `${which} (${split.files.join(', ')}): ${rows.length} rows, causal-lm ${data.format} (${data.formatSource})\n${renderMetrics(m)}`,
    };
  }
  const ds = await loadDataset(args.dataset, { textColumn: args.textColumn, labelColumn: args.labelColumn, limit: args.limit, emptyText: args.emptyText, unknownLabels: args.unknownLabels, evalOnly: true, modelLabels: adapterLabels(args) ?? d.labels ?? undefined });
  const split = checkedSplit(args, ds);
  const rows = encodeExamples(split.examples, classificationTokenizer(tokenizer), positions);
  const { session, padId, adapter } = await openForEval(args, d, task, ds.labels.length);
  const m = await evaluate(session, rows, args.evalBatchSize, padId, ds.labels);
  return classificationReport(args, ds, split, m, adapterJson(adapter, d.config));
}

function checkedSplit(args: EvalArgs, ds: Dataset) {
  const split = evalSplit(ds);
  if (!split) throw noEvalSplit(args);
  if (split.examples.length === 0) {
    const d = split.dropped;
    throw noRows(split, `dropped: ${d.missingLabel} without a label, ${d.unknownLabel} with a class the model does not have, ${d.emptyText} empty`, 'check --label-column and that the labels are the model\'s classes (its config.json id2label)');
  }
  return split;
}

/** The classes an ftplan adapter was trained on (in id order): eval rows are mapped onto them. */
function adapterLabels(args: EvalArgs): string[] | null {
  return args.adapter ? readAdapterConfig(args.adapter).info.labels : null;
}

function classificationReport(args: EvalArgs, ds: Dataset, split: NonNullable<ReturnType<typeof evalSplit>>, m: RunMetrics, extra: object = {}): { json: object; text: string } {
  const which = ds.source === 'file' ? 'the whole file' : `the ${split.name} split`;
  const dropped = split.rowsRead - split.examples.length;
  return {
    json: { schema: 'ftplan.eval/1', model: args.model, dataset: args.dataset, split: split.name, files: split.files, rowsRead: split.rowsRead, dropped: split.dropped, labels: ds.labels, labelSource: ds.labelSource, ...extra, metrics: m },
    text: `${which} (${split.files.join(', ')}): ${split.examples.length} rows${dropped ? ` (${dropped} of ${split.rowsRead} dropped)` : ''}; labels: ${ds.labelSource}\n${renderMetrics(m)}`,
  };
}

/** GPT-2, as before. */
async function evalGpt2(args: EvalArgs): Promise<{ json: object; text: string }> {
  // The model's classes (config.json id2label): evaluation data without a training split maps its
  // labels onto them, instead of guessing the classes from the eval rows (a class they lack would
  // shift every id after it).
  const source = await obtainModel(args.model, 'weights');
  const modelLabels = adapterLabels(args) ?? (source.kind === 'folder' ? (readHfConfig(source.dir).labels ?? undefined) : undefined);
  const ds = await loadDataset(args.dataset, { textColumn: args.textColumn, labelColumn: args.labelColumn, limit: args.limit, emptyText: args.emptyText, unknownLabels: args.unknownLabels, evalOnly: true, modelLabels });
  const split = checkedSplit(args, ds);
  const addon = loadNative();
  const device = resolveDevice(args.device, addon);
  const a = args.adapter ? adapterFor(args, (await modelShape(args.model, ds.labels.length)).config) : null;
  const opened = await openModel(args.model, { numLabels: ds.labels.length, dtype: args.dtype, device, threads: args.threads ?? defaultThreads(availableParallelism()), ...(a ? nativePeft(a.peft) : {}) });
  await withAdapter(opened.session, a);
  if (opened.report.initialised.includes('score.weight') && !a?.adapter.head) {
    throw new FtplanError('ERR_INPUT', `${args.model} has no classification head (score.weight) to evaluate`, { fix: 'evaluate a folder that ftplan run wrote (it saves the head)' });
  }
  const tokenizer = tokenizerFor(opened.source.kind === 'folder' ? opened.source.dir : undefined);
  const rows: Encoded[] = encodeExamples(split.examples, tokenizer, opened.config.nPositions);
  const m = await evaluate(opened.session, rows, args.evalBatchSize, opened.config.padTokenId, ds.labels);
  return classificationReport(args, ds, split, m, adapterJson(a, opened.config));
}

export async function runEval(raw: Record<string, unknown>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const args = parseArgs(EvalArgsSchema, EVAL_OPTIONS, raw, 'eval');
  // A decoder's task: --task, else the one its checkpoint was saved for.
  // With --adapter, the adapter's task (adapter_config.json's task_type) unless --task says otherwise.
  const adapterTask = args.adapter ? readAdapterConfig(args.adapter).info.task : null;
  const probe = await runDecoder(args.model, args.task ?? adapterTask ?? 'classification', 'weights');
  const task = args.task ?? adapterTask ?? (probe ? savedTask(probe.raw) : null) ?? 'classification';
  if (args.lmFormat !== 'auto' && task !== 'causal-lm') throw new FtplanError('ERR_USAGE', `--lm-format is for causal-lm checkpoints (${args.model} is evaluated for ${task})`, { fix: 'leave --lm-format out, or pass --task causal-lm' });
  const d = probe && task !== (args.task ?? adapterTask ?? 'classification') ? await runDecoder(args.model, task, 'weights') : probe;
  if (!d && task === 'causal-lm') throw gpt2CausalLmError(args.model);
  const r = d ? await evalDecoder(args, d, task) : await evalGpt2(args);
  out(args.json ? `${JSON.stringify(r.json, null, 2)}\n` : `${r.text}\n`);
}
