// bench/eager-worker.mjs — a PyTorch eager baseline (bench/eager_*.py --worker) driven over
// stdin/stdout, one JSON object per line, so its steps can be interleaved with ftplan's native ones.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export function eagerWorker(python, script, args) {
  const p = spawn(python, [script, '--worker', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: p.stdout });
  const queue = [];
  const waiting = [];
  lines.on('line', (l) => (waiting.length ? waiting.shift()(JSON.parse(l)) : queue.push(JSON.parse(l))));
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r)));
  return {
    ready: next(),
    ask: (cmd) => {
      p.stdin.write(`${JSON.stringify(cmd)}\n`);
      return next();
    },
    quit: () => p.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`),
  };
}
