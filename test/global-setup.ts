// vitest globalSetup: after the whole run, remove the FTPLAN_HOME that vitest.config.ts made for it
// (imported price tables, the calibration store of the tests).
import { rmSync } from 'node:fs';

export default function setup(): () => void {
  return () => {
    const home = process.env.FTPLAN_TEST_HOME;
    if (home && /ftplan-home-/.test(home)) rmSync(home, { recursive: true, force: true });
  };
}
