# Yield benchmark: usable rows per 1,000 generated tokens and per minute on the sample Japanese
# seeds with the default model, each lever (grammar, early stop, examples, subjects,
# temperature, tasks per request, two-stage) on and off. `./run bench-yield`; the program takes
# other seeds, request counts and a subset of configurations (bench_yield --help).
add_executable(bench_yield ${CMAKE_CURRENT_SOURCE_DIR}/yield/bench_yield.c)
target_link_libraries(bench_yield PRIVATE isynth)
add_custom_target(bench-yield
  COMMAND $<TARGET_FILE:bench_yield> --model ${ISYNTH_MODEL}
          --seeds ${CMAKE_SOURCE_DIR}/data/seeds_ja.jsonl
  DEPENDS bench_yield
  USES_TERMINAL
  COMMENT "Usable rows per 1,000 generated tokens and per minute, each lever on and off")
