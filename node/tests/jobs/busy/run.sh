# A CPU-bound job of a fixed amount of work (about 30 s of CPU here): the benchmark's job.
i=0
while [ "$i" -lt 30000000 ]; do i=$((i + 1)); done
echo "$i" >/out/count.txt
