// sequencer.ts — the order test files start in. Within a project that runs files side by side, the
// longest files start first, so that the last minute is not one long file running alone while the
// other worker idles. vitest learns durations from its cache, which a fresh clone (CI) lacks: the
// files below are the long ones (bench/RESULTS.md lists their times), ranked longest first; the rest
// keep vitest's own order (cached durations, else file size) after them.
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const LONGEST_FIRST = [
  'test/e2e/corpus.test.ts',
  'test/e2e/run.test.ts',
  'test/e2e/decoder-cli.test.ts',
  'test/e2e/preflight.test.ts',
  'test/e2e/hub-cli.test.ts',
  'test/e2e/plan-cli.test.ts',
  'test/e2e/cli.test.ts',
  'test/native/decoder-reference.test.ts',
  'test/native/run-budget.test.ts',
  'test/native/native.test.ts',
  'test/native/hf-reference.test.ts',
  'test/unit/hub.test.ts',
  'test/unit/fuzz.test.ts',
  'test/unit/lm-tokenizer.test.ts',
];

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const base = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.indexOf(relative(f.project.config.root, f.moduleId).split('\\').join('/'));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    // Array.prototype.sort is stable: groups (groupOrder) and projects stay as vitest ordered them.
    const position = new Map(base.map((f, i) => [f, i]));
    return [...base].sort((a, b) => {
      const group = a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder;
      if (group !== 0) return group;
      if (a.project.name !== b.project.name) return (position.get(a) ?? 0) - (position.get(b) ?? 0);
      return rank(a) - rank(b) || (position.get(a) ?? 0) - (position.get(b) ?? 0);
    });
  }
}
