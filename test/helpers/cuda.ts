// Whether the CUDA backend can run here; GPU tests skip with the reason when it cannot (CI has no GPU).
import { selectBackend } from '../../lib/native.js';

function probe(): { available: boolean; reason: string } {
  try {
    const { selection } = selectBackend('cuda');
    return { available: true, reason: `CUDA: ${String(selection.info.device ?? 'device found')}` };
  } catch (e) {
    // The loader's error lists every place it looked; the first line says what is missing.
    return { available: false, reason: (e as Error).message.split('\n')[0] };
  }
}

export const CUDA = probe();

export function gpuTitle(title: string): string {
  return CUDA.available ? title : `${title} (skipped: ${CUDA.reason})`;
}
