"""Draw the Teams app icons with Pillow: ``color.png`` (192×192, full colour) and ``outline.png`` (32×32, white
on transparent). Run from anywhere: ``.venv/bin/python manifest/teams/make_icons.py [--out DIR]``.

The symbol is a speech bubble (a professional conversation) holding an upward arrow (escalation). Shapes are
drawn at 8× and averaged down, so edges are smooth. Teams requires the outline icon to be white and transparent
only: every pixel is pure white (255, 255, 255) and the shape lives in the alpha channel alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
ACCENT = (31, 94, 122)  # #1F5E7A, the manifest's accentColor
WHITE = (255, 255, 255)
SCALE = 8


def _symbol_mask(size: int, box: tuple[float, float, float, float], *, stroke: float | None) -> Image.Image:
    """An "L" mask (255 = shape) of the bubble-and-arrow symbol inside ``box`` (fractions of ``size``).
    ``stroke`` None draws the bubble filled with the arrow cut out; otherwise the bubble's outline of that width
    (in final pixels) and a solid arrow. Straight edges are snapped to whole pixels, so they stay crisp."""
    big = size * SCALE

    def snap(v: float) -> float:
        return round(v / SCALE) * SCALE

    x0, y0, x1, y1 = (snap(v * big) for v in box)
    w, h = x1 - x0, y1 - y0
    mask = Image.new("L", (big, big), 0)
    d = ImageDraw.Draw(mask)
    # the bubble: a rounded rectangle with a tail at the lower left
    body = (x0, y0, x1 - 1, snap(y0 + h * 0.78) - 1)
    radius = h * 0.2
    tail = [(x0 + w * 0.2, body[3] - 1), (x0 + w * 0.14, y1 - 1), (x0 + w * 0.42, body[3] - 1)]
    d.rounded_rectangle(body, radius=radius, fill=255)
    d.polygon(tail, fill=255)
    if stroke is not None:
        s = snap(stroke * SCALE)
        inner = (body[0] + s, body[1] + s, body[2] - s, body[3] - s)
        d.rounded_rectangle(inner, radius=max(radius - s, 1), fill=0)
        d.polygon([(tail[0][0] + s, tail[0][1] - s), (tail[1][0] + s * 0.9, tail[1][1] - s * 2.2),
                   (tail[2][0] - s * 1.2, tail[2][1] - s)], fill=0)
    # the arrow: up, centred in the bubble
    cx = (body[0] + body[2] + 1) / 2
    top, bottom = snap(body[1] + (body[3] - body[1]) * 0.2), snap(body[3] - (body[3] - body[1]) * 0.2)
    head_w, head_h, shaft = w * 0.36, snap((bottom - top) * 0.48), snap(w * 0.13 / 2)
    base, right, left = top + head_h - 1, cx + shaft - 1, cx - shaft  # polygon fills include their edges
    arrow = [(cx - 0.5, top), (cx + head_w / 2, base), (right, base), (right, bottom - 1), (left, bottom - 1),
             (left, base), (cx - head_w / 2 - 1, base)]
    d.polygon(arrow, fill=0 if stroke is None else 255)
    # area averaging (no ringing: nothing faint is left outside the shape)
    return mask.resize((size, size), Image.Resampling.BOX)


def color_icon() -> Image.Image:
    """192×192: the white symbol on a full-bleed accent square (Teams rounds the corners itself); the symbol
    keeps inside the central 120×120 region, as Teams' icon guidance asks."""
    size = 192
    img = Image.new("RGB", (size, size), ACCENT)
    white = Image.new("RGB", (size, size), WHITE)
    img.paste(white, (0, 0), _symbol_mask(size, (0.2, 0.2, 0.8, 0.8), stroke=None))
    return img


def outline_icon() -> Image.Image:
    """32×32: the symbol in white on transparent (outlined bubble, solid arrow)."""
    size = 32
    img = Image.new("RGBA", (size, size), WHITE + (0,))
    img.putalpha(_symbol_mask(size, (2 / 32, 3 / 32, 30 / 32, 30 / 32), stroke=2))
    return img


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write the icons to (default: here)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    color_icon().save(args.out / "color.png", optimize=True)
    outline_icon().save(args.out / "outline.png", optimize=True)
    print(f"wrote {args.out / 'color.png'} and {args.out / 'outline.png'}")


if __name__ == "__main__":
    main()
