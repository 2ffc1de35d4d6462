// nf_resample: the inner sums of Pillow's 8-bit separable resampling (libImaging/Resample.c,
// ImagingResampleHorizontal_8bpc / ImagingResampleVertical_8bpc). See include/nf_image_codecs.h.
//
// Written by hand because no library computes Pillow's exact bytes (its fixed-point weights,
// rounding and clipping): the weights come from Swift (PillowResample.coefficients), and these
// loops only sum them, in 32-bit integers, in an order the compiler vectorises. Each function is
// compiled twice (target_clones): for AVX2, chosen at load time where the CPU has it, and for the
// baseline x86-64 the rest of the program targets. The per-pixel loops of PillowResample.swift
// are the plain kernels these are tested against.
#include "nf_image_codecs.h"

#include <stdlib.h>
#include <string.h>

#define NF_PRECISION_BITS (32 - 8 - 2)

// Rows of the horizontal pass transposed at a time.
static const ptrdiff_t kStripRows = 32;

#if defined(__x86_64__) && defined(__clang__)
#define NF_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NF_CLONES
#endif

static inline uint8_t clip8(uint32_t sum) {
    // Pillow's accumulator is an int; the sums wrap as in two's complement (they never
    // overflow for weights that sum to one), then `>> 22` is arithmetic.
    int32_t q = (int32_t)sum >> NF_PRECISION_BITS;
    return q < 0 ? 0 : (q > 255 ? 255 : (uint8_t)q);
}

NF_CLONES
static void sum_rows(const uint8_t *restrict src, ptrdiff_t length, const int32_t *weights,
                     ptrdiff_t first, ptrdiff_t count, uint32_t *restrict acc) {
    for (ptrdiff_t i = 0; i < length; i++) acc[i] = 1u << (NF_PRECISION_BITS - 1);
    for (ptrdiff_t t = 0; t < count; t++) {
        const uint8_t *restrict row = src + (first + t) * length;
        const uint32_t w = (uint32_t)weights[t];
        for (ptrdiff_t i = 0; i < length; i++) acc[i] += (uint32_t)row[i] * w;
    }
}

NF_CLONES
static void clip_row(const uint32_t *restrict acc, ptrdiff_t length, uint8_t *restrict out) {
    for (ptrdiff_t i = 0; i < length; i++) out[i] = clip8(acc[i]);
}

int nf_resample_vertical_u8(const uint8_t *src, ptrdiff_t row_length, const ptrdiff_t *first,
                            const ptrdiff_t *count, const int32_t *weights, ptrdiff_t ksize,
                            ptrdiff_t out_rows, uint8_t *dst) {
    uint32_t *acc = malloc((size_t)(row_length > 0 ? row_length : 1) * sizeof(uint32_t));
    if (acc == NULL) return -1;
    for (ptrdiff_t yy = 0; yy < out_rows; yy++) {
        sum_rows(src, row_length, weights + yy * ksize, first[yy], count[yy], acc);
        clip_row(acc, row_length, dst + yy * row_length);
    }
    free(acc);
    return 0;
}

int nf_resample_horizontal_u8(const uint8_t *src, ptrdiff_t width, ptrdiff_t channels,
                              ptrdiff_t row_begin, ptrdiff_t rows, const ptrdiff_t *first,
                              const ptrdiff_t *count, const int32_t *weights, ptrdiff_t ksize,
                              ptrdiff_t out_width, uint8_t *dst) {
    if (out_width <= 0 || rows <= 0) return 0;
    // The source columns the taps read.
    ptrdiff_t lo = first[0], hi = first[0];
    for (ptrdiff_t xx = 0; xx < out_width; xx++) {
        if (first[xx] < lo) lo = first[xx];
        if (first[xx] + count[xx] > hi) hi = first[xx] + count[xx];
    }
    // Strips of `kStripRows` rows at a time: the transposed copy stays small (for a 320-pixel
    // RGB row, 30 KB) however large the image.
    const ptrdiff_t columns = hi - lo, strip = rows < kStripRows ? rows : kStripRows;
    uint8_t *transposed = malloc((size_t)(columns > 0 ? columns : 1) * (size_t)(strip * channels));
    uint32_t *acc = malloc((size_t)(strip * channels) * sizeof(uint32_t));
    if (transposed == NULL || acc == NULL) {
        free(transposed);
        free(acc);
        return -1;
    }
    const ptrdiff_t stride = out_width * channels;
    for (ptrdiff_t top = 0; top < rows; top += strip) {
        const ptrdiff_t height = rows - top < strip ? rows - top : strip, length = height * channels;
        // transposed[(x - lo) * length + oy * channels + c] = src[row_begin + top + oy][x][c]: each
        // output column is then a weighted sum of whole transposed columns, as the vertical pass
        // sums rows. (RGB and grey spelled out: a loop over `channels` bytes becomes a memmove
        // call per pixel.)
        for (ptrdiff_t oy = 0; oy < height; oy++) {
            const uint8_t *row = src + ((row_begin + top + oy) * width + lo) * channels;
            uint8_t *column = transposed + oy * channels;
            if (channels == 3) {
                for (ptrdiff_t x = 0; x < columns; x++, row += 3, column += length) {
                    column[0] = row[0];
                    column[1] = row[1];
                    column[2] = row[2];
                }
            } else if (channels == 1) {
                for (ptrdiff_t x = 0; x < columns; x++) column[x * length] = row[x];
            } else {
                for (ptrdiff_t x = 0; x < columns; x++)
                    for (ptrdiff_t c = 0; c < channels; c++) column[x * length + c] = row[x * channels + c];
            }
        }
        for (ptrdiff_t xx = 0; xx < out_width; xx++) {
            sum_rows(transposed, length, weights + xx * ksize, first[xx] - lo, count[xx], acc);
            uint8_t *out = dst + top * stride + xx * channels;
            if (channels == 3) {
                for (ptrdiff_t oy = 0; oy < height; oy++, out += stride) {
                    out[0] = clip8(acc[oy * 3]);
                    out[1] = clip8(acc[oy * 3 + 1]);
                    out[2] = clip8(acc[oy * 3 + 2]);
                }
            } else {
                for (ptrdiff_t oy = 0; oy < height; oy++)
                    for (ptrdiff_t c = 0; c < channels; c++) out[oy * stride + c] = clip8(acc[oy * channels + c]);
            }
        }
    }
    free(transposed);
    free(acc);
    return 0;
}
