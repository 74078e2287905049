"""What the entry points share to run: building data and model from a config, loading checkpoints, the rank-0
wait (``build``); launch plumbing for DDP, SLURM and sweeps (``launch``); loggers (``loggers``); callbacks;
the CSV history of a resumed run (``history``)."""
