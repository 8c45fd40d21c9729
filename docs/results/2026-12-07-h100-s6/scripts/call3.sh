#!/usr/bin/env bash
# Call 3: head vs v1 (penalty-free instance) vs v4 (+ top-n insert not inlined) vs v6 (+ logprobs-free instance).
out=${OUT:-/tmp/out}; mkdir -p "$out"; cd "$(dirname "$0")"
for f in *.xz; do xz -dc "$f" > "/tmp/${f%.xz}" && chmod +x "/tmp/${f%.xz}"; done
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
timeout 150 stdbuf -oL /tmp/tests_v6 --backend cuda > "$out/tests-v6.txt" 2>&1; echo "v6 kernel tests rc $?"
grep -E "FAIL|passed|what" "$out/tests-v6.txt" | head -20
for round in 1 2; do
  for v in head v1 v4 v6; do
    timeout 60 /tmp/bench_$v --only sampling > "$out/b$round-$v.txt" 2>&1
    echo "=== $v round $round"; grep -E "^\| sampling" "$out/b$round-$v.txt" | sed -E 's/rows redone on the host; buffer target 256//; s/256 x 128256, sample\(\) wall//' | cut -c1-120
  done
done
for mix in 12 13 02 012 123; do
  PAGEDINFER_BENCH_SAMPLING_MIX=$mix timeout 60 /tmp/bench_v6 --only sampling > "$out/mix-$mix.txt" 2>&1
  echo "=== v6 mix $mix"; grep -E "^\| sampling mix" "$out/mix-$mix.txt" | sed -E 's/rows redone on the host; buffer target 256//; s/256 x 128256, sample\(\) wall//' | cut -c1-120
done
for v in v4 v6; do echo "=== trace $v"; grep -E "^trace|^  [a-z]" "$out/b1-$v.txt" | grep -v "^  sampling" | grep -A5 "trace mix"; done
cd "$out" && tar czf /tmp/all.tgz . && mv /tmp/all.tgz "$out/all.tgz"
