#!/usr/bin/env bash
# bench-gen: generated tokens/s of isynth's embedded backend at --parallel 1, 2, 4, 8 next to
# llama-batched-bench (same llama.cpp build, same model, same prompt and generation lengths),
# with and without the reply grammar; then a whole run with and without the shared prompt-head
# KV reuse; then two runs at once on the same machine (contention), each against its solo speed,
# with the thread count adapting and fixed.
# usage: run.sh BENCH_GEN MODEL LLAMA_SERVER SEEDS   (llama-batched-bench sits beside llama-server)
set -euo pipefail
bench=$1 model=$2 server=$3 seeds=$4
bb=$(dirname "$server")/llama-batched-bench
gen=${BENCH_GEN_TOKENS:-200}
threads=$(nproc)
printf '%-9s %12s %14s %16s %8s %14s %8s\n' parallel "prompt tok" "isynth tok/s" "batched-bench" ratio \
  "+grammar tok/s" ratio
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
  gline=$("$bench" --model "$model" --seeds "$seeds" --parallel "$p" --requests "$p" --gen "$gen" \
            --no-prefix-cache --grammar)
  gram=$(sed -E 's/.*gen_tok_s=([0-9.]+).*/\1/' <<<"$gline")
  gratio=$(awk -v a="$gram" -v b="$ref" 'BEGIN{ if (b>0) printf "%.2fx", a/b; else print "n/a"}')
  printf '%-9s %12s %14s %16s %8s %14s %8s\n' "$p" "$npp" "$ours" "${ref:-n/a}" "$ratio" "$gram" "$gratio"
done
echo
echo "whole run: 16 requests at --parallel 4, realistic prompts, $gen tokens each"
for mode in "" --no-prefix-cache; do
  line=$("$bench" --model "$model" --seeds "$seeds" --parallel 4 --requests 16 --gen "$gen" $mode)
  echo "  $line"
done
echo
echo "contention: two runs at once (8 requests at --parallel 4, $gen tokens each), each against solo"
rate() { sed -E 's/.*gen_tok_s=([0-9.]+).*/\1/' <<<"$1"; }
for mode in adapt --no-adapt; do
  flag=$([ "$mode" = adapt ] || echo "$mode")
  solo=$(rate "$("$bench" --model "$model" --seeds "$seeds" --parallel 4 --requests 8 --gen "$gen" $flag)")
  a=$(mktemp) b=$(mktemp)
  "$bench" --model "$model" --seeds "$seeds" --parallel 4 --requests 8 --gen "$gen" $flag >"$a" &
  "$bench" --model "$model" --seeds "$seeds" --parallel 4 --requests 8 --gen "$gen" $flag >"$b" &
  wait
  ra=$(rate "$(cat "$a")") rb=$(rate "$(cat "$b")")
  rm -f "$a" "$b"
  awk -v m="$mode" -v s="$solo" -v a="$ra" -v b="$rb" 'BEGIN{
    printf "  %-9s solo %6.2f tok/s   together %6.2f + %6.2f tok/s   each %.0f%% / %.0f%% of solo\n",
           m, s, a, b, 100*a/s, 100*b/s }'
done
