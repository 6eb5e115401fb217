"""Counts, not names: aggregate statistics under disclosure control, and the privacy
budget each agency spends on them."""
