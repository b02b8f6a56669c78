/**
 * planning.ts — the estimate's plan by method: which method(s) to price (the PEFT flags, or all of
 * full, LoRA and QLoRA under `--method auto`), the planner's input for each (the measured
 * activations, ftplan's precision, --exact's configuration, the error bands), and the comparison.
 * The PEFT flags themselves are declared with the other PEFT flags (src/flags/); this reads their
 * values and keeps ftplan's defaults for any not given.
 */
import { usageError } from '../errors.js';
import type { Measurement } from '../measurement.js';
import { AUTO_METHODS, compareMethods } from '../planner/auto.js';
import type { ErrorBands } from '../planner/error-band.js';
import type { ActivationInput } from '../planner/method-memory.js';
import type { MethodPlanInput } from '../planner/method-plan.js';
import { ftplanPrecision, linearNames, methodSpec, PLAN_METHODS, type MethodSpec, type PlanMethod } from '../planner/method.js';
import { kernelsPerLayerOf, parameterTensorsOf, type PlannedModel } from '../planner/model-shape.js';
import { plan, type Plan, type PlanInput } from '../planner/recommend.js';

export type MethodArg = PlanMethod | 'auto';

export interface MethodArgs {
  method: MethodArg;
  spec: Omit<MethodSpec, 'method'>;
  /** --gradient-checkpointing as given (undefined: not given) */
  gradientCheckpointing: boolean | undefined;
}

const number = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The PEFT flags' values (absent ones: --lora-r 16, all-linear, bf16 base, no double quantisation). */
export function methodArgs(args: object, cfg: PlannedModel): MethodArgs {
  const a = args as Record<string, unknown>;
  const method = a.method === undefined ? 'full' : String(a.method);
  if (!(PLAN_METHODS as readonly string[]).includes(method) && method !== 'auto') throw usageError(`--method ${method} is not a method`, `use one of ${[...PLAN_METHODS, 'auto'].join(', ')}`);
  const raw = a.loraTarget ?? a.loraTargets;
  const list = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).flatMap((t) => String(t).split(',')).map((t) => t.trim()).filter(Boolean);
  const loraTargets = list.length === 0 || list.includes('all-linear') ? null : list;
  if (loraTargets) {
    const names = linearNames(cfg);
    const unknown = loraTargets.filter((t) => !names.includes(t));
    if (unknown.length) throw usageError(`--lora-target ${unknown.join(',')}: not a linear of this model's blocks`, `use all-linear or some of ${names.join(', ')}`);
  }
  return {
    method: method as MethodArg,
    spec: { loraR: number(a.loraR) ?? 16, loraTargets, baseDtype: a.baseDtype === 'fp32' ? 'fp32' : 'bf16', doubleQuant: a.doubleQuant === true, unfreezeLast: number(a.unfreezeLast) ?? 0 },
    gradientCheckpointing: typeof a.gradientCheckpointing === 'boolean' ? a.gradientCheckpointing : undefined,
  };
}

/** The probe's measured activations as the method memory model reads them. */
export function measuredActivations(m: Pick<Measurement, 'activation'>): ActivationInput {
  const a = m.activation;
  return { seqLen: a.seqLen, perRowPerBlock: a.perSamplePerLayer, perRowBase: a.perSampleBase, source: 'measured', basis: `measured on ${a.measuredOn} at ${a.seqLen} tokens a row (reduced-depth twins)` };
}

export interface MethodPlanning {
  plan: Plan;
  /** the inputs each method was planned with, by method */
  methods: PlanMethod[];
}

/**
 * The plan for the chosen method, or under `auto` one plan per method compared (the returned plan
 * is the winning method's, carrying the comparison). `exact`: --exact's configuration.
 */
export function planByMethod(base: Omit<PlanInput, 'method'>, o: { args: MethodArgs; measurement: Measurement; bands: ErrorBands | null; exact: { microBatch: number; gradAccum: number; checkpointing: boolean } | null }): MethodPlanning {
  const cfg = base.model;
  const input = (method: PlanMethod): MethodPlanInput => ({
    spec: methodSpec({ ...o.args.spec, method }),
    precision: ftplanPrecision(o.measurement.dtype),
    loss: 'chunked',
    activation: measuredActivations(o.measurement),
    exact: o.exact,
    bands: o.bands,
    kernelsPerLayer: kernelsPerLayerOf(cfg),
    parameterTensors: parameterTensorsOf(cfg),
  });
  if (o.args.method !== 'auto') return { plan: plan({ ...base, method: input(o.args.method) }), methods: [o.args.method] };
  const plans = AUTO_METHODS.map((method) => ({ method, plan: plan({ ...base, method: input(method) }) }));
  const comparison = compareMethods(plans, base.objective);
  const chosen = plans.find((x) => x.method === comparison.pick) ?? (plans[0] as { method: PlanMethod; plan: Plan });
  return { plan: { ...chosen.plan, comparison }, methods: [...AUTO_METHODS] };
}
