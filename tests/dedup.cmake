# `isynth dedup` on the shared JSONL reader: bad lines named FILE:LINE, BOM and CRLF input
# (tests/cli_dedup.sh). The comparison with rouge-score is tests/rouge.cmake's.
add_test(NAME cli_dedup COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_dedup.sh $<TARGET_FILE:isynth-cli>)
set_tests_properties(cli_dedup PROPERTIES LABELS cli TIMEOUT 60)
