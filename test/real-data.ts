// The real data the CI-only data suite (test/data/) reads: the tweet data set, sshleifer/tiny-gpt2
// and the SkyPilot price catalogs, in the folder FTPLAN_DATA names (CI: ../shared/data). Only the
// data suite imports this. Without FTPLAN_DATA it fails, loudly and at once: a data suite that
// skipped itself would pass without checking anything.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const NEEDED = ['tweet_sentiment_extraction', 'tiny-gpt2', 'pricing-sources'];

function locate(): string {
  const given = process.env.FTPLAN_DATA;
  if (!given) {
    throw new Error('FTPLAN_DATA is not set: the data suite reads the real tweet data set, tiny-gpt2 and the SkyPilot catalogs from it. Run it as `FTPLAN_DATA=/path/to/shared/data npm run test:data`; `npm test` needs no data.');
  }
  const dir = resolve(given);
  const missing = NEEDED.filter((d) => !existsSync(join(dir, d)));
  if (missing.length) throw new Error(`FTPLAN_DATA=${given}: ${dir} has no ${missing.join(', ')}: point it at the folder with ${NEEDED.join('/, ')}/`);
  return dir;
}

export const DATA = locate();
export const TWEETS = join(DATA, 'tweet_sentiment_extraction');
export const TINY_GPT2 = join(DATA, 'tiny-gpt2');
export const PRICING_SOURCES = join(DATA, 'pricing-sources');
