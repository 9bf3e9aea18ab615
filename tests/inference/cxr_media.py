"""Media for the chest X-ray intake tests, made from the committed held-out images: PNG bytes,
a Motion-JPEG AVI clip, a Y4M stream for Chromium's fake camera, and a non-readable "MP4"."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

CXR = Path(__file__).parent / "data" / "cxr"
NORMAL = "NORMAL2-IM-0988-0001.png"
PNEUMONIA = "person54_bacteria_257.png"


def grey(name: str) -> NDArray[np.uint8]:
    with Image.open(CXR / name) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def png(pixels: NDArray[np.uint8]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(pixels: NDArray[np.uint8], quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def clip_frames(n: int = 12) -> list[NDArray[np.uint8]]:
    """A normal chest for the first half, a pneumonia for the second, with a slow pan."""
    a, b = grey(NORMAL), grey(PNEUMONIA)
    frames = []
    for i in range(n):
        base = a if i < n // 2 else b
        frames.append(np.roll(base, shift=i % 3, axis=1))
    return frames


def _chunk(fourcc: bytes, body: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _list(kind: bytes, body: bytes) -> bytes:
    return _chunk(b"LIST", kind + body)


def mjpeg_avi(frames: list[NDArray[np.uint8]], fps: int = 5, handler: bytes = b"MJPG") -> bytes:
    """A Motion-JPEG AVI (what cameras and many frame grabbers write): one JPEG per ``00dc`` chunk."""
    h, w = frames[0].shape[:2]
    jpegs = [jpeg(f) for f in frames]
    avih = struct.pack("<14I", 1_000_000 // fps, 0, 0, 0x10, len(frames), 0, 1, max(map(len, jpegs)), w, h, 0, 0, 0, 0)
    strh = struct.pack("<4s4sIHHIIIIIIIIhhhh", b"vids", handler, 0, 0, 0, 0, 1, fps, 0, len(frames),
                       max(map(len, jpegs)), 0xFFFFFFFF, 0, 0, 0, w, h)
    strf = struct.pack("<IiiHH4sIiiII", 40, w, h, 1, 24, handler, w * h * 3, 0, 0, 0, 0)
    hdrl = _list(b"hdrl", _chunk(b"avih", avih) + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf)))
    movi = _list(b"movi", b"".join(_chunk(b"00dc", j) for j in jpegs))
    body = b"AVI " + hdrl + movi
    return b"RIFF" + struct.pack("<I", len(body)) + body


def y4m(frames: list[NDArray[np.uint8]], fps: int = 10) -> bytes:
    """YUV4MPEG2 (4:2:0) for ``--use-file-for-fake-video-capture``; grey frames, even sizes."""
    h, w = frames[0].shape[:2]
    h, w = h - h % 2, w - w % 2
    out = [f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode()]
    chroma = np.full((h // 2, w // 2), 128, dtype=np.uint8).tobytes()
    for f in frames:
        out.append(b"FRAME\n" + np.ascontiguousarray(f[:h, :w]).tobytes() + chroma + chroma)
    return b"".join(out)


def fake_mp4() -> bytes:
    """The start of an ISO-BMFF (MP4/H.264) file: a container this service does not decode."""
    return struct.pack(">I", 24) + b"ftypisom" + b"\0\0\2\0isomiso2" + b"\0" * 64
