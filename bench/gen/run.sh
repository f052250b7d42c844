#!/usr/bin/env bash
# bench-gen: generated tokens/s of isynth's embedded backend at --parallel 1, 2, 4, 8 next to
# llama-batched-bench (same llama.cpp build, same model, same prompt and generation lengths),
# then a whole run with and without the shared prompt-head KV reuse.
# usage: run.sh BENCH_GEN MODEL LLAMA_SERVER SEEDS   (llama-batched-bench sits beside llama-server)
set -euo pipefail
bench=$1 model=$2 server=$3 seeds=$4
bb=$(dirname "$server")/llama-batched-bench
gen=${BENCH_GEN_TOKENS:-200}
threads=$(nproc)
printf '%-9s %12s %14s %16s %8s\n' parallel "prompt tok" "isynth tok/s" "batched-bench" ratio
for p in ${BENCH_GEN_PARALLEL:-1 2 4 8}; do
  # one wave of p requests, each a real few-shot prompt, each generating exactly $gen tokens
  line=$("$bench" --model "$model" --seeds "$seeds" --parallel "$p" --requests "$p" --gen "$gen" \
           --no-prefix-cache)
  npp=$(sed -E 's/.*prompt_tokens_avg=([0-9]+).*/\1/' <<<"$line")
  ours=$(sed -E 's/.*gen_tok_s=([0-9.]+).*/\1/' <<<"$line")
  ctx=$(( (npp + gen + 16) * p ))
  # batched-bench's table: | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
  row=$("$bb" -m "$model" -c "$ctx" -b 512 -ub 512 -npp "$npp" -ntg "$gen" -npl "$p" -t "$threads" \
          2>/dev/null | grep -E "^\|\s+$npp\s+\|" | tail -1 || true)
  # generated tokens over the whole time (prompt + generation), as isynth's figure is
  ref=$(awk -F'|' -v g="$gen" -v p="$p" '{t=$10+0; if (t>0) printf "%.2f", g*p/t}' <<<"$row")
  ratio=$(awk -v a="$ours" -v b="$ref" 'BEGIN{ if (b>0) printf "%.2fx", a/b; else print "n/a"}')
  printf '%-9s %12s %14s %16s %8s\n' "$p" "$npp" "$ours" "${ref:-n/a}" "$ratio"
done
echo
echo "whole run: 16 requests at --parallel 4, realistic prompts, $gen tokens each"
for mode in "" --no-prefix-cache; do
  line=$("$bench" --model "$model" --seeds "$seeds" --parallel 4 --requests 16 --gen "$gen" $mode)
  echo "  $line"
done
