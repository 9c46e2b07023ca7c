# Every byte value on stdout, then a flood on stderr far beyond the log cap.
i=0
while [ "$i" -lt 256 ]; do printf "\\$(printf %o "$i")"; i=$((i + 1)); done
yes "flooding the logs" | head -c 100000000 >&2
