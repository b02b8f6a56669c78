/**
 * host.ts — the machine the measurement and the run take place on: which device `--device` names
 * here, and whether training fits this host's memory before anything is allocated.
 */
import { freemem } from 'node:os';
import { FtplanError, usageError } from '../errors.js';
import type { PlannedModel } from '../planner/model-shape.js';
import { loadNative, type Dtype, type NativeAddon } from '../native.js';
import { hostMemoryNeed } from '../planner/method-memory.js';
import { methodSpec, type MethodSpec } from '../planner/method.js';
import type { PeftSettings } from '../train/peft.js';
import { availableHostMemory } from '../util/host.js';

/** Whether --device auto would pick a GPU (asks the addon only when it loads). */
export function cudaVisible(): boolean {
  try {
    return loadNative().runtimeInfo().cudaAvailable;
  } catch {
    return false;
  }
}

/** The device --device names on this machine (auto: the first GPU when one is visible, else cpu). */
export function resolveDevice(spec: string, addon: NativeAddon): string {
  const info = addon.runtimeInfo();
  if (spec === 'auto') return info.cudaAvailable ? 'cuda:0' : 'cpu';
  const want = spec === 'cuda' ? 'cuda:0' : spec;
  if (!info.devices.includes(want)) {
    const why = !info.cudaCompiled
      ? `this ftplan was built against a CPU-only libtorch (${info.torchVersion})`
      : 'no such CUDA device is visible';
    throw usageError(`--device ${spec} is not available: ${why}`, `use one of: ${info.devices.join(', ')} (or --device auto)`);
  }
  return want;
}

/** What a session trains, as the host-memory check counts it. */
export function hostMethod(s: PeftSettings): { spec: MethodSpec; checkpointing: boolean } {
  const spec = methodSpec({
    method: s.method,
    loraR: s.lora?.r,
    loraTargets: s.lora ? [...s.lora.targets] : undefined,
    baseDtype: s.baseDtype ?? undefined,
    doubleQuant: s.doubleQuant,
    unfreezeLast: s.unfreezeLast,
  });
  return { spec, checkpointing: s.gradientCheckpointing };
}

/**
 * On CPU, refuse before allocating when training would not fit this machine's memory: the weights
 * as the method holds them, the trainable parameters' gradients and AdamW states (16 B a parameter
 * for full fine-tuning, far less on a frozen base) plus one micro-batch's activations (estimated
 * from the shape), against the memory available now. `batch` is the micro-batch.
 */
export function guardHostMemory(name: string, device: string, cfg: PlannedModel, batch: number, seqLen: number, dtype: Dtype, peft: PeftSettings): void {
  if (device !== 'cpu') return;
  const need = hostMemoryNeed(cfg, batch, seqLen, dtype, availableHostMemory(freemem), hostMethod(peft));
  if (need.fits) return;
  const gib = (b: number) => (b / 2 ** 30).toFixed(1);
  throw new FtplanError(
    'ERR_OUT_OF_MEMORY',
    `${name} at batch ${batch} × ${seqLen} tokens needs ${gib(need.totalBytes)} GiB (${gib(need.statesBytes)} GiB weights, gradients and AdamW states for ${peft.method === 'full' ? 'full fine-tuning' : `--method ${peft.method}`} + ${gib(need.activationBytes)} GiB activations); this machine has ${gib(need.availableBytes)} GiB available`,
    {
      fix: `lower --batch-size (raise --grad-accum to keep the effective batch) or --seq-len${peft.gradientCheckpointing ? '' : ', add --gradient-checkpointing'}${peft.method === 'full' ? ', train a frozen base (--method lora or qlora)' : ''}, pick a smaller --model, free memory, or measure on a GPU (--device cuda)`,
      exitCode: 1,
    },
  );
}
