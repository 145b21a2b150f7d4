"""Models: the one registry of shipped models, and loading of shipped or Hugging Face weights."""
