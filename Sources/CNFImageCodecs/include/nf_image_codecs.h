// nf_image_codecs: a small C API over libjpeg-turbo's TurboJPEG (tjDecompressHeader3 /
// tjDecompress2) and libspng, so that Swift sees plain functions, plain structs and plain
// status codes (no setjmp, no callbacks, no library handles crossing the boundary).
//
// Every function is self-contained: it creates its decoder handle, decodes from the
// caller's memory buffer into the caller's pre-sized output buffer, frees the handle and
// returns. Nothing is kept between calls, so the functions are safe to call from any
// thread at the same time.
//
// Error reporting: a status code (nf_codec_status) plus, when `message` is not NULL, a
// NUL-terminated human-readable message of at most `message_capacity` bytes.
#ifndef NF_IMAGE_CODECS_H
#define NF_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NF_CODEC_OK = 0,
    /// The data is malformed (bad header, bad checksum, bad compressed stream).
    NF_CODEC_CORRUPT = 1,
    /// The data ends before the image does.
    NF_CODEC_TRUNCATED = 2,
    /// A valid file of a variant this shim does not decode.
    NF_CODEC_UNSUPPORTED = 3,
    /// The file exceeds a configured limit (image size, chunk size).
    NF_CODEC_LIMIT = 4,
    /// An allocation failed.
    NF_CODEC_NO_MEMORY = 5,
    /// The caller passed inconsistent arguments (e.g. an output buffer of the wrong size).
    NF_CODEC_BAD_ARGUMENT = 6
} nf_codec_status;

// ---------------------------------------------------------------------------------------
// JPEG (libjpeg-turbo, TurboJPEG API)
// ---------------------------------------------------------------------------------------

typedef struct {
    int32_t width;
    int32_t height;
    /// TJSAMP_* value (-1 when TurboJPEG cannot classify the sampling factors).
    int32_t subsampling;
    /// TJCS_* value (-1 when unknown).
    int32_t colorspace;
} nf_jpeg_header;

/// Reads the JPEG header with tjDecompressHeader3 (no pixel data is decoded).
int nf_jpeg_read_header(const uint8_t *data, size_t size, nf_jpeg_header *header,
                        char *message, size_t message_capacity);

/// Decodes a JPEG whose frame is `width` x `height` with `components` colour components
/// (1: grayscale -> TJPF_GRAY, 3: YCbCr/RGB -> TJPF_RGB, 4: CMYK/YCCK -> TJPF_CMYK with the
/// stored, un-inverted values) into `output` (exactly width*height*components bytes, rows
/// packed, top row first). Uses the accurate integer IDCT and "fancy" upsampling, which are
/// the libjpeg defaults Pillow's JpegDecode.c runs with.
///
/// libjpeg warnings (non-fatal problems) do not fail the decode, as in Pillow, with one
/// exception: "Premature end of JPEG file" (the data ran out before the image did) returns
/// NF_CODEC_TRUNCATED, because Pillow refuses such a file ("image file is truncated").
int nf_jpeg_decode(const uint8_t *data, size_t size, int32_t width, int32_t height,
                   int32_t components, uint8_t *output, size_t output_size,
                   char *message, size_t message_capacity);

// ---------------------------------------------------------------------------------------
// PNG (libspng)
// ---------------------------------------------------------------------------------------

typedef struct {
    uint32_t width;
    uint32_t height;
    uint8_t bit_depth;      // 1, 2, 4, 8, 16
    uint8_t color_type;     // 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
    uint8_t interlace;      // 0 none, 1 Adam7
} nf_png_header;

/// Reads only the signature and IHDR (no image data, no allocation proportional to the
/// image), so a header claiming 100000 x 100000 pixels is answered without decoding.
int nf_png_read_header(const uint8_t *data, size_t size, nf_png_header *header,
                       char *message, size_t message_capacity);

/// Limits applied while decoding (see spng_set_image_limits / spng_set_chunk_limits).
typedef struct {
    uint32_t max_width;        // IHDR width above this fails with NF_CODEC_LIMIT
    uint32_t max_height;       // IHDR height above this fails with NF_CODEC_LIMIT
    size_t max_chunk_size;     // largest ancillary chunk accepted
    size_t max_cache_size;     // total memory for stored ancillary chunks
} nf_png_limits;

/// Number of 8-bit channels nf_png_decode writes for this header: 1 for the gray colour
/// types (0 and 4), 3 for the others (2, 3, 6).
int32_t nf_png_output_channels(const nf_png_header *header);

/// Decodes a PNG into `output` (exactly width*height*nf_png_output_channels bytes, HWC,
/// top row first), producing the bytes Pillow 13 produces when it opens the file and
/// reduces it to its 8-bit "L" or "RGB" form:
///   - gray 1/2/4-bit: scaled to 0...255 by bit replication (Pillow modes "1", "L;2", "L;4");
///   - gray 16-bit: Pillow opens mode "I;16" and convert("L") clamps: min(v, 255);
///   - gray+alpha 8-bit: alpha dropped (Pillow "LA" -> "L");
///   - gray+alpha 16-bit: high byte of the gray sample, alpha dropped (Pillow "LA;16B");
///   - RGB/RGBA 16-bit: high byte of every sample (Pillow rawmodes "RGB;16B"/"RGBA;16B");
///   - RGBA: alpha dropped, no compositing (Pillow "RGBA" -> "RGB");
///   - palette: expanded through PLTE, tRNS ignored, indices past the palette give black
///     (Pillow pads the palette with zeros);
///   - gAMA, cHRM, sRGB, iCCP, sBIT are ignored, as Pillow ignores them.
/// `exif_out`/`exif_capacity`/`exif_length` (optional, may be NULL/0/NULL): receives up to
/// `exif_capacity` bytes of the eXIf chunk (TIFF data) and its full length (0 if none).
int nf_png_decode(const uint8_t *data, size_t size, const nf_png_limits *limits,
                  uint8_t *output, size_t output_size,
                  uint8_t *exif_out, size_t exif_capacity, size_t *exif_length,
                  char *message, size_t message_capacity);

/// Reads a whole gzip (or plain: zlib's gzread passes uncompressed files through) file at
/// `path` into a malloc'd buffer, refusing more than `max_bytes`. Returns 0 and sets `*out`
/// (free() it) and `*length`, or -1 with a message in `err`. Used for IDX datasets.
/// Reads at most `want` bytes from the start of a (possibly gzip) file into `out`; returns the
/// count read, or -1. For headers (IDX dimensions) without inflating the whole file.
long nf_gunzip_prefix(const char *path, uint8_t *out, unsigned want);

int nf_gunzip_file(const char *path, size_t max_bytes, uint8_t **out, size_t *length, char *err, size_t err_len);

// ---------------------------------------------------------------------------------------
// Resampling (nf_resample.c)
// ---------------------------------------------------------------------------------------

/// The vertical pass of Pillow's 8-bit resampling: output row `yy` (of `out_rows`, each
/// `row_length` bytes) is the rows `first[yy] ..< first[yy] + count[yy]` of `src` (rows of
/// `row_length` bytes) weighted by `weights[yy * ksize + t]` (22-bit fixed point), rounded
/// and clipped to 0...255 as Pillow does. Returns 0, or -1 when memory runs out.
int nf_resample_vertical_u8(const uint8_t *src, ptrdiff_t row_length, const ptrdiff_t *first,
                            const ptrdiff_t *count, const int32_t *weights, ptrdiff_t ksize,
                            ptrdiff_t out_rows, uint8_t *dst);

/// The horizontal pass over rows `row_begin ..< row_begin + rows` of `src` (`width` pixels of
/// `channels` bytes per row): output pixel `xx` of each row (of `out_width`) is the source
/// pixels `first[xx] ..< first[xx] + count[xx]` weighted as above. `dst` receives `rows` rows
/// of `out_width * channels` bytes. Returns 0, or -1 when memory runs out.
int nf_resample_horizontal_u8(const uint8_t *src, ptrdiff_t width, ptrdiff_t channels,
                              ptrdiff_t row_begin, ptrdiff_t rows, const ptrdiff_t *first,
                              const ptrdiff_t *count, const int32_t *weights, ptrdiff_t ksize,
                              ptrdiff_t out_width, uint8_t *dst);

#ifdef __cplusplus
}
#endif

#endif // NF_IMAGE_CODECS_H
