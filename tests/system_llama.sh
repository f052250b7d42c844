#!/usr/bin/env bash
# The system-libllama path of CMakeLists.txt (ISYNTH_LLAMA_PREFIX empty: pkg-config finds llama),
# which the default set-up never takes. The llama.cpp prefix scripts/setup.sh built is copied to
# a fresh directory laid out as an installed libllama (lib/, include/, lib/pkgconfig/llama.pc),
# isynth is configured against it through CMAKE_PREFIX_PATH only, the way a distribution's
# package would be found, and built; then the libraries the tool and test_grammar load must be
# the copy's, `isynth --version` must run, and test_grammar must pass (it loads the model's
# vocabulary and runs the grammar sampler through that libllama).
# usage: system_llama.sh SOURCE_DIR LLAMA_PREFIX MODEL REQUIRE_ALL WORK_DIR
set -euo pipefail
src=$1 prefix=$2 model=$3 require_all=$4 work=$(realpath -m "$5")
fail() { echo "system_llama: $*" >&2; exit 1; }
[ -f "$prefix/lib/pkgconfig/llama.pc" ] ||
  fail "$prefix has no lib/pkgconfig/llama.pc (a llama.cpp built by an older scripts/setup.sh: run it again)"
rm -rf "$work"
sys=$work/usr
mkdir -p "$sys"
cp -a "$prefix/lib" "$prefix/include" "$sys/"
# its llama.pc names its prefix, as a distribution's package does
sed -i -e "s|^prefix=.*|prefix=$sys|" -e "s|^libdir=.*|libdir=$sys/lib|" \
  -e "s|^includedir=.*|includedir=$sys/include|" "$sys/lib/pkgconfig/llama.pc"
# nothing but CMAKE_PREFIX_PATH may lead pkg-config to it
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR
if ! cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DISYNTH_LLAMA_PREFIX= \
  -DCMAKE_PREFIX_PATH="$sys" -DISYNTH_MODEL="$model" -DISYNTH_REQUIRE_ALL="$require_all" \
  >"$work/configure.log" 2>&1; then
  tail -20 "$work/configure.log" >&2
  fail "configuring against $sys failed"
fi
grep -q "^LLAMA_LIBDIR:INTERNAL=$sys/lib\$" "$work/build/CMakeCache.txt" ||
  fail "pkg-config did not find llama in $sys: $(grep '^LLAMA_LIBDIR' "$work/build/CMakeCache.txt")"
if ! cmake --build "$work/build" -j2 --target isynth-cli test_grammar >"$work/build.log" 2>&1; then
  tail -30 "$work/build.log" >&2
  fail "building against $sys failed"
fi
for bin in "$work/build/isynth" "$work/build/tests/test_grammar"; do
  libs=$(ldd "$bin" | awk '/lib(llama|ggml)/ { print $1 " " $3 }')
  [ -n "$libs" ] || fail "$bin links no libllama"
  while read -r name path; do
    case "$(realpath -m "$path")" in
      "$sys"/lib/*) ;;
      *) fail "$bin loads $name from $path, not from the installed copy in $sys/lib" ;;
    esac
  done <<<"$libs"
done
out=$("$work/build/isynth" --version) || fail "isynth --version failed"
case "$out" in isynth\ *) ;; *) fail "isynth --version printed '$out'" ;; esac
"$work/build/tests/test_grammar" || fail "test_grammar failed against $sys"
echo "system_llama: isynth built against the libllama installed in $sys ($(grep -m1 '^Version' "$sys/lib/pkgconfig/llama.pc"))"
rm -rf "$work"
