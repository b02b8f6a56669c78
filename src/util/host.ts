/** host.ts — what this machine offers a CPU run, read from the OS (the planner takes it as an input). */

/** Available host memory: MemAvailable; FTPLAN_TEST_AVAILABLE_MEMORY (bytes) overrides it, for tests only. */
export function availableHostMemory(freemem: () => number): number {
  const fake = process.env.FTPLAN_TEST_AVAILABLE_MEMORY;
  if (fake !== undefined && fake !== '' && Number.isFinite(Number(fake))) return Number(fake);
  return freemem();
}
