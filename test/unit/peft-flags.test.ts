// The PEFT flags from the command line to the native options: defaults, flags the method does not
// use, targets the model lacks, the trainable count and the sentence the reports print.
import { describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { FtplanError } from '../../src/errors.js';
import { EstimateArgsSchema, ESTIMATE_OPTIONS } from '../../src/flags/estimate.js';
import { EvalArgsSchema, EVAL_OPTIONS } from '../../src/flags/eval.js';
import { parseArgs, toYargs, type OptionSpec } from '../../src/flags/registry.js';
import { RunArgsSchema, RUN_OPTIONS } from '../../src/flags/run.js';
import { decoderPresetConfig } from '../../src/model/decoder-presets.js';
import { linearModules, loraParameters, parseTargets } from '../../src/model/lora-modules.js';
import { modelConfig } from '../../src/model/presets.js';
import { settingsToMeasure } from '../../src/estimate/method.js';
import { calibrationName, describePeft, nativePeft, peftRecord, peftSettings, requirePeftSession, trainableParameters } from '../../src/train/peft.js';
import { expectInputError } from '../helpers.js';

const gpt2 = modelConfig('tiny', { numLabels: 3 });
const qwen = decoderPresetConfig('qwen2.5-0.5b', 'classification', { numLabels: 3 });

function parse<T>(schema: { safeParse: (v: unknown) => unknown }, table: Record<string, OptionSpec>, argv: string[], command: string): T {
  const raw = yargs(argv)
    .options(toYargs(table))
    .strict()
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .parseSync() as Record<string, unknown>;
  return parseArgs(schema as never, table, raw, command) as T;
}
const runArgs = (argv: string[]) => parse<Record<string, unknown>>(RunArgsSchema, RUN_OPTIONS, ['--dataset', 'd.jsonl', ...argv], 'run');

const usage = expectInputError;

describe('PEFT flags', () => {
  it('default to full fine-tuning, passing nothing to the core (what a core without PEFT trains)', () => {
    const a = runArgs([]);
    expect(a.method).toBeUndefined();
    const s = peftSettings(a, gpt2, 'tiny');
    expect(s.method).toBe('full');
    expect(nativePeft(s)).toEqual({});
    expect(calibrationName('tiny', s)).toBe('tiny');
  });

  it('apply the CLI\'s LoRA defaults (r 16, alpha 32, dropout 0.05, all-linear, bf16 base) and pass them explicitly', () => {
    const s = peftSettings(runArgs(['--method', 'lora']), qwen, 'qwen2.5-0.5b');
    expect(nativePeft(s)).toEqual({
      method: 'lora',
      gradientCheckpointing: false,
      loraR: 16,
      loraAlpha: 32,
      loraDropout: 0.05,
      loraTargets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      baseDtype: 'bf16',
    });
    const q = peftSettings(runArgs(['--method', 'qlora', '--lora-r', '8', '--lora-target', 'v_proj,q_proj', '--double-quant', '--gradient-checkpointing']), qwen, 'qwen');
    expect(nativePeft(q)).toMatchObject({ method: 'qlora', loraR: 8, loraTargets: ['q_proj', 'v_proj'], nf4DoubleQuant: true, gradientCheckpointing: true });
    expect(calibrationName('qwen', q)).toBe('qwen qlora checkpointing');
    expect(nativePeft(peftSettings(runArgs(['--method', 'head', '--unfreeze-last', '1']), gpt2, 'tiny'))).toEqual({ method: 'head', gradientCheckpointing: false, unfreezeLast: 1 });
    expect(nativePeft(peftSettings(runArgs(['--gradient-checkpointing']), gpt2, 'tiny'))).toEqual({ method: 'full', gradientCheckpointing: true });
  });

  it('refuse a flag the method does not use, naming the flag and the method', () => {
    usage(() => peftSettings(runArgs(['--lora-r', '8']), gpt2, 'tiny'), /--lora-r is for --method lora or qlora, and the method is full \(the default\)/);
    usage(() => peftSettings(runArgs(['--method', 'head', '--lora-alpha', '16']), gpt2, 'tiny'), /--lora-alpha is for --method lora or qlora, and the method is head/);
    usage(() => peftSettings(runArgs(['--method', 'lora', '--double-quant']), gpt2, 'tiny'), /--double-quant is for --method qlora, and the method is lora/);
    usage(() => peftSettings(runArgs(['--method', 'lora', '--unfreeze-last', '2']), gpt2, 'tiny'), /--unfreeze-last is for --method head/);
    usage(() => peftSettings(runArgs(['--base-dtype', 'fp32']), gpt2, 'tiny'), /--base-dtype is for --method lora or qlora/);
    usage(() => peftSettings(runArgs(['--method', 'head', '--unfreeze-last', '99']), gpt2, 'tiny'), /--unfreeze-last 99: tiny has 2 blocks/);
  });

  it('check values and combinations while parsing (exit 2, the flag named)', () => {
    usage(() => runArgs(['--method', 'lora', '--lora-r', '0']), /--lora-r must be at least 1/);
    usage(() => runArgs(['--method', 'lora', '--lora-r', '2.5']), /--lora-r must be a whole number/);
    usage(() => runArgs(['--method', 'lora', '--lora-alpha', '-1']), /--lora-alpha must be positive/);
    usage(() => runArgs(['--method', 'lora', '--lora-dropout', '1']), /--lora-dropout must be in \[0, 1\)/);
    usage(() => runArgs(['--merge']), /--merge merges LoRA adapters into the base: it is for --method lora or qlora/);
    usage(() => runArgs(['--method', 'full', '--adapter', 'a']), /--adapter continues a LoRA adapter/);
    usage(() => runArgs(['--force-base']), /--force-base is for --adapter/);
    expect(() => runArgs(['--method', 'auto'])).toThrow(/Invalid values|choices/i); // yargs: auto is estimate's only
    usage(() => parse(EvalArgsSchema, EVAL_OPTIONS, ['--model', 'm', '--dataset', 'd', '--method', 'qlora'], 'eval'), /say how --adapter is evaluated: give --adapter/);
    usage(() => parse(EvalArgsSchema, EVAL_OPTIONS, ['--model', 'm', '--dataset', 'd', '--adapter', 'a', '--method', 'head'], 'eval'), /--method with --adapter is lora or qlora/);
  });

  it('estimate takes --method auto, which reaches the one place that decides what auto measures; a run refuses it', () => {
    const a = parse<Parameters<typeof settingsToMeasure>[0]>(EstimateArgsSchema, ESTIMATE_OPTIONS, ['--method', 'auto'], 'estimate');
    expect(a.method).toBe('auto');
    // auto measures full fine-tuning when it fits here (the planner prices each method from it), checkpointing as given
    expect(settingsToMeasure(a, gpt2)).toMatchObject({ settings: { method: 'full', lora: null, gradientCheckpointing: false }, note: null });
    expect(settingsToMeasure({ ...a, gradientCheckpointing: true }, gpt2).settings.gradientCheckpointing).toBe(true);
    // full not measurable here: LoRA with the adapter flags given; not even LoRA: QLoRA
    const frozen = settingsToMeasure({ ...a, loraR: 4 }, gpt2, (s) => s.method !== 'full');
    expect(frozen.settings).toMatchObject({ method: 'lora', lora: { r: 4 }, baseDtype: 'bf16' });
    expect(frozen.note).toMatch(/--method auto measured LoRA here, because full fine-tuning's weights, gradients and AdamW states do not fit/);
    expect(settingsToMeasure(a, gpt2, (s) => s.method === 'qlora').settings.method).toBe('qlora');
    expect(settingsToMeasure(a, gpt2, () => false).settings.method).toBe('full'); // its refusal names the fixes
    usage(() => peftSettings({ method: 'auto' }, gpt2, 'tiny'), /--method auto chooses among methods when planning/);
  });

  it('check --lora-target against the family\'s linear layers, listing the valid ones', () => {
    expect(parseTargets('all-linear', gpt2, 'tiny')).toEqual(['c_attn', 'c_proj', 'c_fc']);
    expect(parseTargets('c_fc,c_attn', gpt2, 'tiny')).toEqual(['c_attn', 'c_fc']);
    const e = usage(() => parseTargets('q_proj', gpt2, 'tiny'), /--lora-target q_proj: tiny \(gpt2\) has no linear layer named q_proj; its linear layers are c_attn, c_proj, c_fc/);
    expect(e.fix).toMatch(/all-linear/);
    usage(() => parseTargets('c_attn,,c_fc', gpt2, 'tiny'), /an empty name/);
    usage(() => parseTargets('score', qwen, 'qwen'), /has no linear layer named score; its linear layers are q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj/);
  });
});

describe('what trains', () => {
  it('counts LoRA\'s parameters as Σ r·(in + out) over the targeted layers, plus the head', () => {
    // Qwen2.5-0.5B: hidden 896, 14 heads of 64, 2 KV heads, MLP 4864, 24 layers
    const C = 896;
    const kv = 2 * 64;
    const F = 4864;
    const perLayer = (C + C) + (C + kv) + (C + kv) + (C + C) + 3 * (C + F);
    const l = loraParameters(qwen, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], 16);
    expect(l.adapters).toBe(16 * perLayer * 24);
    expect(l.head).toBe(3 * C);
    expect(l.modules).toBe(7 * 24);
    // GPT-2's c_proj is two modules a layer (attention's and the MLP's)
    expect(linearModules(gpt2).size).toBe(4 * gpt2.nLayer);
    expect(loraParameters(gpt2, ['c_attn'], 4).adapters).toBe(4 * (gpt2.nEmbd + 3 * gpt2.nEmbd) * gpt2.nLayer);
  });

  it('says it in one line, with the trainable share', () => {
    const s = peftSettings({ method: 'lora' }, qwen, 'qwen');
    const line = describePeft(s, qwen);
    expect(line).toMatch(/^LoRA r 16 \(alpha 32, dropout 0\.05\) on 7 modules × 24 layers \(q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj\), bf16 base: 8\.8 M of 494\.\d M parameters trainable/);
    expect(describePeft(peftSettings({ method: 'head', unfreezeLast: 1 }, gpt2, 'tiny'), gpt2)).toMatch(/^head only \+ the last 1 of 2 blocks: /);
    // the core's count, when it gives one, is what the line says
    expect(describePeft(s, qwen, { trainable: 1000, total: 4000 })).toMatch(/1\.0 k of 4\.0 k parameters trainable \(25\.0%\)/);
    const r = peftRecord(s, qwen);
    expect(r).toMatchObject({ method: 'lora', lora: { r: 16, alpha: 32, dropout: 0.05 }, gradientCheckpointing: false, trainableParameters: trainableParameters(s, qwen) });
  });

  it('refuses a method other than full on a core without the PEFT session calls', () => {
    const old = { init() {}, state() {} };
    expect(() => requirePeftSession(old, { method: 'full', gradientCheckpointing: false })).not.toThrow();
    expect(() => requirePeftSession(old, { method: 'lora', gradientCheckpointing: false })).toThrow(/--method lora: this build of ftplan's native core does not train/);
    expect(() => requirePeftSession(old, { method: 'full', gradientCheckpointing: true })).toThrow(/--gradient-checkpointing: this build/);
    const fresh = { trainableState() {}, mergedState() {}, parameterInfo() {} };
    expect(() => requirePeftSession(fresh, { method: 'qlora', gradientCheckpointing: true })).not.toThrow();
  });
});
