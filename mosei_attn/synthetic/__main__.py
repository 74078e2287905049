"""``python -m mosei_attn.synthetic ROOT [--videos N] [--seed S]``: write a synthetic corpus."""

from mosei_attn.synthetic.writer import main

main()
