/**
 * eval.ts — `ftplan eval`: a saved checkpoint's metrics on a data set's eval split (or on one file).
 */
import { availableParallelism } from 'node:os';
import { loadDataset } from '../data/loaders.js';
import { tokenizerFor } from '../data/tokenizer.js';
import { FtplanError } from '../errors.js';
import { resolveDevice } from '../measure/host.js';
import { obtainModel, readHfConfig } from '../model/hf.js';
import { openModel } from '../model/open.js';
import { loadNative } from '../native.js';
import { renderMetrics } from '../report/run.js';
import { encodeExamples } from '../train/data.js';
import { evalSplit, evaluate } from '../train/evaluate.js';
import { EVAL_OPTIONS, EvalArgsSchema, parseArgs } from './options.js';
import { defaultThreads } from '../util/host.js';

export async function runEval(raw: Record<string, unknown>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const args = parseArgs(EvalArgsSchema, EVAL_OPTIONS, raw, 'eval');
  // The model's classes (config.json id2label): evaluation data without a training split maps its
  // labels onto them, instead of guessing the classes from the eval rows (a class they lack would
  // shift every id after it).
  const source = await obtainModel(args.model, 'weights');
  const modelLabels = source.kind === 'folder' ? (readHfConfig(source.dir).labels ?? undefined) : undefined;
  const ds = await loadDataset(args.dataset, { textColumn: args.textColumn, labelColumn: args.labelColumn, limit: args.limit, emptyText: args.emptyText, unknownLabels: args.unknownLabels, evalOnly: true, modelLabels });
  const split = evalSplit(ds);
  if (!split) throw new FtplanError('ERR_INPUT', `${args.dataset} has no eval split (test or validation)`, { fix: 'pass a data set with a test.* or validation.* file, or the file to evaluate on itself' });
  if (split.examples.length === 0) {
    const d = split.dropped;
    throw new FtplanError('ERR_INPUT', `${split.files.join(', ')}: no rows left to evaluate (${split.rowsRead} read; dropped: ${d.missingLabel} without a label, ${d.unknownLabel} with a class the model does not have, ${d.emptyText} empty)`, {
      fix: 'check --label-column and that the labels are the model\'s classes (its config.json id2label)',
    });
  }
  const addon = loadNative();
  const device = resolveDevice(args.device, addon);
  const opened = await openModel(args.model, { numLabels: ds.labels.length, dtype: args.dtype, device, threads: args.threads ?? defaultThreads(availableParallelism()) });
  if (opened.report.initialised.includes('score.weight')) {
    throw new FtplanError('ERR_INPUT', `${args.model} has no classification head (score.weight) to evaluate`, { fix: 'evaluate a folder that ftplan run wrote (it saves the head)' });
  }
  const tokenizer = tokenizerFor(opened.source.kind === 'folder' ? opened.source.dir : undefined);
  const rows = encodeExamples(split.examples, tokenizer, opened.config.nPositions);
  const m = await evaluate(opened.session, rows, args.evalBatchSize, opened.config.padTokenId, ds.labels);
  const which = ds.source === 'file' ? 'the whole file' : `the ${split.name} split`;
  const dropped = split.rowsRead - split.examples.length;
  out(
    args.json
      ? `${JSON.stringify({ schema: 'ftplan.eval/1', model: args.model, dataset: args.dataset, split: split.name, files: split.files, rowsRead: split.rowsRead, dropped: split.dropped, labels: ds.labels, labelSource: ds.labelSource, metrics: m }, null, 2)}\n`
      : `${which} (${split.files.join(', ')}): ${split.examples.length} rows${dropped ? ` (${dropped} of ${split.rowsRead} dropped)` : ''}; labels: ${ds.labelSource}\n${renderMetrics(m)}\n`,
  );
}
