/**
 * result.ts — what `ftplan estimate` returns (its --json): the measurement, the projection on this
 * device and the plan over the price tables. The reports (report/table.ts, report/documents.ts)
 * render it; the command builds it.
 */
import type { Measurement } from '../measurement.js';
import type { MemoryBreakdown } from '../measure/measure.js';
import type { PeftRecord } from '../train/peft.js';
import type { Projection } from '../planner/projection.js';
import type { Plan } from '../planner/recommend.js';

export type CheckpointSummary =
  | { dir: string; weights: 'checked'; layout: 'single' | 'sharded'; files: string[]; tensors: number; tensorBytes: number; dtypes: string[]; initialised: string[]; note: string }
  | { dir: string; weights: 'absent'; other: string | null; note: string };

export interface EstimateResult {
  schema: 'ftplan.estimate/1';
  model: string;
  /** gpt2, llama, mistral, qwen2 or qwen3 */
  family: string;
  task: 'classification' | 'causal-lm';
  /** training FLOPs per token (6N + attention; a causal-LM decoder's N counts the LM head): the measurement's */
  flopsPerToken: number;
  /** the model's parameters (a tied LM head once) */
  parameters: number;
  /** what trains: full, lora, qlora or head (--method); the plan's rows carry it too */
  method: PeftRecord['method'];
  /** lora/qlora: rank, alpha, dropout and the adapted layers' leaf names; else null */
  lora: PeftRecord['lora'];
  gradientCheckpointing: boolean;
  /** parameters the method trains (the core's count when it reports one, else from the shapes) */
  trainableParameters: number;
  /** the settings in full and the sentence the table prints ("LoRA r 16 on 7 modules × 24 layers: …") */
  training: PeftRecord & { description: string };
  /** the step's peak memory in parts, as the core measured it (null: a core that does not report them) */
  memoryBreakdown: MemoryBreakdown | null;
  device: string;
  dtype: string;
  /** the micro-batch the steps were measured at (rows per forward/backward) */
  batchSize: number;
  /** micro-batches per measured step; batchSize × gradAccum is the effective batch the plan prices */
  gradAccum: number;
  seqLen: number;
  seqLenBasis: string;
  batching: string;
  epochs: number;
  /** causal-lm adds the rows' format, the tokenizer of the lengths and the mean counted targets per row */
  dataset: { name: string; trainRows: number; evalRows: number; source: string; format?: string | null; tokenizer?: string; targetsPerRow?: number | null };
  measurement: Measurement;
  libtorch: Measurement['libtorch'] & { blas: string };
  projection: Projection;
  plan: Plan;
  /** the --model folder's weights, checked from their headers (null: a preset, or --measurement) */
  checkpoint: CheckpointSummary | null;
  /** whether the local projection was corrected by earlier runs' actuals (ftplan run); ratio: the
   * factor applied to the measured throughput (the runs' observed ratio shrunk toward 1, calibration.ts) */
  calibration: { used: true; ratio: number; runs: number; observedRatio: number; min: number; max: number; spreadPct: number | null; file: string } | { used: false };
  warnings: string[];
}
