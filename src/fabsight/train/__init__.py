"""Training: data synthesis for models, training loops, export. Never imported at inference."""
