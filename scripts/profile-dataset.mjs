#!/usr/bin/env node
// profile-dataset.mjs — regenerate a profile that ships with the package, with the same code as
// `ftplan profile` (run `npm run build` first). The shipped one is of the reference data set:
//   node scripts/profile-dataset.mjs ../shared/data/tweet_sentiment_extraction \
//        src/data/profiles/tweet_sentiment_extraction.json mteb/tweet_sentiment_extraction
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const [dataset, out, name] = process.argv.slice(2);
if (!dataset || !out) {
  process.stderr.write('usage: node scripts/profile-dataset.mjs <dataset> <out.json> [name]\n');
  process.exit(2);
}
const json = execFileSync(process.execPath, ['bin/ftplan.js', 'profile', '--dataset', dataset, '--json'], { encoding: 'utf8' });
const { batching, ...profile } = JSON.parse(json); // batching costs depend on the batch size: computed when used
if (name) profile.name = name;
writeFileSync(out, `${JSON.stringify(profile, null, 1)}\n`);
const t = profile.splits.train;
process.stderr.write(`${out}: train ${t.rows} rows, tokens p50 ${t.tokens.p50} p99 ${t.tokens.p99} max ${t.tokens.max}; test ${profile.splits.test?.rows ?? 0} rows\n`);
