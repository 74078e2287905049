"""A run's checkpoints: reading one (its kind and CRC checked, the run config it records, the network it
holds:
``reading``), and resuming the run it belongs to from that record (``resume``)."""
