# Takes a long wall time at no CPU: long enough to stop its provider mid-job.
echo "sleeping"
sleep 600
echo "woke" >/out/woke.txt
