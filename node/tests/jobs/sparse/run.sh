# The attack of a sparse file: 3 GiB that take no block on disk. The file-size limit refuses
# it; two 3 MiB sparse files still count their full size against a 4 MiB storage limit.
truncate -s 3G /out/big 2>/dev/null || echo "3G refused" >&2
truncate -s 3M /out/a
truncate -s 3M /out/b
echo "sparse files written"
