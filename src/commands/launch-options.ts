/** `ftplan launch`'s flags: the run's (what to run) plus where and how (src/flags/launch.ts). */
export { LAUNCH_ONLY_FLAGS, LAUNCH_OPTIONS, LaunchOnlyArgsSchema, type LaunchOnlyArgs } from '../flags/launch.js';
