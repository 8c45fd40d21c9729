// Whether the CUDA backend can run here; GPU tests skip with the reason when it cannot (CI has no GPU).
import { selectBackend } from '../../lib/native.js';

function probe(): { available: boolean; reason: string } {
  try {
    const { selection } = selectBackend('cuda');
    return { available: true, reason: `CUDA: ${String(selection.info.device ?? 'device found')}` };
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
}

export const CUDA = probe();

export function gpuTitle(title: string): string {
  return CUDA.available ? title : `${title} (skipped: ${CUDA.reason})`;
}
