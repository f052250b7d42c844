#!/usr/bin/env bash
# The library defines only its own names: every global symbol in libisynth starts with isynth_.
# A definition of a dependency's symbol (an interposition, such as the minizip function an
# earlier release defined to change libxlsxwriter's deflate level) or an unprefixed helper that
# could collide with a caller's fails here.
# usage: symbols.sh LIBISYNTH.a
set -euo pipefail
lib=$1
syms=$(nm -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort -u)
n=$(wc -l <<<"$syms")
[ "$n" -gt 100 ] || { echo "FAIL only $n global symbols read from $lib"; exit 1; }
# sanitizer and coverage builds add their own markers (__odr_asan.NAME, __sancov_*): the
# compiler's, not a definition in the source
bad=$(grep -v -E '^(isynth_|__odr_asan\.isynth_|__asan_|__sancov_)' <<<"$syms" || true)
if [ -n "$bad" ]; then
  echo "FAIL global symbols outside the isynth_ prefix in $lib:"
  echo "$bad"
  exit 1
fi
echo "$n global symbols, all isynth_ (or a sanitizer's marker of one)"
