# HTTP backend benchmark (issue 5): requests/s and CPU per request against a stub that answers
# after a fixed 200 ms (concurrency 1, 8, 64, 256, next to the ideal), then generated tokens/s
# against llama-server at --parallel 1, 2, 4 next to the embedded backend. `make bench-http`.
add_executable(bench_http ${CMAKE_CURRENT_SOURCE_DIR}/http/bench_http.c)
target_link_libraries(bench_http PRIVATE isynth)
target_compile_definitions(bench_http PRIVATE
  ISYNTH_PYTHON="${ISYNTH_PYTHON}"
  ISYNTH_BENCH_STUB="${CMAKE_CURRENT_SOURCE_DIR}/http/stub_async.py"
  ISYNTH_LLAMA_SERVER="${ISYNTH_LLAMA_SERVER}"
  ISYNTH_MODEL="${ISYNTH_MODEL}")
add_custom_target(bench-http
  COMMAND $<TARGET_FILE:bench_http>
  DEPENDS bench_http
  WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
  USES_TERMINAL
  COMMENT "HTTP backend benchmark: fixed-latency stub, then llama-server vs embedded")
