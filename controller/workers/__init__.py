"""The workerds this controller drives: the typed client, the pool and their CLI sessions."""
