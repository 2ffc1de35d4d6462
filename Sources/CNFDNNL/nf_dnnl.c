#include "nf_dnnl.h"
#include "nf_dnnl_internal.h"

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// The plan layout's block and the activations as oneDNN post-ops: used by the convolutions here
// and by the plan's other operations (nf_dnnl_plan.c, which depends on this file, never the reverse).

int32_t nf_plan_block(void) {
    static int32_t block = 0;
    int32_t known = __atomic_load_n(&block, __ATOMIC_RELAXED);
    if (known) return known;
    const char *chosen = getenv("NFSERVE_PLAN_BLOCK");
    if (chosen && (strcmp(chosen, "8") == 0 || strcmp(chosen, "16") == 0)) {
        known = (int32_t)atoi(chosen);
    } else {
        const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
        known = (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core ? 16 : 8;
    }
    __atomic_store_n(&block, known, __ATOMIC_RELAXED);
    return known;
}

int nf_eltwise_alg(int32_t activation, dnnl_alg_kind_t *alg, float *alpha) {
    *alpha = 0;
    switch (activation) {
    case NF_ACT_RELU: *alg = dnnl_eltwise_relu; return 1;
    case NF_ACT_GELU: *alg = dnnl_eltwise_gelu_erf; return 1;
    case NF_ACT_SILU: *alg = dnnl_eltwise_swish; *alpha = 1; return 1;
    case NF_ACT_SIGMOID: *alg = dnnl_eltwise_logistic; return 1;
    case NF_ACT_TANH: *alg = dnnl_eltwise_tanh; return 1;
    default: return 0;
    }
}

int nf_append_activation(dnnl_post_ops_t post_ops, int32_t activation, float scale, char *err, size_t err_len) {
    dnnl_alg_kind_t alg;
    float alpha;
    if (!nf_eltwise_alg(activation, &alg, &alpha)) {
        snprintf(err, err_len, "unknown activation %d", (int)activation);
        return -1;
    }
    CHECK(dnnl_post_ops_append_eltwise(post_ops, scale, alg, alpha, 0.0f), "activation post-op");
    return 0;
fail:
    return -1;
}

// ---------------------------------------------------------------------------------------------
// One CPU engine for the process, created on first use.

static dnnl_engine_t g_engine = NULL;
static dnnl_status_t g_engine_status = dnnl_success;
static pthread_once_t g_engine_once = PTHREAD_ONCE_INIT;

static void create_engine(void) { g_engine_status = dnnl_engine_create(&g_engine, dnnl_cpu, 0); }

dnnl_engine_t nf_engine(void) {
    pthread_once(&g_engine_once, create_engine);
    return g_engine_status == dnnl_success ? g_engine : NULL;
}


// Each thread keeps its own stream and scratchpad (grown as needed, never shared), so several
// threads may execute the same primitive at once without a per-call allocation.
static _Thread_local dnnl_stream_t tl_stream = NULL;
static _Thread_local void *tl_scratch = NULL;
static _Thread_local size_t tl_scratch_size = 0;

int nf_execute(dnnl_primitive_t prim, const_dnnl_primitive_desc_t pd, dnnl_exec_arg_t *args,
                   int nargs, char *err, size_t err_len) {
    dnnl_memory_t scratch = NULL;
    int rc = -1;
    const dnnl_memory_desc_t *scratch_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t scratch_size = scratch_md ? dnnl_memory_desc_get_size(scratch_md) : 0;
    if (scratch_size > 0) {
        if (scratch_size > tl_scratch_size) {
            size_t size = (scratch_size + 4095) / 4096 * 4096;
            void *grown = aligned_alloc(4096, size);
            if (!grown) {
                snprintf(err, err_len, "out of memory for a %zu-byte oneDNN scratchpad", scratch_size);
                return -1;
            }
            free(tl_scratch);
            tl_scratch = grown;
            tl_scratch_size = size;
        }
        CHECK(dnnl_memory_create(&scratch, scratch_md, nf_engine(), tl_scratch), "scratchpad memory");
        args[nargs].arg = DNNL_ARG_SCRATCHPAD;
        args[nargs].memory = scratch;
        nargs += 1;
    }
    if (!tl_stream) CHECK(dnnl_stream_create(&tl_stream, nf_engine(), dnnl_stream_default_flags), "stream creation");
    CHECK(dnnl_primitive_execute(prim, tl_stream, nargs, args), "execution");
    CHECK(dnnl_stream_wait(tl_stream), "stream wait");
    rc = 0;
fail:
    if (scratch) dnnl_memory_destroy(scratch);
    return rc;
}

// Attributes of every reorder: a user-managed scratchpad, so concurrent calls never share one
// (oneDNN's library-managed scratchpad is not safe for concurrent execution in this build).
static dnnl_primitive_attr_t g_reorder_attr = NULL;
static pthread_once_t g_reorder_attr_once = PTHREAD_ONCE_INIT;

static void make_reorder_attr(void) {
    if (dnnl_primitive_attr_create(&g_reorder_attr) == dnnl_success)
        dnnl_primitive_attr_set_scratchpad_mode(g_reorder_attr, dnnl_scratchpad_mode_user);
}

const_dnnl_primitive_attr_t nf_reorder_attr(void) {
    pthread_once(&g_reorder_attr_once, make_reorder_attr);
    return g_reorder_attr;
}

// Reorders `data` (described by `from`) into a new buffer described by `to`; returns the buffer.
static void *reorder_into(const dnnl_memory_desc_t *from, const void *data,
                          const dnnl_memory_desc_t *to, char *err, size_t err_len) {
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    size_t size = dnnl_memory_desc_get_size(to);
    void *buffer = aligned_alloc(64, (size + 63) / 64 * 64);
    if (!buffer) {
        snprintf(err, err_len, "out of memory for %zu bytes of reordered weights", size);
        return NULL;
    }
    CHECK(dnnl_memory_create(&src, from, nf_engine(), (void *)data), "weight memory");
    CHECK(dnnl_memory_create(&dst, to, nf_engine(), buffer), "reordered weight memory");
    CHECK(dnnl_reorder_primitive_desc_create(&pd, from, nf_engine(), to, nf_engine(), nf_reorder_attr()), "reorder descriptor");
    CHECK(dnnl_primitive_create(&prim, pd), "reorder primitive");
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    if (nf_execute(prim, pd, args, 2, err, err_len) != 0) goto fail;
    dnnl_primitive_destroy(prim);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(src);
    dnnl_memory_destroy(dst);
    return buffer;
fail:
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (src) dnnl_memory_destroy(src);
    if (dst) dnnl_memory_destroy(dst);
    free(buffer);
    return NULL;
}

dnnl_primitive_attr_t nf_user_scratchpad_attr(dnnl_post_ops_t post_ops) {
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (post_ops) dnnl_primitive_attr_set_post_ops(attr, post_ops);
    return attr;
}

// ---------------------------------------------------------------------------------------------
// Convolution

struct nf_dnnl_conv {
    nf_conv_params params;
    int64_t oh, ow;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t src_md, dst_md;             // plain NCHW, as Swift holds activations
    dnnl_memory_desc_t src_blk_md, dst_blk_md;     // the layouts the primitive computes in
    int src_reorder, dst_reorder;                  // whether those differ from NCHW
    dnnl_primitive_desc_t src_reorder_pd, to_blk_dst_pd, from_blk_dst_pd;
    dnnl_primitive_t src_reorder_prim, to_blk_dst_prim, from_blk_dst_prim;
    dnnl_memory_t weights;   // in the primitive's preferred layout
    void *weights_buf;
    dnnl_memory_t bias;      // NULL when the conv has none
    float *bias_buf;
};

void nf_dnnl_conv_destroy(nf_dnnl_conv *c) {
    if (!c) return;
    if (c->prim) dnnl_primitive_destroy(c->prim);
    if (c->pd) dnnl_primitive_desc_destroy(c->pd);
    if (c->src_reorder_prim) dnnl_primitive_destroy(c->src_reorder_prim);
    if (c->src_reorder_pd) dnnl_primitive_desc_destroy(c->src_reorder_pd);
    if (c->to_blk_dst_prim) dnnl_primitive_destroy(c->to_blk_dst_prim);
    if (c->to_blk_dst_pd) dnnl_primitive_desc_destroy(c->to_blk_dst_pd);
    if (c->from_blk_dst_prim) dnnl_primitive_destroy(c->from_blk_dst_prim);
    if (c->from_blk_dst_pd) dnnl_primitive_desc_destroy(c->from_blk_dst_pd);
    if (c->weights) dnnl_memory_destroy(c->weights);
    if (c->bias) dnnl_memory_destroy(c->bias);
    free(c->weights_buf);
    free(c->bias_buf);
    free(c);
}

static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pl, int64_t pr) {
    return (in + pl + pr - d * (k - 1) - 1) / s + 1;
}

static int nf_winograd_allowed(void) {
    const char *setting = getenv("NFSERVE_WINOGRAD");
    return !(setting && strcmp(setting, "0") == 0);
}

// FP32 or bf16 (`output_scales` NULL, float weights; `p->source_type`) or int8 (s8 weights, a
// scale per output channel).
static nf_dnnl_conv *conv_create(const nf_conv_params *p, const void *weights_oihw, const float *bias,
                                 const float *output_scales, char *err, size_t err_len) {
    dnnl_post_ops_t post_ops = NULL;
    dnnl_primitive_attr_t attr = NULL;
    nf_dnnl_conv *c = calloc(1, sizeof(nf_dnnl_conv));
    if (!c) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    if (!nf_engine()) {
        snprintf(err, err_len, "oneDNN CPU engine could not be created");
        goto fail;
    }
    c->params = *p;
    c->oh = conv_out(p->ih, p->kh, p->stride_h, p->dilation_h, p->pad_top, p->pad_bottom);
    c->ow = conv_out(p->iw, p->kw, p->stride_w, p->dilation_w, p->pad_left, p->pad_right);
    if (c->oh <= 0 || c->ow <= 0) {
        snprintf(err, err_len, "input %lldx%lld is too small for a %lldx%lld kernel",
                 (long long)p->ih, (long long)p->iw, (long long)p->kh, (long long)p->kw);
        goto fail;
    }
    const int64_t g = p->groups;
    const int int8 = output_scales != NULL;
    const int bf16 = p->source_type == NF_SOURCE_BF16;
    const dnnl_data_type_t src_dt = bf16 ? dnnl_bf16 : p->source_type == NF_SOURCE_U8 ? dnnl_u8
                                  : p->source_type == NF_SOURCE_S8 ? dnnl_s8 : dnnl_f32;
    // The caller's weights: s8 for int8, else float (rounded to bf16 by the weight reorder).
    const dnnl_data_type_t w_user_dt = int8 ? dnnl_s8 : dnnl_f32;
    const dnnl_data_type_t w_dt = int8 ? dnnl_s8 : bf16 ? dnnl_bf16 : dnnl_f32;
    if (int8 != (src_dt == dnnl_u8 || src_dt == dnnl_s8) || (int8 && p->layout != NF_NHWC)) {
        snprintf(err, err_len, "an int8 convolution reads u8 or s8 activations in the nhwc layout");
        goto fail;
    }
    if (bf16 && p->layout != NF_BLOCKED && p->layout != NF_NHWC) {
        snprintf(err, err_len, "a bf16 convolution reads a plan's activations (blocked or nhwc)");
        goto fail;
    }
    // The destination: FP32, or the next convolution's input format (int8 -> u8/s8, bf16 -> bf16).
    const dnnl_data_type_t dst_dt = p->destination_type == NF_SOURCE_U8 ? dnnl_u8
                                  : p->destination_type == NF_SOURCE_S8 ? dnnl_s8
                                  : p->destination_type == NF_SOURCE_BF16 ? dnnl_bf16 : dnnl_f32;
    const int quantized_dst = dst_dt == dnnl_u8 || dst_dt == dnnl_s8;
    // A sum into a u8 or s8 destination reads the residual there in that type (oneDNN's sum
    // post-op): an int8 plan's residual stream, the residual's step as `sum_scale`.
    if ((quantized_dst && !int8) || (dst_dt == dnnl_bf16 && !bf16) || (dst_dt == dnnl_bf16 && p->sum_scale != 0) ||
        (quantized_dst && !(p->destination_scale > 0 && isfinite(1.0f / p->destination_scale)))) {
        snprintf(err, err_len, "a convolution writes u8 or s8 only from int8, bf16 only from bf16 and without a sum, "
                               "and a quantized destination needs a positive scale");
        goto fail;
    }
    dnnl_dims_t src_dims = {p->n, p->ic, p->ih, p->iw};
    dnnl_dims_t dst_dims = {p->n, p->oc, c->oh, c->ow};
    dnnl_dims_t bias_dims = {p->oc};
    dnnl_memory_desc_t w_any, w_user, bias_md, src_any, dst_any;
    CHECK(dnnl_memory_desc_init_by_tag(&c->src_md, 4, src_dims, dnnl_f32, dnnl_nchw), "source descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&c->dst_md, 4, dst_dims, dnnl_f32, dnnl_nchw), "destination descriptor");
    // Activations may be computed in a blocked layout (nChw8c on AVX2), where oneDNN's JIT
    // direct convolutions run; with plain NCHW it falls back to im2col + GEMM, several times
    // slower. The shim reorders in and out around each call, so Swift keeps NCHW.
    // Exception: a padded 1x1 convolution (never met in real networks) crashes oneDNN 2.6's
    // AVX-512 brgconv_1x1 kernel in the blocked layout; it keeps plain NCHW.
    // In an execution plan the layouts are fixed (nChw16c or nChw8c between steps), and the plan refuses
    // padded 1x1 convolutions.
    const int padded_1x1 = p->kh == 1 && p->kw == 1 && (p->pad_top || p->pad_left || p->pad_bottom || p->pad_right);
    dnnl_format_tag_t src_tag = padded_1x1 ? dnnl_nchw : dnnl_format_tag_any, dst_tag = src_tag;
    if (p->layout == NF_PLAIN_TO_BLOCKED) { src_tag = dnnl_nchw; dst_tag = NF_PLAN_TAG; }
    if (p->layout == NF_BLOCKED) { src_tag = NF_PLAN_TAG; dst_tag = NF_PLAN_TAG; }
    if (p->layout == NF_NHWC) { src_tag = dnnl_nhwc; dst_tag = dnnl_nhwc; }
    if (p->layout != NF_PLAIN && padded_1x1) {
        snprintf(err, err_len, "a padded 1x1 convolution cannot run in the blocked layout");
        goto fail;
    }
    CHECK(dnnl_memory_desc_init_by_tag(&src_any, 4, src_dims, src_dt, src_tag), "source descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&dst_any, 4, dst_dims, dst_dt, dst_tag), "destination descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x), "bias descriptor");
    if (g == 1) {
        dnnl_dims_t w_dims = {p->oc, p->ic, p->kh, p->kw};
        CHECK(dnnl_memory_desc_init_by_tag(&w_user, 4, w_dims, w_user_dt, dnnl_oihw), "weight descriptor");
        CHECK(dnnl_memory_desc_init_by_tag(&w_any, 4, w_dims, w_dt, dnnl_format_tag_any), "weight descriptor");
    } else {
        dnnl_dims_t w_dims = {g, p->oc / g, p->ic / g, p->kh, p->kw};
        CHECK(dnnl_memory_desc_init_by_tag(&w_user, 5, w_dims, w_user_dt, dnnl_goihw), "weight descriptor");
        CHECK(dnnl_memory_desc_init_by_tag(&w_any, 5, w_dims, w_dt, dnnl_format_tag_any), "weight descriptor");
    }
    dnnl_dims_t strides = {p->stride_h, p->stride_w};
    dnnl_dims_t dilates = {p->dilation_h - 1, p->dilation_w - 1};
    dnnl_dims_t pad_l = {p->pad_top, p->pad_left};
    dnnl_dims_t pad_r = {p->pad_bottom, p->pad_right};
    dnnl_convolution_desc_t desc;
    // Inside a plan, a 3x3 stride-1 convolution with at least 64 input and output channels and
    // an output of at least 7x7 runs oneDNN's Winograd kernels where it has one (F(2x2,3x3) or
    // F(4x4,3x3) on AVX-512; others fall back to direct). On resnet50 they take half the time of
    // the direct kernels, which already run at this machine's peak: the pass is 13% (batch 1) to
    // 16% (batch 8) faster. Smaller ones lose (fmnist-resnet-bn's 16-128 channels on 7x7 to 1x1
    // outputs: its pass 25-40% slower with Winograd everywhere; the transforms and the padding of
    // 4x4 tiles outweigh the saved multiplications). Rounding differs from the direct kernels';
    // the parity tests hold the plan to timm's logits with them. NFSERVE_WINOGRAD=0 keeps every
    // convolution direct (to compare).
    dnnl_alg_kind_t alg = dnnl_convolution_direct;
    if (src_dt == dnnl_f32 && p->layout == NF_BLOCKED && g == 1 && p->kh == 3 && p->kw == 3 && p->stride_h == 1 && p->stride_w == 1 &&
        p->dilation_h == 1 && p->dilation_w == 1 && p->ic >= 64 && p->oc >= 64 && c->oh >= 7 && c->ow >= 7 &&
        nf_winograd_allowed())
        alg = dnnl_convolution_winograd;
    CHECK(dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, alg,
                                                     &src_any, &w_any, bias ? &bias_md : NULL, &dst_any,
                                                     strides, dilates, pad_l, pad_r),
          "convolution descriptor");
    const float act_scale = p->activation_scale == 0 ? 1.0f : p->activation_scale;
    if (p->sum_scale != 0 || p->post_activation != NF_ACT_NONE || p->activation != NF_ACT_NONE || act_scale != 1.0f ||
        quantized_dst) {
        CHECK(dnnl_post_ops_create(&post_ops), "post-ops");
        if (p->activation != NF_ACT_NONE) {
            if (nf_append_activation(post_ops, p->activation, act_scale, err, err_len)) goto fail;
        } else if (act_scale != 1.0f) {
            CHECK(dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_linear, act_scale, 0.0f), "scale post-op");
        }
        if (p->sum_scale != 0) CHECK(dnnl_post_ops_append_sum(post_ops, p->sum_scale), "sum post-op");
        if (p->post_activation != NF_ACT_NONE &&
            nf_append_activation(post_ops, p->post_activation, 1.0f, err, err_len)) goto fail;
        // Quantized for the next convolution: divided by its step last (oneDNN then rounds to
        // nearest even and saturates, as the quantization reorder does).
        if (quantized_dst)
            CHECK(dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_linear, 1.0f / p->destination_scale, 0.0f),
                  "quantization post-op");
    }
    attr = nf_user_scratchpad_attr(post_ops);
    if (!attr) {
        snprintf(err, err_len, "oneDNN attribute creation failed");
        goto fail;
    }
    if (int8) CHECK(dnnl_primitive_attr_set_output_scales(attr, p->oc, 1 << 1, output_scales), "output scales");
    // Winograd where oneDNN implements it for this shape and these post-ops, else direct.
    if (alg != dnnl_convolution_direct && dnnl_primitive_desc_create(&c->pd, &desc, attr, nf_engine(), NULL) != dnnl_success) {
        c->pd = NULL;
        CHECK(dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct,
                                                         &src_any, &w_any, bias ? &bias_md : NULL, &dst_any,
                                                         strides, dilates, pad_l, pad_r),
              "convolution descriptor");
    }
    if (!c->pd) CHECK(dnnl_primitive_desc_create(&c->pd, &desc, attr, nf_engine(), NULL), "convolution primitive descriptor");
    CHECK(dnnl_primitive_create(&c->prim, c->pd), "convolution primitive");
    c->src_blk_md = *dnnl_primitive_desc_query_md(c->pd, dnnl_query_src_md, 0);
    c->dst_blk_md = *dnnl_primitive_desc_query_md(c->pd, dnnl_query_dst_md, 0);
    if (p->layout != NF_PLAIN) {
        // The caller's buffers are already in the primitive's layouts: no reorders around it.
        c->src_md = c->src_blk_md;
        c->dst_md = c->dst_blk_md;
    }
    c->src_reorder = !dnnl_memory_desc_equal(&c->src_blk_md, &c->src_md);
    c->dst_reorder = !dnnl_memory_desc_equal(&c->dst_blk_md, &c->dst_md);
    if (c->src_reorder) {
        CHECK(dnnl_reorder_primitive_desc_create(&c->src_reorder_pd, &c->src_md, nf_engine(), &c->src_blk_md, nf_engine(), nf_reorder_attr()), "source reorder");
        CHECK(dnnl_primitive_create(&c->src_reorder_prim, c->src_reorder_pd), "source reorder");
    }
    if (c->dst_reorder) {
        CHECK(dnnl_reorder_primitive_desc_create(&c->from_blk_dst_pd, &c->dst_blk_md, nf_engine(), &c->dst_md, nf_engine(), nf_reorder_attr()), "destination reorder");
        CHECK(dnnl_primitive_create(&c->from_blk_dst_prim, c->from_blk_dst_pd), "destination reorder");
        CHECK(dnnl_reorder_primitive_desc_create(&c->to_blk_dst_pd, &c->dst_md, nf_engine(), &c->dst_blk_md, nf_engine(), nf_reorder_attr()), "residual reorder");
        CHECK(dnnl_primitive_create(&c->to_blk_dst_prim, c->to_blk_dst_pd), "residual reorder");
    }
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(c->pd, dnnl_query_weights_md, 0);
    c->weights_buf = reorder_into(&w_user, weights_oihw, w_md, err, err_len);
    if (!c->weights_buf) goto fail;
    CHECK(dnnl_memory_create(&c->weights, w_md, nf_engine(), c->weights_buf), "weight memory");
    if (bias) {
        c->bias_buf = malloc(sizeof(float) * (size_t)p->oc);
        if (!c->bias_buf) {
            snprintf(err, err_len, "out of memory");
            goto fail;
        }
        memcpy(c->bias_buf, bias, sizeof(float) * (size_t)p->oc);
        CHECK(dnnl_memory_create(&c->bias, &bias_md, nf_engine(), c->bias_buf), "bias memory");
    }
    if (post_ops) dnnl_post_ops_destroy(post_ops);
    dnnl_primitive_attr_destroy(attr);
    return c;
fail:
    if (post_ops) dnnl_post_ops_destroy(post_ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    nf_dnnl_conv_destroy(c);
    return NULL;
}

// Convolutions are created one at a time. oneDNN 2.6 on AVX-512 VNNI CPUs gave wrong int8 results
// (SQNR -3 to 6 dB instead of 20-40 on the parity fixtures, about one run in three) when several
// threads created int8 convolutions with signed sources at once, with its primitive cache on (off,
// or one creation at a time, or without VNNI, never; executing created ones concurrently, never):
// its cache shares what identical creations build. Creation is rare (once per layer and input
// shape), so the lock costs nothing per pass.
static pthread_mutex_t g_create_lock = PTHREAD_MUTEX_INITIALIZER;

static nf_dnnl_conv *conv_create_locked(const nf_conv_params *p, const void *weights_oihw, const float *bias,
                                        const float *output_scales, char *err, size_t err_len) {
    pthread_mutex_lock(&g_create_lock);
    nf_dnnl_conv *c = conv_create(p, weights_oihw, bias, output_scales, err, err_len);
    pthread_mutex_unlock(&g_create_lock);
    return c;
}

nf_dnnl_conv *nf_dnnl_conv_create(const nf_conv_params *p, const float *weights_oihw,
                                  const float *bias, char *err, size_t err_len) {
    return conv_create_locked(p, weights_oihw, bias, NULL, err, err_len);
}

nf_dnnl_conv *nf_dnnl_conv_create_int8(const nf_conv_params *p, const int8_t *weights_oihw, const float *bias,
                                       const float *output_scales, char *err, size_t err_len) {
    if (!output_scales) {
        snprintf(err, err_len, "an int8 convolution needs its output scales");
        return NULL;
    }
    return conv_create_locked(p, weights_oihw, bias, output_scales, err, err_len);
}

int nf_dnnl_conv_share_weights(nf_dnnl_conv *c, const nf_dnnl_conv *donor) {
    const dnnl_memory_desc_t *mine = dnnl_primitive_desc_query_md(c->pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *theirs = dnnl_primitive_desc_query_md(donor->pd, dnnl_query_weights_md, 0);
    if (!c->weights_buf || !donor->weights_buf || !dnnl_memory_desc_equal(mine, theirs)) return 0;
    if (dnnl_memory_set_data_handle(c->weights, donor->weights_buf) != dnnl_success) return 0;
    free(c->weights_buf);
    c->weights_buf = NULL;   // the donor owns the buffer and must outlive this handle
    return 1;
}

void nf_dnnl_conv_output_size(const nf_dnnl_conv *c, int64_t *oh, int64_t *ow) {
    *oh = c->oh;
    *ow = c->ow;
}

// Runs `prim` (a reorder) from `from` to `to`, both user buffers.
static int run_reorder(dnnl_primitive_t prim, const_dnnl_primitive_desc_t pd, const dnnl_memory_desc_t *from_md,
                       const void *from, const dnnl_memory_desc_t *to_md, void *to, char *err, size_t err_len) {
    dnnl_memory_t a = NULL, b = NULL;
    int rc = -1;
    CHECK(dnnl_memory_create(&a, from_md, nf_engine(), (void *)from), "reorder source");
    CHECK(dnnl_memory_create(&b, to_md, nf_engine(), to), "reorder destination");
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_FROM, a}, {DNNL_ARG_TO, b}};
    rc = nf_execute(prim, pd, args, 2, err, err_len);
fail:
    if (a) dnnl_memory_destroy(a);
    if (b) dnnl_memory_destroy(b);
    return rc;
}

int nf_dnnl_conv_execute(const nf_dnnl_conv *c, const void *src, float *dst, char *err, size_t err_len) {
    dnnl_memory_t src_mem = NULL, dst_mem = NULL;
    void *src_blk = NULL, *dst_blk = NULL;
    int rc = -1;
    const void *conv_src = src;
    void *conv_dst = dst;
    if (c->src_reorder) {
        size_t size = dnnl_memory_desc_get_size(&c->src_blk_md);
        src_blk = aligned_alloc(64, (size + 63) / 64 * 64);
        if (!src_blk) { snprintf(err, err_len, "out of memory"); goto fail; }
        if (run_reorder(c->src_reorder_prim, c->src_reorder_pd, &c->src_md, src, &c->src_blk_md, src_blk, err, err_len)) goto fail;
        conv_src = src_blk;
    }
    if (c->dst_reorder) {
        size_t size = dnnl_memory_desc_get_size(&c->dst_blk_md);
        dst_blk = aligned_alloc(64, (size + 63) / 64 * 64);
        if (!dst_blk) { snprintf(err, err_len, "out of memory"); goto fail; }
        // A fused sum reads the residual from dst: bring it into the blocked layout first.
        if (c->params.sum_scale != 0 &&
            run_reorder(c->to_blk_dst_prim, c->to_blk_dst_pd, &c->dst_md, dst, &c->dst_blk_md, dst_blk, err, err_len)) goto fail;
        conv_dst = dst_blk;
    }
    CHECK(dnnl_memory_create(&src_mem, &c->src_blk_md, nf_engine(), (void *)conv_src), "source memory");
    CHECK(dnnl_memory_create(&dst_mem, &c->dst_blk_md, nf_engine(), conv_dst), "destination memory");
    dnnl_exec_arg_t args[5] = {
        {DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, c->weights}, {DNNL_ARG_DST, dst_mem}};
    int nargs = 3;
    if (c->bias) args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, c->bias};
    if (nf_execute(c->prim, c->pd, args, nargs, err, err_len)) goto fail;
    if (c->dst_reorder &&
        run_reorder(c->from_blk_dst_prim, c->from_blk_dst_pd, &c->dst_blk_md, dst_blk, &c->dst_md, dst, err, err_len)) goto fail;
    rc = 0;
fail:
    if (src_mem) dnnl_memory_destroy(src_mem);
    if (dst_mem) dnnl_memory_destroy(dst_mem);
    free(src_blk);
    free(dst_blk);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Inner product (linear)

struct nf_dnnl_linear {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t src_md, dst_md;
    dnnl_memory_t weights;
    void *weights_buf;
    dnnl_memory_t bias;
    float *bias_buf;
};

void nf_dnnl_linear_destroy(nf_dnnl_linear *l) {
    if (!l) return;
    if (l->prim) dnnl_primitive_destroy(l->prim);
    if (l->pd) dnnl_primitive_desc_destroy(l->pd);
    if (l->weights) dnnl_memory_destroy(l->weights);
    if (l->bias) dnnl_memory_destroy(l->bias);
    free(l->weights_buf);
    free(l->bias_buf);
    free(l);
}

nf_dnnl_linear *nf_dnnl_linear_create(int64_t n, int64_t in_features, int64_t out_features,
                                      const float *weights_oi, const float *bias, char *err, size_t err_len) {
    dnnl_primitive_attr_t attr = NULL;
    nf_dnnl_linear *l = calloc(1, sizeof(nf_dnnl_linear));
    if (!l) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    if (!nf_engine()) {
        snprintf(err, err_len, "oneDNN CPU engine could not be created");
        goto fail;
    }
    dnnl_dims_t src_dims = {n, in_features};
    dnnl_dims_t w_dims = {out_features, in_features};
    dnnl_dims_t dst_dims = {n, out_features};
    dnnl_dims_t bias_dims = {out_features};
    dnnl_memory_desc_t w_user, w_any, bias_md;
    CHECK(dnnl_memory_desc_init_by_tag(&l->src_md, 2, src_dims, dnnl_f32, dnnl_nc), "source descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&l->dst_md, 2, dst_dims, dnnl_f32, dnnl_nc), "destination descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&w_user, 2, w_dims, dnnl_f32, dnnl_oi), "weight descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&w_any, 2, w_dims, dnnl_f32, dnnl_format_tag_any), "weight descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x), "bias descriptor");
    dnnl_inner_product_desc_t desc;
    CHECK(dnnl_inner_product_forward_desc_init(&desc, dnnl_forward_inference, &l->src_md, &w_any,
                                               bias ? &bias_md : NULL, &l->dst_md),
          "inner product descriptor");
    attr = nf_user_scratchpad_attr(NULL);
    if (!attr) {
        snprintf(err, err_len, "oneDNN attribute creation failed");
        goto fail;
    }
    CHECK(dnnl_primitive_desc_create(&l->pd, &desc, attr, nf_engine(), NULL), "inner product primitive descriptor");
    CHECK(dnnl_primitive_create(&l->prim, l->pd), "inner product primitive");
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(l->pd, dnnl_query_weights_md, 0);
    l->weights_buf = reorder_into(&w_user, weights_oi, w_md, err, err_len);
    if (!l->weights_buf) goto fail;
    CHECK(dnnl_memory_create(&l->weights, w_md, nf_engine(), l->weights_buf), "weight memory");
    if (bias) {
        l->bias_buf = malloc(sizeof(float) * (size_t)out_features);
        if (!l->bias_buf) {
            snprintf(err, err_len, "out of memory");
            goto fail;
        }
        memcpy(l->bias_buf, bias, sizeof(float) * (size_t)out_features);
        CHECK(dnnl_memory_create(&l->bias, &bias_md, nf_engine(), l->bias_buf), "bias memory");
    }
    dnnl_primitive_attr_destroy(attr);
    return l;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    nf_dnnl_linear_destroy(l);
    return NULL;
}

int nf_dnnl_linear_execute(const nf_dnnl_linear *l, const float *src, float *dst, char *err, size_t err_len) {
    dnnl_memory_t src_mem = NULL, dst_mem = NULL;
    int rc = -1;
    CHECK(dnnl_memory_create(&src_mem, &l->src_md, nf_engine(), (void *)src), "source memory");
    CHECK(dnnl_memory_create(&dst_mem, &l->dst_md, nf_engine(), dst), "destination memory");
    dnnl_exec_arg_t args[5] = {
        {DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, l->weights}, {DNNL_ARG_DST, dst_mem}};
    int nargs = 3;
    if (l->bias) args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, l->bias};
    rc = nf_execute(l->prim, l->pd, args, nargs, err, err_len);
fail:
    if (src_mem) dnnl_memory_destroy(src_mem);
    if (dst_mem) dnnl_memory_destroy(dst_mem);
    return rc;
}

const char *nf_dnnl_version(void) {
    static char text[64];
    const dnnl_version_t *v = dnnl_version();
    snprintf(text, sizeof text, "%d.%d.%d", v->major, v->minor, v->patch);
    return text;
}
