#!/usr/bin/env python3
"""ROUGE-L benchmark, both sides in one run: isynth (C, via rouge_tool) against rouge-score's
_score_lcs and rapidfuzz's LCSseq through process.cdist(workers=1), on the same token sequences
(isynth's chars tokens, one character per token). Prints one table.

  (a) LCS pairs per second, one core each
  (b) whole-corpus greedy dedup at ROUGE-L >= 0.7 (each item against all kept before it)
  (c) peak memory
and checks the kept set against a naive reference on a 5,000-item subset (C brute force, and
rapidfuzz's greedy run, which is an independent implementation).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time


def f_measure(lcs, m, n):
    # rouge_score.rouge_scorer._score_lcs + scoring.fmeasure, verbatim arithmetic
    if m == 0 or n == 0:
        return 0.0
    precision = lcs / n
    recall = lcs / m
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def min_lcs(m, n, t):
    """smallest LCS reaching t (as isynth_rouge_l_min_lcs)"""
    mn = min(m, n)
    l = max(1, int(t * (m + n) / 2) - 2)
    while l <= mn:
        if f_measure(l, m, n) >= t:
            return l
        l += 1
    return mn + 1


_tau = {}


def tau_min(m, t):
    """smallest LCS any partner length needs to reach t: the exact score_cutoff"""
    if m not in _tau:
        best = min_lcs(m, m + 1, t)
        for n in range(1, m + 1):
            l = min_lcs(m, n, t)
            if l <= n:
                best = min(best, l)
        _tau[m] = best
    return _tau[m]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--items", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--choices", type=int, default=1000)
    ap.add_argument("--rouge-pairs", type=int, default=3000)
    ap.add_argument("--subset", type=int, default=5000)
    ap.add_argument("--rf-items", type=int, default=10000,
                    help="items for rapidfuzz's greedy dedup (50000 = whole corpus, ~15 min)")
    args = ap.parse_args()

    from rapidfuzz import process
    from rapidfuzz.distance import LCSseq
    from rouge_score import rouge_scorer
    import rapidfuzz
    import rouge_score

    os.makedirs(args.workdir, exist_ok=True)
    corpus = os.path.join(args.workdir, f"corpus-{args.items}-{args.seed}.txt")
    toks_path = os.path.join(args.workdir, "tokens.txt")
    if not os.path.exists(corpus):
        subprocess.run([args.tool, "gen", str(args.items), str(args.seed), corpus], check=True)

    # C side: one process, so its peak memory is its own
    t0 = time.perf_counter()
    out = subprocess.run([args.tool, "bench", corpus, toks_path, str(args.queries),
                          str(args.choices), str(args.subset)],
                         check=True, capture_output=True, text=True).stdout
    c_wall = time.perf_counter() - t0
    c = json.loads(out)

    with open(toks_path, encoding="utf-8") as f:
        seqs = [line.rstrip("\n") for line in f]
    with open(corpus, encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f]
    n = len(seqs)
    lens = [len(s) for s in texts]
    choice0 = n // 2 if args.queries < n // 2 else 0
    queries = seqs[:args.queries]
    choices = seqs[choice0:choice0 + args.choices]

    # (a) pairs per second, same sequences as isynth's
    pairs = []
    i = 0
    while len(pairs) < args.rouge_pairs:
        pairs.append((list(queries[i % len(queries)]), list(choices[(i * 7) % len(choices)])))
        i += 1
    t0 = time.perf_counter()
    for a, b in pairs:
        rouge_scorer._score_lcs(a, b)
    rs_rate = len(pairs) / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    reps = 0
    while True:
        process.cdist(queries, choices, scorer=LCSseq.similarity, workers=1)
        reps += 1
        el = time.perf_counter() - t0
        if el >= 1.0:
            break
    rf_rate = reps * len(queries) * len(choices) / el

    # spot check: rapidfuzz's LCS gives isynth's scores on these pairs (checksum of F)
    m = process.cdist(queries, choices, scorer=LCSseq.similarity, workers=1)
    rf_checksum = 0.0
    for qi, q in enumerate(queries):
        for ci, ch in enumerate(choices):
            rf_checksum += f_measure(int(m[qi][ci]), len(q), len(ch))

    # (b) greedy dedup written on rapidfuzz: cdist against all kept, with a score_cutoff
    rf_n = min(args.rf_items, n)
    kept = []
    keep_rf = []
    t0 = time.perf_counter()
    for i in range(rf_n):
        q = seqs[i]
        dup = False
        if kept and q:
            cut = tau_min(len(q), 0.7)
            row = process.cdist([q], kept, scorer=LCSseq.similarity, score_cutoff=cut,
                                workers=1)[0]
            for j in row.nonzero()[0]:
                if f_measure(int(row[j]), len(q), len(kept[j])) >= 0.7:
                    dup = True
                    break
        keep_rf.append(not dup)
        if not dup:
            kept.append(q)
    rf_greedy = time.perf_counter() - t0
    py_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    keep_c = [ch == "1" for ch in c["keep"]]
    sub = min(args.subset, rf_n)
    rf_equal = keep_c[:sub] == keep_rf[:sub]
    rf_equal_all = keep_c[:rf_n] == keep_rf

    # extrapolate rapidfuzz's greedy to the whole corpus from its pair count
    kept_prefix = 0
    pairs_done = 0
    for i in range(rf_n):
        pairs_done += kept_prefix
        kept_prefix += keep_rf[i]
    kept_total = 0
    pairs_all = 0
    for i in range(n):
        pairs_all += kept_total
        kept_total += keep_c[i]
    rf_full_est = rf_greedy * pairs_all / max(1, pairs_done)

    w = sys.stdout.write
    w("\nROUGE-L benchmark (one core each; isynth %s, rouge-score %s, rapidfuzz %s)\n" % (
        "C", rouge_score.__version__ if hasattr(rouge_score, "__version__") else "0.1.2",
        rapidfuzz.__version__))
    w("corpus: %d synthetic Japanese instructions, %d-%d chars (mean %.1f), %d chars tokens, "
      "vocab %d\n" % (n, min(lens), max(lens), sum(lens) / n, c["tokens"], c["vocab"]))
    w("\n(a) LCS pairs per second, %d x %d chars-token sequences\n" % (len(queries), len(choices)))
    w("  %-44s %14s %10s\n" % ("implementation", "pairs/s", "vs rouge"))
    w("  %-44s %14s %10s\n" % ("rouge-score _score_lcs (Python DP)", f"{rs_rate:,.0f}", "1x"))
    w("  %-44s %14s %10s\n" % ("rapidfuzz cdist LCSseq, workers=1", f"{rf_rate:,.0f}",
                               f"{rf_rate / rs_rate:,.0f}x"))
    w("  %-44s %14s %10s\n" % ("isynth prepared pattern (bit-parallel)",
                               f"{c['pairs_per_s']:,.0f}", f"{c['pairs_per_s'] / rs_rate:,.0f}x"))
    w("  %-44s %14s %10s\n" % ("isynth_rouge_l_f one-shot", f"{c['oneshot_pairs_per_s']:,.0f}",
                               f"{c['oneshot_pairs_per_s'] / rs_rate:,.0f}x"))
    w("  isynth / rapidfuzz per pair: %.2fx; F checksums isynth %.6f, rapidfuzz %.6f\n" % (
        c["pairs_per_s"] / rf_rate, c["checksum_pairs"] if "checksum_pairs" in c else float("nan"),
        rf_checksum))
    w("\n(b) greedy dedup, ROUGE-L F >= 0.7 against all kept before\n")
    w("  %-44s %10s %8s\n" % ("implementation", "seconds", "kept"))
    w("  %-44s %10.2f %8d\n" % (f"isynth sim index any_at_least, {n} items", c["greedy_s"],
                                c["greedy_kept"]))
    w("  %-44s %10.2f %8d\n" % (f"isynth sim index nearest (exact NN), {n}", c["greedy_nn_s"],
                                c["greedy_nn_kept"]))
    w("  %-44s %10.2f %8d\n" % (f"rapidfuzz cdist+score_cutoff, first {rf_n}", rf_greedy,
                                sum(keep_rf)))
    if rf_n < n:
        w("  %-44s %10.0f %8s\n" % (f"rapidfuzz, {n} extrapolated by pair count", rf_full_est,
                                    "-"))
    st = c["stats"]
    w("  isynth pruning: %d queries, %d postings read, %d candidates, %d cut by count bound, "
      "%d by multiset bound, %d LCS computed\n" % (st["queries"], st["postings"],
                                                   st["candidates"], st["pruned_count"],
                                                   st["pruned_multiset"], st["lcs"]))
    w("  kept set on first %d: isynth == naive C brute force (%.1f s): %s; isynth == rapidfuzz "
      "greedy: %s (first %d: %s); any_at_least == nearest: %s\n" % (
          c["subset"], c["naive_s"], c["subset_equal"], rf_equal, rf_n, rf_equal_all,
          c["any_equals_nearest"]))
    w("\n(c) peak memory (RSS)\n")
    w("  isynth bench process %.1f MiB (index %.1f MiB); Python process (rapidfuzz + "
      "rouge-score + data) %.1f MiB\n" % (c["peak_rss_kb"] / 1024, c["index_bytes"] / 2**20,
                                           py_peak_kb / 1024))
    w("  C side wall time %.1f s\n" % c_wall)
    ok = c["subset_equal"] and rf_equal and rf_equal_all and c["any_equals_nearest"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
