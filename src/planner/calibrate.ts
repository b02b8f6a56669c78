/** calibrate.ts — how a calibration factor from earlier runs (calibration.ts keeps them) applies to a measurement. */

/** The factor an estimate applies, and how many runs it comes from. */
export interface AppliedCalibration {
  ratio: number;
  runs: number;
}

/**
 * The one rule for applying a calibration: the factor multiplies the measured training throughput
 * (and divides the step time, multiplies the achieved FLOP/s), so everything computed from the
 * measurement inherits it alike: the projection on this device, and every plan row whose step time
 * comes from this measurement (basis measured or extrapolated). Rows of the analytic model take no
 * measured throughput, so no factor reaches them; eval throughput is not calibrated (runs measure
 * training). Used by estimate (projection), the planner (rows) and run (the prediction it checks).
 */
export function calibrate<M extends { tokensPerSec: number; stepMs?: number; achievedFlops?: number; samplesPerSec?: number }>(m: M, cal: AppliedCalibration | null): M {
  if (!cal || cal.ratio === 1) return m;
  const r = cal.ratio;
  return {
    ...m,
    tokensPerSec: m.tokensPerSec * r,
    ...(m.stepMs !== undefined ? { stepMs: m.stepMs / r } : {}),
    ...(m.achievedFlops !== undefined ? { achievedFlops: m.achievedFlops * r } : {}),
    ...(m.samplesPerSec !== undefined ? { samplesPerSec: m.samplesPerSec * r } : {}),
  };
}
