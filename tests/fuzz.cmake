# The table readers and the seed loader under libFuzzer (-DISYNTH_FUZZ=ON, clang): fuzz_table,
# a differential test of the JSONL fast path against jansson besides (tests/fuzz_table.c). The
# library is compiled a second time with coverage instrumentation, so the fuzzer sees its
# branches. The corpus kept in the repository (tests/data/fuzz/table) is copied, so the
# fuzzer's findings never land in the source tree. `./run test` runs each fuzz target for a
# fixed number of executions (deterministic: -seed=1 -runs=N), label "fuzz".
set(ISYNTH_FUZZ_RUNS 50000 CACHE STRING "executions of each fuzz target under ctest")
if(ISYNTH_FUZZ)
  add_library(isynth_fuzzlib STATIC ${ISYNTH_SRC})
  target_include_directories(isynth_fuzzlib PUBLIC ${CMAKE_SOURCE_DIR}/include
    PRIVATE ${CMAKE_SOURCE_DIR}/src ${CSV_INCLUDE} ${LLAMA_INCLUDE})
  target_compile_options(isynth_fuzzlib PRIVATE -fsanitize=fuzzer-no-link,address,undefined -g)
  target_link_libraries(isynth_fuzzlib PUBLIC PkgConfig::DEPS ${CSV_LIB} ${LLAMA_LIBS} m)
  if(MECAB_LIB AND MECAB_INCLUDE)
    target_compile_definitions(isynth_fuzzlib PRIVATE ISYNTH_HAVE_MECAB=1)
    target_include_directories(isynth_fuzzlib PRIVATE ${MECAB_INCLUDE})
    target_link_libraries(isynth_fuzzlib PUBLIC ${MECAB_LIB})
  endif()
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
