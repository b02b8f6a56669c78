/**
 * scaling.ts — where the planner's data-parallel constants come from, said in every plan:
 * the GPU interconnect bandwidth is published (pricing/gpus.json), the per-hop latency on GPUs is
 * assumed, and the model itself was checked on this kind of machine over Gloo (pricing/scaling.json,
 * written by bench/scaling.mjs: measured all-reduce times and the 2-process step, predicted vs measured).
 */
import type { ScalingCalibration } from '../pricing/scaling.js';
import { ALLREDUCE_LATENCY_MS, BUCKET_BYTES } from './performance.js';

export interface ScalingModel {
  model: string;
  bucketBytes: number;
  gpu: { bandwidth: string; latencyMs: number; latency: string };
  calibration: (Pick<ScalingCalibration, 'measuredAt' | 'machine' | 'command'> & { source: string; glooLatencyMs: number; glooBandwidthGBs: number; measuredTwoProcessStepMs: number; predictedTwoProcessStepMs: number; errorPct: number; twoProcessEfficiency: number; twoProcessVsOneThread: number | null }) | null;
  summary: string;
}

export function scalingModel(cal: ScalingCalibration | null): ScalingModel {
  const model = 'ring all-reduce of the fp32 gradients in 25 MB buckets after the backward pass, not overlapped (as `ftplan run --nproc` does): 2(N-1)/N × bytes ÷ bandwidth + buckets × 2(N-1) × latency';
  const calibration = cal
    ? {
        source: 'pricing/scaling.json (bench/scaling.mjs)',
        measuredAt: cal.measuredAt,
        machine: cal.machine,
        command: cal.command,
        glooLatencyMs: cal.gloo.latencyMs,
        glooBandwidthGBs: cal.gloo.bandwidthGBs,
        measuredTwoProcessStepMs: cal.run.twoProcesses.stepMs,
        predictedTwoProcessStepMs: cal.run.predictedTwoProcessStepMs,
        errorPct: cal.run.errorPct,
        // the same global batch: 1 process × all cores ÷ 2 processes × half the cores each
        twoProcessEfficiency: cal.run.oneProcessAllCores.stepMs / cal.run.twoProcesses.stepMs,
        // … and ÷ 1 process × half the cores (robust to OpenMP's collapse on a busy machine)
        twoProcessVsOneThread: cal.run.oneProcessHalfCoresAccum2 ? cal.run.oneProcessHalfCoresAccum2.stepMs / cal.run.twoProcesses.stepMs : null,
      }
    : null;
  const summary = [
    `DP model: ${model}.`,
    `GPU rows: bandwidth = the interconnect's published figure (pricing/gpus.json, NVIDIA datasheets; not measured here), latency ${ALLREDUCE_LATENCY_MS} ms per hop (assumed).`,
    calibration
      ? `Checked on CPU over Gloo (${calibration.machine}, ${calibration.measuredAt}, ${calibration.source}): measured latency ${calibration.glooLatencyMs.toFixed(3)} ms, ${calibration.glooBandwidthGBs.toFixed(2)} GB/s; 2-process step ${calibration.predictedTwoProcessStepMs.toFixed(1)} ms predicted vs ${calibration.measuredTwoProcessStepMs.toFixed(1)} ms measured (${calibration.errorPct >= 0 ? '+' : ''}${calibration.errorPct.toFixed(1)}%); same global batch, 2 processes vs 1: ×${calibration.twoProcessEfficiency.toFixed(2)} against all cores in one process${calibration.twoProcessVsOneThread !== null ? `, ×${calibration.twoProcessVsOneThread.toFixed(2)} against one process on half the cores` : ''} (a shared 2-core machine: see bench/RESULTS.md).`
      : 'Not checked on this install: no pricing/scaling.json (run node bench/scaling.mjs).',
  ].join(' ');
  return { model, bucketBytes: BUCKET_BYTES, gpu: { bandwidth: 'published (pricing/gpus.json interconnect)', latencyMs: ALLREDUCE_LATENCY_MS, latency: 'assumed' }, calibration, summary };
}
