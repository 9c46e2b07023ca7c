# Forks without end; the pids limit stops the forks and the CPU limit ends the job.
bomb() { bomb | bomb & }
bomb
wait
