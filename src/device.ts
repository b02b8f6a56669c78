/**
 * device.ts — the device names ftplan takes. The native core takes a device (cpu, cuda, cuda:N);
 * a command's --device also takes auto (CUDA when the addon sees a GPU, else the CPU).
 */
const DEVICE = 'cpu|cuda(:\\d+)?';
/** A device the native core takes. */
export const DEVICE_NAME = new RegExp(`^(${DEVICE})$`);
/** What --device takes. */
export const DEVICE_FLAG = new RegExp(`^(auto|${DEVICE})$`);
