"""Renders the Mandelbrot set as a greyscale image, /out/mandelbrot.pgm (binary PGM, P5).

Pure Python on the modicum/base:python image: about 3 s of CPU (800 x 600 pixels, at most 512
iterations each) and deterministic — the same interpreter binary does the same IEEE-754 double
arithmetic on every host, so every honest run, the provider's and the mediator's, writes the
same bytes. stdout says what was drawn and the
image's sha256 (deterministic too: the logs are part of the result archive).
"""

import hashlib
import os

WIDTH, HEIGHT = 800, 600
MAX_ITERATIONS = 512
# The view: the whole set, 4:3 like the image so that pixels are square.
X_MIN, X_MAX = -2.25, 0.95
Y_MIN, Y_MAX = -1.2, 1.2


def escape_time(cr, ci):
    """Iterations before z -> z^2 + c leaves the disc of radius 2 (MAX_ITERATIONS if never)."""
    zr = zi = 0.0
    for n in range(MAX_ITERATIONS):
        zr2, zi2 = zr * zr, zi * zi
        if zr2 + zi2 > 4.0:
            return n
        zi = 2.0 * zr * zi + ci
        zr = zr2 - zi2 + cr
    return MAX_ITERATIONS


def render():
    dx = (X_MAX - X_MIN) / WIDTH
    dy = (Y_MAX - Y_MIN) / HEIGHT
    pixels = bytearray(WIDTH * HEIGHT)
    inside = 0
    for row in range(HEIGHT):
        ci = Y_MAX - (row + 0.5) * dy
        for column in range(WIDTH):
            n = escape_time(X_MIN + (column + 0.5) * dx, ci)
            if n == MAX_ITERATIONS:
                inside += 1  # in the set: black
            else:
                # Fast escapes bright, slow ones dark, on a square-root scale to show the filaments.
                pixels[row * WIDTH + column] = 255 - int(255 * (n / MAX_ITERATIONS) ** 0.5)
    return pixels, inside


def main():
    pixels, inside = render()
    image = b"P5\n%d %d\n255\n" % (WIDTH, HEIGHT) + bytes(pixels)
    os.makedirs("/out", exist_ok=True)
    with open("/out/mandelbrot.pgm", "wb") as f:
        f.write(image)
    print(f"mandelbrot: {WIDTH}x{HEIGHT}, {MAX_ITERATIONS} iterations at most, view "
          f"[{X_MIN}, {X_MAX}] x [{Y_MIN}, {Y_MAX}]")
    print(f"{inside} of {WIDTH * HEIGHT} pixels in the set "
          f"(area ~ {inside * (X_MAX - X_MIN) * (Y_MAX - Y_MIN) / (WIDTH * HEIGHT):.4f})")
    print(f"/out/mandelbrot.pgm {len(image)} bytes, sha256 {hashlib.sha256(image).hexdigest()}")


if __name__ == "__main__":
    main()
