# Magpie's language steering: Japanese instructions per 1,000 generated tokens with the system
# message and the first-tokens language check on and off, default model, sample seeds.
# Run it with `./run bench-magpie`.
add_custom_target(bench-magpie
  COMMAND ${ISYNTH_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/magpie/run.py
          --isynth $<TARGET_FILE:isynth-cli> --model ${ISYNTH_MODEL}
          --seeds ${CMAKE_SOURCE_DIR}/data/seeds_ja.jsonl --workdir ${CMAKE_BINARY_DIR}/bench-magpie
  DEPENDS isynth-cli
  USES_TERMINAL
  COMMENT "Magpie: Japanese instructions per 1,000 generated tokens, each steering on and off")
