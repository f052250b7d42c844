/* Benchmark helper: reads every row of every sheet of a workbook with isynth's reader and
 * prints rows, cells and text bytes, so the driver (run.py) can time it against Python readers
 * doing the same walk. */
#include "isynth/xlsx.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_xlsx_read FILE.xlsx\n");
        return 2;
    }
    isynth_error err = {0};
    isynth_xlsx_reader *r;
    if (isynth_xlsx_reader_open(argv[1], NULL, &r, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    size_t rows = 0, cells = 0, bytes = 0;
    for (size_t s = 0; s < isynth_xlsx_sheet_count(r); s++) {
        if (isynth_xlsx_open_sheet(r, isynth_xlsx_sheet_name(r, s), &err)) break;
        const isynth_xlsx_row *row;
        while (!isynth_xlsx_next_row(r, &row, &err) && row) {
            rows++;
            for (size_t c = 0; c < row->ncells; c++) {
                cells += row->lens[c] > 0;
                bytes += row->lens[c];
            }
        }
    }
    isynth_xlsx_reader_close(r);
    if (err.code) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("%zu rows %zu cells %zu bytes\n", rows, cells, bytes);
    return 0;
}
