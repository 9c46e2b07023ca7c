echo "a healthcheck would run commands of its own beside the job"
