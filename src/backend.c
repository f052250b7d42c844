/* The backend handle: a table of operations over an implementation (llama.cpp or HTTP), so
 * the pipeline drives either the same way. */
#include "isynth/backend.h"

#include <string.h>

struct isynth_backend {
    const isynth_backend_ops *ops;
    void *impl;
};

isynth_err isynth_backend_wrap(const isynth_backend_ops *ops, void *impl, isynth_backend **out)
{
    *out = isynth_calloc(1, sizeof **out);
    if (!*out) return ISYNTH_ERR_NOMEM;
    (*out)->ops = ops;
    (*out)->impl = impl;
    return ISYNTH_OK;
}

size_t isynth_backend_capacity(isynth_backend *b)
{
    return b->ops->capacity(b->impl);
}

size_t isynth_backend_in_flight(isynth_backend *b)
{
    return b->ops->in_flight(b->impl);
}

isynth_err isynth_backend_submit(isynth_backend *b, const isynth_gen_req *req, isynth_error *err)
{
    return b->ops->submit(b->impl, req, err);
}

isynth_err isynth_backend_step(isynth_backend *b, isynth_gen_cb cb, void *user, isynth_error *err)
{
    return b->ops->step(b->impl, cb, user, err);
}

void isynth_backend_info_get(isynth_backend *b, isynth_backend_info *out)
{
    memset(out, 0, sizeof *out);
    b->ops->info(b->impl, out);
}

void isynth_backend_stats_get(isynth_backend *b, isynth_backend_stats *out)
{
    memset(out, 0, sizeof *out);
    b->ops->stats(b->impl, out);
}

void isynth_backend_free(isynth_backend *b)
{
    if (!b) return;
    b->ops->free(b->impl);
    isynth_free(b);
}
