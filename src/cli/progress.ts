/** A progress bar on stderr for long layer work, shown only on a terminal: pipes stay quiet. */
import { SingleBar } from 'cli-progress';
import type { Progress } from '../tools/copy.js';

export interface ProgressBar {
  update: Progress;
  stop(): void;
}

export function progressBar(label: string, stream = process.stderr): ProgressBar {
  if (!stream.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({
    format: `${label} [{bar}] {value}/{total}`,
    stream,
    hideCursor: true,
    clearOnComplete: true,
  });
  let started = false;
  return {
    update(done, total) {
      if (!started) bar.start(total, 0);
      started = true;
      bar.setTotal(total);
      bar.update(done);
    },
    stop: () => started && bar.stop(),
  };
}

/** Runs `work` with a bar labelled `label`, stopping the bar however the work ends. */
export async function withProgress<T>(
  label: string,
  work: (update: Progress) => Promise<T>,
): Promise<T> {
  const bar = progressBar(label);
  try {
    return await work(bar.update);
  } finally {
    bar.stop();
  }
}
