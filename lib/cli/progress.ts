// A weight-loading progress bar on a terminal (cli-progress), nothing when output is not a TTY.
import cliProgress from 'cli-progress';

export function loadProgress(label: string): { onProgress?: (fraction: number) => void; done(): void } {
  if (!process.stderr.isTTY) return { done() {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}%`, stream: process.stderr, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(100, 0);
  return {
    onProgress: (fraction) => bar.update(Math.round(fraction * 100)),
    done: () => bar.stop(),
  };
}
