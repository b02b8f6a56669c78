#!/usr/bin/env node
// profile-lm-dataset.mjs — regenerate the causal-LM profiles that ship with the package: the
// reference tweets written as "Tweet: <text>\nSentiment:" → " <label>" pairs (the causal-LM
// tweet run's data), tokenized by each packaged tokenizer, with the same code a run uses
// (run `npm run build` first):
//   node scripts/profile-lm-dataset.mjs ../shared/data/tweet_sentiment_extraction mteb/tweet_sentiment_extraction
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../dist/data/loaders.js';
import { writePromptCompletionSplits } from '../dist/data/lm-from-labels.js';
import { loadLmDataset } from '../dist/data/lm-dataset.js';
import { defaultLmProfilePath, profileLmDataset } from '../dist/data/lm-profile.js';
import { PACKAGED_TOKENIZERS, packagedTokenizer } from '../dist/data/lm-tokenizer.js';

const [dataset, name] = process.argv.slice(2);
if (!dataset) {
  process.stderr.write('usage: node scripts/profile-lm-dataset.mjs <labelled dataset> [name]\n');
  process.exit(2);
}
const labelled = await loadDataset(dataset);
const dir = mkdtempSync(join(tmpdir(), 'ftplan-lm-profile-'));
try {
  writePromptCompletionSplits(labelled, dir);
  for (const tok of Object.keys(PACKAGED_TOKENIZERS)) {
    // a sequence length no row reaches: the profile keeps every row whole; estimates cut to --seq-len
    const lm = await loadLmDataset(dir, { tokenizer: packagedTokenizer(tok), seqLen: 4096 });
    const profile = profileLmDataset({ ...lm, name: name ?? labelled.name, source: `${labelled.source}, as prompt/completion pairs (src/data/lm-from-labels.ts)` });
    // the hashes are of the pairs written (deterministic from the data set); the names say which files they came from
    for (const [split, p] of Object.entries(profile.splits)) {
      const src = labelled.splits[split];
      if (p && src) p.files = p.files.map((f) => ({ ...f, name: `${f.name} (the pairs written from ${src.files.map((x) => x.split("/").pop()).join(", ")}; sha256 of the pairs)` }));
    }
    const out = defaultLmProfilePath(tok);
    writeFileSync(out, `${JSON.stringify(profile, null, 1)}\n`);
    const t = profile.splits.train;
    process.stderr.write(`${out}: train ${t.rows} rows, tokens p50 ${t.tokens.p50} p99 ${t.tokens.p99} max ${t.tokens.max}, targets ${t.targets.total}; test ${profile.splits.test?.rows ?? 0} rows\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
