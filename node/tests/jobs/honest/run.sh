# Deterministic: the same sums every run, written to /out with a log line on stdout.
i=0 sum=0
while [ "$i" -lt 20000 ]; do i=$((i + 1)); sum=$(((sum + i * i) % 1000003)); done
echo "$sum" >/out/sum.txt
mkdir -p /out/parts && seq 1 100 >/out/parts/numbers.txt
echo "summed $i squares"
