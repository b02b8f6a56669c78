/**
 * adapter.ts — a LoRA adapter folder in a run or an evaluation: its settings as the flags they
 * stand for (--adapter: the adapter's r, alpha and targets are the run's; a flag given that
 * disagrees is refused), a resumed checkpoint's adapter checked against this run's settings, and
 * its weights loaded into a session built with them.
 */
import { FtplanError, fromNative, usageError } from '../errors.js';
import type { PeftArgs } from '../flags/peft.js';
import type { AdapterInfo, LoadedAdapter } from '../model/peft-adapter.js';
import type { NativeSession } from '../native/types.js';
import type { PeftSettings } from './peft.js';

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

/**
 * The flags with the adapter's settings: method (unless given), r, alpha, targets, base dtype and
 * double quantisation; dropout as given (it only acts in training). `what` names the source in errors.
 */
export function argsWithAdapter<A extends PeftArgs>(args: A, info: AdapterInfo, what: string): A {
  const clash = (flag: string, given: unknown, saved: unknown) =>
    usageError(`${flag} ${String(given)}: ${what} was trained with ${String(saved)}`, `leave ${flag} out (the adapter's settings are the run's), or train a new adapter without --adapter`);
  if (args.loraR !== undefined && args.loraR !== info.r) throw clash('--lora-r', args.loraR, `r ${info.r}`);
  if (args.loraAlpha !== undefined && args.loraAlpha !== info.alpha) throw clash('--lora-alpha', args.loraAlpha, `lora_alpha ${info.alpha}`);
  if (args.loraTarget !== undefined && args.loraTarget !== 'all-linear') {
    const given = args.loraTarget.split(',').map((s) => s.trim());
    if (!sameSet(given, info.targets)) throw clash('--lora-target', args.loraTarget, `adapters on ${info.targets.join(', ')}`);
  }
  const method = args.method ?? info.method;
  return {
    ...args,
    method,
    loraR: info.r,
    loraAlpha: info.alpha,
    loraDropout: args.loraDropout ?? info.dropout,
    loraTarget: info.targets.join(','),
    baseDtype: args.baseDtype ?? info.baseDtype,
    doubleQuant: method === 'qlora' ? (args.doubleQuant ?? info.doubleQuant) : undefined,
  } as A;
}

/** A checkpoint's adapter must be the one this run trains (same method, rank, alpha, targets). */
export function checkAdapterResumable(dir: string, saved: AdapterInfo, s: PeftSettings): void {
  const l = s.lora!;
  const diff: string[] = [];
  if (saved.method !== s.method) diff.push(`method ${saved.method}`);
  if (saved.r !== l.r) diff.push(`r ${saved.r}`);
  if (saved.alpha !== l.alpha) diff.push(`alpha ${saved.alpha}`);
  if (!sameSet(saved.targets, l.targets)) diff.push(`targets ${saved.targets.join(',')}`);
  if (diff.length) throw new FtplanError('ERR_INPUT', `${dir} holds an adapter of a run with other settings (${diff.join(', ')})`, { fix: 'resume with the flags of the run that wrote it' });
}

/** The adapter's weights (and head) into a session built with its settings; the base stays as loaded. */
export async function loadAdapter(session: NativeSession, adapter: LoadedAdapter): Promise<void> {
  let report;
  try {
    report = await session.loadState(adapter.state);
  } catch (e) {
    throw fromNative(e, `loading ${adapter.file}`);
  }
  // every tensor of the file must have landed on a parameter of the session
  const loaded = new Set(report.loaded);
  const missed = Object.keys(adapter.state).filter((n) => !loaded.has(n));
  if (missed.length) {
    throw new FtplanError('ERR_INPUT', `${adapter.file}: ${missed.length} tensor(s) found no adapter in the model (${missed.slice(0, 3).join(', ')}${missed.length > 3 ? ', …' : ''})`, {
      fix: 'the adapter and the run\'s --lora-target disagree: leave --lora-target out when loading an adapter',
    });
  }
}
