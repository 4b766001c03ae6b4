"""Self-refined text-to-image: draw, review, redraw."""
