"""Safety labelling, split routing and near-duplicate detection."""
