// The model the CLI, the server and loadModel() use when none is named: the genuinely trained
// stories260K shipped inside the package (models/README.md says what it is).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function defaultModelPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'stories260K.gguf');
}
