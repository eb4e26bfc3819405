"""Model versions: which serve, loading them here, and fine-tuning new ones."""
