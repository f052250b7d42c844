# ROUGE-L integration tests (label "integration"): parity with Python rouge-score on >= 10,000
# pairs of Japanese and English text, and `isynth dedup` against a greedy rouge-score pass.
# rouge-score comes from PyPI into ${ISYNTH_PYTHON}'s environment (scripts/setup.sh).
add_test(NAME rouge_parity
  COMMAND ${ISYNTH_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/rouge_parity.py parity
          $<TARGET_FILE:isynth-rouge-tool> ${CMAKE_CURRENT_BINARY_DIR}/rouge_parity)
add_test(NAME rouge_dedup_cli
  COMMAND ${ISYNTH_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/rouge_parity.py dedup
          $<TARGET_FILE:isynth-cli> ${CMAKE_CURRENT_BINARY_DIR}/rouge_dedup)
set_tests_properties(rouge_parity rouge_dedup_cli PROPERTIES LABELS integration TIMEOUT 600)

# The labelled set of kept and junk rows (tests/data/labelled) through `isynth check`.
add_test(NAME check_labelled
  COMMAND ${ISYNTH_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/check_labelled.py
          $<TARGET_FILE:isynth-cli> ${CMAKE_CURRENT_SOURCE_DIR}/data/labelled
          ${CMAKE_CURRENT_BINARY_DIR}/check_labelled)
set_tests_properties(check_labelled PROPERTIES LABELS integration TIMEOUT 300)
