# Doubles a string until the memory limit kills it.
x=0123456789abcdef
while :; do x="$x$x"; done
