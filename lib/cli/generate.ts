// `pagedinfer generate`: streams one completion to the terminal, or prints it as JSON.
import { Command } from 'commander';

import { InvalidRequestError } from '../errors.js';

import { loadModel } from '../load.js';
import type { Prompt } from '../llm.js';
import type { SamplingParamsInput } from '../sampling/params.js';
import { addModelOptions, loadOptions, type ModelCliOptions, parseInteger, parseNumber } from './common.js';
import { loadProgress } from './progress.js';

interface GenerateCliOptions extends ModelCliOptions {
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  seed?: number;
  stop?: string[];
  promptIds?: string;
  chat?: boolean;
  ignoreEos?: boolean;
  json?: boolean;
}

function parsePromptIds(text: string): number[] {
  const ids = text.split(',').map((s) => Number(s.trim()));
  if (ids.length === 0 || ids.some((n) => !Number.isInteger(n) || n < 0))
    throw new InvalidRequestError('--prompt-ids must be comma-separated token ids, e.g. 1,2,3');
  return ids;
}

export function generateCommand(): Command {
  const cmd = new Command('generate')
    .description('generate a completion and stream it to stdout')
    .argument('[prompt]', 'prompt text (omit with --prompt-ids)');
  addModelOptions(cmd)
    .option('--max-tokens <n>', 'tokens to generate at most', parseInteger('--max-tokens', 1), 256)
    .option('--temperature <t>', 'sampling temperature (0 is greedy)', parseNumber('--temperature'))
    .option('--top-k <k>', 'keep the k most likely tokens', parseInteger('--top-k', -1))
    .option('--top-p <p>', 'nucleus sampling mass', parseNumber('--top-p'))
    .option('--min-p <p>', 'min-p filter', parseNumber('--min-p'))
    .option('--repetition-penalty <r>', 'repetition penalty', parseNumber('--repetition-penalty'))
    .option('--seed <s>', 'random seed: same seed, same text', parseInteger('--seed', 0))
    .option('--stop <text...>', 'stop strings')
    .option('--prompt-ids <ids>', 'the prompt as token ids, e.g. 1,2,3')
    .option('--chat', "treat the prompt as a user message and apply the model's chat template")
    .option('--ignore-eos', 'keep generating after end-of-sequence')
    .option('--json', 'print one JSON object with the text, the token ids, the finish reason and the load phases')
    .action(async (prompt: string | undefined, o: GenerateCliOptions) => {
      let input: Prompt;
      if (o.promptIds !== undefined) input = { promptTokenIds: parsePromptIds(o.promptIds) };
      else if (prompt === undefined) throw new InvalidRequestError('give a prompt, or --prompt-ids');
      else input = o.chat ? [{ role: 'user', content: prompt }] : prompt;
      const progress = loadProgress('loading');
      const llm = await loadModel(o.model, { ...loadOptions(o), onProgress: progress.onProgress });
      progress.done();
      const params: SamplingParamsInput = {
        maxTokens: o.maxTokens,
        temperature: o.temperature,
        topK: o.topK,
        topP: o.topP,
        minP: o.minP,
        repetitionPenalty: o.repetitionPenalty,
        seed: o.seed,
        stop: o.stop,
        ignoreEos: o.ignoreEos,
      };
      const abort = new AbortController();
      const onSigint = () => abort.abort();
      process.once('SIGINT', onSigint);
      try {
        if (o.json) {
          const r = await llm.complete(input, params, { signal: abort.signal });
          process.stdout.write(
            `${JSON.stringify({ text: r.text, tokenIds: r.tokenIds, finishReason: r.finishReason, promptTokenIds: r.promptTokenIds, usage: r.usage, load: llm.info.load })}\n`,
          );
        } else {
          const stream = llm.generate(input, params, { signal: abort.signal });  // validates first
          if (typeof input === 'string') process.stdout.write(input);
          for await (const chunk of stream) process.stdout.write(chunk.text);
          process.stdout.write('\n');
        }
      } finally {
        process.off('SIGINT', onSigint);
        await llm.close();
      }
    });
  return cmd;
}
