# Conveniences over ./run (the README's entry point, which needs no make).
.PHONY: all demo test build bench-gen bench-rouge bench-xlsx bench-http bench-judge clean
all: build
demo test build bench-gen bench-rouge bench-xlsx bench-http bench-judge:
	@./run $@
clean:
	rm -rf build build-asan
