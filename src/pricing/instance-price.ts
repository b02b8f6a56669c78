/**
 * instance-price.ts — the hourly price of a named instance type (`ftplan run --instance`), from the
 * price tables: its cheapest row.
 */
import { FtplanError } from '../errors.js';
import { loadCatalog, type PriceRow } from './catalog.js';

export function instancePrice(instance: string): { price: number; row: PriceRow } {
  const rows = loadCatalog().rows.filter((r) => r.instanceType === instance).sort((a, b) => a.price - b.price);
  if (!rows[0]) throw new FtplanError('ERR_INPUT', `--instance ${instance}: not in the price tables`, { fix: 'see `ftplan pricing` for instance types, or pass --price-per-hour' });
  return { price: rows[0].price, row: rows[0] };
}
