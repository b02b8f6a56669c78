/**
 * inputs.ts — what `ftplan run` trains, per family and task, handed to one loop (loop.ts): the
 * model's record, its tokenizer, the rows tokenized once (train and eval), the classes, and how
 * to open the native session (random init, the model's weights, or a checkpoint to resume).
 *   GPT-2 (classification): hf.ts / open.ts, GPT-2's tokenizer (the folder's, else the embedded one).
 *   Llama family: decoder-source.ts / open-decoder.ts, the folder's tokenizer.json or the packaged
 *   one of a preset; classification rows with the tokenizer's special tokens (Llama 3's BOS), as
 *   transformers feeds *ForSequenceClassification; causal-lm rows from lm-data.ts (TRL's formats,
 *   or a labelled set as "text → label word" pairs), prompt tokens masked.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RunArgs } from '../commands/options.js';
import { classificationTokenizer, lmEvalSplit, loadLmData, noLmTrainingRows } from '../data/lm-data.js';
import { folderLmTokenizer, packagedTokenizerDir, packagedTokenizerForPreset, type LmTokenizer } from '../data/lm-tokenizer.js';
import { loadDataset, type Dataset } from '../data/loaders.js';
import { tokenizerFor } from '../data/tokenizer.js';
import { FtplanError } from '../errors.js';
import type { DecoderConfig, Task } from '../model/decoder-config.js';
import { decoderTokenizer, readDecoderFolder, resolveDecoder, type ResolvedDecoder } from '../model/decoder-source.js';
import { obtainModel, type ModelNeed } from '../model/hf.js';
import { isDecoderPreset } from '../model/decoder-presets.js';
import type { AnyModelConfig } from '../model/model-config.js';
import { modelShape, openModel } from '../model/open.js';
import { openDecoder } from '../model/open-decoder.js';
import { preflightCheckpoint } from '../model/preflight.js';
import { gpt2CausalLmError } from '../model/resolve.js';
import type { NativeSession, TrainOptions } from '../native.js';
import type { RunReport } from './result.js';
import { encodeExamples, encodeLmExamples, type Encoded } from './data.js';
import { evalSplit } from './evaluate.js';
import { isRepoId } from '../hub/cache.js';

export interface RunInputs {
  task: Task;
  family: string;
  /** the record the run trains (its shape for the prediction and the memory guard) */
  config: AnyModelConfig;
  labels: string[];
  train: Encoded[];
  evalRows: Encoded[];
  /** the folder whose tokenizer files checkpoints carry (undefined: GPT-2's, built in) */
  tokenizerFrom: string | undefined;
  /** a decoder's source config.json (its other fields carried into checkpoints) */
  baseConfig?: Record<string, unknown>;
  /** a line for the log: what was read and skipped */
  dataNote: string;
  /** causal-lm: the rows' format and, per split, what tokenization skipped and cut */
  lmData?: NonNullable<RunReport['lmData']>;
  /** the native session: random init, the model's weights, or the checkpoint to resume (its weights; the training state is loaded after) */
  open(train: TrainOptions): Promise<{ session: NativeSession; config: AnyModelConfig; report: RunReport['init']; gpt2Preset: boolean }>;
}

/** The model's folder (a hub id fetched into the cache first), or null for a preset. */
async function modelSourceDir(spec: string, need: ModelNeed): Promise<string | null> {
  const s = await obtainModel(spec, need);
  return s.kind === 'folder' ? s.dir : null;
}

/**
 * --model as a decoder, from what is on disk or a hub download; null when it is GPT-2. A hub id
 * not on disk is fetched (config.json first) and read for its model_type.
 */
export async function runDecoder(spec: string, task: Task, need: ModelNeed, numLabels?: number): Promise<ResolvedDecoder | null> {
  const weightsFromHub = need === 'weights' && !isDecoderPreset(spec) && isRepoId(spec) && spec.includes('/');
  const d = weightsFromHub ? null : resolveDecoder(spec, task, { numLabels });
  if (d) return d;
  if (!(isRepoId(spec) && spec.includes('/'))) return null;
  const source = await obtainModel(spec, need);
  return source.kind === 'folder' ? readDecoderFolder(source.dir, task, { numLabels }) : null;
}

/** The folder whose tokenizer files a decoder's checkpoints carry: its own, else the package's of its preset. */
function decoderTokenizerFolder(d: ResolvedDecoder): string | undefined {
  if (d.dir && existsSync(join(d.dir, 'tokenizer.json'))) return d.dir;
  const packaged = d.preset ? packagedTokenizerForPreset(d.preset) : null;
  return packaged ? packagedTokenizerDir(packaged) : undefined;
}

function dataError(ds: Dataset) {
  return new FtplanError('ERR_INPUT', `${ds.name}: no training split`, { fix: 'give a train.* file (or a single file to train on)' });
}

/** GPT-2, as ftplan has always trained it. */
export async function gpt2Inputs(args: RunArgs, resumeFrom: { dir: string } | null, ds: Dataset): Promise<RunInputs> {
  // The tokenizer of the model the run started from (a checkpoint carries the same files).
  // A hub model is fetched here, weights included unless they are not used, so a bad id or a
  // refused token fails before any measuring.
  // Resuming, the checkpoint's own copy of the tokenizer stands in when --model cannot be had.
  const tokenizerSource =
    (resumeFrom ? await modelSourceDir(args.model, 'shape').catch(() => resumeFrom.dir) : await modelSourceDir(args.model, args.init === 'random' ? 'shape' : 'weights')) ?? undefined;
  const tokenizer = tokenizerFor(tokenizerSource);
  const modelFrom = await modelShape(resumeFrom?.dir ?? args.model, ds.labels.length);
  const shape = modelFrom.config;
  // The weights' headers now, before the short measurement: a broken download fails in seconds.
  if (modelFrom.source.kind === 'folder' && (resumeFrom || args.init === 'pretrained')) preflightCheckpoint(modelFrom.source.dir, shape);
  if (!ds.splits.train) throw dataError(ds);
  const train = encodeExamples(ds.splits.train.examples, tokenizer, shape.nPositions);
  const evalData = evalSplit(ds);
  const evalRows = evalData ? encodeExamples(args.evalLimit ? evalData.examples.slice(0, args.evalLimit) : evalData.examples, tokenizer, shape.nPositions) : [];
  return {
    task: 'classification',
    family: 'gpt2',
    config: shape,
    labels: ds.labels,
    train,
    evalRows,
    tokenizerFrom: tokenizerSource,
    dataNote: '',
    open: async (train) => {
      const opened = await openModel(resumeFrom?.dir ?? args.model, { numLabels: ds.labels.length, init: resumeFrom ? 'pretrained' : args.init, ...train });
      return { session: opened.session, config: opened.config, report: opened.report, gpt2Preset: opened.source.kind !== 'folder' };
    },
  };
}

/** A Llama-family decoder for classification or causal-lm. */
export async function decoderInputs(args: RunArgs, resumeFrom: { dir: string } | null, d: ResolvedDecoder): Promise<RunInputs> {
  const task = args.task;
  // Resuming: the checkpoint's shape and weights; the tokenizer of --model (the same files the
  // checkpoint carries a copy of, which stands in when --model cannot be had).
  let tokenizer: LmTokenizer;
  let tokenizerFrom = decoderTokenizerFolder(d);
  try {
    tokenizer = decoderTokenizer(d);
  } catch (e) {
    if (!resumeFrom || !existsSync(join(resumeFrom.dir, 'tokenizer.json'))) throw e;
    tokenizer = folderLmTokenizer(resumeFrom.dir);
    tokenizerFrom = resumeFrom.dir;
  }
  const from = resumeFrom ? readDecoderFolder(resumeFrom.dir, task) : d;
  if (!from) throw new FtplanError('ERR_INPUT', `${resumeFrom?.dir}: holds a GPT-2 checkpoint, and --model ${args.model} is a ${d.config.modelType} decoder`, { fix: 'resume with the --model the run started from' });
  let labels: string[] = [];
  let train: Encoded[];
  let evalRows: Encoded[];
  let dataNote: string;
  let lmData: RunInputs['lmData'];
  let config: DecoderConfig = from.config;
  const positions = config.maxPositionEmbeddings;
  if (task === 'classification') {
    const ds = await loadDataset(args.dataset, { textColumn: args.textColumn, labelColumn: args.labelColumn, limit: args.limit, seed: args.seed, emptyText: args.emptyText, unknownLabels: args.unknownLabels });
    if (!ds.splits.train) throw dataError(ds);
    labels = ds.labels;
    config = { ...config, numLabels: labels.length };
    const tok = classificationTokenizer(tokenizer);
    train = encodeExamples(ds.splits.train.examples, tok, positions);
    const e = evalSplit(ds);
    evalRows = e ? encodeExamples(args.evalLimit ? e.examples.slice(0, args.evalLimit) : e.examples, tok, positions) : [];
    dataNote = `tokenizer ${tok.name}`;
  } else {
    const data = await loadLmData(args.dataset, { tokenizer, seqLen: positions, format: args.lmFormat, textColumn: args.textColumn, labelColumn: args.labelColumn, limit: args.limit, seed: args.seed, emptyText: args.emptyText, unknownLabels: args.unknownLabels });
    const t = data.splits.train;
    if (!t || t.examples.length === 0) throw noLmTrainingRows(data);
    train = encodeLmExamples(t.examples, data.format);
    const e = lmEvalSplit(data);
    evalRows = e ? encodeLmExamples(args.evalLimit ? e.examples.slice(0, args.evalLimit) : e.examples, data.format) : [];
    const skipped = Object.values(data.splits).map((s) => `${s.name}: ${s.skipped.noTarget} with no counted token within ${positions}, ${s.skipped.empty} empty, ${s.truncated} cut`).join('; ');
    dataNote = `causal-lm ${data.format} (${data.formatSource}); tokenizer ${tokenizer.name}; skipped ${skipped}`;
    lmData = { format: data.format, formatSource: data.formatSource, tokenizer: tokenizer.name, splits: Object.values(data.splits).map((s) => ({ name: s.name, rowsRead: s.rowsRead, rows: s.examples.length, skipped: s.skipped, truncated: s.truncated, targets: s.targets })) };
  }
  if (resumeFrom || (args.init === 'pretrained' && from.dir)) preflightCheckpoint((resumeFrom?.dir ?? from.dir) as string, config);
  const folder = resumeFrom?.dir ?? (args.init === 'pretrained' ? from.dir : null);
  return {
    task,
    family: config.modelType,
    config,
    labels,
    train,
    evalRows,
    tokenizerFrom,
    baseConfig: from.raw,
    dataNote,
    lmData,
    open: async (train) => {
      const opened = await openDecoder(folder ? { kind: 'folder', dir: folder } : { kind: 'config', config }, { task, numLabels: task === 'classification' ? labels.length : undefined, init: folder ? 'pretrained' : 'random', tokenizerPadTokenId: tokenizer.padTokenId ?? undefined, ...train });
      return { session: opened.session, config: opened.config, report: opened.report, gpt2Preset: false };
    },
  };
}

/** The run's inputs for --model and --task (a decoder when --model names one, else GPT-2, which trains classification only). */
export async function runInputs(args: RunArgs, resumeFrom: { dir: string } | null, loadClassification: () => Promise<Dataset>): Promise<RunInputs> {
  const need: ModelNeed = resumeFrom || args.init === 'random' ? 'shape' : 'weights';
  const d = await runDecoder(args.model, args.task, need);
  if (d) return decoderInputs(args, resumeFrom, d);
  if (args.task === 'causal-lm') throw gpt2CausalLmError(args.model);
  return gpt2Inputs(args, resumeFrom, await loadClassification());
}
