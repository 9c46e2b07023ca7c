# Rests a while, then writes its result: long enough to restart its provider in the middle.
sleep 15
echo rested >/out/nap.txt
