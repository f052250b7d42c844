/* isynth: synthesis of instruction-tuning data. Including this header brings the whole
 * public API. */
#ifndef ISYNTH_ISYNTH_H
#define ISYNTH_ISYNTH_H

#include "isynth/common.h"
#include "isynth/task.h"
#include "isynth/seeds.h"
#include "isynth/parse.h"
#include "isynth/backend.h"
#include "isynth/xlsx.h"
#include "isynth/table.h"
#include "isynth/jsonl.h"
#include "isynth/outfile.h"
#include "isynth/review.h"
#include "isynth/openai.h"
#include "isynth/rouge.h"
#include "isynth/quality.h"
#include "isynth/normalize.h"
#include "isynth/prompt.h"
#include "isynth/filter.h"
#include "isynth/pipeline.h"
#include "isynth/judge.h"
#include "isynth/export.h"
#include "isynth/consistency.h"
#include "isynth/checks.h"
#include "isynth/verify.h"
#include "isynth/check.h"
#include "isynth/store.h"
#include "isynth/status.h"
#include "isynth/report.h"

#endif
