// `pagedinfer info` on the quantized GGUF fixtures: weight types per tensor class, parameter
// count, context and memory, against what ../shared/models/MANIFEST.md says each file holds.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';

import { describeModel } from '../lib/cli/info.js';
import { readModelSource } from '../lib/load.js';
import { BLOCK } from './helpers/dequantize.js';
import { HAVE_SHARED, sharedPath, sharedTitle } from './helpers/shared.js';
import { buildDist, CLI } from './helpers/dist.js';

interface Expected {
  parameters: number;
  context: number;
  /** 2 (K and V) x layers x kv heads x head size, float32 on the CPU. */
  kvFloatsPerToken: number;
  weightTypes: Record<string, string>;
}

const STORIES = { parameters: 260_032, context: 512, kvFloatsPerToken: 2 * 5 * 4 * 8 };
const LLAMA3 = { parameters: 1_705_216, context: 2048, kvFloatsPerToken: 2 * 2 * 2 * 64 };
const QWEN2 = { parameters: 2_230_528, context: 2048, kvFloatsPerToken: 2 * 2 * 2 * 64 };
const QWEN3 = { parameters: 2_623_232, context: 2048, kvFloatsPerToken: 2 * 2 * 2 * 128 };
const tiedOutput = (t: string) => `${t} (tied to the embedding)`;

// MANIFEST: 2-D weights take the file type, except stories260K's ffn_down (172 columns, F16) and,
// in Q4_K_M, Q6_K for the output projection and for attn_v / ffn_down of layer 1.
const FIXTURES: Record<string, Expected> = {
  'stories260K-F16.gguf': { ...STORIES, weightTypes: { embedding: 'F16', norms: 'F32', attention: 'F16', 'feed-forward': 'F16', output: tiedOutput('F16') } },
  'stories260K-BF16.gguf': { ...STORIES, weightTypes: { embedding: 'BF16', norms: 'F32', attention: 'BF16', 'feed-forward': 'BF16', output: tiedOutput('BF16') } },
  'stories260K-Q8_0.gguf': { ...STORIES, weightTypes: { embedding: 'Q8_0', norms: 'F32', attention: 'Q8_0', 'feed-forward': 'Q8_0, F16', output: tiedOutput('Q8_0') } },
  'stories260K-Q4_0.gguf': { ...STORIES, weightTypes: { embedding: 'Q4_0', norms: 'F32', attention: 'Q4_0', 'feed-forward': 'Q4_0, F16', output: tiedOutput('Q4_0') } },
  'llama3-tiny-random-Q8_0.gguf': { ...LLAMA3, weightTypes: { embedding: 'Q8_0', 'rope frequencies': 'F32', norms: 'F32', attention: 'Q8_0', 'feed-forward': 'Q8_0', output: tiedOutput('Q8_0') } },
  'llama3-tiny-random-Q4_K_M.gguf': { ...LLAMA3, weightTypes: { embedding: 'Q6_K', 'rope frequencies': 'F32', norms: 'F32', attention: 'Q4_K, Q6_K', 'feed-forward': 'Q4_K, Q6_K', output: tiedOutput('Q6_K') } },
  'qwen2-tiny-random-Q4_0.gguf': { ...QWEN2, weightTypes: { embedding: 'Q4_0', norms: 'F32', attention: 'Q4_0', biases: 'F32', 'feed-forward': 'Q4_0', output: 'Q4_0' } },
  'qwen2-tiny-random-Q4_K_M.gguf': { ...QWEN2, weightTypes: { embedding: 'Q4_K', norms: 'F32', attention: 'Q4_K, Q6_K', biases: 'F32', 'feed-forward': 'Q4_K, Q6_K', output: 'Q6_K' } },
  'qwen3-tiny-random-Q4_K_M.gguf': { ...QWEN3, weightTypes: { embedding: 'Q4_K', norms: 'F32', attention: 'Q4_K, Q6_K', 'feed-forward': 'Q4_K, Q6_K', output: 'Q6_K' } },
};

describe.skipIf(!HAVE_SHARED)(sharedTitle('pagedinfer info on quantized GGUF files'), () => {
  for (const [file, want] of Object.entries(FIXTURES)) {
    it(`${file}: types per tensor class, parameters, context, memory`, async () => {
      const { spec } = await readModelSource(sharedPath('models', 'gguf', file));
      const info = describeModel(spec);
      // Compare as sets: the order of the types within a class is the order of the tensors.
      const sorted = (r: Record<string, string>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.split(', ').sort().join(', ')]));
      expect(sorted(info.weightTypes)).toEqual(sorted(want.weightTypes));
      expect(info.parameters).toBe(want.parameters);
      expect(info.context).toBe(want.context);
      // The weights' memory is their bytes in the file (used in place, memory-mapped): whole
      // blocks of each tensor's type, independently of the reader's byte counts.
      const blocksBytes = spec.tensors.reduce((n, t) => {
        const elems = t.shape.reduce((a, b) => a * b, 1);
        return n + (elems / BLOCK[t.dtype].elems) * BLOCK[t.dtype].bytes;
      }, 0);
      expect(info.memory.weightsBytes).toBe(blocksBytes);
      const size = statSync(sharedPath('models', 'gguf', file)).size;
      expect(info.memory.weightsBytes).toBeLessThan(size);
      expect(info.memory.kvCacheBytesPerToken.cpu).toBe(want.kvFloatsPerToken * 4);
      expect(info.memory.fullContextBytes.cpu).toBe(blocksBytes + want.kvFloatsPerToken * 4 * want.context);
    });
  }

  describe('the command', () => {
    beforeAll(buildDist);

    it('prints the file type mix, parameters, context and memory of a Q4_K_M file', () => {
      const r = spawnSync(process.execPath, [CLI, 'info', sharedPath('models', 'gguf', 'qwen2-tiny-random-Q4_K_M.gguf')], {
        encoding: 'utf8',
        env: { ...process.env, PAGEDINFER_BACKEND: 'cpu' },
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^architecture\s+qwen2, 2\.23M parameters, 2 layers, hidden 256$/m);
      expect(r.stdout).toMatch(/^context\s+2048 tokens$/m);
      expect(r.stdout).toMatch(/^weight types\s+.*embedding Q4_K;.*attention Q4_K, Q6_K;.*output Q6_K/m);
      // 1,400,000-odd bytes of blocks; K and V of 2 layers x 2 heads x 64 floats per token.
      expect(r.stdout).toMatch(/^memory\s+weights 1\.\d MiB; KV cache 2\.0 KiB\/token on the CPU/m);
    });
  });
});
