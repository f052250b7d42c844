# Workbook integration tests (issue 9): the built `isynth` against openpyxl, LibreOffice
# headless and Hugging Face datasets, hostile workbooks refused by `isynth convert`, and the review
# workbook with facts to verify and judgements (read by openpyxl and LibreOffice, imported back).
# Each check is one run of tests/xlsx_interop.py; exit 77 marks a missing tool as skipped, except
# with ISYNTH_REQUIRE_ALL (./run test), where it is a failure.
set(XLSX_INTEROP ${CMAKE_CURRENT_SOURCE_DIR}/xlsx_interop.py)
foreach(check readback openpyxl-in libreoffice datasets hostile review signals)
  add_test(NAME xlsx_${check}
    COMMAND ${ISYNTH_PYTHON} ${XLSX_INTEROP} ${check} $<TARGET_FILE:isynth-cli>
            ${CMAKE_CURRENT_BINARY_DIR}/xlsx-${check})
  set_tests_properties(xlsx_${check} PROPERTIES LABELS "integration;xlsx" TIMEOUT 600)
  if(NOT ISYNTH_REQUIRE_ALL)
    set_tests_properties(xlsx_${check} PROPERTIES SKIP_RETURN_CODE 77)
  endif()
endforeach()

# libFuzzer target for the reader, and a 20-second run of it from the seed workbooks in
# tests/data/xlsx (copied, so the fuzzer's findings never land in the source tree).
if(ISYNTH_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ISYNTH_FUZZ needs clang: configure with CC=clang CXX=clang++")
  endif()
  add_executable(fuzz_xlsx ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_xlsx.c
    ${CMAKE_SOURCE_DIR}/src/xlsx_read.c ${CMAKE_SOURCE_DIR}/src/util.c
    ${CMAKE_SOURCE_DIR}/src/common.c ${CMAKE_SOURCE_DIR}/src/xlsx_write.c)
  target_include_directories(fuzz_xlsx PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(fuzz_xlsx PRIVATE -fsanitize=fuzzer,address,undefined -g)
  target_link_options(fuzz_xlsx PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_xlsx PRIVATE PkgConfig::DEPS)
  set(FUZZ_XLSX_CORPUS ${CMAKE_CURRENT_BINARY_DIR}/fuzz-xlsx-corpus)
  add_test(NAME xlsx_fuzz_brief
    COMMAND ${CMAKE_COMMAND} -E env sh -c
      "mkdir -p '${FUZZ_XLSX_CORPUS}' && exec '$<TARGET_FILE:fuzz_xlsx>' -max_total_time=20 -max_len=65536 -rss_limit_mb=2048 -timeout=10 '${FUZZ_XLSX_CORPUS}' '${CMAKE_CURRENT_SOURCE_DIR}/data/xlsx'")
  set_tests_properties(xlsx_fuzz_brief PROPERTIES LABELS "fuzz;xlsx" TIMEOUT 120)
endif()
