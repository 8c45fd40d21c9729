// Where the shared test models and references are: ../shared beside the checkout (CI puts it
// there). Tests that need them skip, saying why, when it is absent.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_DIR = path.resolve(PROJECT_ROOT, '..', 'shared');
export const HAVE_SHARED = existsSync(path.join(SHARED_DIR, 'models')) && existsSync(path.join(SHARED_DIR, 'reference'));
export const SHARED_SKIP_REASON = `skipped: ${SHARED_DIR} is absent (the test models and reference outputs live in ../shared beside the checkout)`;

export function sharedPath(...parts: string[]): string {
  return path.join(SHARED_DIR, ...parts);
}

/** A describe() title that says why it is skipped when ../shared is missing. */
export function sharedTitle(title: string): string {
  return HAVE_SHARED ? title : `${title} (${SHARED_SKIP_REASON})`;
}
