"""Yield-engineering knowledge as data files: pattern taxonomy (and, later, causes and next checks)."""
