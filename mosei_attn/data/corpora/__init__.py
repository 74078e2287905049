"""The corpus readers (MOSEI layout, manifest), the Corpus protocol they follow, segments and labels."""
