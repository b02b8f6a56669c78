// The native boundary's TypeScript side (src/native.ts checkedAddon), on a stub addon that records
// what reaches it: bad arguments are refused with ERR_INVALID_ARGUMENT before the C++ side is
// called, good ones pass through. The real addon's own checks and errors: test/native/.
import { describe, expect, it } from 'vitest';
import { FtplanError, NativeCallError } from '../../src/errors.js';
import { checkedAddon, type NativeAddon } from '../../src/native.js';
import { parseDecoderConfig } from '../../src/model/families.js';
import { TINY_DECODERS } from '../decoder-fixtures.js';
import { makeBatch, tinyModel } from '../helpers.js';

async function caught(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('the native boundary: arguments are checked in TS before the call', () => {
  // A raw addon whose every function records that it was reached: the checks must stop bad
  // arguments before it.
  const reached: string[] = [];
  const spy = new Proxy({} as NativeAddon, {
    get: (_t, name: string) => {
      if (name === 'Session') {
        return class {
          constructor() {
            reached.push('Session');
          }
          step() {
            reached.push('Session.step');
            return Promise.resolve();
          }
          logits() {
            reached.push('Session.logits');
            return Promise.resolve();
          }
          setLr() {
            reached.push('Session.setLr');
          }
          loadState() {
            reached.push('Session.loadState');
            return Promise.resolve();
          }
          saveTrainingState() {
            reached.push('Session.saveTrainingState');
            return Promise.resolve();
          }
          loadTrainingState() {
            reached.push('Session.loadTrainingState');
            return Promise.resolve();
          }
        };
      }
      return () => {
        reached.push(name);
        return Promise.resolve();
      };
    },
  });
  const checked = checkedAddon(spy);
  const cfg = tinyModel();
  const good = makeBatch([[1, 2, 3]], 4, cfg.padTokenId, [1]);
  const session = () => new checked.Session({ model: cfg, threads: 1 });
  // a causal-lm decoder (vocab 96, 128 positions) and a right-padded batch with HF labels
  const lm = parseDecoderConfig({ ...TINY_DECODERS.qwen2 }, { task: 'causal-lm', file: 'tiny qwen2' });
  const lmBatch = { batchSize: 2, seqLen: 3, inputIds: Int32Array.from([5, 6, 7, 8, 9, 0]), lengths: Int32Array.from([3, 2]), lmLabels: Int32Array.from([-100, 6, 7, -100, 9, -100]) };
  const lmSession = () => new checked.Session({ model: lm, threads: 1 });

  const bad: [string, () => unknown, RegExp][] = [
    ['flopsPerToken: seqLen over the positions', () => checked.flopsPerToken(cfg, cfg.nPositions + 1), /seqLen must be in \[1, 64\]/],
    ['parameterCounts: nEmbd not divisible by nHead', () => checked.parameterCounts({ ...cfg, nEmbd: 65 }), /model\.nHead: nEmbd must be divisible by nHead/],
    ['benchmark: batch 0', () => checked.benchmark({ model: cfg, batchSize: 0, seqLen: 8 }), /batchSize must be in \[1,/],
    ['benchmark: NaN lr', () => checked.benchmark({ model: cfg, batchSize: 1, seqLen: 8, lr: Number.NaN }), /lr must be a finite number/],
    ['benchmark: a device name', () => checked.benchmark({ model: cfg, batchSize: 1, seqLen: 8, device: 'tpu' }), /device must be cpu, cuda or cuda:N/],
    ['benchmark: probe sizes', () => checked.benchmark({ model: cfg, batchSize: 1, seqLen: 8, probeBatchSizes: [4, 0] }), /probeBatchSizes\[\] must be in \[1,/],
    ['probeActivations: seqLen 0', () => checked.probeActivations({ model: cfg, seqLen: 0 }), /seqLen must be in \[1, 64\]/],
    ['Session: threads 5000', () => new checked.Session({ model: cfg, threads: 5000 }), /threads must be in \[0, 1024\]/],
    ['Session.step: no micro-batch', () => session().step([]), /at least one micro-batch/],
    ['Session.step: a label out of range', () => session().step([makeBatch([[1, 2]], 4, cfg.padTokenId, [7])]), /label 7 is outside \[0, 3\)/],
    ['Session.step: a token id outside the vocab', () => session().step([makeBatch([[1, 9999]], 4, cfg.padTokenId, [1])]), /token id 9999 is outside the vocab/],
    ['Session.step: ids of the wrong length', () => session().step([{ ...good, inputIds: new Int32Array(3) }]), /Int32Array of batchSize × seqLen = 4 elements/],
    ['Session.logits: lengths 0', () => session().logits({ ...good, lengths: Int32Array.from([0]) }), /0 real tokens in a row of 4/],
    ['Session.setLr: Infinity', () => session().setLr(Number.POSITIVE_INFINITY), /lr must be a finite number > 0/],
    ['Session.loadState: data of the wrong size', () => session().loadState({ w: { shape: [2, 2], data: new Float32Array(3) } }), /has 3 values for shape \[2, 2\]/],
    ['Session.saveTrainingState: no path', () => session().saveTrainingState(''), /takes a file path/],
    ['Session.loadTrainingState: a missing file', () => session().loadTrainingState('/nonexistent/state.pt'), /no such file/],
    ['setCpuMemoryLimit: negative', () => checked.setCpuMemoryLimit(-1), /bytes must be in \[0,/],
    ['decoder: kv heads not dividing heads', () => checked.parameterCounts({ ...lm, numKeyValueHeads: 3 }), /model\.numKeyValueHeads: numKeyValueHeads must divide numAttentionHeads/],
    ['decoder: an unknown family', () => checked.parameterCounts({ ...lm, modelType: 'falcon' } as unknown as typeof lm), /model\.modelType/],
    ['decoder: seqLen over max_position_embeddings', () => checked.flopsPerToken(lm, 129), /seqLen must be in \[1, 128\]/],
    ['causal-lm step: no lmLabels', () => lmSession().step([{ ...lmBatch, lmLabels: undefined }]), /lmLabels must be an Int32Array of batchSize × seqLen = 6 elements/],
    ['causal-lm step: a target in the padding', () => lmSession().step([{ ...lmBatch, lmLabels: Int32Array.from([-100, 6, 7, -100, 9, 4]) }]), /row 1 has a target at padding position 2/],
    ['causal-lm step: a label outside the vocab', () => lmSession().step([{ ...lmBatch, lmLabels: Int32Array.from([-100, 600, 7, -100, 9, -100]) }]), /600 is neither -100 nor a token id/],
    ['causal-lm step: nothing counted', () => lmSession().step([{ ...lmBatch, lmLabels: Int32Array.from([5, -100, -100, 8, -100, -100]) }]), /no counted target/],
    ['lmEval on a classifier', () => session().lmEval(good), /lmEval\(\) is for causal-lm models/],
    ['lmLossCheck: chunkRows 0', () => checked.lmLossCheck(8, 4, 10, 0, false), /chunkRows must be in \[1,/],
    ['lmChunkRows: negative', () => checked.lmChunkRows(-1), /rows must be in \[0,/],
    ['peft: an unknown method', () => new checked.Session({ model: cfg, method: 'prefix' as 'lora' }), /method \(--method\) must be full, lora, qlora or head/],
    ['peft: r 0', () => new checked.Session({ model: cfg, method: 'lora', loraR: 0 }), /loraR \(--lora-r\) must be in \[1,/],
    ['peft: r 2.5', () => checked.benchmark({ model: cfg, batchSize: 1, seqLen: 8, method: 'lora', loraR: 2.5 }), /loraR \(--lora-r\) must be a whole number/],
    ['peft: alpha 0', () => new checked.Session({ model: cfg, method: 'lora', loraAlpha: 0 }), /loraAlpha \(--lora-alpha\) must be a finite number > 0/],
    ['peft: dropout 1', () => new checked.Session({ model: cfg, method: 'lora', loraDropout: 1 }), /loraDropout \(--lora-dropout\) must be a number in \[0, 1\)/],
    ['peft: a decoder target on GPT-2', () => new checked.Session({ model: cfg, method: 'lora', loraTargets: ['q_proj'] }), /--lora-target.*'q_proj'.*c_attn, c_proj, c_fc/],
    ['peft: a GPT-2 target on a decoder', () => checked.probeActivations({ model: lm, seqLen: 8, method: 'qlora', loraTargets: ['c_attn'] }), /--lora-target.*'c_attn'.*q_proj/],
    ['peft: unfreezeLast past the layers', () => new checked.Session({ model: cfg, method: 'head', unfreezeLast: 3 }), /unfreezeLast \(--unfreeze-last\) must be in \[0, 2\]/],
    ['peft: baseDtype fp16', () => new checked.Session({ model: cfg, method: 'lora', baseDtype: 'fp16' as 'bf16' }), /baseDtype must be bf16 or fp32/],
    ['peft: checkpointing "yes"', () => new checked.Session({ model: cfg, gradientCheckpointing: 'yes' as unknown as boolean }), /gradientCheckpointing must be a boolean/],
    ['nf4Check: no values', () => checked.nf4Check(new Float32Array(0), false), /non-empty Float32Array/],
  ];
  it.each(bad)('%s: ERR_INVALID_ARGUMENT, the C++ side never called', async (_name, f, message) => {
    reached.length = 0;
    const e = await caught(f);
    expect(e).toBeInstanceOf(NativeCallError);
    expect(e).toBeInstanceOf(FtplanError);
    expect((e as NativeCallError).code).toBe('ERR_INVALID_ARGUMENT');
    expect((e as Error).message).toMatch(message);
    expect(reached.filter((n) => n !== 'Session')).toEqual([]);
  });

  it('good arguments pass through to the C++ side', async () => {
    reached.length = 0;
    const s = session();
    await s.step([good]);
    await s.logits(good);
    s.setLr(1e-4);
    await checked.benchmark({ model: cfg, batchSize: 2, seqLen: 8, probeBatchSizes: [4, 2], probeStopAtFit: true });
    await lmSession().step([lmBatch]);
    await checked.benchmark({ model: lm, batchSize: 2, seqLen: 128 });
    expect(reached).toEqual(['Session', 'Session.step', 'Session.logits', 'Session.setLr', 'benchmark', 'Session', 'Session.step', 'benchmark']);
  });
});
