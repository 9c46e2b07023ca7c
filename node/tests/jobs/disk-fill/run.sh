# Writes far more than the storage limit allows to /out.
dd if=/dev/zero of=/out/fill bs=1M count=4096
