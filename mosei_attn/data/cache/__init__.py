"""The HDF5 feature cache: building it from a corpus, its columns, reading and validating it."""
