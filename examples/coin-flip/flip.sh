# Flips a coin with the kernel's randomness and notes when: NOT deterministic, on purpose — two
# runs of this job almost never write the same /out/flip.txt.
set -eu
bytes="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
case "$bytes" in
*[13579bdf]) side=heads ;;
*) side=tails ;;
esac
{
	echo "$side"
	echo "random $bytes"
	echo "flipped at $(date -u '+%Y-%m-%dT%H:%M:%SZ') ($(cut -d' ' -f1 /proc/uptime) s after the host booted)"
} >/out/flip.txt
echo "$side"
