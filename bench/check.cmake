# `isynth check` on 50,000 generated rows with 5% junk and 3% duplicates: rows per second and
# peak memory. Run it with `./run bench-check`.
add_custom_target(bench-check
  COMMAND ${ISYNTH_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/check/run.py
          --isynth $<TARGET_FILE:isynth-cli> --tool $<TARGET_FILE:isynth-rouge-tool>
          --workdir ${CMAKE_BINARY_DIR}/bench-check
  DEPENDS isynth-cli isynth-rouge-tool
  USES_TERMINAL
  COMMENT "isynth check on 50,000 rows")
