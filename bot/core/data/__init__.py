"""Preference data leaving pickloop: curation options and dataset exports."""
