/**
 * lm-formats.ts — the names of the forms a causal-LM data set can take (lm-data.ts reads them). A
 * module of its own so that the command line's flag table can list them without loading the data
 * readers (parquet, CSV, the hub client) on every start.
 */
export const LM_DATA_FORMATS = ['auto', 'text', 'prompt-completion', 'messages', 'labels'] as const;
export type LmDataFormat = (typeof LM_DATA_FORMATS)[number];
