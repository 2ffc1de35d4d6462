// nf_image_codecs: see include/nf_image_codecs.h for the contract of every function.
#include "nf_image_codecs.h"

#include <spng.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_message(char *message, size_t capacity, const char *format, ...) {
    if (message == NULL || capacity == 0) return;
    va_list args;
    va_start(args, format);
    vsnprintf(message, capacity, format, args);
    va_end(args);
}

// ---------------------------------------------------------------------------------------
// JPEG
// ---------------------------------------------------------------------------------------

// The libjpeg warning JWRN_JPEG_EOF, emitted when the source runs out of data and libjpeg
// inserts a fake EOI. Pillow turns this situation into "image file is truncated".
static const char *const kJPEGPrematureEnd = "Premature end of JPEG file";

int nf_jpeg_read_header(const uint8_t *data, size_t size, nf_jpeg_header *header,
                        char *message, size_t message_capacity) {
    if (data == NULL || header == NULL || size == 0 || size > (size_t)0xFFFFFFFFul) {
        set_message(message, message_capacity, "empty or oversized JPEG buffer");
        return NF_CODEC_BAD_ARGUMENT;
    }
    tjhandle handle = tjInitDecompress();
    if (handle == NULL) {
        set_message(message, message_capacity, "cannot create a JPEG decoder");
        return NF_CODEC_NO_MEMORY;
    }
    int width = 0, height = 0, subsampling = -1, colorspace = -1;
    int status = NF_CODEC_OK;
    if (tjDecompressHeader3(handle, data, (unsigned long)size, &width, &height, &subsampling,
                            &colorspace) != 0) {
        set_message(message, message_capacity, "%s", tjGetErrorStr2(handle));
        status = NF_CODEC_CORRUPT;
    } else {
        header->width = width;
        header->height = height;
        header->subsampling = subsampling;
        header->colorspace = colorspace;
    }
    tjDestroy(handle);
    return status;
}

int nf_jpeg_decode(const uint8_t *data, size_t size, int32_t width, int32_t height,
                   int32_t components, uint8_t *output, size_t output_size,
                   char *message, size_t message_capacity) {
    if (data == NULL || output == NULL || size == 0 || size > (size_t)0xFFFFFFFFul ||
        width <= 0 || height <= 0) {
        set_message(message, message_capacity, "invalid arguments to the JPEG decoder");
        return NF_CODEC_BAD_ARGUMENT;
    }
    int pixel_format;
    switch (components) {
        case 1: pixel_format = TJPF_GRAY; break;
        case 3: pixel_format = TJPF_RGB; break;
        case 4: pixel_format = TJPF_CMYK; break;
        default:
            set_message(message, message_capacity, "JPEG with %d components", components);
            return NF_CODEC_UNSUPPORTED;
    }
    if ((size_t)width * (size_t)height * (size_t)components != output_size) {
        set_message(message, message_capacity, "JPEG output buffer has the wrong size");
        return NF_CODEC_BAD_ARGUMENT;
    }
    tjhandle handle = tjInitDecompress();
    if (handle == NULL) {
        set_message(message, message_capacity, "cannot create a JPEG decoder");
        return NF_CODEC_NO_MEMORY;
    }
    int status = NF_CODEC_OK;

    // Cross-check the frame size libjpeg sees against the one the caller parsed from SOF, so
    // that tjDecompress2 can never pick a scaling factor. TurboJPEG 2.1 refuses headers whose
    // sampling factors it cannot classify ("Could not determine subsampling type"); libjpeg
    // itself decodes those, so that one failure is not fatal here: tjDecompress2 below still
    // writes at most width x height pixels into the caller's buffer.
    int hw = 0, hh = 0, hs = -1, hc = -1;
    if (tjDecompressHeader3(handle, data, (unsigned long)size, &hw, &hh, &hs, &hc) == 0) {
        if (hw != width || hh != height) {
            set_message(message, message_capacity,
                        "JPEG frame is %dx%d, expected %dx%d", hw, hh, width, height);
            tjDestroy(handle);
            return NF_CODEC_CORRUPT;
        }
    } else if (strstr(tjGetErrorStr2(handle), "subsampling") == NULL) {
        set_message(message, message_capacity, "%s", tjGetErrorStr2(handle));
        tjDestroy(handle);
        return NF_CODEC_CORRUPT;
    }

    // TJFLAG_ACCURATEDCT: JDCT_ISLOW, libjpeg's default and what Pillow decodes with.
    // No TJFLAG_FASTUPSAMPLE: fancy (triangular) chroma upsampling, libjpeg's default.
    // TJFLAG_LIMITSCANS: refuse progressive files with an absurd number of scans (a known
    // CPU-exhaustion attack); real encoders use at most a few dozen.
    int flags = TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS;
    int pitch = width * components;
    if (tjDecompress2(handle, data, (unsigned long)size, output, width, pitch, height,
                      pixel_format, flags) != 0) {
        const char *text = tjGetErrorStr2(handle);
        if (tjGetErrorCode(handle) == TJERR_WARNING) {
            // A complete image was produced despite a non-fatal problem (for instance
            // "Corrupt JPEG data: N extraneous bytes before marker"). Pillow ignores
            // libjpeg warnings, except that running out of data fails its load().
            if (strstr(text, kJPEGPrematureEnd) != NULL) {
                set_message(message, message_capacity, "%s", text);
                status = NF_CODEC_TRUNCATED;
            }
        } else {
            set_message(message, message_capacity, "%s", text);
            status = strstr(text, kJPEGPrematureEnd) != NULL ? NF_CODEC_TRUNCATED
                                                               : NF_CODEC_CORRUPT;
        }
    }
    tjDestroy(handle);
    return status;
}

// ---------------------------------------------------------------------------------------
// PNG
// ---------------------------------------------------------------------------------------

static int png_status(int spng_error) {
    switch (spng_error) {
        case SPNG_OK: return NF_CODEC_OK;
        case SPNG_EOVERFLOW:
        case SPNG_EMEM: return NF_CODEC_NO_MEMORY;
        case SPNG_EUSER_WIDTH:
        case SPNG_EUSER_HEIGHT:
        case SPNG_ECHUNK_LIMITS: return NF_CODEC_LIMIT;
        case SPNG_EBUF_SET:
        case SPNG_EBADSTATE:
        case SPNG_EFMT:
        case SPNG_EINVAL: return NF_CODEC_BAD_ARGUMENT;
        case SPNG_IO_EOF:
        case SPNG_IO_ERROR: return NF_CODEC_TRUNCATED;
        default: return NF_CODEC_CORRUPT;
    }
}

static int png_fail(int spng_error, char *message, size_t capacity) {
    set_message(message, capacity, "%s", spng_strerror(spng_error));
    return png_status(spng_error);
}

int nf_png_read_header(const uint8_t *data, size_t size, nf_png_header *header,
                       char *message, size_t message_capacity) {
    if (data == NULL || header == NULL || size == 0) {
        set_message(message, message_capacity, "empty PNG buffer");
        return NF_CODEC_BAD_ARGUMENT;
    }
    spng_ctx *ctx = spng_ctx_new(0);
    if (ctx == NULL) {
        set_message(message, message_capacity, "cannot create a PNG decoder");
        return NF_CODEC_NO_MEMORY;
    }
    struct spng_ihdr ihdr;
    int error = spng_set_png_buffer(ctx, data, size);
    // spng_get_ihdr stops after IHDR: it reads 33 bytes whatever the claimed size.
    if (error == SPNG_OK) error = spng_get_ihdr(ctx, &ihdr);
    int status = NF_CODEC_OK;
    if (error != SPNG_OK) {
        status = png_fail(error, message, message_capacity);
    } else {
        header->width = ihdr.width;
        header->height = ihdr.height;
        header->bit_depth = ihdr.bit_depth;
        header->color_type = ihdr.color_type;
        header->interlace = ihdr.interlace_method;
    }
    spng_ctx_free(ctx);
    return status;
}

int32_t nf_png_output_channels(const nf_png_header *header) {
    switch (header->color_type) {
        case SPNG_COLOR_TYPE_GRAYSCALE:
        case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA: return 1;
        default: return 3;
    }
}

int nf_png_decode(const uint8_t *data, size_t size, const nf_png_limits *limits,
                  uint8_t *output, size_t output_size,
                  uint8_t *exif_out, size_t exif_capacity, size_t *exif_length,
                  char *message, size_t message_capacity) {
    if (exif_length != NULL) *exif_length = 0;
    if (data == NULL || output == NULL || limits == NULL || size == 0) {
        set_message(message, message_capacity, "invalid arguments to the PNG decoder");
        return NF_CODEC_BAD_ARGUMENT;
    }
    spng_ctx *ctx = spng_ctx_new(0);
    if (ctx == NULL) {
        set_message(message, message_capacity, "cannot create a PNG decoder");
        return NF_CODEC_NO_MEMORY;
    }
    uint8_t *scratch = NULL;
    int status = NF_CODEC_OK;
    int error = spng_set_png_buffer(ctx, data, size);
    // Bound what a hostile file can make the decoder allocate: the image itself (checked
    // from IHDR before any allocation) and the ancillary chunks spng keeps (text, iCCP,
    // eXIf, ...). CRC mismatches are errors for every chunk (spng's default).
    if (error == SPNG_OK) error = spng_set_image_limits(ctx, limits->max_width, limits->max_height);
    if (error == SPNG_OK) error = spng_set_chunk_limits(ctx, limits->max_chunk_size, limits->max_cache_size);
    struct spng_ihdr ihdr;
    if (error == SPNG_OK) error = spng_get_ihdr(ctx, &ihdr);
    if (error != SPNG_OK) {
        status = png_fail(error, message, message_capacity);
        goto done;
    }

    const size_t pixels = (size_t)ihdr.width * (size_t)ihdr.height;
    nf_png_header header = {ihdr.width, ihdr.height, ihdr.bit_depth, ihdr.color_type,
                            ihdr.interlace_method};
    const size_t channels = (size_t)nf_png_output_channels(&header);
    if (pixels * channels != output_size) {
        set_message(message, message_capacity, "PNG output buffer has the wrong size");
        status = NF_CODEC_BAD_ARGUMENT;
        goto done;
    }

    // Pick the spng output format whose bytes are already Pillow's, and decode straight
    // into `output`; when the layout differs (alpha to drop, 16-bit gray to clamp) decode
    // into a scratch buffer and reduce it below.
    int fmt;
    size_t scratch_bytes_per_pixel = 0;
    switch (ihdr.color_type) {
        case SPNG_COLOR_TYPE_GRAYSCALE:
            if (ihdr.bit_depth == 16) {
                fmt = SPNG_FMT_PNG;             // host-endian uint16 samples
                scratch_bytes_per_pixel = 2;
            } else {
                fmt = SPNG_FMT_G8;              // 1/2/4-bit scaled by bit replication
            }
            break;
        case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA:
            if (ihdr.bit_depth == 16) {
                fmt = SPNG_FMT_PNG;             // host-endian uint16 gray, alpha
                scratch_bytes_per_pixel = 4;
            } else {
                fmt = SPNG_FMT_PNG;             // gray, alpha bytes
                scratch_bytes_per_pixel = 2;
            }
            break;
        case SPNG_COLOR_TYPE_TRUECOLOR:
        case SPNG_COLOR_TYPE_INDEXED:
            fmt = SPNG_FMT_RGB8;                // 16-bit: spng keeps the high byte, as Pillow
            break;
        case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA:
            fmt = SPNG_FMT_RGBA8;
            scratch_bytes_per_pixel = 4;
            break;
        default:
            set_message(message, message_capacity, "PNG colour type %d", ihdr.color_type);
            status = NF_CODEC_CORRUPT;
            goto done;
    }

    size_t decoded_size = 0;
    error = spng_decoded_image_size(ctx, fmt, &decoded_size);
    if (error != SPNG_OK) {
        status = png_fail(error, message, message_capacity);
        goto done;
    }
    uint8_t *target = output;
    if (scratch_bytes_per_pixel != 0) {
        if (decoded_size != pixels * scratch_bytes_per_pixel) {
            set_message(message, message_capacity, "unexpected PNG row layout");
            status = NF_CODEC_CORRUPT;
            goto done;
        }
        scratch = malloc(decoded_size);
        if (scratch == NULL) {
            set_message(message, message_capacity, "out of memory decoding a PNG");
            status = NF_CODEC_NO_MEMORY;
            goto done;
        }
        target = scratch;
    } else if (decoded_size != output_size) {
        set_message(message, message_capacity, "unexpected PNG row layout");
        status = NF_CODEC_CORRUPT;
        goto done;
    }
    // flags = 0: no tRNS applied, no gamma correction (Pillow applies neither).
    error = spng_decode_image(ctx, target, decoded_size, fmt, 0);
    if (error != SPNG_OK) {
        status = png_fail(error, message, message_capacity);
        goto done;
    }

    if (scratch != NULL) {
        if (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE) {
            // Pillow: 16-bit gray opens as "I;16"; convert("L") (and "RGB") clip to 255.
            const uint16_t *in = (const uint16_t *)scratch;
            for (size_t i = 0; i < pixels; i++) output[i] = in[i] > 255 ? 255 : (uint8_t)in[i];
        } else if (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA && ihdr.bit_depth == 16) {
            // Pillow: rawmode "LA;16B" keeps the most significant byte of each sample.
            const uint16_t *in = (const uint16_t *)scratch;
            for (size_t i = 0; i < pixels; i++) output[i] = (uint8_t)(in[2 * i] >> 8);
        } else if (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA) {
            for (size_t i = 0; i < pixels; i++) output[i] = scratch[2 * i];
        } else {
            // RGBA -> RGB: the alpha byte is dropped, nothing is composited.
            for (size_t i = 0; i < pixels; i++) {
                output[3 * i + 0] = scratch[4 * i + 0];
                output[3 * i + 1] = scratch[4 * i + 1];
                output[3 * i + 2] = scratch[4 * i + 2];
            }
        }
    }

    // EXIF (for the orientation tag). Chunks after IDAT are read here; a problem in them
    // does not fail a decode whose pixels are complete (Pillow's load_end tolerates it too).
    if (exif_out != NULL && exif_length != NULL) {
        struct spng_exif exif;
        if (spng_get_exif(ctx, &exif) == SPNG_OK && exif.data != NULL) {
            *exif_length = exif.length;
            size_t n = exif.length < exif_capacity ? exif.length : exif_capacity;
            memcpy(exif_out, exif.data, n);
        }
    }

done:
    free(scratch);
    spng_ctx_free(ctx);
    return status;
}

int nf_gunzip_file(const char *path, size_t max_bytes, uint8_t **out, size_t *length, char *err, size_t err_len) {
    gzFile file = gzopen(path, "rb");
    if (!file) {
        snprintf(err, err_len, "cannot open %s", path);
        return -1;
    }
    size_t capacity = 1 << 20, used = 0;
    uint8_t *buffer = malloc(capacity);
    while (buffer) {
        if (used == capacity) {
            if (capacity >= max_bytes) {
                snprintf(err, err_len, "%s inflates to more than %zu bytes", path, max_bytes);
                goto fail;
            }
            capacity = capacity * 2 > max_bytes ? max_bytes : capacity * 2;
            uint8_t *bigger = realloc(buffer, capacity);
            if (!bigger) break;
            buffer = bigger;
        }
        unsigned chunk = (capacity - used) > (1u << 30) ? (1u << 30) : (unsigned)(capacity - used);
        int n = gzread(file, buffer + used, chunk);
        if (n < 0) {
            int code = 0;
            snprintf(err, err_len, "%s: %s", path, gzerror(file, &code));
            goto fail;
        }
        if (n == 0) break;
        used += (size_t)n;
    }
    if (!buffer) {
        snprintf(err, err_len, "out of memory reading %s", path);
        gzclose(file);
        return -1;
    }
    gzclose(file);
    *out = buffer;
    *length = used;
    return 0;
fail:
    free(buffer);
    gzclose(file);
    return -1;
}

long nf_gunzip_prefix(const char *path, uint8_t *out, unsigned want) {
    gzFile file = gzopen(path, "rb");
    if (!file) return -1;
    int n = gzread(file, out, want);
    gzclose(file);
    return n;
}
