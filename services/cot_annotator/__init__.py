"""Safety chain-of-thought labels for train samples."""
