/* libFuzzer target for the workbook reader: arbitrary bytes as an .xlsx, every sheet read to the
 * end. Any crash, leak, hang or sanitizer report is a bug; errors are the expected outcome.
 * Built only with -DISYNTH_FUZZ=ON (clang); see tests/xlsx.cmake and docs/xlsx.md. */
#include "isynth/xlsx.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    isynth_xlsx_reader_params p = isynth_xlsx_reader_params_default();
    p.max_entry_bytes = 8u << 20;
    p.max_total_bytes = 32u << 20;
    p.max_strings_bytes = 8u << 20;
    isynth_xlsx_reader *r;
    if (isynth_xlsx_reader_open_mem(data, size, &p, &r, NULL)) return 0;
    for (size_t i = 0; i < isynth_xlsx_sheet_count(r); i++) {
        if (isynth_xlsx_open_sheet(r, isynth_xlsx_sheet_name(r, i), NULL)) continue;
        const isynth_xlsx_row *row;
        size_t sum = 0;
        while (!isynth_xlsx_next_row(r, &row, NULL) && row)
            for (size_t c = 0; c < row->ncells; c++)
                sum += row->lens[c] + (size_t)(row->cells[c][row->lens[c]] == '\0');
        (void)sum;
    }
    isynth_xlsx_reader_close(r);
    return 0;
}
