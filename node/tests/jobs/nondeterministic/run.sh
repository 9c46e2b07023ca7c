# Not deterministic: each run writes fresh random bytes, so two honest runs differ.
head -c 32 /dev/urandom | od -An -tx1 >/out/random.txt
echo "wrote random bytes"
