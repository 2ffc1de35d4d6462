// A small C surface over oneDNN (Debian libdnnl-dev 2.6, C API v2) for nfserve.
//
// Swift sees opaque handles and plain structs: one handle per (layer, input shape), created once
// and executed many times. Weights are reordered into the layout oneDNN prefers when the handle is
// created, never per forward. Activations stay in plain NCHW (row-major) memory owned by Swift.
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
    float sum_scale;                   // != 0: dst = conv(src) + sum_scale * dst (a fused residual add)
    int32_t relu;                      // != 0: ReLU after the (optional) sum
} nf_conv_params;

typedef struct nf_dnnl_conv nf_dnnl_conv;

/// Creates the primitive and reorders `weights_oihw` (and copies `bias`, which may be NULL).
/// Returns NULL on failure with a message in `err`.
nf_dnnl_conv *nf_dnnl_conv_create(const nf_conv_params *params, const float *weights_oihw,
                                  const float *bias, char *err, size_t err_len);
/// Output spatial size that the primitive writes (oh, ow).
void nf_dnnl_conv_output_size(const nf_dnnl_conv *conv, int64_t *oh, int64_t *ow);
/// Runs the convolution: src is [n, ic, ih, iw], dst [n, oc, oh, ow]. Thread-safe: the
/// scratchpad is allocated per call. Returns 0 on success.
int nf_dnnl_conv_execute(const nf_dnnl_conv *conv, const float *src, float *dst,
                         char *err, size_t err_len);
void nf_dnnl_conv_destroy(nf_dnnl_conv *conv);

/// A fully connected layer: dst[n, out] = src[n, in] * weights[out, in]^T + bias.
typedef struct nf_dnnl_linear nf_dnnl_linear;
nf_dnnl_linear *nf_dnnl_linear_create(int64_t n, int64_t in_features, int64_t out_features,
                                      const float *weights_oi, const float *bias,
                                      char *err, size_t err_len);
int nf_dnnl_linear_execute(const nf_dnnl_linear *linear, const float *src, float *dst,
                           char *err, size_t err_len);
void nf_dnnl_linear_destroy(nf_dnnl_linear *linear);

/// The oneDNN version string ("2.6.3") and the ISA its JIT dispatches to.
const char *nf_dnnl_version(void);

#ifdef __cplusplus
}
#endif
#endif
