/**
 * auto.ts — `--method auto`: full fine-tuning, LoRA and QLoRA each priced over the same rows, and
 * the cheapest (or fastest) way that fits the budget and deadline, with the trade-off said. Pure:
 * it takes one plan per method (recommend.ts's plan() with that method) and compares their picks.
 */
import { fmtBand, type RowBand } from './error-band.js';
import type { PlanMethod } from './method.js';
import type { Sharding } from './method-plan.js';

/** What the comparison reads of a plan row (recommend.ts's PlanRow; kept structural so recommend.ts can carry the comparison). */
export interface ComparedRow {
  cloud: string;
  instance: string;
  region: string;
  gpu: string;
  gpus: number;
  fits: boolean;
  reason: string;
  hours: number;
  costUsd: number;
  tokensPerSec: number;
  microBatch: number;
  gradAccum: number;
  gradientCheckpointing: boolean;
  /** fsdp: fits only with weights, gradients and optimizer state sharded over the instance's GPUs */
  sharding?: Sharding;
  errorBand: RowBand | null;
}

/** What it reads of a plan (recommend.ts's Plan). */
export interface ComparedPlan {
  recommended: ComparedRow | null;
  rows: ComparedRow[];
  method: { description: string; trainableParameters: number } | null;
}

/** The methods `--method auto` compares (head-only trains too little to stand in for the others; ask for it by name). */
export const AUTO_METHODS = ['full', 'lora', 'qlora'] as const satisfies readonly PlanMethod[];

export interface MethodChoice {
  method: PlanMethod;
  description: string;
  /** the method's pick: its cheapest (fastest) row that fits and meets the constraints; null when none */
  row: ComparedRow | null;
  /** why there is no pick */
  reason: string | null;
  trainableParameters: number;
}

export interface MethodComparison {
  objective: 'cost' | 'time';
  choices: MethodChoice[];
  /** the method whose pick wins the objective */
  pick: PlanMethod | null;
  tradeOff: string[];
}

const NAMES: Record<PlanMethod, string> = { full: 'full fine-tuning', lora: 'LoRA', qlora: 'QLoRA', head: 'head only' };

const where = (r: ComparedRow) => `${r.gpus}× ${r.gpu} (${r.cloud} ${r.instance})`;
const money = (r: ComparedRow) => `$${r.costUsd.toFixed(2)}, ${r.hours.toFixed(2)} h`;

export function compareMethods(plans: { method: PlanMethod; plan: ComparedPlan }[], objective: 'cost' | 'time'): MethodComparison {
  const choices: MethodChoice[] = plans.map(({ method, plan }) => {
    const row = plan.recommended;
    const why = row ? null : plan.rows.some((x) => x.fits) ? `no instance meets the constraints (best: ${plan.rows.find((x) => x.fits)?.reason ?? 'n/a'})` : 'fits no GPU in the table';
    return { method, description: plan.method?.description ?? NAMES[method], row, reason: why, trainableParameters: plan.method?.trainableParameters ?? 0 };
  });
  const key = (r: ComparedRow) => (objective === 'cost' ? [r.costUsd, r.hours] : [r.hours, r.costUsd]) as [number, number];
  const fitting = choices.filter((c): c is MethodChoice & { row: ComparedRow } => c.row !== null).sort((a, b) => key(a.row)[0] - key(b.row)[0] || key(a.row)[1] - key(b.row)[1]);
  const best = fitting[0] ?? null;
  const tradeOff: string[] = [];
  if (!best) tradeOff.push('no method fits a GPU in the table within the constraints: see each method\'s reason');
  else {
    tradeOff.push(`by ${objective}: ${NAMES[best.method]} on ${where(best.row)}: ${money(best.row)} (time ${fmtBand(best.row.errorBand?.tokensPerSecPct)}, memory ${fmtBand(best.row.errorBand?.memoryPct)})`);
    for (const other of fitting.slice(1)) {
      const dc = (other.row.costUsd / best.row.costUsd - 1) * 100;
      const dh = (other.row.hours / best.row.hours - 1) * 100;
      const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(0)}%`;
      tradeOff.push(`${NAMES[other.method]} on ${where(other.row)}: ${money(other.row)}: ${pct(dc)} cost, ${pct(dh)} time against ${NAMES[best.method]}`);
    }
    for (const c of choices.filter((x) => !x.row)) tradeOff.push(`${NAMES[c.method]}: ${c.reason}`);
  }
  // what each method buys, in the model's own numbers
  const full = choices.find((c) => c.method === 'full');
  const q = choices.find((c) => c.method === 'qlora');
  const l = choices.find((c) => c.method === 'lora');
  if (full && l && full.trainableParameters > 0) tradeOff.push(`LoRA trains ${((100 * l.trainableParameters) / full.trainableParameters).toFixed(2)}% of the parameters full fine-tuning trains; adapters reach full fine-tuning's quality on most instruction tasks, not always on new knowledge`);
  if (q && l?.row) {
    const lr = l.row;
    const same = plans.find((x) => x.method === 'qlora')?.plan.rows.find((r) => r.fits && r.cloud === lr.cloud && r.instance === lr.instance && r.region === lr.region);
    if (same && same.tokensPerSec > 0)
      tradeOff.push(`QLoRA holds the targeted weights in NF4 (about a quarter of bf16's bytes) and dequantises them on every pass: on LoRA's pick (${where(lr)}) it runs ${(lr.tokensPerSec / same.tokensPerSec).toFixed(2)}× slower per token`);
  }
  return { objective, choices, pick: best?.method ?? null, tradeOff };
}
