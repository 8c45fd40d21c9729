// The model the CLI, the server and loadModel() use when none is named: the genuinely trained
// stories260K shipped inside the package (models/README.md says what it is).
import path from 'node:path';

import { packageRoot } from '../package-root.js';

export function defaultModelPath(): string {
  return path.join(packageRoot(), 'models', 'stories260K.gguf');
}
