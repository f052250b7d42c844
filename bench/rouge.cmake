# ROUGE-L benchmark: isynth vs rouge-score's _score_lcs vs rapidfuzz (cdist, workers=1), on a
# synthetic corpus of 50,000 Japanese instructions. Run it with `make bench-rouge`; set
# ROUGE_BENCH_ARGS (e.g. "--rf-items 50000") to change the Python side's scope.
add_executable(isynth-rouge-tool ${CMAKE_CURRENT_SOURCE_DIR}/rouge/rouge_tool.c)
target_link_libraries(isynth-rouge-tool PRIVATE isynth)
set(ROUGE_BENCH_ARGS "" CACHE STRING "Extra arguments for bench/rouge/bench_rouge.py")
separate_arguments(_rouge_bench_args UNIX_COMMAND "${ROUGE_BENCH_ARGS}")
add_custom_target(bench-rouge
  COMMAND ${ISYNTH_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/rouge/bench_rouge.py
          --tool $<TARGET_FILE:isynth-rouge-tool> --workdir ${CMAKE_BINARY_DIR}/bench-rouge
          ${_rouge_bench_args}
  DEPENDS isynth-rouge-tool
  USES_TERMINAL
  COMMENT "ROUGE-L: isynth vs rouge-score vs rapidfuzz")
