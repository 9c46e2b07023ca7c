# More files than the storage limit has entries for: the kernel refuses the extra ones.
i=0
while [ "$i" -lt 5000 ]; do : >"/out/f$i" 2>/dev/null || break; i=$((i + 1)); done
echo "$i files"
