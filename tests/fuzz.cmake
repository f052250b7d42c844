# The table readers and the seed loader under libFuzzer (-DISYNTH_FUZZ=ON, clang): fuzz_table,
# a differential test of the JSONL fast path against jansson besides (tests/fuzz_table.c). The
# library is compiled a second time with coverage instrumentation, so the fuzzer sees its
# branches. The corpus kept in the repository (tests/data/fuzz/table) is copied, so the
# fuzzer's findings never land in the source tree. `./run test` runs each fuzz target for a
# fixed number of executions (deterministic: -seed=1 -runs=N), label "fuzz".
set(ISYNTH_FUZZ_RUNS 50000 CACHE STRING "executions of each fuzz target under ctest")
if(ISYNTH_FUZZ)
  isynth_library(isynth_fuzzlib)
  target_compile_options(isynth_fuzzlib PRIVATE -fsanitize=fuzzer-no-link,address,undefined -g)
  add_executable(fuzz_table ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_table.c)
  target_compile_options(fuzz_table PRIVATE -fsanitize=fuzzer,address,undefined -g)
  target_link_options(fuzz_table PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_table PRIVATE isynth_fuzzlib)
  set(FUZZ_TABLE_CORPUS ${CMAKE_CURRENT_BINARY_DIR}/fuzz-table-corpus)
  add_test(NAME fuzz_table_brief
    COMMAND ${CMAKE_COMMAND} -E env sh -c
      "rm -rf '${FUZZ_TABLE_CORPUS}' && mkdir -p '${FUZZ_TABLE_CORPUS}' && exec '$<TARGET_FILE:fuzz_table>' -seed=1 -runs=${ISYNTH_FUZZ_RUNS} -max_len=4096 -rss_limit_mb=2048 -timeout=10 '${FUZZ_TABLE_CORPUS}' '${CMAKE_CURRENT_SOURCE_DIR}/data/fuzz/table'")
  set_tests_properties(fuzz_table_brief PROPERTIES LABELS fuzz TIMEOUT 600)
endif()
