"""Scoring given words (the other half of the search): CTC loss and its gradient, and CTC
forced alignment, over the CTC topology of a label sequence."""
