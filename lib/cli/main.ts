#!/usr/bin/env node
// The pagedinfer command line. Errors the user caused print one clear line (no stack trace)
// and exit with status 1.
import { Command, CommanderError } from 'commander';

import { PagedInferError } from '../errors.js';
import { benchCommand } from './bench.js';
import { generateCommand } from './generate.js';
import { infoCommand } from './info.js';
import { serveCommand } from './serve.js';

const program = new Command('pagedinfer')
  .description('High-throughput LLM inference for Node.js')
  .showHelpAfterError()
  .exitOverride();
program.addCommand(generateCommand());
program.addCommand(infoCommand());
program.addCommand(serveCommand());
program.addCommand(benchCommand());

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode);
  if (e instanceof PagedInferError) {
    process.stderr.write(`pagedinfer: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
}
