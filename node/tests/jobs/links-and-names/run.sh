# Symlinks pointing out of /out, and names that are not UTF-8: archived as they are.
ln -s /etc/passwd /out/escape
ln -s / /out/root
printf 'latin-1\n' >"/out/caf$(printf '\351')"
printf 'utf-8\n' >"/out/caf$(printf '\303\251')"
: >/tmp/scratch
echo "linked and named"
