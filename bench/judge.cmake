# LLM judge benchmark: judges the labelled set (tests/data/labelled/{ja,en}.jsonl) with the
# default model and the grammar, and prints the pairwise ordering accuracy of "keep" rows over
# junk rows (0.5 = a random judge) and each class's mean score. `make bench-judge`; the program
# takes any JSONL of that shape (bench_judge --help).
add_executable(bench_judge ${CMAKE_CURRENT_SOURCE_DIR}/judge/bench_judge.c)
target_link_libraries(bench_judge PRIVATE isynth)
add_custom_target(bench-judge
  COMMAND $<TARGET_FILE:bench_judge> --model ${ISYNTH_MODEL} --parallel 4
          ${CMAKE_SOURCE_DIR}/tests/data/labelled/ja.jsonl
          ${CMAKE_SOURCE_DIR}/tests/data/labelled/en.jsonl
  DEPENDS bench_judge
  USES_TERMINAL
  COMMENT "LLM judge on the labelled set: good rows scored above junk, per-class means")
