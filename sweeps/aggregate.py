"""Same as ``python -m mosei_attn.aggregate``: ``python sweeps/aggregate.py <multirun folder> [--out DIR]``."""

from mosei_attn.aggregate import main

if __name__ == "__main__":
    main()
