# Forks until the process limit refuses a fork: the shell fails on the refusal. Without a limit
# it stops itself after 4096 processes and completes, which the executor's test catches.
n=0
while [ "$n" -lt 4096 ]; do
	sleep 60 &
	n=$((n + 1))
done
echo "forked $n processes: no process limit" >&2
