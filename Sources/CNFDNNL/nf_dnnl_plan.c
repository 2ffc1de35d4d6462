// The operations of an execution plan other than convolutions: reorders at its ends, pooling,
// activations, BatchNorm (kept unfused where a diagnostic observes its input), the residual add,
// and channel attention's gate. All run on blocked buffers (nChw16c or nChw8c) the caller owns.
#define _GNU_SOURCE
#include "nf_dnnl.h"
#include "nf_dnnl_internal.h"

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum op_kind { OP_UNARY, OP_BINARY, OP_BATCHNORM };

struct nf_dnnl_op {
    enum op_kind kind;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t src_md, dst_md;
    dnnl_memory_t mean, variance, scale, shift;   // BatchNorm only
    float *stats;                                  // their storage: 4 x channels
};

int64_t nf_blocked_count(int32_t layout, int64_t n, int64_t c, int64_t h, int64_t w) {
    if (layout == NF_LAYOUT_NHWC) return n * c * h * w;
    const int64_t b = nf_plan_block();
    return n * ((c + b - 1) / b * b) * h * w;
}

void nf_dnnl_op_destroy(nf_dnnl_op *op) {
    if (!op) return;
    if (op->prim) dnnl_primitive_destroy(op->prim);
    if (op->pd) dnnl_primitive_desc_destroy(op->pd);
    if (op->mean) dnnl_memory_destroy(op->mean);
    if (op->variance) dnnl_memory_destroy(op->variance);
    if (op->scale) dnnl_memory_destroy(op->scale);
    if (op->shift) dnnl_memory_destroy(op->shift);
    free(op->stats);
    free(op);
}

static nf_dnnl_op *new_op(enum op_kind kind, char *err, size_t err_len) {
    nf_dnnl_op *op = calloc(1, sizeof(nf_dnnl_op));
    if (!op) snprintf(err, err_len, "out of memory");
    else if (!nf_engine()) {
        snprintf(err, err_len, "oneDNN CPU engine could not be created");
        free(op);
        return NULL;
    } else op->kind = kind;
    return op;
}

// Makes the primitive from an operation descriptor with a user scratchpad (and post-ops).
static int finish(nf_dnnl_op *op, const void *desc, dnnl_post_ops_t post_ops, char *err, size_t err_len) {
    int rc = -1;
    dnnl_primitive_attr_t attr = nf_user_scratchpad_attr(post_ops);
    if (!attr) {
        snprintf(err, err_len, "oneDNN attribute creation failed");
        return -1;
    }
    CHECK(dnnl_primitive_desc_create(&op->pd, desc, attr, nf_engine(), NULL), "primitive descriptor");
    CHECK(dnnl_primitive_create(&op->prim, op->pd), "primitive");
    op->src_md = *dnnl_primitive_desc_query_md(op->pd, dnnl_query_src_md, 0);
    op->dst_md = *dnnl_primitive_desc_query_md(op->pd, dnnl_query_dst_md, 0);
    rc = 0;
fail:
    dnnl_primitive_attr_destroy(attr);
    return rc;
}

nf_dnnl_op *nf_dnnl_reorder_create(int32_t layout, int64_t n, int64_t c, int64_t h, int64_t w, int32_t to_blocked,
                                   char *err, size_t err_len) {
    nf_dnnl_op *op = new_op(OP_UNARY, err, err_len);
    if (!op) return NULL;
    dnnl_dims_t dims = {n, c, h, w};
    dnnl_memory_desc_t plain, blocked;
    CHECK(dnnl_memory_desc_init_by_tag(&plain, 4, dims, dnnl_f32, dnnl_nchw), "plain descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&blocked, 4, dims, dnnl_f32, NF_LAYOUT_TAG(layout)), "blocked descriptor");
    op->src_md = to_blocked ? plain : blocked;
    op->dst_md = to_blocked ? blocked : plain;
    CHECK(dnnl_reorder_primitive_desc_create(&op->pd, &op->src_md, nf_engine(), &op->dst_md, nf_engine(),
                                             nf_reorder_attr()), "reorder descriptor");
    CHECK(dnnl_primitive_create(&op->prim, op->pd), "reorder primitive");
    return op;
fail:
    nf_dnnl_op_destroy(op);
    return NULL;
}

nf_dnnl_op *nf_dnnl_pool_create(int32_t layout, int64_t n, int64_t c, int64_t ih, int64_t iw, int64_t kernel, int64_t stride,
                                int64_t pad_top, int64_t pad_left, int64_t pad_bottom, int64_t pad_right,
                                int32_t average, int32_t element, char *err, size_t err_len) {
    const dnnl_data_type_t dt = element == NF_SOURCE_U8 ? dnnl_u8 : element == NF_SOURCE_S8 ? dnnl_s8 : dnnl_f32;
    if ((dt != dnnl_f32 && (average || NF_LAYOUT_TAG(layout) != dnnl_nhwc)) || (dt == dnnl_f32 && element != NF_SOURCE_F32)) {
        snprintf(err, err_len, "pooling takes FP32, or u8 and s8 levels (channels-last, max pooling only)");
        return NULL;
    }
    nf_dnnl_op *op = new_op(OP_UNARY, err, err_len);
    if (!op) return NULL;
    const int64_t oh = (ih + pad_top + pad_bottom - kernel) / stride + 1;
    const int64_t ow = (iw + pad_left + pad_right - kernel) / stride + 1;
    dnnl_dims_t src_dims = {n, c, ih, iw}, dst_dims = {n, c, oh, ow};
    dnnl_dims_t strides = {stride, stride}, kernels = {kernel, kernel};
    dnnl_dims_t pad_l = {pad_top, pad_left}, pad_r = {pad_bottom, pad_right};
    dnnl_memory_desc_t src, dst;
    dnnl_pooling_desc_t desc;
    CHECK(dnnl_memory_desc_init_by_tag(&src, 4, src_dims, dt, NF_LAYOUT_TAG(layout)), "source descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&dst, 4, dst_dims, dt, NF_LAYOUT_TAG(layout)), "destination descriptor");
    CHECK(dnnl_pooling_forward_desc_init(&desc, dnnl_forward_inference,
                                         average ? dnnl_pooling_avg_exclude_padding : dnnl_pooling_max,
                                         &src, &dst, strides, kernels, pad_l, pad_r), "pooling descriptor");
    if (finish(op, &desc, NULL, err, err_len)) goto fail;
    return op;
fail:
    nf_dnnl_op_destroy(op);
    return NULL;
}

nf_dnnl_op *nf_dnnl_eltwise_create(int32_t layout, int64_t n, int64_t c, int64_t h, int64_t w, int32_t activation,
                                   char *err, size_t err_len) {
    nf_dnnl_op *op = new_op(OP_UNARY, err, err_len);
    if (!op) return NULL;
    dnnl_alg_kind_t alg;
    float alpha;
    if (!nf_eltwise_alg(activation, &alg, &alpha)) {
        snprintf(err, err_len, "unknown activation %d", (int)activation);
        goto fail;
    }
    dnnl_dims_t dims = {n, c, h, w};
    dnnl_memory_desc_t md;
    dnnl_eltwise_desc_t desc;
    CHECK(dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, NF_LAYOUT_TAG(layout)), "descriptor");
    CHECK(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, alg, &md, alpha, 0.0f), "eltwise descriptor");
    if (finish(op, &desc, NULL, err, err_len)) goto fail;
    return op;
fail:
    nf_dnnl_op_destroy(op);
    return NULL;
}

nf_dnnl_op *nf_dnnl_batchnorm_create(int32_t layout, int64_t n, int64_t c, int64_t h, int64_t w, const float *mean,
                                     const float *variance, const float *scale, const float *shift, float eps,
                                     int32_t relu, char *err, size_t err_len) {
    nf_dnnl_op *op = new_op(OP_BATCHNORM, err, err_len);
    if (!op) return NULL;
    dnnl_dims_t dims = {n, c, h, w}, cdims = {c};
    dnnl_memory_desc_t md, cmd;
    dnnl_batch_normalization_desc_t desc;
    CHECK(dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, NF_LAYOUT_TAG(layout)), "descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&cmd, 1, cdims, dnnl_f32, dnnl_x), "channel descriptor");
    unsigned flags = dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift | (relu ? dnnl_fuse_norm_relu : 0);
    CHECK(dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_inference, &md, eps, flags),
          "batchnorm descriptor");
    if (finish(op, &desc, NULL, err, err_len)) goto fail;
    op->stats = malloc(sizeof(float) * 4 * (size_t)c);
    if (!op->stats) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    memcpy(op->stats, mean, sizeof(float) * (size_t)c);
    memcpy(op->stats + c, variance, sizeof(float) * (size_t)c);
    memcpy(op->stats + 2 * c, scale, sizeof(float) * (size_t)c);
    memcpy(op->stats + 3 * c, shift, sizeof(float) * (size_t)c);
    CHECK(dnnl_memory_create(&op->mean, &cmd, nf_engine(), op->stats), "mean memory");
    CHECK(dnnl_memory_create(&op->variance, &cmd, nf_engine(), op->stats + c), "variance memory");
    CHECK(dnnl_memory_create(&op->scale, &cmd, nf_engine(), op->stats + 2 * c), "scale memory");
    CHECK(dnnl_memory_create(&op->shift, &cmd, nf_engine(), op->stats + 3 * c), "shift memory");
    return op;
fail:
    nf_dnnl_op_destroy(op);
    return NULL;
}

nf_dnnl_op *nf_dnnl_add_create(int32_t layout, int64_t n, int64_t c, int64_t h, int64_t w, int32_t relu, char *err, size_t err_len) {
    dnnl_post_ops_t post_ops = NULL;
    nf_dnnl_op *op = new_op(OP_BINARY, err, err_len);
    if (!op) return NULL;
    dnnl_dims_t dims = {n, c, h, w};
    dnnl_memory_desc_t md;
    dnnl_binary_desc_t desc;
    CHECK(dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, NF_LAYOUT_TAG(layout)), "descriptor");
    CHECK(dnnl_binary_desc_init(&desc, dnnl_binary_add, &md, &md, &md), "binary descriptor");
    if (relu) {
        CHECK(dnnl_post_ops_create(&post_ops), "post-ops");
        if (nf_append_activation(post_ops, NF_ACT_RELU, 1.0f, err, err_len)) goto fail;
    }
    if (finish(op, &desc, post_ops, err, err_len)) goto fail;
    if (post_ops) dnnl_post_ops_destroy(post_ops);
    return op;
fail:
    if (post_ops) dnnl_post_ops_destroy(post_ops);
    nf_dnnl_op_destroy(op);
    return NULL;
}

// A reorder from `from_type` in `from_tag` to `to_type` in `to_tag`, multiplied by `scale` on
// the way where it is not NULL: a quantization, a dequantization or a bf16 rounding.
static nf_dnnl_op *converting_reorder(int64_t n, int64_t c, int64_t h, int64_t w, dnnl_data_type_t from_type,
                                      dnnl_format_tag_t from_tag, dnnl_data_type_t to_type, dnnl_format_tag_t to_tag,
                                      const float *scale, const char *what, char *err, size_t err_len) {
    dnnl_primitive_attr_t attr = NULL;
    nf_dnnl_op *op = new_op(OP_UNARY, err, err_len);
    if (!op) return NULL;
    dnnl_dims_t dims = {n, c, h, w};
    CHECK(dnnl_memory_desc_init_by_tag(&op->src_md, 4, dims, from_type, from_tag), "source descriptor");
    CHECK(dnnl_memory_desc_init_by_tag(&op->dst_md, 4, dims, to_type, to_tag), what);
    CHECK(dnnl_primitive_attr_create(&attr), "attributes");
    CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode");
    if (scale) CHECK(dnnl_primitive_attr_set_output_scales(attr, 1, 0, scale), "quantization scale");
    CHECK(dnnl_reorder_primitive_desc_create(&op->pd, &op->src_md, nf_engine(), &op->dst_md, nf_engine(), attr), what);
    CHECK(dnnl_primitive_create(&op->prim, op->pd), what);
    dnnl_primitive_attr_destroy(attr);
    return op;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    nf_dnnl_op_destroy(op);
    return NULL;
}

nf_dnnl_op *nf_dnnl_quantize_create(int64_t n, int64_t c, int64_t h, int64_t w, float scale, int32_t is_signed,
                                    int32_t from_plain, char *err, size_t err_len) {
    return converting_reorder(n, c, h, w, dnnl_f32, from_plain ? dnnl_nchw : dnnl_nhwc, is_signed ? dnnl_s8 : dnnl_u8,
                              dnnl_nhwc, &scale, "int8 quantization", err, err_len);
}

nf_dnnl_op *nf_dnnl_dequantize_create(int64_t n, int64_t c, int64_t h, int64_t w, float scale, int32_t is_signed,
                                      char *err, size_t err_len) {
    if (!(scale > 0 && isfinite(scale))) {
        snprintf(err, err_len, "a dequantization needs a positive finite step");
        return NULL;
    }
    return converting_reorder(n, c, h, w, is_signed ? dnnl_s8 : dnnl_u8, dnnl_nhwc, dnnl_f32, dnnl_nhwc, &scale,
                              "int8 dequantization", err, err_len);
}

nf_dnnl_op *nf_dnnl_to_bf16_create(int32_t layout, int64_t n, int64_t c, int64_t h, int64_t w, char *err, size_t err_len) {
    return converting_reorder(n, c, h, w, dnnl_f32, NF_LAYOUT_TAG(layout), dnnl_bf16, NF_LAYOUT_TAG(layout), NULL, "bf16 rounding",
                              err, err_len);
}

int nf_dnnl_op_execute(const nf_dnnl_op *op, const void *src0, const void *src1, void *dst,
                       char *err, size_t err_len) {
    dnnl_memory_t a = NULL, b = NULL, d = NULL;
    dnnl_exec_arg_t args[8];
    int nargs = 0, rc = -1;
    CHECK(dnnl_memory_create(&a, &op->src_md, nf_engine(), (void *)src0), "source memory");
    CHECK(dnnl_memory_create(&d, &op->dst_md, nf_engine(), dst), "destination memory");
    switch (op->kind) {
    case OP_UNARY:
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, a};
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_DST, d};
        break;
    case OP_BINARY:
        if (!src1) {
            snprintf(err, err_len, "an add needs two sources");
            goto fail;
        }
        CHECK(dnnl_memory_create(&b, &op->src_md, nf_engine(), (void *)src1), "second source memory");
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_0, a};
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_1, b};
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_DST, d};
        break;
    case OP_BATCHNORM:
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, a};
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_DST, d};
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_MEAN, op->mean};
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_VARIANCE, op->variance};
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCALE, op->scale};
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SHIFT, op->shift};
        break;
    }
    rc = nf_execute(op->prim, op->pd, args, nargs, err, err_len);
fail:
    if (a) dnnl_memory_destroy(a);
    if (b) dnnl_memory_destroy(b);
    if (d) dnnl_memory_destroy(d);
    return rc;
}

// The gate and the moments are written once for a block of B channels and compiled for both
// blocks (8 and 16), so that the lane loops have constant bounds.
static inline __attribute__((always_inline)) void blocked_gate(float *x, const float *gate, const float *add, int64_t n,
                                                                int64_t c, int64_t h, int64_t w, const int B) {
    const int64_t blocks = (c + B - 1) / B, plane = h * w;
    for (int64_t b = 0; b < n; b++) {
        for (int64_t cb = 0; cb < blocks; cb++) {
            float g[16];
            for (int k = 0; k < B; k++) g[k] = cb * B + k < c ? gate[b * c + cb * B + k] : 0.0f;
            float *p = x + ((b * blocks + cb) * plane) * B;
            const float *q = add ? add + ((b * blocks + cb) * plane) * B : NULL;
            for (int64_t i = 0; i < plane; i++) {
                if (q)
                    for (int k = 0; k < B; k++) p[i * B + k] = p[i * B + k] * g[k] + q[i * B + k];
                else
                    for (int k = 0; k < B; k++) p[i * B + k] *= g[k];
            }
        }
    }
}

// The same over nhwc: channels innermost.
static void nhwc_gate(float *x, const float *gate, const float *add, int64_t n, int64_t c, int64_t h, int64_t w) {
    const int64_t plane = h * w;
    for (int64_t b = 0; b < n; b++) {
        const float *g = gate + b * c;
        for (int64_t i = 0; i < plane; i++) {
            float *p = x + (b * plane + i) * c;
            const float *q = add ? add + (b * plane + i) * c : NULL;
            if (q)
                for (int64_t k = 0; k < c; k++) p[k] = p[k] * g[k] + q[k];
            else
                for (int64_t k = 0; k < c; k++) p[k] *= g[k];
        }
    }
}

void nf_blocked_gate(int32_t layout, float *x, const float *gate, const float *add, int64_t n, int64_t c, int64_t h, int64_t w) {
    if (layout == NF_LAYOUT_NHWC)
        nhwc_gate(x, gate, add, n, c, h, w);
    else if (nf_plan_block() == 16)
        blocked_gate(x, gate, add, n, c, h, w, 16);
    else
        blocked_gate(x, gate, add, n, c, h, w, 8);
}

struct blocked_moments {
    const float *x;
    int64_t n, c, blocks, plane;
    double *mean, *m2;
};

// One channel block: B lanes of doubles, the sum first, then the squared deviations from the
// mean. Compiled for AVX2 as well where the CPU has it (the rest of the shim leaves vector code
// to oneDNN's JIT); the baseline clone gives the same sums, lane by lane in the same order.
static inline __attribute__((always_inline)) void moments_block(const struct blocked_moments *job, int64_t cb, const int B) {
    const int64_t plane = job->plane;
    double sum[16] = {0}, squares[16] = {0}, mean[16];
    for (int64_t b = 0; b < job->n; b++) {
        const float *p = job->x + ((b * job->blocks + cb) * plane) * B;
        for (int64_t i = 0; i < plane; i++)
            for (int k = 0; k < B; k++) sum[k] += (double)p[i * B + k];
    }
    const double count = (double)(job->n * plane);
    for (int k = 0; k < B; k++) mean[k] = sum[k] / count;
    for (int64_t b = 0; b < job->n; b++) {
        const float *p = job->x + ((b * job->blocks + cb) * plane) * B;
        for (int64_t i = 0; i < plane; i++)
            for (int k = 0; k < B; k++) {
                const double d = (double)p[i * B + k] - mean[k];
                squares[k] += d * d;
            }
    }
    for (int k = 0; k < B && cb * B + k < job->c; k++) {
        job->mean[cb * B + k] = mean[k];
        job->m2[cb * B + k] = squares[k];
    }
}

__attribute__((target_clones("avx2", "default")))
static void blocked_moments_block16(void *data, int64_t cb) { moments_block(data, cb, 16); }

__attribute__((target_clones("avx2", "default")))
static void blocked_moments_block8(void *data, int64_t cb) { moments_block(data, cb, 8); }

// nhwc: one image row of channels at a time, summed per channel in the same two passes.
static void nhwc_moments(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, double *mean, double *m2) {
    const int64_t rows = n * h * w;
    for (int64_t k = 0; k < c; k++) mean[k] = m2[k] = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < c; k++) mean[k] += (double)x[r * c + k];
    for (int64_t k = 0; k < c; k++) mean[k] /= (double)rows;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < c; k++) {
            const double d = (double)x[r * c + k] - mean[k];
            m2[k] += d * d;
        }
}

void nf_blocked_moments(int32_t layout, const float *x, int64_t n, int64_t c, int64_t h, int64_t w, double *mean, double *m2) {
    if (layout == NF_LAYOUT_NHWC) {
        nhwc_moments(x, n, c, h, w, mean, m2);
        return;
    }
    const int64_t b = nf_plan_block();
    struct blocked_moments job = {x, n, c, (c + b - 1) / b, h * w, mean, m2};
    nf_parallel_for(job.blocks, b == 16 ? blocked_moments_block16 : blocked_moments_block8, &job);
}

// libgomp comes in with libdnnl (Debian builds oneDNN with OpenMP) and its thread-count ICV is
// per thread. Found at run time: only the runtime library is installed, not its link-time name.
typedef void (*set_threads_fn)(int);
typedef int (*num_procs_fn)(void);

typedef void (*gomp_parallel_fn)(void (*)(void *), void *, unsigned, unsigned);
typedef int (*omp_int_fn)(void);

struct parallel_for {
    int64_t count;
    void (*body)(void *, int64_t);
    void *context;
    omp_int_fn thread_num, num_threads;
};

static void parallel_for_worker(void *data) {
    const struct parallel_for *job = data;
    const int64_t threads = job->num_threads(), me = job->thread_num();
    for (int64_t i = me; i < job->count; i += threads) job->body(job->context, i);
}

void nf_parallel_for(int64_t count, void (*body)(void *, int64_t), void *context) {
    static gomp_parallel_fn parallel = NULL;
    static omp_int_fn thread_num = NULL, num_threads = NULL;
    if (!parallel) {
        thread_num = (omp_int_fn)dlsym(RTLD_DEFAULT, "omp_get_thread_num");
        num_threads = (omp_int_fn)dlsym(RTLD_DEFAULT, "omp_get_num_threads");
        if (thread_num && num_threads) parallel = (gomp_parallel_fn)dlsym(RTLD_DEFAULT, "GOMP_parallel");
    }
    if (!parallel || count < 2) {
        for (int64_t i = 0; i < count; i++) body(context, i);
        return;
    }
    struct parallel_for job = {count, body, context, thread_num, num_threads};
    parallel(parallel_for_worker, &job, 0, 0);
}

void nf_set_threads(int32_t threads) {
    static set_threads_fn set = NULL;
    static num_procs_fn procs = NULL;
    if (!set) set = (set_threads_fn)dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (!procs) procs = (num_procs_fn)dlsym(RTLD_DEFAULT, "omp_get_num_procs");
    if (set) set(threads > 0 ? threads : (procs ? procs() : 1));
}

int32_t nf_max_threads(void) {
    num_procs_fn procs = (num_procs_fn)dlsym(RTLD_DEFAULT, "omp_get_num_procs");
    return procs ? procs() : 1;
}
