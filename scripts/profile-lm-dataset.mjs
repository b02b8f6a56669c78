#!/usr/bin/env node
// profile-lm-dataset.mjs — regenerate the causal-LM profiles that ship with the package: the
// reference tweets written as "Tweet: <text>\nSentiment:" → " <label>" pairs (the causal-LM
// tweet run's data), tokenized by each packaged tokenizer, with the same code a run uses
// (run `npm run build` first):
//   node scripts/profile-lm-dataset.mjs ../shared/data/tweet_sentiment_extraction mteb/tweet_sentiment_extraction
import { writeFileSync } from 'node:fs';
import { loadDataset } from '../dist/data/loaders.js';
import { defaultLmProfilePath, profileLabelledAsLm } from '../dist/data/lm-profile.js';
import { PACKAGED_TOKENIZERS, packagedTokenizer } from '../dist/data/lm-tokenizer.js';

const [dataset, name] = process.argv.slice(2);
if (!dataset) {
  process.stderr.write('usage: node scripts/profile-lm-dataset.mjs <labelled dataset> [name]\n');
  process.exit(2);
}
const labelled = await loadDataset(dataset);
if (name) labelled.name = name;
for (const tok of Object.keys(PACKAGED_TOKENIZERS)) {
  const profile = profileLabelledAsLm(labelled, packagedTokenizer(tok));
  const out = defaultLmProfilePath(tok);
  writeFileSync(out, `${JSON.stringify(profile, null, 1)}\n`);
  const t = profile.splits.train;
  process.stderr.write(`${out}: train ${t.rows} rows, tokens p50 ${t.tokens.p50} p99 ${t.tokens.p99} max ${t.tokens.max}, targets ${t.targets.total}; test ${profile.splits.test?.rows ?? 0} rows\n`);
}
