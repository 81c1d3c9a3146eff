"""Line charts as PNG with the standard library only (zlib): stacked panels, a title and the min/max
of each panel in a 3x5 pixel font. Enough for a soak's RSS, file and thread curves."""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

# 3x5 glyphs, rows top to bottom, 3 bits each (4 = left pixel).
_FONT = {
    "0": "75557", "1": "26227", "2": "71747", "3": "71717", "4": "55711", "5": "74717", "6": "74757",
    "7": "71111", "8": "75757", "9": "75717", ".": "00002", "-": "00700", " ": "00000", "%": "51245",
    "A": "25755", "B": "65656", "C": "34443", "D": "65556", "E": "74647", "F": "74644", "G": "34553",
    "H": "55755", "I": "72227", "J": "11156", "K": "55655", "L": "44447", "M": "57555", "N": "65555",
    "O": "25552", "P": "65644", "Q": "25563", "R": "65655", "S": "34716", "T": "72222", "U": "55557",
    "V": "55552", "W": "55575", "X": "55255", "Y": "55222", "Z": "71247", "(": "12221", ")": "42224",
    "/": "11244", ":": "02020", "=": "07070",
}  # fmt: skip
Color = tuple[int, int, int]
COLORS: tuple[Color, ...] = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def dot(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = (y * self.width + x) * 3
            self.pixels[i : i + 3] = bytes(color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            self.dot(x0, y0, color)
            self.dot(x0, y0 + 1, color)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x: int, y: int, text: str, color: Color = (0, 0, 0), scale: int = 2) -> None:
        for n, char in enumerate(text.upper()):
            glyph = _FONT.get(char, _FONT[" "])
            for row, bits in enumerate(glyph):
                for col in range(3):
                    if int(bits) & (4 >> col):
                        for a in range(scale):
                            for b in range(scale):
                                self.dot(x + (n * 4 + col) * scale + a, y + row * scale + b, color)

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * self.width * 3 : (y + 1) * self.width * 3]) for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
        )


def panels(path: Path, title: str, xs: Sequence[float], series: Sequence[tuple[str, Sequence[float]]],
           *, width: int = 900, panel_height: int = 170) -> None:  # fmt: skip
    """One panel per series, sharing the x axis (``xs``, e.g. minutes); written to ``path``."""
    margin, top = 70, 30
    canvas = Canvas(width, top + panel_height * len(series) + 30)
    canvas.text(margin, 8, title)
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    for n, (name, ys) in enumerate(series):
        y0 = top + n * panel_height
        inner = panel_height - 30
        color = COLORS[n % len(COLORS)]
        canvas.line(margin, y0 + inner, width - 10, y0 + inner, (0, 0, 0))
        canvas.line(margin, y0, margin, y0 + inner, (0, 0, 0))
        lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
        lo, hi = (0.0, hi * 1.2 or 1.0) if lo >= 0 else (lo, hi)
        canvas.text(margin + 8, y0 + 2, name, color)
        canvas.text(4, y0, f"{hi:.0f}")
        canvas.text(4, y0 + inner - 10, f"{lo:.0f}")
        points = [
            (margin + int((x - x_lo) / ((x_hi - x_lo) or 1) * (width - margin - 12)),
             y0 + inner - int((y - lo) / ((hi - lo) or 1) * inner))
            for x, y in zip(xs, ys, strict=True)
        ]  # fmt: skip
        for a, b in itertools.pairwise(points):
            canvas.line(*a, *b, color)
    bottom = top + panel_height * len(series)
    canvas.text(margin, bottom, f"{x_lo:.0f}")
    canvas.text(width - 80, bottom, f"{x_hi:.1f} MIN")
    path.write_bytes(canvas.png())
