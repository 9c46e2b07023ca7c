# Tries to reach the network, which jobs do not have.
wget -q -T 5 -O /out/page.html http://10.0.0.1/ || { echo "no network" >&2; exit 7; }
