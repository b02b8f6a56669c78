// The estimate reads the PEFT flags' values (declared with the other PEFT flags) into the
// planner's method spec: defaults when absent, targets from a list or all-linear, and errors for
// an unknown method or a target the model lacks.
import { describe, expect, it } from 'vitest';
import { methodArgs, measuredActivations } from '../../src/estimate/planning.js';
import { decoderPresetConfig } from '../../src/model/decoder-presets.js';
import { modelConfig } from '../../src/model/presets.js';

const llama = decoderPresetConfig('tiny-llama', 'causal-lm');

describe('methodArgs', () => {
  it('no PEFT flags: full fine-tuning with ftplan\'s LoRA defaults kept for auto', () => {
    expect(methodArgs({}, llama)).toEqual({ method: 'full', spec: { loraR: 16, loraTargets: null, baseDtype: 'bf16', doubleQuant: false, unfreezeLast: 0 }, gradientCheckpointing: undefined });
  });

  it('reads the flags\' values: rank, targets (comma list or repeated), base dtype, double quantisation, checkpointing', () => {
    const a = methodArgs({ method: 'qlora', loraR: 8, loraTarget: 'q_proj,v_proj', baseDtype: 'fp32', doubleQuant: true, gradientCheckpointing: true }, llama);
    expect(a).toEqual({ method: 'qlora', spec: { loraR: 8, loraTargets: ['q_proj', 'v_proj'], baseDtype: 'fp32', doubleQuant: true, unfreezeLast: 0 }, gradientCheckpointing: true });
    expect(methodArgs({ method: 'lora', loraTarget: ['q_proj', 'o_proj'] }, llama).spec.loraTargets).toEqual(['q_proj', 'o_proj']);
    expect(methodArgs({ method: 'lora', loraTarget: 'all-linear' }, llama).spec.loraTargets).toBeNull();
    expect(methodArgs({ method: 'auto' }, llama).method).toBe('auto');
  });

  it('an unknown method or a target the model lacks is a usage error naming the valid ones', () => {
    expect(() => methodArgs({ method: 'prefix' }, llama)).toThrow(/--method prefix is not a method/);
    expect(() => methodArgs({ method: 'lora', loraTarget: 'c_attn' }, llama)).toThrow(/--lora-target c_attn: not a linear/);
    let err: unknown = null;
    try {
      methodArgs({ method: 'lora', loraTarget: 'q_proj,wq' }, modelConfig('tiny'));
    } catch (e) {
      err = e;
    }
    expect((err as { fix?: string } | null)?.fix).toMatch(/c_attn, c_proj, c_fc/);
    expect(() => methodArgs({ method: 'lora', loraTarget: 'q_proj' }, modelConfig('tiny'))).toThrow(/q_proj/);
  });

  it('the probe\'s measured activations become the planner\'s per-block and per-row figures', () => {
    const a = measuredActivations({ activation: { seqLen: 128, perSamplePerLayer: 4e6, perSampleBase: 1e6, measuredOn: 'cpu (AMD EPYC)', dtype: 'fp32' } });
    expect(a).toMatchObject({ seqLen: 128, perRowPerBlock: 4e6, perRowBase: 1e6, source: 'measured' });
    expect(a.basis).toMatch(/cpu \(AMD EPYC\)/);
  });
});
