#!/usr/bin/env bash
# Call 1 (sixth session): CUDA kernel tests at HEAD, sampling trace per kind, variants pf / pfk / pfkl.
out=${OUT:-/tmp/out}; mkdir -p "$out"; cd "$(dirname "$0")"
for f in *.xz; do xz -dc "$f" > "/tmp/${f%.xz}" && chmod +x "/tmp/${f%.xz}"; done
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
summary() { grep -E "^ceilings|^\| sampling|^trace|^  " "$1" | sed -E 's/\| 256 x 128256, sample\(\) wall//; s/rows redone on the host; buffer target 256//' | cut -c1-160; }
timeout 150 stdbuf -oL /tmp/tests_head --backend cuda > "$out/tests-head.txt" 2>&1; echo "HEAD kernel tests rc $?"
grep -E "FAIL|passed|what" "$out/tests-head.txt" | head -20
timeout 100 stdbuf -oL /tmp/tests_pfkl --backend cuda --filter sampling > "$out/tests-pfkl.txt" 2>&1; echo "pfkl sampling tests rc $?"
grep -E "FAIL|passed|what" "$out/tests-pfkl.txt" | head -20
for v in trace pf pfk pfkl; do
  timeout 60 /tmp/bench_$v --only sampling > "$out/b-$v.txt" 2>&1; echo "=== $v"; summary "$out/b-$v.txt"
done
timeout 60 /tmp/bench_head --only sampling > "$out/b-head.txt" 2>&1; echo "=== head"; summary "$out/b-head.txt"
for mix in 12 13 23 01 02 03; do
  PAGEDINFER_BENCH_SAMPLING_MIX=$mix timeout 60 /tmp/bench_trace --only sampling > "$out/mix-$mix.txt" 2>&1
  echo "=== trace mix $mix"; summary "$out/mix-$mix.txt" | grep -A6 -E "mix of the four$|trace mix of the four:"
done
for v in pf pfkl; do
  timeout 60 /tmp/bench_$v --only sampling > "$out/b2-$v.txt" 2>&1; echo "=== round 2 $v"; summary "$out/b2-$v.txt" | grep -E "^\|"
done
cd "$out" && tar czf all.tgz --exclude=all.tgz .
