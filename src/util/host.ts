/** host.ts — what this machine offers a CPU run, read from the OS (the planner takes it as an input). */

/** Available host memory: MemAvailable; FTPLAN_TEST_AVAILABLE_MEMORY (bytes) overrides it, for tests only. */
export function availableHostMemory(freemem: () => number): number {
  const fake = process.env.FTPLAN_TEST_AVAILABLE_MEMORY;
  if (fake !== undefined && fake !== '' && Number.isFinite(Number(fake))) return Number(fake);
  return freemem();
}

/**
 * LibTorch's CPU threads when --threads is not given: OMP_NUM_THREADS when it is a positive
 * integer (as PyTorch itself defaults, so a job scheduler's or container's setting is honoured),
 * otherwise every core.
 */
export function defaultThreads(cores: number): number {
  const omp = process.env.OMP_NUM_THREADS?.trim();
  if (omp && /^[1-9]\d*$/.test(omp)) return Math.min(Number(omp), 1024);
  return cores;
}
