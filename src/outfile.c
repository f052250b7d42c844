/* isynth_outfile: the public face of atomic_open/atomic_commit (util.c), for callers that write
 * their own bytes but must replace a file the way the library does. */
#include "isynth/outfile.h"

#include "internal.h"

struct isynth_outfile {
    atomic_file af;
};

isynth_err isynth_outfile_open(const char *path, isynth_outfile **out, isynth_error *err)
{
    *out = NULL;
    isynth_outfile *o = isynth_calloc(1, sizeof *o);
    if (!o) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
    isynth_err rc = atomic_open(&o->af, path, err);
    if (rc) {
        isynth_free(o);
        return rc;
    }
    *out = o;
    return ISYNTH_OK;
}

FILE *isynth_outfile_stream(isynth_outfile *o)
{
    return o->af.f;
}

isynth_err isynth_outfile_commit(isynth_outfile *o, isynth_error *err)
{
    isynth_err rc = atomic_commit(&o->af, err);
    isynth_free(o);
    return rc;
}

void isynth_outfile_abort(isynth_outfile *o)
{
    if (!o) return;
    atomic_abort(&o->af);
    isynth_free(o);
}
