# A hardlink farm: one 1 MiB file linked 2000 times; each link is an entry of 4 KiB.
head -c 1048576 /dev/zero >/out/data
i=0
while [ "$i" -lt 2000 ]; do ln /out/data "/out/l$i" 2>/dev/null || break; i=$((i + 1)); done
echo "$i links"
