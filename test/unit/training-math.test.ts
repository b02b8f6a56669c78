// Training arithmetic, hand-computed: classification metrics, cross-entropy, the learning-rate
// schedules, and the calibration store that corrects estimates by earlier runs.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { calibrationFile, calibrationSpreadPct, readCalibration, recordCalibration } from '../../src/calibration.js';
import { classificationMetrics, crossEntropy } from '../../src/train/metrics.js';
import { lrFactor, warmupSteps } from '../../src/train/schedule.js';
import { tempDir } from '../helpers.js';

const tmp = () => tempDir('ftplan-math-');

describe('metrics and schedules (hand-computed)', () => {
  it('accuracy, per-class precision/recall, macro-F1, confusion matrix', () => {
    // truth 0 0 1 1 2 2, predicted 0 1 1 1 2 0
    const m = classificationMetrics([0, 1, 1, 1, 2, 0], [0, 0, 1, 1, 2, 2], ['a', 'b', 'c']);
    expect(m.accuracy).toBeCloseTo(4 / 6, 12);
    expect(m.confusion).toEqual([[1, 1, 0], [0, 2, 0], [1, 0, 1]]);
    expect(m.perClass[0]).toMatchObject({ precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
    expect(m.perClass[1]).toMatchObject({ precision: 2 / 3, recall: 1, support: 2 });
    expect(m.perClass[1]!.f1).toBeCloseTo(0.8, 12);
    expect(m.perClass[2]).toMatchObject({ precision: 1, recall: 0.5 });
    expect(m.macroF1).toBeCloseTo((0.5 + 0.8 + 2 / 3) / 3, 12);
    expect(crossEntropy(new Float32Array([0, 0, 0]), [1], 3)).toBeCloseTo(Math.log(3), 6);
  });

  it('calibration store: geometric mean of the runs, applied shrunk toward 1, spread, older stores upgraded, damage survived', () => {
    const env = { FTPLAN_HOME: tmp() };
    expect(readCalibration('k', env)).toBeNull();
    const one = recordCalibration('k', 0.81, env);
    expect(one).toMatchObject({ runs: 1, min: 0.81, max: 0.81 });
    expect(one.observedRatio).toBeCloseTo(0.81, 12);
    expect(one.ratio).toBeCloseTo(0.9, 12); // sqrt: one run's ratio is half machine noise
    expect(calibrationSpreadPct(one)).toBeNull();
    const two = recordCalibration('k', 1.0, env);
    expect(two.observedRatio).toBeCloseTo(0.9, 12);
    expect(two.ratio).toBeCloseTo(Math.exp((2 / 3) * Math.log(0.9)), 12);
    expect(two).toMatchObject({ runs: 2, min: 0.81, max: 1 });
    expect(calibrationSpreadPct(two)).toBeCloseTo((Math.abs(Math.log(0.81)) / Math.SQRT2) * 100, 9);
    expect(readCalibration('k', env)).toEqual(two);
    expect(() => recordCalibration('k', Number.NaN, env)).toThrow(/positive number/);
    // a store written before the shrinkage ({ratio, runs}: an arithmetic mean) is read as that mean
    writeFileSync(calibrationFile(env), JSON.stringify({ k: { ratio: 1.21, runs: 3, updatedAt: 'x' } }));
    const old = readCalibration('k', env)!;
    expect(old.observedRatio).toBeCloseTo(1.21, 12);
    expect(old.ratio).toBeCloseTo(Math.exp(0.75 * Math.log(1.21)), 12);
    expect(recordCalibration('k', 1.21, env).runs).toBe(4);
    writeFileSync(calibrationFile(env), '{not json');
    expect(readCalibration('k', env)).toBeNull();
    expect(recordCalibration('k', 1.1, env).runs).toBe(1);
  });

  it('HF schedules: linear warmup then linear decay; cosine; constant', () => {
    expect(warmupSteps(100, 0.1)).toBe(10);
    expect(lrFactor('linear', 0, 100, 10)).toBe(0);
    expect(lrFactor('linear', 5, 100, 10)).toBe(0.5);
    expect(lrFactor('linear', 10, 100, 10)).toBe(1);
    expect(lrFactor('linear', 55, 100, 10)).toBeCloseTo(0.5, 12);
    expect(lrFactor('linear', 100, 100, 10)).toBe(0);
    expect(lrFactor('linear', 0, 100, 0)).toBe(1); // HF: no warmup starts at the full rate
    expect(lrFactor('cosine', 55, 100, 10)).toBeCloseTo(0.5, 12);
    expect(lrFactor('constant', 99, 100, 10)).toBe(1);
  });
});
