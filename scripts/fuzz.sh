#!/usr/bin/env bash
# Fuzzes every parser of untrusted bytes with libFuzzer and AddressSanitizer (docs/testing.md, "Fuzzing").
#   scripts/fuzz.sh                 each target 10 minutes (the long run)
#   scripts/fuzz.sh 15              each target 15 seconds (what CI runs)
#   scripts/fuzz.sh 60 FuzzImage    one target, a minute
# Builds the targets in .build-fuzz (release, -sanitize=fuzzer,address, -DFUZZING), starts each
# from its committed seeds (Fuzz/corpus/<target>, read only) plus what earlier runs found
# (.build-fuzz/corpus/<target>), and stops at the first crash, leak or timeout, leaving the
# input in .build-fuzz/artifacts/<target>/ and exiting 1. Reproduce a finding without the
# sanitizers: swift build --product <target> && .build/debug/<target> <file>.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
all=(FuzzSafeTensors FuzzModelConfig FuzzInferenceRequest FuzzBinaryInference FuzzModelInferRequest FuzzMultipart FuzzImage FuzzIDX)
targets=("${@:-${all[@]}}")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

scripts/install-packages.sh build
# SwiftPM passes -sanitize=fuzzer to the executables only: the libraries get their coverage
# instrumentation from -sanitize-coverage (Swift) and -fsanitize=fuzzer-no-link (C); dead-code
# stripping would drop the coverage counters' sections.
flags=(-c release --disable-dead-strip --sanitize fuzzer --sanitize address -Xswiftc -DFUZZING
       -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp -Xcc -fsanitize=fuzzer-no-link
       --scratch-path .build-fuzz)
for t in "${targets[@]}"; do
  swift build "${flags[@]}" --product "$t" 2>&1 | grep -E "error" || true
  [ -x ".build-fuzz/release/$t" ] || { echo "fuzz: building $t failed" >&2; exit 1; }
done

# Leaks: libFuzzer's leak check counts memory Swift keeps for the process's lifetime (type
# metadata, lazily created globals) as leaked; AddressSanitizer still catches every overflow,
# use-after-free and double free.
export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"
# Swift's own crash backtracer fights AddressSanitizer's; libFuzzer prints the stack.
export SWIFT_BACKTRACE=enable=no
status=0
passed=0
failed=0
for t in "${targets[@]}"; do
  mkdir -p ".build-fuzz/corpus/$t" ".build-fuzz/artifacts/$t"
  max_len=4096
  case "$t" in FuzzImage|FuzzSafeTensors) max_len=65536 ;; esac
  log=".build-fuzz/$t.log"
  echo "== $t: ${seconds}s"
  if ".build-fuzz/release/$t" ".build-fuzz/corpus/$t" "Fuzz/corpus/$t" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
      -artifact_prefix=".build-fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "   ok: $runs executions, $cov, corpus $(ls ".build-fuzz/corpus/$t" | wc -l) inputs"
    passed=$((passed + 1))
  else
    status=1
    failed=$((failed + 1))
    echo "   FAILED: see $log and .build-fuzz/artifacts/$t/" >&2
    grep -E "ERROR|SUMMARY|Fatal error|Test unit written" "$log" | head -10 >&2 || true
  fi
done
echo "fuzz: $passed passed, $failed failed"
exit $status
