#!/usr/bin/env python3
"""Reference fixtures for nfserve's NFImage module (decoding + timm eval preprocessing).

Writes Tests/Fixtures/images/: source files (JPEG, PNG, broken files, other formats), and for
every decodable case Pillow's pixels and timm's preprocessed tensors, as raw little-endian
uint8 / float32 .bin files described by manifest.json. The Swift tests read them with plain
Foundation.

Reference semantics (what nfserve must reproduce):
  pixels  = ImageOps.exif_transpose(Image.open(f)).convert("RGB")   (and .convert("L"))
  tensor  = timm.data.create_transform(**timm.data.resolve_data_config({}, pretrained_cfg=cfg))
            applied to exif_transpose(Image.open(f)).convert("RGB" if C == 3 else "L")
nfserve applies the EXIF orientation deliberately (timm's own loader does not).

Deterministic: fixed seed, fixed encoder settings, no timestamps. Run from the repository
root with the reference venv:
    python tools/reference/make_image_fixtures.py
Needs: pillow, numpy, torch, torchvision, timm, scikit-image (for its bundled photographs).
Run with the reference environment's python (tools/reference/make-env.sh makes it).
"""

import io
import json
import os
import re
import shutil
import struct
import sys
import zlib

import numpy as np
import PIL
from PIL import Image, ImageOps
import torch
import torchvision
import timm
import timm.data
import skimage
import skimage.data

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "images")
RNG = np.random.default_rng(20240611)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)

# pretrained_cfg-style dicts, resolved through timm.data.resolve_data_config.
CONFIGS = {
    # The common timm ImageNet eval transform (e.g. convnext_tiny.fb_in1k).
    "imagenet224": dict(input_size=(3, 224, 224), interpolation="bicubic", crop_pct=0.875,
                        crop_mode="center", mean=IMAGENET_MEAN, std=IMAGENET_STD),
    # A 1-channel 28x28 model (Fashion-MNIST statistics).
    "gray28": dict(input_size=(1, 28, 28), interpolation="bilinear", crop_pct=1.0,
                   crop_mode="center", mean=(0.2860,), std=(0.3530,)),
    # crop_mode "squash": Resize((h, w)) then CenterCrop.
    "squash40": dict(input_size=(3, 40, 40), interpolation="bilinear", crop_pct=0.9,
                     crop_mode="squash", mean=INCEPTION_MEAN, std=INCEPTION_STD),
    # A non-square input size: center mode goes through timm's ResizeKeepRatio.
    "nonsquare40x56": dict(input_size=(3, 40, 56), interpolation="bicubic", crop_pct=0.95,
                           crop_mode="center", mean=IMAGENET_MEAN, std=IMAGENET_STD),
    # crop_mode "border": longest side to size / crop_pct, then pad with the mean colour.
    "border48": dict(input_size=(3, 48, 48), interpolation="bicubic", crop_pct=1.0,
                     crop_mode="border", mean=IMAGENET_MEAN, std=IMAGENET_STD),
    # The other Pillow filters timm can name.
    "lanczos32": dict(input_size=(3, 32, 32), interpolation="lanczos", crop_pct=0.875,
                      crop_mode="center", mean=IMAGENET_MEAN, std=IMAGENET_STD),
    "hamming32": dict(input_size=(3, 32, 32), interpolation="hamming", crop_pct=0.9,
                      crop_mode="center", mean=IMAGENET_MEAN, std=IMAGENET_STD),
    "box32": dict(input_size=(3, 32, 32), interpolation="box", crop_pct=0.875,
                  crop_mode="center", mean=IMAGENET_MEAN, std=IMAGENET_STD),
    "nearest32": dict(input_size=(3, 32, 32), interpolation="nearest", crop_pct=0.875,
                      crop_mode="center", mean=IMAGENET_MEAN, std=IMAGENET_STD),
    # Upsampling (the filter support is not widened) and a crop larger than the resize.
    "upscale48": dict(input_size=(3, 48, 48), interpolation="bicubic", crop_pct=1.0,
                      crop_mode="center", mean=IMAGENET_MEAN, std=IMAGENET_STD),
    "gray_bicubic48": dict(input_size=(1, 48, 48), interpolation="bicubic", crop_pct=0.875,
                           crop_mode="center", mean=(0.5,), std=(0.25,)),
}

cases = []


def path(name):
    return os.path.join(OUT, name)


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


# ------------------------------------------------------------------------------------------
# A minimal PNG writer for what Pillow cannot write (16-bit colour, gray+alpha 16, low bit
# depths with tRNS, Adam7 interlacing, eXIf / iTXt chunks, deliberately broken files).
# ------------------------------------------------------------------------------------------

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_rows(samples, bit_depth):
    s = np.asarray(samples)
    if s.ndim == 2:
        s = s[:, :, None]
    out = []
    for y in range(s.shape[0]):
        row = s[y].reshape(-1)
        if bit_depth == 16:
            raw = row.astype(">u2").tobytes()
        elif bit_depth == 8:
            raw = row.astype(np.uint8).tobytes()
        else:
            per = 8 // bit_depth
            buf = bytearray((len(row) * bit_depth + 7) // 8)
            for i, v in enumerate(row):
                buf[i // per] |= int(v) << (8 - bit_depth * (i % per + 1))
            raw = bytes(buf)
        out.append(b"\x00" + raw)
    return b"".join(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def make_png(samples, color_type, bit_depth, palette=None, trns=None, before_idat=b"",
             after_idat=b"", interlace=False):
    s = np.asarray(samples)
    h, w = s.shape[:2]
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = s[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += png_rows(sub, bit_depth)
    else:
        raw = png_rows(s, bit_depth)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + before_idat
    if palette is not None:
        out += png_chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    out += png_chunk(b"IDAT", zlib.compress(raw, 9)) + after_idat + png_chunk(b"IEND", b"")
    return out


# ------------------------------------------------------------------------------------------
# References
# ------------------------------------------------------------------------------------------

def pillow_open(data):
    im = Image.open(io.BytesIO(data))
    im.load()
    return ImageOps.exif_transpose(im)


def timm_tensor(img_c, cfg):
    data_cfg = timm.data.resolve_data_config({}, pretrained_cfg=dict(cfg))
    tfm = timm.data.create_transform(**data_cfg)
    return tfm(img_c).unsqueeze(0).numpy().astype("<f4")


def add_ok(name, data, ext, source, configs=(), gray_source=None, store_l=True, store_rgb=True):
    """A file that decodes: store it, Pillow's RGB (and L) pixels and timm tensors."""
    fname = f"{name}.{ext}"
    write(fname, data)
    im = pillow_open(data)
    rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    case = dict(name=name, file=fname, source=source, expect="ok", pillow_mode=im.mode,
                width=int(rgb.shape[1]), height=int(rgb.shape[0]))
    if gray_source is not None:
        case["gray_source"] = bool(gray_source)
    if store_rgb:
        write(f"{name}.rgb.u8.bin", rgb.tobytes())
        case["rgb"] = dict(file=f"{name}.rgb.u8.bin", shape=list(rgb.shape), dtype="uint8")
    if store_l:
        lum = np.asarray(im.convert("L"), dtype=np.uint8)
        write(f"{name}.l.u8.bin", lum.tobytes())
        case["l"] = dict(file=f"{name}.l.u8.bin", shape=list(lum.shape), dtype="uint8")
    tensors = []
    for cfg_name in configs:
        cfg = CONFIGS[cfg_name]
        img_c = im.convert("RGB" if cfg["input_size"][0] == 3 else "L")
        t = timm_tensor(img_c, cfg)
        tname = f"{name}.{cfg_name}.f32.bin"
        write(tname, t.tobytes())
        tensors.append(dict(config=cfg_name, file=tname, shape=list(t.shape), dtype="float32"))
    case["tensors"] = tensors
    cases.append(case)


def pillow_outcome(data):
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
        return f"decoded {im.mode} {im.size}"
    except Exception as e:  # noqa: BLE001 -- we record whatever Pillow says
        text = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "<upload>", str(e))
        return f"{type(e).__name__}: {text}"


def add_error(name, data, ext, expect, source, detail=None, **extra):
    """A file nfserve must refuse with ImageError kind `expect`."""
    fname = f"{name}.{ext}"
    write(fname, data)
    case = dict(name=name, file=fname, source=source, expect=expect,
                pillow=pillow_outcome(data), **extra)
    if detail is not None:
        case["detail"] = detail
    cases.append(case)


def jpeg(im, **kw):
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()


def png_pillow(im, **kw):
    b = io.BytesIO()
    im.save(b, "PNG", **kw)
    return b.getvalue()


def photo(name, size):
    """A scikit-image sample photograph resized (Pillow LANCZOS) to size = (w, h)."""
    arr = getattr(skimage.data, name)()
    im = Image.fromarray(arr)
    return im.resize(size, Image.Resampling.LANCZOS)


def exif_bytes(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


# ------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------

def real_photographs():
    # The main timm configuration on a photograph larger than the 256 resize (antialiased
    # downscale); its pixels are not stored (the tensor covers them, and they would be big).
    astro = photo("astronaut", (320, 288))
    add_ok("astronaut_320x288_q85_420", jpeg(astro, quality=85, subsampling=2), "jpg",
           "skimage astronaut 320x288, JPEG quality 85, 4:2:0 baseline",
           configs=("imagenet224",), gray_source=False, store_rgb=False, store_l=False)
    astro = photo("astronaut", (96, 96))
    add_ok("astronaut_96_q90_420", jpeg(astro, quality=90, subsampling=2), "jpg",
           "skimage astronaut 96x96, JPEG quality 90, 4:2:0 baseline",
           configs=("gray28", "squash40"), gray_source=False)
    coffee = photo("coffee", (120, 80))
    add_ok("coffee_120x80_q85_444", jpeg(coffee, quality=85, subsampling=0), "jpg",
           "skimage coffee 120x80, JPEG quality 85, 4:4:4",
           configs=("nonsquare40x56", "squash40"), gray_source=False)
    chelsea = photo("chelsea", (80, 120))
    add_ok("chelsea_80x120_progressive_422", jpeg(chelsea, quality=80, subsampling=1, progressive=True),
           "jpg", "skimage chelsea 80x120 (portrait), progressive JPEG quality 80, 4:2:2",
           configs=("border48", "lanczos32"), gray_source=False, store_l=False)
    odd = photo("coffee", (113, 75))
    add_ok("coffee_113x75_q95_420_odd", jpeg(odd, quality=95, subsampling=2, optimize=True), "jpg",
           "skimage coffee 113x75 (odd sizes), optimized JPEG quality 95, 4:2:0",
           configs=("hamming32", "box32", "nearest32"), gray_source=False, store_l=False)
    rocket = photo("rocket", (120, 80))
    add_ok("rocket_120x80_restart", jpeg(rocket, quality=88, subsampling=2, restart_marker_rows=2), "jpg",
           "skimage rocket 120x80, JPEG quality 88 with restart markers every 2 MCU rows",
           configs=("gray_bicubic48",), gray_source=False, store_l=False)
    camera = Image.fromarray(skimage.data.camera()).resize((96, 96), Image.Resampling.LANCZOS)
    add_ok("camera_96_gray", jpeg(camera, quality=90), "jpg",
           "skimage camera 96x96, grayscale JPEG quality 90",
           configs=("gray28", "squash40"), gray_source=True, store_rgb=False)
    small = photo("astronaut", (40, 30))
    add_ok("astronaut_40x30_upscale", jpeg(small, quality=92), "jpg",
           "skimage astronaut 40x30 (smaller than the crop: upsampling)",
           configs=("upscale48",), gray_source=False)
    cmyk = photo("chelsea", (48, 32)).convert("CMYK")
    add_ok("chelsea_48x32_cmyk", jpeg(cmyk, quality=90), "jpg",
           "skimage chelsea 48x32 converted to CMYK by Pillow, CMYK JPEG (Adobe marker)",
           configs=(), gray_source=False)

    # PNG photographs.
    add_ok("astronaut_96_rgb", png_pillow(photo("astronaut", (96, 96))), "png",
           "skimage astronaut 96x96, 8-bit RGB PNG", configs=("lanczos32",), gray_source=False,
           store_l=False)
    coffee_rgba = np.asarray(photo("coffee", (72, 48))).copy()
    alpha = (np.arange(72)[None, :] * 255 // 71 * np.ones((48, 1), int)).astype(np.uint8)
    alpha[:8, :] = 0                                   # fully transparent rows keep their colour
    rgba = np.dstack([coffee_rgba, alpha])
    add_ok("coffee_72x48_rgba", png_pillow(Image.fromarray(rgba, "RGBA")), "png",
           "skimage coffee 72x48 with an alpha ramp (alpha 0 rows included), 8-bit RGBA PNG",
           configs=("squash40", "gray28"), gray_source=False)
    pal = photo("chelsea", (80, 60)).quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    add_ok("chelsea_80x60_palette", png_pillow(pal, transparency=3), "png",
           "skimage chelsea 80x60 quantized to 64 colours (Pillow), palette PNG with tRNS",
           configs=("gray28", "border48"), gray_source=False)
    cam = np.asarray(Image.fromarray(skimage.data.camera()).resize((64, 64), Image.Resampling.LANCZOS))
    add_ok("camera_64_gray8", png_pillow(Image.fromarray(cam, "L")), "png",
           "skimage camera 64x64, 8-bit gray PNG", configs=("gray28",), gray_source=True)
    a16 = np.asarray(photo("astronaut", (48, 48))).astype(np.uint16) * 257
    a16 = a16 + RNG.integers(0, 256, a16.shape, dtype=np.uint16) - 128
    a16 = np.clip(a16.astype(np.int64), 0, 65535).astype(np.uint16)
    add_ok("astronaut_48_rgb16", make_png(a16, 2, 16), "png",
           "skimage astronaut 48x48 widened to 16-bit RGB with random low bytes", configs=("box32",),
           gray_source=False)


def png_color_types():
    h, w = 7, 13   # odd width exercises the packing of sub-byte depths
    yy, xx = np.mgrid[0:h, 0:w]
    for bd in (1, 2, 4, 8):
        g = (xx * 3 + yy * 5) % (1 << bd)
        add_ok(f"gray{bd}", make_png(g, 0, bd), "png", f"{w}x{h} gray, {bd}-bit", gray_source=True)
    g16 = np.array([0, 1, 254, 255, 256, 300, 1000, 32768, 65535, 257, 511, 128, 7] * h,
                   dtype=np.uint16).reshape(h, w)
    add_ok("gray16", make_png(g16, 0, 16), "png",
           f"{w}x{h} gray 16-bit with values around 255 (Pillow clamps, does not scale)",
           configs=("gray28",), gray_source=True)
    g16r = RNG.integers(0, 65536, (h, w), dtype=np.uint16)
    add_ok("gray16_random", make_png(g16r, 0, 16), "png", f"{w}x{h} gray 16-bit random", gray_source=True)
    g8 = ((xx * 19 + yy * 31) % 256).astype(np.uint8)
    add_ok("gray8_trns", make_png(g8, 0, 8, trns=struct.pack(">H", int(g8[0, 3]))), "png",
           f"{w}x{h} gray 8-bit with tRNS (ignored)", gray_source=True)
    ga8 = np.dstack([g8, 255 - g8])
    add_ok("gray_alpha8", make_png(ga8, 4, 8), "png", f"{w}x{h} gray+alpha 8-bit", gray_source=True)
    ga16 = RNG.integers(0, 65536, (h, w, 2), dtype=np.uint16)
    add_ok("gray_alpha16", make_png(ga16, 4, 16), "png",
           f"{w}x{h} gray+alpha 16-bit (Pillow opens it as RGBA of high bytes)", gray_source=True)
    rgb8 = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    add_ok("rgb8", make_png(rgb8, 2, 8), "png", f"{w}x{h} RGB 8-bit random", gray_source=False)
    add_ok("rgb8_trns", make_png(rgb8, 2, 8, trns=struct.pack(">HHH", *map(int, rgb8[0, 0]))), "png",
           f"{w}x{h} RGB 8-bit with tRNS (ignored)", gray_source=False)
    rgb16 = RNG.integers(0, 65536, (h, w, 3), dtype=np.uint16)
    rgb16[0, :4] = [[0x00FF, 0x0100, 0x7FFF], [0x8000, 0xFEFF, 0xFF00], [0xFFFF, 0, 1], [255, 256, 65280]]
    add_ok("rgb16", make_png(rgb16, 2, 16), "png", f"{w}x{h} RGB 16-bit (Pillow keeps the high byte)",
           configs=("gray28",), gray_source=False)
    rgba8 = RNG.integers(0, 256, (h, w, 4), dtype=np.uint8)
    add_ok("rgba8", make_png(rgba8, 6, 8), "png", f"{w}x{h} RGBA 8-bit random (alpha dropped)",
           gray_source=False)
    rgba16 = RNG.integers(0, 65536, (h, w, 4), dtype=np.uint16)
    add_ok("rgba16", make_png(rgba16, 6, 16), "png", f"{w}x{h} RGBA 16-bit random", gray_source=False)
    for bd in (1, 2, 4, 8):
        n = min(1 << bd, 200)
        palette = RNG.integers(0, 256, (n, 3), dtype=np.uint8)
        idx = (xx * 7 + yy * 3) % (1 << bd)
        trns = bytes(RNG.integers(0, 256, min(n, 5), dtype=np.uint8))
        add_ok(f"palette{bd}", make_png(idx, 3, bd, palette=palette, trns=trns), "png",
               f"{w}x{h} palette {bd}-bit with tRNS", gray_source=False)
    palette = RNG.integers(0, 256, (4, 3), dtype=np.uint8)
    idx = (xx + yy) % 9   # indices 4..8 are past the 4-entry palette
    add_ok("palette8_short", make_png(idx, 3, 8, palette=palette), "png",
           f"{w}x{h} palette 8-bit with indices past the end of PLTE (black in Pillow)", gray_source=False)
    big = RNG.integers(0, 256, (37, 29, 3), dtype=np.uint8)
    add_ok("rgb8_interlaced", make_png(big, 2, 8, interlace=True), "png",
           "29x37 RGB 8-bit, Adam7 interlaced", configs=("nearest32",), gray_source=False)
    g16i = RNG.integers(0, 400, (23, 17), dtype=np.uint16)
    add_ok("gray16_interlaced", make_png(g16i, 0, 16, interlace=True), "png",
           "17x23 gray 16-bit, Adam7 interlaced", gray_source=True)


def orientations():
    h, w = 12, 20
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.dstack([(xx * 12).astype(np.uint8), (yy * 20).astype(np.uint8),
                      ((xx + yy) * 7).astype(np.uint8)])
    base[0, 0] = [255, 0, 0]                         # a marker in the top-left corner
    im = Image.fromarray(base)
    for o in range(1, 9):
        add_ok(f"orientation{o}", jpeg(im, quality=95, subsampling=0, exif=exif_bytes(o)), "jpg",
               f"{w}x{h} JPEG with EXIF orientation {o}", gray_source=False, store_l=False)
    chelsea = photo("chelsea", (64, 48))
    add_ok("chelsea_exif6", jpeg(chelsea, quality=90, exif=exif_bytes(6)), "jpg",
           "skimage chelsea 64x48 JPEG with EXIF orientation 6 (rotate 90 clockwise)",
           configs=("nonsquare40x56",), gray_source=False)
    add_ok("chelsea_exif3", jpeg(chelsea, quality=90, exif=exif_bytes(3)), "jpg",
           "skimage chelsea 64x48 JPEG with EXIF orientation 3 (rotate 180)",
           configs=("gray28",), gray_source=False)
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="8"/>'
           b'</rdf:RDF></x:xmpmeta>')
    add_ok("xmp_orientation8", jpeg(im, quality=95, subsampling=0, xmp=xmp), "jpg",
           f"{w}x{h} JPEG whose only orientation is XMP tiff:Orientation=\"8\"", gray_source=False,
           store_l=False)
    itxt = b"XML:com.adobe.xmp\x00" + b"\x00\x00" + b"\x00" + b"\x00" + xmp.replace(b'"8"', b'"6"')
    add_ok("png_xmp_orientation6", make_png(base, 2, 8, before_idat=png_chunk(b"iTXt", itxt)), "png",
           f"{w}x{h} RGB PNG whose only orientation is XMP (uncompressed iTXt) tiff:Orientation=\"6\"",
           gray_source=False, store_l=False)
    exif = exif_bytes(6)
    assert exif.startswith(b"Exif\x00\x00")
    add_ok("png_exif6", make_png(base, 2, 8, before_idat=png_chunk(b"eXIf", exif[6:])), "png",
           f"{w}x{h} RGB PNG with an eXIf chunk, orientation 6", gray_source=False, store_l=False)
    add_ok("png_exif8_after_idat", make_png(base, 2, 8, after_idat=png_chunk(b"eXIf", exif_bytes(8)[6:])), "png",
           f"{w}x{h} RGB PNG with an eXIf chunk after IDAT, orientation 8", gray_source=False, store_l=False)


def broken_and_other_formats():
    im = photo("coffee", (80, 64))
    good = jpeg(im, quality=90)
    add_error("empty", b"", "bin", "empty", "0 bytes")
    add_error("jpeg_truncated_half", good[: len(good) // 2], "jpg", "corrupt",
              "first half of an 80x64 JPEG")
    add_error("jpeg_truncated_no_eoi", good[:-2], "jpg", "corrupt",
              "an 80x64 JPEG without its final EOI marker (Pillow: image file is truncated)")
    add_error("jpeg_truncated_header", good[:200], "jpg", "corrupt", "the first 200 bytes of a JPEG")
    bad = bytearray(good)
    i = bad.find(b"\xff\xc4")
    bad[i + 4:i + 20] = b"\xff" * 16                 # Huffman code counts that overflow
    add_error("jpeg_bad_huffman", bytes(bad), "jpg", "corrupt", "a JPEG whose DHT segment is garbage")
    bad = bytearray(good)
    i = bad.find(b"\xff\xc0")
    bad[i + 5:i + 7] = b"\x00\x00"                   # height 0
    add_error("jpeg_zero_height", bytes(bad), "jpg", "corrupt", "a JPEG whose SOF0 says height 0")
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, 60000, 60000, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    add_error("jpeg_huge_header", b"\xff\xd8" + sof + b"\xff\xd9", "jpg", "tooManyPixels",
              "SOI + SOF0 claiming 60000x60000 + EOI, no data", width=60000, height=60000)

    bad = bytearray(good)
    sos = good.find(b"\xff\xda")
    for k in range(3):                               # flip bits inside the entropy-coded data
        at = sos + 40 + k * (len(good) - sos - 80) // 3
        bad[at] = (bad[at] ^ 0x5A) if (bad[at] ^ 0x5A) != 0xFF else 0x00
    assert pillow_outcome(bytes(bad)).startswith("decoded")
    add_ok("jpeg_corrupt_scan_data", bytes(bad), "jpg",
           "an 80x64 JPEG with 3 damaged bytes in its scan: libjpeg warns 'Corrupt JPEG data', "
           "Pillow decodes (garbled), so nfserve decodes too", gray_source=False, store_l=False)
    add_ok("jpeg_trailing_garbage", good + b"trailing bytes after EOI", "jpg",
           "an 80x64 JPEG followed by junk after EOI (ignored by libjpeg and Pillow)",
           gray_source=False, store_l=False)

    png_good = make_png(np.asarray(im), 2, 8)
    add_error("png_truncated", png_good[: len(png_good) // 2], "png", "corrupt", "first half of an 80x64 PNG")
    add_error("png_signature_only", png_good[:8], "png", "corrupt", "just the 8-byte PNG signature")
    bad = bytearray(png_good)
    bad[29] ^= 0xFF                                  # IHDR CRC
    add_error("png_bad_ihdr_crc", bytes(bad), "png", "corrupt", "a PNG whose IHDR CRC is wrong")
    raw = png_rows(np.asarray(im), 8)
    comp = bytearray(zlib.compress(raw, 9))
    comp[10:40] = bytes(RNG.integers(0, 256, 30, dtype=np.uint8))
    ihdr = struct.pack(">IIBBBBB", 80, 64, 8, 2, 0, 0, 0)
    broken_idat = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", bytes(comp))
                   + png_chunk(b"IEND", b""))
    add_error("png_corrupt_idat", broken_idat, "png", "corrupt",
              "a PNG whose zlib stream is garbage (chunk CRCs valid)")
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    add_error("png_huge_header", b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr), "png", "tooManyPixels",
              "PNG signature + IHDR claiming 100000x100000, no image data", width=100000, height=100000)

    small = photo("astronaut", (24, 16))
    for fmt, ext, label in (("GIF", "gif", "GIF"), ("BMP", "bmp", "BMP"), ("WEBP", "webp", "WebP"),
                            ("TIFF", "tif", "TIFF")):
        b = io.BytesIO()
        small.save(b, fmt)
        add_error(f"other_{ext}", b.getvalue(), ext, "unsupportedFormat",
                  f"24x16 image saved by Pillow as {fmt}", detail=label)
    add_error("random_bytes", bytes(RNG.integers(0, 256, 64, dtype=np.uint8)), "bin", "unsupportedFormat",
              "64 random bytes", detail="unknown")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    real_photographs()
    png_color_types()
    orientations()
    broken_and_other_formats()
    manifest = dict(
        generator="tools/reference/make_image_fixtures.py",
        reference=("pixels: ImageOps.exif_transpose(Image.open(f)).convert('RGB'|'L'); tensors: "
                   "timm.data.create_transform(**timm.data.resolve_data_config({}, pretrained_cfg=cfg)) "
                   "on the converted image; all .bin files are raw little-endian, row-major"),
        versions=dict(pillow=PIL.__version__, timm=timm.__version__, torch=torch.__version__,
                      torchvision=torchvision.__version__, numpy=np.__version__,
                      scikit_image=skimage.__version__, python=sys.version.split()[0]),
        configs={k: dict(v, input_size=list(v["input_size"]), mean=list(v["mean"]), std=list(v["std"]))
                 for k, v in CONFIGS.items()},
        cases=cases,
    )
    with open(path("manifest.json"), "w") as f:
        json.dump(manifest, f, indent=0, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(path(n)) for n in os.listdir(OUT))
    print(f"{len(cases)} cases, {len(os.listdir(OUT))} files, {total / 1e6:.3f} MB in {OUT}")


if __name__ == "__main__":
    main()
