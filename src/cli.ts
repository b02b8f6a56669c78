/**
 * cli.ts — ftplan's command line: yargs, each command's flags from its registry (src/flags/), heavy commands
 * imported lazily (only commands that measure or train load LibTorch), and one top-level catch that
 * separates user errors (message + fix, exit 2) from runtime failures (exit 1).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EXIT_RUNTIME, EXIT_USAGE, FtplanError } from './errors.js';
import { EVAL_OPTIONS } from './flags/eval.js';
import { ESTIMATE_OPTIONS } from './flags/estimate.js';
import { LAUNCH_OPTIONS } from './flags/launch.js';
import { IMPORT_OPTIONS, PRICING_OPTIONS } from './flags/pricing.js';
import { PROFILE_OPTIONS } from './flags/profile.js';
import { parseArgs, toYargs } from './flags/registry.js';
import { RUN_OPTIONS, RunArgsSchema, type RunArgs } from './flags/run.js';
import { FROM_SWEEP, SWEEP_OPTIONS } from './flags/sweep.js';

export function reportError(err: unknown, verbose: boolean, write: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (err instanceof FtplanError) {
    write(`ftplan: ${err.message}\n`);
    if (err.fix) write(`  fix: ${err.fix}\n`);
    if (verbose && err.stack) write(`${err.stack}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  write(`ftplan: internal error: ${e?.message ?? String(err)}\n`);
  if (verbose && e?.stack) write(`${e.stack}\n`);
  else write('  (run with --verbose for the stack trace)\n');
  return EXIT_RUNTIME;
}

/** `ftplan run`'s own parser (yargs with the run table, then the schema): what `ftplan run <argv>` accepts, or the usage error. */
export async function parseRunArgv(argv: string[]): Promise<RunArgs> {
  const raw = await yargs(argv)
    .options(toYargs(RUN_OPTIONS))
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new FtplanError('ERR_USAGE', msg);
    })
    .parseAsync();
  if (raw._.length) throw new FtplanError('ERR_USAGE', `unexpected arguments: ${raw._.join(' ')}`);
  return parseArgs(RunArgsSchema, RUN_OPTIONS, raw as Record<string, unknown>, 'run');
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const verbose = argv.includes('--verbose');
  const parser = yargs(argv)
    .scriptName('ftplan')
    .usage('$0 <command> [options]')
    .option('verbose', { type: 'boolean', describe: 'print stack traces', default: false })
    .command(
      'estimate',
      'benchmark real training steps here and project the fine-tune\'s time',
      (y) => y.options(toYargs(ESTIMATE_OPTIONS)).strictOptions(),
      async (args) => {
        const { runEstimate } = await import('./commands/estimate.js');
        await runEstimate(args as Record<string, unknown>);
      },
    )
    .command(
      'profile',
      'rows, labels, token lengths and tokens per epoch of a data set',
      (y) => y.options(toYargs(PROFILE_OPTIONS)).strictOptions(),
      async (args) => {
        const { runProfile } = await import('./commands/profile.js');
        await runProfile(args as Record<string, unknown>);
      },
    )
    .command(
      'pricing',
      'GPU instance prices in force, cheapest first (import a SkyPilot catalog: pricing import)',
      (y) =>
        y
          .command(
            'import <file>',
            'import a SkyPilot vms.csv as it is (replaces the shipped rows of that cloud)',
            (yy) => yy.options(toYargs(IMPORT_OPTIONS)).strictOptions(),
            async (args) => {
              const { runImport } = await import('./commands/pricing.js');
              await runImport(args as Record<string, unknown>);
            },
          )
          .options(toYargs(PRICING_OPTIONS))
          .strictOptions(),
      async (args) => {
        const { runPricing } = await import('./commands/pricing.js');
        await runPricing(args as Record<string, unknown>);
      },
    )
    .command(
      'run',
      'fine-tune on the native core: evaluation, checkpoints, curves, budget guard',
      // --from-sweep gives the data set (and the rest of the sweep's flags) unless the command line does
      (y) => y.options(toYargs({ ...RUN_OPTIONS, ...(argv.some((a) => a.startsWith('--from-sweep')) ? { dataset: { ...RUN_OPTIONS.dataset, demandOption: false } } : {}), 'from-sweep': FROM_SWEEP.spec })).strictOptions(),
      async (args) => {
        let raw = args as Record<string, unknown>;
        if (typeof raw.fromSweep === 'string') {
          const { applySweep, explicitFlags } = await import('./sweep/from-sweep.js');
          const applied = applySweep(raw, raw.fromSweep, explicitFlags(argv.slice(argv.indexOf('run') + 1), RUN_OPTIONS));
          for (const n of applied.notes) process.stderr.write(`${n}\n`);
          raw = applied.raw;
        }
        const { runRun } = await import('./commands/run.js');
        await runRun(raw);
      },
    )
    .command(
      'sweep',
      'price, then run, a hyperparameter search by successive halving: trials here one after another, each an `ftplan run`',
      (y) => y.options(toYargs(SWEEP_OPTIONS)).strictOptions(),
      async (args) => {
        const { runSweep } = await import('./commands/sweep.js');
        await runSweep(args as Record<string, unknown>);
      },
    )
    .command(
      'launch',
      'write a SkyPilot task YAML that runs `ftplan run` data-parallel on the recommended (or named) instance',
      (y) => y.options(toYargs(LAUNCH_OPTIONS)).strictOptions(),
      async (args) => {
        const { runLaunch } = await import('./commands/launch.js');
        await runLaunch(args as Record<string, unknown>);
      },
    )
    .command(
      'eval',
      'evaluate a saved checkpoint on a file, or on a data set\'s test/validation split',
      (y) => y.options(toYargs(EVAL_OPTIONS)).strictOptions(),
      async (args) => {
        const { runEval } = await import('./commands/eval.js');
        await runEval(args as Record<string, unknown>);
      },
    )
    .demandCommand(1, 'name a command: estimate, profile, pricing, run, sweep, launch, eval')
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new FtplanError('ERR_USAGE', msg, { fix: 'see `ftplan --help`' });
    })
    .help();
  try {
    await parser.parseAsync();
  } catch (err) {
    code = reportError(err, verbose);
  }
  return code;
}

export async function run(): Promise<void> {
  const code = await main(hideBin(process.argv));
  if (code !== 0 || process.exitCode === undefined) process.exitCode = code; // keep a command's own (130 after SIGINT)
}

export { EXIT_USAGE };
