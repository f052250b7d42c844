# Report benchmark: writing and opening the HTML report of a 50,000-candidate run, against the
# 5-second targets of issue 17. `./run bench-report`.
add_executable(bench_report ${CMAKE_CURRENT_SOURCE_DIR}/report/bench_report.c)
target_link_libraries(bench_report PRIVATE isynth)
add_custom_target(bench-report
  COMMAND $<TARGET_FILE:bench_report> --seeds ${CMAKE_SOURCE_DIR}/data/seeds_ja.jsonl
          --workdir ${CMAKE_BINARY_DIR}/bench-report
  DEPENDS bench_report
  USES_TERMINAL
  COMMENT "The HTML report of a 50,000-candidate run: write and open times")
