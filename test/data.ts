// Where tests find ../shared/data: FTPLAN_DATA (set by .ci/run), else the folder beside the checkout.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const DATA = resolve(process.env.FTPLAN_DATA ?? resolve(import.meta.dirname, '../../shared/data'));
if (!existsSync(DATA)) {
  throw new Error(`the shared data folder is missing at ${DATA}: set FTPLAN_DATA to the folder with tweet_sentiment_extraction/ and tiny-gpt2/`);
}
/** Debian's python3 with python3-torch: the independent reference implementation runs on it. */
export const REFERENCE_PYTHON = process.env.FTPLAN_REFERENCE_PYTHON ?? '/usr/bin/python3';
