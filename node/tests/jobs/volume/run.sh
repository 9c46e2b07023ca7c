# Writes 200 MB to a volume the image declares: never run, the image is refused.
dd if=/dev/zero of=/data/fill bs=1M count=200
