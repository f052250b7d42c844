# The README's two commands: `make demo` and `make test`. Both install what is missing
# (scripts/setup.sh, cached under ~/.cache/isynth) and build first.
.PHONY: all setup build demo test test-asan bench-gen bench-rouge bench-xlsx bench-http clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	@bash scripts/build.sh build

demo: build
	@bash scripts/demo.sh

test: setup
	@bash scripts/test.sh

test-asan: setup
	@ISYNTH_TEST_ONLY_ASAN=1 bash scripts/test.sh

bench-gen bench-rouge bench-xlsx bench-http: build
	@bash scripts/build.sh build --target $@

clean:
	rm -rf build build-asan
