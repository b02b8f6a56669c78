/** pricing.ts — `ftplan pricing`'s and `ftplan pricing import`'s flags (registry.ts). */
import { z } from 'zod';
import { CLOUDS } from '../pricing/rows.js';
import { CATALOG, CLOUD_FILTER, GPU_FILTER, GPUS_FILTER, JSON_OUTPUT, MAX_AGE_DAYS, REGION_FILTER, SPOT } from './common.js';
import { argsShape, choice, flag, optionTable, restate } from './registry.js';

export const PRICING_FLAGS = {
  gpu: restate(GPU_FILTER, { describe: 'GPU (T4, V100, V100-32GB, L4, A10G, A10, RTX4090, A6000, L40, L40S, A100, A100-80GB, H100, H100-PCIe, H200, B200); A100 also matches A100-80GB, V100 matches V100-32GB' }),
  cloud: restate(CLOUD_FILTER, { describe: CLOUDS.join(', ') }),
  region: restate(REGION_FILTER, { describe: 'region (substring match)' }),
  gpus: restate(GPUS_FILTER, { describe: 'GPUs per instance' }),
  spot: restate(SPOT, { describe: 'only rows with a spot price, priced at spot' }),
  catalog: restate(CATALOG, { describe: 'price table(s) to use instead of the shipped and imported ones: ftplan\'s CSV, or a SkyPilot vms.csv as it is ([cloud=]path)' }),
  'max-age-days': MAX_AGE_DAYS,
  limit: flag({ type: 'number', describe: 'rows to print (0: all)', default: 30 }, z.number().int('--limit must be a whole number').nonnegative('--limit must be >= 0')),
  json: JSON_OUTPUT,
};

export const PRICING_OPTIONS = optionTable(PRICING_FLAGS);
export const PricingArgsSchema = z.object(argsShape(PRICING_FLAGS)).strict();
export type PricingArgs = z.infer<typeof PricingArgsSchema>;

export const IMPORT_FLAGS = {
  file: flag({ type: 'string', describe: 'a SkyPilot vms.csv', demandOption: true }, z.string().min(1)),
  cloud: choice(CLOUDS, { describe: 'the cloud the catalog is for', demandOption: true }),
  'as-of': flag({ type: 'string', describe: 'the date the catalog was fetched (YYYY-MM-DD; default: the file\'s modification date)' }, z.string().regex(/^\d{4}-\d{2}-\d{2}$/, '--as-of must be a date YYYY-MM-DD').optional()),
  source: flag({ type: 'string', describe: 'where the catalog came from (default: the file path)' }, z.string().min(1).optional()),
  json: restate(JSON_OUTPUT, { describe: 'print the import counts as JSON' }),
};

export const IMPORT_OPTIONS = optionTable(IMPORT_FLAGS);
export const ImportArgsSchema = z.object(argsShape(IMPORT_FLAGS)).strict();
export type ImportArgs = z.infer<typeof ImportArgsSchema>;
