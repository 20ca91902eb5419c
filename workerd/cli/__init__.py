"""The CLI path: command, process, stream parsing, prompt building, sessions and pool, reaper."""
