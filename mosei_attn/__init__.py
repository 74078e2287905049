"""mosei_attn: convolutional attention networks for speech + text emotion recognition (CMU-MOSEI).

Importing the package changes nothing in the process: the entry points set what they need
(:func:`mosei_attn.process.process_setup`).
"""

__version__ = "0.1.0"
