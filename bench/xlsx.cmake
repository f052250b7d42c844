# Workbook benchmark (issue 9): 100,000 rows of Japanese text written and read by isynth and by
# the Python tools a user would otherwise pick (openpyxl, XlsxWriter, python-calamine), side by
# side, seconds and peak memory. Run with `make bench-xlsx` (needs ISYNTH_PYTHON with those
# packages; scripts/setup.sh installs them). BENCH_XLSX_ROWS overrides the row count.
add_executable(bench_xlsx_read ${CMAKE_CURRENT_SOURCE_DIR}/xlsx/read.c)
target_link_libraries(bench_xlsx_read PRIVATE isynth)
set(BENCH_XLSX_ROWS 100000 CACHE STRING "rows for make bench-xlsx")
add_custom_target(bench-xlsx
  COMMAND ${ISYNTH_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/xlsx/run.py
          --isynth $<TARGET_FILE:isynth-cli> --reader $<TARGET_FILE:bench_xlsx_read>
          --rows ${BENCH_XLSX_ROWS} --work ${CMAKE_BINARY_DIR}/bench-xlsx
  DEPENDS isynth-cli bench_xlsx_read
  USES_TERMINAL
  COMMENT "xlsx benchmark: isynth vs openpyxl, XlsxWriter, python-calamine")
