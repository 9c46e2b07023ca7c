#!/bin/sh
# Regenerates input/: seven software licences, as Debian's base-files ships them in
# /usr/share/common-licenses (their texts allow verbatim copies), each checked against the
# sha256 the README lists, so the sample input is the same wherever it is made.
set -eu
cd "$(dirname "$0")"
mkdir -p input
for licence in Apache-2.0 Artistic BSD CC0-1.0 GPL-2 GPL-3 MPL-2.0; do
	cp "/usr/share/common-licenses/$licence" "input/$licence.txt"
	chmod 644 "input/$licence.txt"
done
cd input
sha256sum -c --quiet <<'SUMS'
cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30  Apache-2.0.txt
b7fd9b73ea99602016a326e0b62e6646060d18febdd065ceca8bb482208c3d88  Artistic.txt
5d588eb3b157d52112afea935c88a7ff9efddc1e2d95a42c25d3b96ad9055008  BSD.txt
a2010f343487d3f7618affe54f789f5487602331c0a8d03f49e9a7c547cf0499  CC0-1.0.txt
8177f97513213526df2cf6184d8ff986c675afb514d4e68a404010521b880643  GPL-2.txt
3972dc9744f6499f0f9b2dbf76696f2ae7ad8af9b23dde66d6af86c9dfb36986  GPL-3.txt
fab3dd6bdab226f1c08630b1dd917e11fcb4ec5e1e020e2c16f83a0a13863e85  MPL-2.0.txt
SUMS
