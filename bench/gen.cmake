add_executable(bench_gen ${CMAKE_CURRENT_SOURCE_DIR}/gen/bench_gen.c)
target_link_libraries(bench_gen PRIVATE isynth)
add_custom_target(bench-gen
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gen/run.sh $<TARGET_FILE:bench_gen> ${ISYNTH_MODEL}
          ${ISYNTH_LLAMA_SERVER} ${CMAKE_SOURCE_DIR}/data/seeds_ja.jsonl
  DEPENDS bench_gen USES_TERMINAL)
