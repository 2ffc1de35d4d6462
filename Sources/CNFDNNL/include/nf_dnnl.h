// A small C surface over oneDNN (Debian libdnnl-dev 2.6, C API v2) for nfserve.
//
// Swift sees opaque handles and plain structs: one handle per (layer, input shape), created once
// and executed many times. Weights are reordered into the layout oneDNN prefers when the handle is
// created, never per forward.
//
// Activations have two layouts, and this shim is the one place that decides them: plain NCHW
// (row-major, what Swift's `Tensor` holds) and, inside an execution plan, oneDNN's blocked
// nChw16c on AVX-512 or nChw8c on AVX2 and older (channels in blocks of `nf_plan_block()`,
// zero-padded to a multiple of it), where its JIT kernels run without reorders between steps.
#ifndef NF_DNNL_H
#define NF_DNNL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A 2-D convolution over NCHW input with OIHW weights (O = oc, I = ic / groups).
typedef struct {
    int64_t n, ic, ih, iw;             // input shape
    int64_t oc, kh, kw;                // output channels and kernel size
    int64_t groups;
    int64_t stride_h, stride_w;
    int64_t dilation_h, dilation_w;    // PyTorch's convention: 1 means no dilation
    int64_t pad_top, pad_left, pad_bottom, pad_right;
    float sum_scale;                   // != 0: dst = conv(src) + sum_scale * dst (a fused residual add;
                                       // with a u8 or s8 destination, dst's levels times their step)
    int32_t post_activation;           // an nf_activation after the (optional) sum
    int32_t layout;                    // an nf_layout_pair: where src and dst live
    int32_t activation;                // an nf_activation applied before the sum ...
    float activation_scale;            // ... and multiplied by this (0 is taken as 1)
    int32_t source_type;               // an nf_source_type; u8 and s8 only in NF_NHWC (int8 convolutions),
                                       // bf16 in NF_BLOCKED or NF_NHWC
    int32_t destination_type;          // an nf_source_type: f32, or what the next convolution reads
                                       // (u8 or s8 from an int8 convolution, bf16 from a bf16 one;
                                       // bf16 never with a sum)
    float destination_scale;           // u8 and s8 destinations: the values are divided by it last
                                       // (the next convolution's quantization step), then rounded
} nf_conv_params;

/// What a convolution reads: float, int8 activations quantized per tensor (unsigned where the
/// calibration saw no negative value, else signed) for `nf_dnnl_conv_create_int8`, or bf16
/// activations for `nf_dnnl_conv_create` (whose float weights are then rounded to bf16 too; the
/// products are summed in FP32 and the destination stays FP32).
enum nf_source_type { NF_SOURCE_F32 = 0, NF_SOURCE_U8 = 1, NF_SOURCE_S8 = 2, NF_SOURCE_BF16 = 3 };

/// The layout of a plan's activations: blocked (FP32 plans; see above), or channels-last nhwc
/// (int8 plans: oneDNN 2.6's int8 convolutions on AVX2 have JIT kernels for nhwc only, and a
/// plan keeps one layout between its steps).
enum nf_plan_layout { NF_LAYOUT_BLOCKED = 0, NF_LAYOUT_NHWC = 1 };

/// Pointwise activations, as nfserve's `Activation` names them.
enum nf_activation { NF_ACT_NONE = 0, NF_ACT_RELU, NF_ACT_GELU, NF_ACT_SILU, NF_ACT_SIGMOID, NF_ACT_TANH };

/// Layouts of a convolution's source and destination.
enum nf_layout_pair {
    NF_PLAIN = 0,            // both NCHW; the shim reorders to and from the layout oneDNN picks per call
    NF_PLAIN_TO_BLOCKED = 1, // NCHW source (a network's input), nChw16c destination
    NF_BLOCKED = 2,          // both nChw16c
    NF_NHWC = 3,             // both nhwc (an int8 plan; the source may be u8 or s8)
};

typedef struct nf_dnnl_conv nf_dnnl_conv;

/// Creates the primitive and reorders `weights_oihw` (and copies `bias`, which may be NULL).
/// Returns NULL on failure with a message in `err`.
nf_dnnl_conv *nf_dnnl_conv_create(const nf_conv_params *params, const float *weights_oihw,
                                  const float *bias, char *err, size_t err_len);
/// Makes `conv` use `donor`'s reordered weights when both chose the same weight layout (the same
/// layer for another batch size), freeing its own copy; returns 1 if so. The donor must outlive it.
int nf_dnnl_conv_share_weights(nf_dnnl_conv *conv, const nf_dnnl_conv *donor);
/// Output spatial size that the primitive writes (oh, ow).
void nf_dnnl_conv_output_size(const nf_dnnl_conv *conv, int64_t *oh, int64_t *ow);
/// Runs the convolution: src is [n, ic, ih, iw], dst [n, oc, oh, ow]. Thread-safe: the
/// scratchpad is the calling thread's own. Returns 0 on success.
int nf_dnnl_conv_execute(const nf_dnnl_conv *conv, const void *src, float *dst,
                         char *err, size_t err_len);
/// An int8 convolution in NF_NHWC: u8 or s8 source (`params->source_type`), s8 weights OIHW,
/// FP32 destination with the same post-ops as the FP32 one. oneDNN computes
/// `post_ops(output_scales[o] * (sum of source x weight products in int32 + bias[o]))`, so the
/// caller passes the bias divided by the scale (`QuantizedConvolution` does).
nf_dnnl_conv *nf_dnnl_conv_create_int8(const nf_conv_params *params, const int8_t *weights_oihw,
                                       const float *bias, const float *output_scales, char *err, size_t err_len);
void nf_dnnl_conv_destroy(nf_dnnl_conv *conv);

/// A fully connected layer: dst[n, out] = src[n, in] * weights[out, in]^T + bias.
typedef struct nf_dnnl_linear nf_dnnl_linear;
nf_dnnl_linear *nf_dnnl_linear_create(int64_t n, int64_t in_features, int64_t out_features,
                                      const float *weights_oi, const float *bias,
                                      char *err, size_t err_len);
int nf_dnnl_linear_execute(const nf_dnnl_linear *linear, const float *src, float *dst,
                           char *err, size_t err_len);
void nf_dnnl_linear_destroy(nf_dnnl_linear *linear);

// ---------------------------------------------------------------------------------------------
// Execution-plan operations: one handle per (operation, shape), over caller-owned buffers.

/// Channels per block of a plan's activations: 16 where oneDNN runs AVX-512 kernels (their
/// direct convolutions take nChw16c), else 8 (AVX2's take nChw8c; given nChw16c, oneDNN 2.6 falls
/// back to its reference kernels, about 100x slower). NFSERVE_PLAN_BLOCK=8 or 16 overrides it
/// (read once).
int32_t nf_plan_block(void);

/// Floats a plan activation of this shape occupies in `layout` (an nf_plan_layout; blocked
/// channels are padded to `nf_plan_block()`).
int64_t nf_blocked_count(int32_t layout, int64_t n, int64_t c, int64_t h, int64_t w);

typedef struct nf_dnnl_op nf_dnnl_op;
/// NCHW to the blocked layout (`to_blocked` != 0) or back.
nf_dnnl_op *nf_dnnl_reorder_create(int32_t layout, int64_t n, int64_t c, int64_t h, int64_t w, int32_t to_blocked,
                                   char *err, size_t err_len);
/// Max pooling (`average` == 0; padding is -inf) or average pooling excluding padding, nChw16c in
/// and out; the output size follows from the padding given. `element` (an nf_source_type): f32, or
/// for max pooling in NF_NHWC u8 or s8 levels (max pooling commutes with quantization).
nf_dnnl_op *nf_dnnl_pool_create(int32_t layout, int64_t n, int64_t c, int64_t ih, int64_t iw, int64_t kernel, int64_t stride,
                                int64_t pad_top, int64_t pad_left, int64_t pad_bottom, int64_t pad_right,
                                int32_t average, int32_t element, char *err, size_t err_len);
/// An activation over an nChw16c tensor (source and destination may be the same buffer).
nf_dnnl_op *nf_dnnl_eltwise_create(int32_t layout, int64_t n, int64_t c, int64_t h, int64_t w, int32_t activation,
                                   char *err, size_t err_len);
/// Inference BatchNorm over nChw16c with the given statistics and affine parameters, optionally
/// followed by ReLU (source and destination may be the same buffer).
nf_dnnl_op *nf_dnnl_batchnorm_create(int32_t layout, int64_t n, int64_t c, int64_t h, int64_t w, const float *mean,
                                     const float *variance, const float *scale, const float *shift, float eps,
                                     int32_t relu, char *err, size_t err_len);
/// dst = src0 + src1 (all nChw16c, same shape), optionally followed by ReLU; dst may be src0.
nf_dnnl_op *nf_dnnl_add_create(int32_t layout, int64_t n, int64_t c, int64_t h, int64_t w, int32_t relu, char *err, size_t err_len);
/// Quantizes an nhwc FP32 activation (or, with `from_plain`, a plain NCHW one: a network's input)
/// to u8 (`is_signed` == 0) or s8 nhwc: round(x * scale), saturated (oneDNN's reorder with an
/// output scale).
nf_dnnl_op *nf_dnnl_quantize_create(int64_t n, int64_t c, int64_t h, int64_t w, float scale, int32_t is_signed,
                                    int32_t from_plain, char *err, size_t err_len);
/// The inverse: u8 or s8 nhwc levels to FP32 nhwc, times `scale` (the quantization step).
nf_dnnl_op *nf_dnnl_dequantize_create(int64_t n, int64_t c, int64_t h, int64_t w, float scale, int32_t is_signed,
                                      char *err, size_t err_len);
/// Rounds an FP32 plan activation to bf16 in the same layout (an nf_plan_layout), to nearest even
/// (oneDNN's reorder).
nf_dnnl_op *nf_dnnl_to_bf16_create(int32_t layout, int64_t n, int64_t c, int64_t h, int64_t w, char *err, size_t err_len);
/// Runs an operation: `src1` only for the add (NULL otherwise). Buffers are FP32 but for a
/// quantization's or a bf16 rounding's destination and a dequantization's source.
int nf_dnnl_op_execute(const nf_dnnl_op *op, const void *src0, const void *src1, void *dst,
                       char *err, size_t err_len);
void nf_dnnl_op_destroy(nf_dnnl_op *op);

/// x[n, c, :, :] = x[n, c, :, :] * gate[n * c + c] (+ add[n, c, :, :] when `add` is not NULL),
/// over nChw16c buffers: channel attention's gate, optionally joined with the residual add. One
/// pass of multiply-add per element (oneDNN 2.6's binary primitive has no JIT kernel for a gate
/// that differs per image and channel); tested against `Tensor.multiplyChannels` and `add`.
void nf_blocked_gate(int32_t layout, float *x, const float *gate, const float *add, int64_t n, int64_t c, int64_t h, int64_t w);

/// Per channel of an nChw16c buffer, over N, H and W: the mean and the sum of squared deviations
/// from it (`mean`, `m2`: c doubles each), in double and in two passes, as `ChannelMoments.add`
/// reduces a plain NCHW tensor (what it is tested against). Reads the plan's buffer where it
/// lies, with no copy to the plain layout; channel blocks are split over the OpenMP threads.
void nf_blocked_moments(int32_t layout, const float *x, int64_t n, int64_t c, int64_t h, int64_t w, double *mean, double *m2);

/// Runs body(context, i) for i in 0..<count on the OpenMP threads oneDNN uses (libgomp's
/// GOMP_parallel; iterations split statically): other CPU-parallel work then takes turns with
/// oneDNN on the same threads instead of competing with its spinning workers for the cores.
/// Runs the loop on the calling thread when libgomp is not found.
void nf_parallel_for(int64_t count, void (*body)(void *context, int64_t index), void *context);

/// Sets the OpenMP threads oneDNN uses for calls made from this thread (0: every core).
void nf_set_threads(int32_t threads);
/// The cores OpenMP would use by default.
int32_t nf_max_threads(void);

/// The oneDNN version string ("2.6.3") and the ISA its JIT dispatches to.
const char *nf_dnnl_version(void);

#ifdef __cplusplus
}
#endif
#endif
