"""Model inputs from raw data: audio reading, the spectrogram and text extractors, word vectors."""
