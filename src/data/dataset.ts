/** dataset.ts — a loaded text-classification data set: its splits, rows (text, label id) and what the load did. */

export type SplitName = 'train' | 'test' | 'validation';

export interface Example {
  text: string;
  label: number;
}

export interface SplitData {
  name: SplitName;
  files: string[];
  examples: Example[];
  /** rows read from the files, before any policy */
  rowsRead: number;
  dropped: { emptyText: number; missingLabel: number; unknownLabel: number; limit: number };
}

export interface Dataset {
  name: string;
  source: string; // 'folder' | 'file' | 'hub cache (<path>)'
  textColumn: string;
  labelColumn: string;
  /** label id -> name, in id order */
  labels: string[];
  labelSource: string;
  splits: Partial<Record<SplitName, SplitData>>;
}

export interface LoadOptions {
  textColumn?: string;
  labelColumn?: string;
  /** keep at most this many training rows: a seeded sample, in file order */
  limit?: number;
  seed?: number;
  /** what to do with rows whose text is empty: keep (default; fed as one end-of-text token) or drop */
  emptyText?: 'drop' | 'keep';
  /** rows whose label is not one of the training labels: drop (default) or error */
  unknownLabels?: 'drop' | 'error';
  env?: NodeJS.ProcessEnv;
  /**
   * Evaluation only (`ftplan eval`): a file given alone is the eval split (all of it), and a folder
   * or hub snapshot needs no training split, only test/validation.
   */
  evalOnly?: boolean;
  /**
   * The model's classes (its config.json id2label, in id order), for data without a training split
   * to take them from: class ids in the data are the model's ids, class names are matched to these.
   */
  modelLabels?: string[];
}
