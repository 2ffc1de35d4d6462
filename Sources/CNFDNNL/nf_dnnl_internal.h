// What nf_dnnl.c gives nf_dnnl_plan.c (not part of the Swift-visible surface in include/): the
// plan file depends on nf_dnnl.c through this header, never the reverse.
#ifndef NF_DNNL_INTERNAL_H
#define NF_DNNL_INTERNAL_H

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <stdio.h>

#define CHECK(call, what)                                                                    \
    do {                                                                                     \
        dnnl_status_t status_ = (call);                                                      \
        if (status_ != dnnl_success) {                                                       \
            snprintf(err, err_len, "oneDNN %s failed: %s", what, dnnl_status2str(status_)); \
            goto fail;                                                                       \
        }                                                                                    \
    } while (0)

/// The layout of activations inside an execution plan (see nf_dnnl.h): nChw16c where the CPU
/// has AVX-512, nChw8c elsewhere (`nf_plan_block`). Channels-last (nhwc, where oneDNN picks its
/// brgemm convolutions) measured 1-5% slower on resnet50, nf_resnet50 and dm_nfnet_f0 at batch 1
/// and 8 on AVX-512, and its first convolution from a plain NCHW input fell back to the
/// reference kernel.
#define NF_PLAN_TAG (nf_plan_block() == 16 ? dnnl_nChw16c : dnnl_nChw8c)
/// The oneDNN tag of a plan layout (an nf_plan_layout).
#define NF_LAYOUT_TAG(layout) ((layout) == NF_LAYOUT_NHWC ? dnnl_nhwc : NF_PLAN_TAG)

/// The process's one CPU engine (NULL if it could not be created).
dnnl_engine_t nf_engine(void);
/// Runs `prim` on the calling thread's stream with the thread's scratchpad (`args` needs one
/// free slot for it), so that several threads may execute the same primitive at once.
int nf_execute(dnnl_primitive_t prim, const_dnnl_primitive_desc_t pd, dnnl_exec_arg_t *args, int nargs,
               char *err, size_t err_len);
/// Attributes with a user-managed scratchpad (and `post_ops` when not NULL); the caller destroys them.
dnnl_primitive_attr_t nf_user_scratchpad_attr(dnnl_post_ops_t post_ops);
/// The shared attributes of every reorder (user-managed scratchpad).
const_dnnl_primitive_attr_t nf_reorder_attr(void);
/// oneDNN's eltwise algorithm and alpha for an `nf_activation`; 0 when unknown.
int nf_eltwise_alg(int32_t activation, dnnl_alg_kind_t *alg, float *alpha);
/// Appends `activation(x) * scale` to `post_ops`; nonzero (with a message in err) on failure.
int nf_append_activation(dnnl_post_ops_t post_ops, int32_t activation, float scale, char *err, size_t err_len);

#endif
