# A CPU-bound job of a fixed amount of work (about 3 s of CPU here) and a fixed output: what a
# neighbour must not change.
i=0
while [ "$i" -lt 3000000 ]; do i=$((i + 1)); done
echo "$i" >/out/count.txt
