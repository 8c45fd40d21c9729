#!/usr/bin/env python3
"""Peer benchmark on the GPU machine: Hugging Face transformers generate() on a model of the same
shape as pagedinfer's preset (random bf16 weights made on the GPU), static batches of --batch
prompts of --input-len random token ids, --output-len new tokens each (EOS never stops them),
greedy. Prints output tokens/s and writes JSON. Run by scripts/gpu/bench-8b.sh."""
import argparse
import json
import time

import torch
from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig

parser = argparse.ArgumentParser()
parser.add_argument("--preset", required=True, help="pagedinfer preset config.json (presets/*.json)")
parser.add_argument("--num-prompts", type=int, default=512)
parser.add_argument("--batch", type=int, default=64)
parser.add_argument("--input-len", type=int, default=512)
parser.add_argument("--output-len", type=int, default=128)
parser.add_argument("--max-batches", type=int, default=0, help="stop after this many batches (0: all); throughput is per batch anyway")
parser.add_argument("--json", required=True)
args = parser.parse_args()

with open(args.preset) as f:
    preset = json.load(f)
config = LlamaConfig(**{k: v for k, v in preset.items() if k not in ("model_type", "torch_dtype")})
config.eos_token_id = None  # never stop early
torch.manual_seed(0)
t0 = time.time()
with torch.device("cuda"):
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
model.eval()
load_seconds = time.time() - t0

gen = torch.Generator(device="cuda").manual_seed(1)
batches = (args.num_prompts + args.batch - 1) // args.batch
if args.max_batches:
    batches = min(batches, args.max_batches)


def run_batch():
    ids = torch.randint(10, config.vocab_size, (args.batch, args.input_len), device="cuda", generator=gen)
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=args.output_len,
        min_new_tokens=args.output_len,
        do_sample=False,
        pad_token_id=0,
    )
    assert out.shape[1] == args.input_len + args.output_len, out.shape


with torch.inference_mode():
    run_batch()  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    start = time.time()
    for _ in range(batches):
        run_batch()
    torch.cuda.synchronize()
    seconds = time.time() - start

out_tokens = batches * args.batch * args.output_len
result = {
    "peer": "transformers",
    "version": __import__("transformers").__version__,
    "torch": torch.__version__,
    "device": torch.cuda.get_device_name(0),
    "batch": args.batch,
    "batches": batches,
    "input_len": args.input_len,
    "output_len": args.output_len,
    "seconds": seconds,
    "output_tokens_per_second": out_tokens / seconds,
    "total_tokens_per_second": batches * args.batch * (args.input_len + args.output_len) / seconds,
    "load_seconds": load_seconds,
}
with open(args.json, "w") as f:
    json.dump(result, f, indent=2)
print(f"transformers generate(): batch {args.batch}, {batches} batches, {out_tokens / seconds:.1f} output tok/s")
